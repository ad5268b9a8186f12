// Reads UnixFS DAGs from a BlockSource: file byte ranges (touching only the
// blocks that cover the range, using `blocksizes`), directory listings, path
// resolution through plain and HAMT-sharded directories, symlink targets.
// Every block is fetched through the source, so a recording source sees exactly
// the blocks a request needs (the trustless CAR writer relies on this).
// Thread-safety: a reader holds a reference to its source and no other state;
// it is as thread-safe as the source.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "content/block_source.hpp"
#include "content/bytes.hpp"
#include "content/cid.hpp"
#include "content/error.hpp"
#include "content/unixfs.hpp"

namespace srcgate::content {

enum class EntryKind { file, directory, symlink, raw_block, other };

// What a CID is, from its root block alone.
struct NodeInfo {
  Cid cid;
  EntryKind kind = EntryKind::other;
  std::uint64_t size = 0;  // file: bytes; symlink: target length; raw: block length
  bool hamt = false;       // directory stored as a HAMT shard
};

struct DirEntry {
  std::string name;
  Cid cid;
  std::uint64_t tsize = 0;  // the link's Tsize: DAG size, not file size (no child fetched)
};

struct Resolved {
  Cid cid;                   // the terminal CID
  std::vector<Cid> roots;    // one per logical path segment, root first (X-Ipfs-Roots)
  std::vector<Cid> visited;  // every block read to resolve, in order (incl. HAMT shards)
};

class UnixfsReader {
 public:
  explicit UnixfsReader(BlockSource& source) : source_(source) {}

  // Errc::not_found when the root block is absent.
  Result<NodeInfo> stat(const Cid& cid);

  // Resolves `segments` (already percent-decoded, no empty or "." / ".." parts)
  // below `root`. Errc::not_found names the missing segment.
  Result<Resolved> resolve(const Cid& root, const std::vector<std::string>& segments);

  // Lists a plain or HAMT directory without fetching its children (HAMT
  // sub-shards are fetched). Entries in link order.
  Result<std::vector<DirEntry>> list(const Cid& dir);

  // The target of a symlink node; never followed.
  Result<std::string> symlink_target(const Cid& cid);

  // Streams bytes [begin, end) of a file (raw block, dag-pb leaf or balanced
  // tree) into `sink`, one covering block's slice per call, in order. Fetches
  // only the blocks that cover the range. `end` is clamped to the file size.
  // A sink error stops the walk and is returned.
  using Sink = std::function<Result<void>(ByteView)>;
  Result<void> read_range(const Cid& file, std::uint64_t begin, std::uint64_t end,
                          const Sink& sink);

 private:
  BlockSource& source_;
};

}  // namespace srcgate::content
