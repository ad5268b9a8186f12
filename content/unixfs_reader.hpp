// Reads UnixFS DAGs from a BlockSource: file byte ranges (touching only the
// blocks that cover the range, using `blocksizes`), directory listings, path
// resolution through plain and HAMT-sharded directories, symlink targets.
// Every block is fetched through the source, so a recording source sees exactly
// the blocks a request needs (the trustless CAR writer relies on this).
// Thread-safety: a reader holds a reference to its source and no other state;
// it is as thread-safe as the source.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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

// A pull reader over bytes [begin, end) of one file (raw block, dag-pb leaf or
// balanced tree): each next() returns the slice of the next covering block, in
// order. It keeps the path of internal nodes from the root to the current
// leaf, so every block is fetched once and only covering blocks are fetched
// (the same set as read_range). Memory: one block per tree level.
// Thread-safety: one thread at a time; the source must outlive the cursor.
class FileCursor {
 public:
  // Reads the root block only. `end` is clamped to the file size. Errors:
  // Errc::not_found when the root block is absent; Errc::malformed /
  // unsupported when `file` is not a file.
  static Result<FileCursor> open(BlockSource& source, const Cid& file, std::uint64_t begin,
                                 std::uint64_t end);
  FileCursor(FileCursor&&) noexcept;
  FileCursor& operator=(FileCursor&&) noexcept;
  ~FileCursor();

  std::uint64_t file_size() const;
  // The range, after clamping: [begin(), end()).
  std::uint64_t begin() const;
  std::uint64_t end() const;
  // The file offset of the next byte next() will return.
  std::uint64_t position() const;

  // The next non-empty slice, valid until the next call or the cursor's
  // destruction; an empty view once the range is done. A missing inner block
  // is Errc::not_found naming it; an inconsistent DAG is Errc::malformed.
  Result<ByteView> next();

  // Like next(), except that a raw leaf of at least `defer_size` bytes below
  // the root is not fetched: the slice names it instead (`leaf`), with the
  // size its parent's blocksizes give it and the part of it that comes next,
  // so that the caller can read those bytes itself (a server, with sendfile).
  // The caller must check that the leaf holds exactly leaf_size bytes. A root
  // that is itself a raw block was read by open() and comes as bytes.
  struct Slice {
    ByteView bytes;               // when leaf is unset; empty once the range is done
    std::optional<Cid> leaf;      // a deferred raw leaf
    std::uint64_t leaf_size = 0;  // its size, by its parent
    std::uint64_t offset = 0;     // the first byte of it that comes next
    std::uint64_t length = 0;     // how many bytes of it come next (> 0)
    bool done() const { return !leaf && bytes.empty(); }
  };
  Result<Slice> next_slice(std::uint64_t defer_size);

 private:
  struct State;
  explicit FileCursor(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace srcgate::content
