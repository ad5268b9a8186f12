// The trustless gateway's CAR responses (ipfs-gateway.md §1.2, §3.3): a CARv1
// stream whose header names the terminal CID, then the blocks that prove the
// path (root directory, HAMT shards on the way, intermediate directories),
// then the terminal entity in DFS pre-order per dag-scope:
//   block  - the terminal block only;
//   entity - a UnixFS file's blocks (only those covering entity-bytes when
//            given), a HAMT directory's shards (not its entries), a plain
//            directory's or any other block alone;
//   all    - every block reachable through dag-pb links.
// dups=n (default) sends each block once (a repeated subtree is skipped);
// dups=y sends a block each time the walk meets it. Identity CIDs are never
// sent. Blocks are read from the store one at a time as the client pulls, so
// memory holds one block plus the walk's stack (and, for dups=n, the CIDs
// sent). A block missing mid-walk ends the stream with an error, so the
// session cuts the connection and the client sees an incomplete CAR.
// Thread-safety: one session at a time (BodySource); the store must outlive it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "content/cid.hpp"
#include "server/handler.hpp"
#include "server/router.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

// Inclusive byte offsets [first, last] inside a file.
struct InclusiveRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  friend bool operator==(const InclusiveRange&, const InclusiveRange&) = default;
};

struct CarPlan {
  content::Cid root;                      // the terminal CID; the header's only root
  std::vector<content::Cid> path_blocks;  // the blocks that prove the path, in order
  DagScope scope = DagScope::all;
  std::optional<InclusiveRange> entity_range;  // entity scope on a file: covering blocks only
  bool dups = false;
};

// Resolves `entity-bytes` against a file of `size` bytes (negative offsets
// count from the end, a negative start before the beginning is clamped to 0, `to`
// past the end is clamped). nullopt when no byte of the file is inside (the
// handler answers 400).
std::optional<InclusiveRange> resolve_entity_bytes(const EntityBytes& bytes, std::uint64_t size);

// The weak entity tag W/"<root>.car.<16 hex digits>" over the requested path,
// scope, byte range, order and dups, so that each variant is cached apart.
std::string car_etag(const content::Cid& root, std::string_view content_path, const CarPlan& plan,
                     CarOrder order);

// One step of a CAR walk: a block and how its children are walked.
enum class WalkMode { block, entity, all };
struct WalkItem {
  content::Cid cid;
  WalkMode mode = WalkMode::block;
  std::uint64_t at = 0;  // file offset of the node's first byte (entity scope on files)
};

// Pushes onto `stack` (last to be walked first) the children that a walk in
// `item.mode` visits below `item`, whose bytes are `block`: none for block
// mode or a non-dag-pb block; every link for `all`; for `entity`, a UnixFS
// file's children covering `range` (all without it), a HAMT shard's
// sub-shards, nothing else. Errc::malformed for an undecodable dag-pb block or
// a file node whose blocksizes do not match its links. Shared by CarBody and
// the IPFS fetcher's completeness check, so both walk the same blocks.
content::Result<void> push_walk_children(const WalkItem& item, content::ByteView block,
                                         const std::optional<InclusiveRange>& range,
                                         std::vector<WalkItem>& stack);

class CarBody final : public BodySource {
 public:
  CarBody(storage::BlockStore& store, CarPlan plan);
  Awaitable<content::Result<content::ByteView>> next() override;

  // The next piece without a coroutine frame (tests and next()).
  content::Result<content::ByteView> step();

 private:
  storage::BlockStore& store_;
  CarPlan plan_;
  bool header_sent_ = false;
  std::size_t path_index_ = 0;
  bool walk_started_ = false;
  std::vector<WalkItem> stack_;
  std::unordered_set<std::string> seen_;   // CID bytes, for dups=n
  content::Bytes current_;                 // the piece last returned
  std::optional<content::Bytes> pending_;  // a block whose section prefix was just returned
};

}  // namespace srcgate::server
