// Streaming UnixFS file importer: turns a byte stream into the blocks of a
// balanced UnixFS DAG, byte-identical to kubo/boxo `ipfs add` with the same
// profile (ipfs-gateway.md §2.3). Memory is bounded by one chunk plus one
// partial node per tree level, whatever the file size.
// Thread-safety: one importer per file, used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "content/bytes.hpp"
#include "content/cid.hpp"

namespace srcgate::content {

struct ImportProfile {
  std::string_view name;
  int cid_version = 1;
  bool raw_leaves = true;
  std::size_t chunk_size = 1 << 20;
  std::size_t max_links = 1024;

  // IPIP-0499 "unixfs-v1-2025": CIDv1, raw leaves, 1 MiB chunks, 1024 links.
  static const ImportProfile v1_2025;
  // IPIP-0499 "unixfs-v0-2015": CIDv0, dag-pb leaves, 256 KiB chunks, 174 links.
  static const ImportProfile v0_2015;
  // Looks a profile up by its IPIP-0499 name; nullopt for unknown names.
  static std::optional<ImportProfile> by_name(std::string_view name);
};

struct Block {
  Cid cid;
  Bytes bytes;
};

struct ImportResult {
  Cid root;
  std::uint64_t size = 0;         // file bytes
  std::uint64_t dag_size = 0;     // sum of all block sizes (the root's Tsize)
  std::uint64_t block_count = 0;  // blocks emitted, duplicates included
};

class FileImporter {
 public:
  // Receives every block once it is final, leaves before the nodes that link
  // them; the root comes last. The sink may move from the block.
  using BlockSink = std::function<void(Block&&)>;

  FileImporter(const ImportProfile& profile, BlockSink sink);

  // Feeds the next slice of the file; any size, including 0.
  void write(ByteView data);
  // Flushes the last chunk and the partial nodes and returns the root.
  // The importer must not be used afterwards.
  ImportResult finish();

 private:
  struct PendingLink {
    Cid cid;
    std::uint64_t file_bytes;
    std::uint64_t tsize;
  };
  void flush_chunk();
  void emit_leaf(ByteView chunk);
  PendingLink commit_node(std::vector<PendingLink>& children);
  // Bytes reserved at the front of chunk_ for a dag-pb leaf's header (0 for raw leaves).
  std::size_t leaf_prefix() const;
  // Capacity of chunk_: prefix, one chunk, and a dag-pb leaf's trailer.
  std::size_t chunk_capacity() const;

  ImportProfile profile_;
  BlockSink sink_;
  Bytes chunk_;
  std::vector<std::vector<PendingLink>> levels_;  // levels_[0] holds leaves
  std::uint64_t size_ = 0;
  std::uint64_t dag_size_ = 0;
  std::uint64_t block_count_ = 0;
  std::uint64_t leaf_count_ = 0;
};

}  // namespace srcgate::content
