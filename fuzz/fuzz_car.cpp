// Fuzzes the CAR reader (upstream gateways and `import-car` feed it untrusted
// streams) and, over the blocks it accepts, the UnixFS reader: stat, list,
// symlink and range reads from each root must return values, never crash.
#include <cstdint>
#include <cstdlib>

#include "content/block_source.hpp"
#include "content/car.hpp"
#include "content/unixfs_reader.hpp"

using namespace srcgate::content;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  MemoryBlockSource blocks;
  std::vector<Cid> roots;
  CarReader::Handler handler{[&](const CarHeader& header) -> Result<void> {
                               roots = header.roots;
                               return {};
                             },
                             [&](const Cid& cid, ByteView block, std::uint64_t) -> Result<void> {
                               auto ok =
                                   cid.verify(block);  // the reader must have verified it already
                               if (!ok.has_value() || !*ok) std::abort();
                               blocks.put(cid, Bytes(block.begin(), block.end()));
                               return {};
                             }};
  // Feed in two slices to exercise the streaming path.
  CarReader reader(handler);
  std::size_t half = size / 2;
  if (reader.feed(ByteView(data, half)) && reader.feed(ByteView(data + half, size - half))) {
    (void)reader.finish();
  }

  UnixfsReader unixfs(blocks);
  std::size_t walks = 0;
  for (const Cid& root : roots) {
    if (++walks > 4) break;
    auto info = unixfs.stat(root);
    if (!info) continue;
    (void)unixfs.list(root);
    (void)unixfs.symlink_target(root);
    std::uint64_t total = 0;
    auto r = unixfs.read_range(root, 0, 1 << 20, [&](ByteView slice) -> Result<void> {
      total += slice.size();
      return {};
    });
    if (r && info->kind == EntryKind::file &&
        total != std::min<std::uint64_t>(info->size, 1 << 20)) {
      std::abort();
    }
    (void)unixfs.resolve(root, {"a", "b"});
  }
  return 0;
}
