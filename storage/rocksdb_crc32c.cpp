#include "storage/rocksdb_crc32c.hpp"

#include <dlfcn.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "storage/crc32c.hpp"

namespace srcgate::storage {

namespace {

using ExtendFn = std::uint32_t (*)(std::uint32_t, const char*, std::size_t);

// rocksdb::crc32c::Extend(unsigned int, char const*, unsigned long)
constexpr const char* kExtendSymbol = "_ZN7rocksdb6crc32c6ExtendEjPKcm";

constexpr const char* kDisableVariable = "SRCGATE_ROCKSDB_SOFTWARE_CRC32C";

std::uint32_t hardware_extend(std::uint32_t crc, const char* data, std::size_t n) {
  return crc32c(crc, content::ByteView(reinterpret_cast<const std::uint8_t*>(data), n));
}

// True when `fn` computes CRC-32C with extend semantics, like crc32c().
bool computes_crc32c(ExtendFn fn) {
  static constexpr std::string_view kCheck = "123456789";  // RFC 3720 check value
  if (fn(0, kCheck.data(), kCheck.size()) != 0xE3069283u) return false;
  std::array<char, 9000> buf{};
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>(i * 131 + (i >> 7));
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{64},
                        std::size_t{4097}, buf.size()}) {
    const std::uint32_t ours = hardware_extend(0, buf.data(), n);
    if (fn(0, buf.data(), n) != ours) return false;
    const std::size_t half = n / 2;
    if (fn(fn(0, buf.data(), half), buf.data() + half, n - half) != ours) return false;
  }
  return true;
}

// True when `p` lies in a private read-write mapping (/proc/self/maps).
bool writable_mapping(const void* p) {
  std::ifstream maps("/proc/self/maps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::string line;
  for (int i = 0; i < 1'000'000 && std::getline(maps, line); ++i) {
    std::uintptr_t begin = 0, end = 0;
    char perms[5] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %4s", &begin, &end, perms) != 3) continue;
    if (at >= begin && at + sizeof(void*) <= end) return std::string_view(perms) == "rw-p";
  }
  return false;
}

Crc32cPatch install() {
#if !defined(__x86_64__)
  return {false, "not x86-64"};
#else
  if (const char* off = std::getenv(kDisableVariable);
      off && *off && std::string_view(off) != "0") {
    return {false, std::string("disabled by ") + kDisableVariable};
  }
  if (!__builtin_cpu_supports("sse4.2")) return {false, "the CPU has no SSE4.2"};
  void* sym = dlsym(RTLD_DEFAULT, kExtendSymbol);
  if (!sym) return {false, "rocksdb::crc32c::Extend is not exported"};
  const auto* code = static_cast<const std::uint8_t*>(sym);
  if (code[0] != 0xFF || code[1] != 0x25) return {false, "Extend is not an indirect jump"};
  std::int32_t rel;
  std::memcpy(&rel, code + 2, sizeof rel);
  auto* slot = reinterpret_cast<ExtendFn*>(const_cast<std::uint8_t*>(code) + 6 + rel);
  const ExtendFn current = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  Dl_info lib{}, target{};
  if (!dladdr(sym, &lib) || !dladdr(reinterpret_cast<void*>(current), &target) ||
      lib.dli_fbase != target.dli_fbase) {
    return {false, "Extend's dispatch does not point into librocksdb"};
  }
  if (!computes_crc32c(current)) return {false, "Extend's dispatch does not compute CRC-32C"};
  // The slot is a dynamically initialised static: librocksdb's writable data.
  if (Dl_info data{}; !dladdr(slot, &data) || data.dli_fbase != lib.dli_fbase) {
    return {false, "Extend's dispatch slot is not librocksdb's data"};
  }
  if (!writable_mapping(slot)) return {false, "Extend's dispatch slot is not writable data"};
  __atomic_store_n(slot, &hardware_extend, __ATOMIC_RELEASE);
  if (!computes_crc32c(reinterpret_cast<ExtendFn>(sym))) {
    __atomic_store_n(slot, current, __ATOMIC_RELEASE);
    return {false, "Extend gave other values after the patch (restored)"};
  }
  return {true, {}};
#endif
}

}  // namespace

const Crc32cPatch& install_rocksdb_hardware_crc32c() {
  static const Crc32cPatch patch = install();
  return patch;
}

}  // namespace srcgate::storage
