// Store benchmark (bench/store-bench.sh runs it; results in bench/README.md,
// section "Store"). Every figure comes from one run of this program on the
// RocksDB store in a scratch directory:
//
//   large        import of one 1 GiB file (bytes from memory, 1 MiB slices),
//                and the same bytes through FileHasher alone (no store) to
//                show what the store adds to the hashing
//   small        import of 10,000 files of 4-64 KiB
//   read         the stored 1 GiB file read through BlockStore::read_file
//                into a buffer in memory (page cache warm from the import)
//   churn        imports of 2-8 MiB files into a store capped at CAP until
//                3x CAP went in; disk/logical after every commit and at the end
//   open         time to open a store of 100,000 blocks (best and worst of 5)
//   compression  blob compression none / lz4 / zstd on 256 MiB of already
//                compressed files of 64 KiB or more (apt's .deb cache first,
//                then .gz/.xz/.bz2/.zst/.tgz/.zip under /usr/share, /usr/lib)
//
// Usage: srcgate_store_bench SCRATCH_DIR [large|small|read|churn|open|compression|all]
// Data is ChaCha20 keystream (incompressible, like the tarballs srcgate serves).
// MB/s = 10^6 bytes per second; MiB/s = 2^20.
#include <dirent.h>
#include <openssl/evp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "content/file_hasher.hpp"
#include "storage/rocksdb_store.hpp"

using namespace srcgate;
using content::Bytes;
using content::ByteView;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kGiB = 1 << 30;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of this process, of the calling thread and of the other threads
// alive at both snapshots (RocksDB's background threads), so that a figure
// taken on a busy machine can be projected to an idle one: with two idle
// cores the wall time is at least the busiest thread's CPU time and at least
// half of all CPU time. Threads that end in between (FileHasher's two digest
// workers, which share their work unit by unit) are the remainder of the
// process total, counted as two threads' worth.
struct CpuSnapshot {
  double process = 0, thread = 0;
  std::map<int, double> others;  // tid -> seconds

  static double tv(const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; }
  static CpuSnapshot take() {
    CpuSnapshot c;
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    c.process = tv(r.ru_utime) + tv(r.ru_stime);
    getrusage(RUSAGE_THREAD, &r);
    c.thread = tv(r.ru_utime) + tv(r.ru_stime);
    const int self = static_cast<int>(gettid());
    const double tick = double(sysconf(_SC_CLK_TCK));
    if (DIR* d = opendir("/proc/self/task")) {
      while (dirent* e = readdir(d)) {
        int tid = std::atoi(e->d_name);
        if (tid <= 0 || tid == self) continue;
        std::ifstream in("/proc/self/task/" + std::string(e->d_name) + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 2));
        std::string f;
        double utime = 0, stime = 0;
        // Fields after "(comm)": state is field 3; utime and stime are 14 and 15.
        for (int i = 3; i <= 15 && fields >> f; ++i) {
          if (i == 14) utime = std::stod(f);
          if (i == 15) stime = std::stod(f);
        }
        c.others[tid] = (utime + stime) / tick;
      }
      closedir(d);
    }
    return c;
  }
};

// "CPU 9.1 s (driving thread 4.0, RocksDB threads 1.5, threads that ended 3.6);
// idle 2-core estimate 250 MiB/s".
std::string cpu_report(const CpuSnapshot& a, const CpuSnapshot& b, double mib) {
  double total = b.process - a.process, driver = b.thread - a.thread, bg = 0;
  for (const auto& [tid, t] : b.others) {
    auto it = a.others.find(tid);
    if (it != a.others.end()) bg += t - it->second;
  }
  double rest = std::max(0.0, total - driver - bg);
  double floor = std::max({total / 2, driver, bg, rest / 2});
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "CPU %.2f s (driving thread %.2f, RocksDB threads %.2f, threads that ended %.2f);"
                " idle 2-core estimate %.0f MiB/s",
                total, driver, bg, rest, mib / floor);
  return buf;
}

// ChaCha20 keystream with a key derived from `seed`.
Bytes random_bytes(std::uint64_t size, std::uint64_t seed) {
  Bytes out(size);
  std::array<std::uint8_t, 32> key{};
  std::memcpy(key.data(), &seed, sizeof seed);
  std::array<std::uint8_t, 16> iv{};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx || EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, key.data(), iv.data()) != 1) {
    throw std::runtime_error("chacha20 init");
  }
  static const std::vector<std::uint8_t> zeros(kMiB);
  for (std::uint64_t at = 0; at < size; at += kMiB) {
    int n = static_cast<int>(std::min<std::uint64_t>(kMiB, size - at));
    int written = 0;
    EVP_EncryptUpdate(ctx, out.data() + at, &written, zeros.data(), n);
  }
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

template <class T>
T must(storage::Result<T> r, const char* what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}
void must(storage::Result<void> r, const char* what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().message);
}

std::unique_ptr<storage::BlockStore> open(
    const fs::path& dir, std::optional<std::uint64_t> cap = {},
    storage::BlobCompression c = storage::BlobCompression::none) {
  storage::RocksDbOptions o;
  o.dir = dir;
  o.store.max_size = cap;
  o.blob_compression = c;
  // For A/B runs of the two block layouts (0: every block in RocksDB).
  if (const char* v = std::getenv("STORE_BENCH_MIN_FILE_BLOCK_SIZE")) {
    o.min_file_block_size = std::stoull(v);
  }
  return must(storage::open_rocksdb_store(o), "open");
}

content::FileSummary import(storage::BlockStore& s, ByteView data) {
  auto imp = s.begin_import(content::ImportProfile::v1_2025);
  for (std::uint64_t at = 0; at < data.size(); at += kMiB) {
    must(imp->write(data.subspan(at, std::min<std::uint64_t>(kMiB, data.size() - at))), "write");
  }
  must(imp->finish(), "finish");
  return must(imp->commit(), "commit").summary;
}

void line(const char* key, const std::string& value) {
  std::printf("%-34s %s\n", key, value.c_str());
}
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

struct Large {
  Bytes data;
  content::Cid root;
};

Large bench_large(const fs::path& dir) {
  Bytes data = random_bytes(kGiB, 1);
  // Reference: the same bytes through FileHasher alone (digests + DAG, no store).
  double best_hash = 1e9;
  std::string hash_cpu;
  for (int i = 0; i < 2; ++i) {
    auto c0 = CpuSnapshot::take();
    auto t0 = std::chrono::steady_clock::now();
    content::FileHasher h(content::ImportProfile::v1_2025, content::FileImporter::BlockSink{});
    for (std::uint64_t at = 0; at < data.size(); at += kMiB)
      h.write(ByteView(data).subspan(at, kMiB));
    h.finish();
    double t = seconds_since(t0);
    if (t < best_hash) {
      best_hash = t;
      hash_cpu = cpu_report(c0, CpuSnapshot::take(), 1024);
    }
  }
  line("hash only, 1 GiB (FileHasher)", fmt("%.0f MiB/s wall, best of 2", 1024 / best_hash));
  line("  ", hash_cpu);
  auto s = open(dir / "large");
  auto c0 = CpuSnapshot::take();
  auto t0 = std::chrono::steady_clock::now();
  auto summary = import(*s, data);
  double t = seconds_since(t0);
  auto c1 = CpuSnapshot::take();
  line("import 1 GiB file", fmt("%.0f MiB/s", 1024 / t) + fmt(" wall (%.2f s)", t));
  line("  ", cpu_report(c0, c1, 1024));
  auto t1 = std::chrono::steady_clock::now();
  auto again = import(*s, data);
  double t_again = seconds_since(t1);
  line("import the same 1 GiB again", fmt("%.0f MiB/s", 1024 / t_again) + " (already stored)");
  auto st = must(s->stats(), "stats");
  line("  disk / logical after import",
       fmt("%.3f", double(st.disk_bytes) / double(st.logical_bytes)));
  return Large{std::move(data), summary.dag.root};
}

void bench_read(const fs::path& dir, const Large& large, bool verify_checksums) {
  storage::RocksDbOptions o;
  o.dir = dir / "large";
  o.verify_checksums_on_read = verify_checksums;
  auto s = must(storage::open_rocksdb_store(o), "open");
  Bytes out(large.data.size());
  double best = 1e9, worst = 0;
  std::string best_cpu;
  for (int i = 0; i < 3; ++i) {
    std::uint64_t at = 0;
    auto c0 = CpuSnapshot::take();
    auto t0 = std::chrono::steady_clock::now();
    must(s->read_file(large.root, 0, ~0ull,
                      [&](ByteView b) -> storage::Result<void> {
                        std::memcpy(out.data() + at, b.data(), b.size());
                        at += b.size();
                        return {};
                      }),
         "read");
    double t = seconds_since(t0);
    if (t < best) best_cpu = cpu_report(c0, CpuSnapshot::take(), 1024);
    best = std::min(best, t);
    worst = std::max(worst, t);
    if (at != large.data.size() || out != large.data) throw std::runtime_error("read back differs");
  }
  line(verify_checksums ? "  same, plus RocksDB's own checksums"
                        : "read 1 GiB file into memory (CRC-32C checked)",
       fmt("%.2f GB/s best", 1.073741824 / best) +
           fmt(", %.2f GB/s worst of 3", 1.073741824 / worst));
  line("  ", best_cpu + " (1 GiB = 1.074 GB)");
}

void bench_small(const fs::path& dir) {
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> sizes(10000);
  std::uint64_t total = 0;
  for (auto& n : sizes) total += (n = 4096 + rng() % (60 * 1024 + 1));
  Bytes pool = random_bytes(total, 2);
  auto s = open(dir / "small");
  auto c0 = CpuSnapshot::take();
  auto t0 = std::chrono::steady_clock::now();
  std::uint64_t at = 0;
  for (auto n : sizes) {
    import(*s, ByteView(pool).subspan(at, n));
    at += n;
  }
  double t = seconds_since(t0);
  auto c1 = CpuSnapshot::take();
  line("import 10,000 files of 4-64 KiB",
       fmt("%.0f files/s", 10000 / t) + fmt(", %.0f MiB/s", double(total) / kMiB / t) +
           fmt(" (%.1f MiB", double(total) / kMiB) + fmt(" in %.2f s)", t));
  line("  ", cpu_report(c0, c1, double(total) / kMiB));
}

void bench_churn(const fs::path& dir) {
  const std::uint64_t cap = 512 * kMiB;
  auto s = open(dir / "churn", cap);
  std::mt19937_64 rng(11);
  std::uint64_t fed = 0, files = 0;
  double max_ratio = 0, max_disk = 0;
  auto t0 = std::chrono::steady_clock::now();
  // Bounded: each step feeds at least 2 MiB.
  while (fed < 3 * cap) {
    std::uint64_t n = 2 * kMiB + rng() % (6 * kMiB);
    Bytes data = random_bytes(n, 1000 + files);
    import(*s, data);
    fed += n;
    ++files;
    auto st = must(s->stats(), "stats");
    if (st.logical_bytes > cap / 2) {
      max_ratio = std::max(max_ratio, double(st.disk_bytes) / double(st.logical_bytes));
    }
    max_disk = std::max(max_disk, double(st.disk_bytes));
  }
  double t = seconds_since(t0);
  auto st = must(s->stats(), "stats");
  line("churn: cap / fed",
       fmt("%.0f MiB", double(cap) / kMiB) + fmt(" / %.0f MiB", double(fed) / kMiB) +
           fmt(" in %.0f files", double(files)) + fmt(" (%.0f MiB/s)", double(fed) / kMiB / t));
  line("churn: end, disk / logical",
       fmt("%.3f", double(st.disk_bytes) / double(st.logical_bytes)) +
           fmt(" (disk %.1f MiB", double(st.disk_bytes) / kMiB) +
           fmt(", logical %.1f MiB)", double(st.logical_bytes) / kMiB));
  line("churn: worst disk / logical",
       fmt("%.3f", max_ratio) + " (after any commit, logical > cap/2)");
  line("churn: max disk / cap", fmt("%.3f", max_disk / double(cap)));
  auto t1 = std::chrono::steady_clock::now();
  must(s->gc(), "gc");
  double tgc = seconds_since(t1);
  st = must(s->stats(), "stats");
  line("churn: after gc, disk / logical",
       fmt("%.3f", double(st.disk_bytes) / double(st.logical_bytes)) +
           fmt(" (gc took %.2f s)", tgc));
}

void bench_open(const fs::path& dir) {
  const fs::path path = dir / "open";
  {
    auto s = open(path);
    Bytes pool = random_bytes(100000 * 1024, 3);
    for (std::uint64_t i = 0; i < 100000; ++i) import(*s, ByteView(pool).subspan(i * 1024, 1024));
    auto st = must(s->stats(), "stats");
    line("open: store", fmt("%.0f blocks", double(st.blocks)) +
                            fmt(", %.0f files", double(st.files)) +
                            fmt(", %.1f MiB on disk", double(st.disk_bytes) / kMiB));
  }
  double best = 1e9, worst = 0;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto s = open(path);
    auto st = must(s->stats(), "stats");
    double t = seconds_since(t0);
    if (st.blocks != 100000) throw std::runtime_error("wrong block count after reopen");
    best = std::min(best, t);
    worst = std::max(worst, t);
  }
  line("open a store of 100,000 blocks",
       fmt("%.0f ms best", best * 1000) + fmt(", %.0f ms worst of 5 (open + stats)", worst * 1000));
}

void bench_compression(const fs::path& dir) {
  // Already-compressed files, as source tarballs are.
  Bytes corpus;
  const std::uint64_t want = 256 * kMiB;
  std::error_code ec;
  // Package archives first (.deb: xz- or zstd-compressed tarballs inside),
  // then compressed files of at least 64 KiB elsewhere.
  for (const char* root : {"/var/cache/apt/archives", "/usr/share", "/usr/lib"}) {
    for (auto it = fs::recursive_directory_iterator(
             root, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator() && corpus.size() < want; it.increment(ec)) {
      if (ec) break;
      auto ext = it->path().extension();
      const bool archive = ext == ".gz" || ext == ".xz" || ext == ".bz2" || ext == ".zst" ||
                           ext == ".tgz" || ext == ".deb" || ext == ".zip";
      if (!archive || !it->is_regular_file(ec) || it->file_size(ec) < 64 * 1024) continue;
      std::ifstream in(it->path(), std::ios::binary);
      corpus.insert(corpus.end(), std::istreambuf_iterator<char>(in),
                    std::istreambuf_iterator<char>());
    }
  }
  line("compression corpus",
       fmt("%.1f MiB of .deb/.gz/.xz/.bz2/.zst/.tgz/.zip files", double(corpus.size()) / kMiB));
  const std::pair<storage::BlobCompression, const char*> kinds[] = {
      {storage::BlobCompression::none, "none"},
      {storage::BlobCompression::lz4, "lz4"},
      {storage::BlobCompression::zstd, "zstd"}};
  for (const auto& [kind, name] : kinds) {
    auto s = open(dir / (std::string("compression-") + name), std::nullopt, kind);
    auto c0 = CpuSnapshot::take();
    auto t0 = std::chrono::steady_clock::now();
    import(*s, corpus);
    double t = seconds_since(t0);
    auto c1 = CpuSnapshot::take();
    must(s->gc(), "gc");
    auto st = must(s->stats(), "stats");
    line((std::string("blob compression ") + name).c_str(),
         fmt("disk / input %.3f", double(st.disk_bytes) / double(corpus.size())) +
             fmt(", import %.0f MiB/s", double(corpus.size()) / kMiB / t));
    line("  ", cpu_report(c0, c1, double(corpus.size()) / kMiB));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SCRATCH_DIR [large|small|read|churn|open|compression|all]\n",
                 argv[0]);
    return 2;
  }
  const fs::path dir = argv[1];
  const std::string what = argc > 2 ? argv[2] : "all";
  try {
    fs::create_directories(dir);
    auto want = [&](const char* name) { return what == "all" || what == name; };
    if (want("large") || want("read")) {
      auto large = bench_large(dir);
      if (want("read")) {
        bench_read(dir, large, false);
        bench_read(dir, large, true);
      }
    }
    if (want("small")) bench_small(dir);
    if (want("churn")) bench_churn(dir);
    if (want("open")) bench_open(dir);
    if (want("compression")) bench_compression(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
