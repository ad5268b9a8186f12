#include "content/importer.hpp"

#include <algorithm>
#include <utility>

#include "content/dag_pb.hpp"
#include "content/unixfs.hpp"
#include "content/varint.hpp"

// Design: the balanced layout of boxo (balanced/builder.go) is built bottom-up
// in one pass. levels_[0] collects the links of emitted leaves; when a level
// holds max_links links it is committed as one internal node whose link goes
// to the level above. At finish() the partial levels are committed from the
// bottom up, except that the single remaining link of the top level is the
// root. This yields exactly boxo's tree: all leaves at one depth, every node
// full except those on the right edge, a one-chunk file as a lone leaf.
//
// Leaves are built in place: for dag-pb leaves chunk_ starts with room for
// the dag-pb + UnixFS header of a full chunk, so a full chunk needs no copy
// beyond the one from write()'s slice; a short last chunk is shifted once.

namespace srcgate::content {

namespace {

// Size of `0a <len> 08 02 [12 <n>]` before a dag-pb leaf's n data bytes, and
// of the trailing `18 <n>`.
std::size_t leaf_unixfs_size(std::size_t n) {
  std::size_t u = 2 + 1 + uvarint_size(n);  // Type, filesize
  if (n > 0) u += 1 + uvarint_size(n) + n;
  return u;
}

std::size_t leaf_header_size(std::size_t n) {
  std::size_t u = leaf_unixfs_size(n);
  return 1 + uvarint_size(u) + 2 + (n > 0 ? 1 + uvarint_size(n) : 0);
}

std::uint8_t* write_varint(std::uint8_t* out, std::uint64_t v) {
  while (v >= 0x80) {
    *out++ = static_cast<std::uint8_t>(v | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<std::uint8_t>(v);
  return out;
}

// Writes the leaf header for n data bytes at `out` (exactly leaf_header_size(n) bytes).
void write_leaf_header(std::uint8_t* out, std::size_t n) {
  *out++ = 0x0a;
  out = write_varint(out, leaf_unixfs_size(n));
  *out++ = 0x08;
  *out++ = 0x02;
  if (n > 0) {
    *out++ = 0x12;
    write_varint(out, n);
  }
}

}  // namespace

const ImportProfile ImportProfile::v1_2025{"unixfs-v1-2025", 1, true, 1 << 20, 1024};
const ImportProfile ImportProfile::v0_2015{"unixfs-v0-2015", 0, false, 256 * 1024, 174};

std::optional<ImportProfile> ImportProfile::by_name(std::string_view name) {
  if (name == v1_2025.name) return v1_2025;
  if (name == v0_2015.name || name == "legacy-cid-v0") return v0_2015;
  return std::nullopt;
}

FileImporter::FileImporter(const ImportProfile& profile, BlockSink sink)
    : profile_(profile), sink_(std::move(sink)) {
  if (profile_.chunk_size == 0) profile_.chunk_size = 1;
  if (profile_.max_links < 2) profile_.max_links = 2;
  chunk_.reserve(chunk_capacity());
  chunk_.resize(leaf_prefix());
  levels_.emplace_back();
  levels_[0].reserve(profile_.max_links);
}

std::size_t FileImporter::leaf_prefix() const {
  return profile_.raw_leaves ? 0 : leaf_header_size(profile_.chunk_size);
}

std::size_t FileImporter::chunk_capacity() const {
  // Prefix, data, and for dag-pb leaves the trailing `18 <filesize>`.
  return leaf_prefix() + profile_.chunk_size +
         (profile_.raw_leaves ? 0 : 1 + uvarint_size(profile_.chunk_size));
}

void FileImporter::write(ByteView data) {
  const std::size_t prefix = leaf_prefix();
  while (!data.empty()) {
    std::size_t have = chunk_.size() - prefix;
    std::size_t n = std::min(profile_.chunk_size - have, data.size());
    chunk_.insert(chunk_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    data = data.subspan(n);
    size_ += n;
    if (have + n == profile_.chunk_size) flush_chunk();
  }
}

void FileImporter::flush_chunk() {
  const std::size_t prefix = leaf_prefix();
  const std::size_t n = chunk_.size() - prefix;
  std::size_t h = 0;
  if (!profile_.raw_leaves) {
    h = leaf_header_size(n);
    if (h < prefix) {
      // Short last chunk: its header is shorter than the reserved room.
      chunk_.erase(chunk_.begin(), chunk_.begin() + static_cast<std::ptrdiff_t>(prefix - h));
    }
    write_leaf_header(chunk_.data(), n);
    chunk_.push_back(0x18);
    put_uvarint(chunk_, n);
  }
  emit_leaf(ByteView(chunk_).subspan(h, n));
}

// `chunk` views the file bytes inside chunk_, which holds the whole leaf block.
void FileImporter::emit_leaf(ByteView chunk) {
  const std::uint64_t file_bytes = chunk.size();
  const ByteView block = chunk_;
  Cid cid = profile_.raw_leaves
                ? Cid::of_block(1, Codec::raw, block)
                : Cid::of_block(profile_.cid_version == 0 ? 0 : 1, Codec::dag_pb, block);
  const std::uint64_t block_size = block.size();
  dag_size_ += block_size;
  ++block_count_;
  ++leaf_count_;
  levels_[0].push_back(PendingLink{cid, file_bytes, block_size});
  if (sink_) {
    Block leaf{std::move(cid), std::move(chunk_)};
    sink_(std::move(leaf));
    // A sink that copied the bytes rather than moving them leaves the buffer
    // in `leaf`: reuse it, so that the next chunk needs no allocation (and no
    // page faults on fresh memory).
    chunk_ = std::move(leaf.bytes);
    if (chunk_.capacity() < chunk_capacity()) {
      chunk_ = Bytes();
      chunk_.reserve(chunk_capacity());
    }
  }
  chunk_.clear();
  chunk_.resize(leaf_prefix());
  // Cascade full levels upwards.
  for (std::size_t i = 0; i < levels_.size() && levels_[i].size() >= profile_.max_links; ++i) {
    PendingLink up = commit_node(levels_[i]);
    if (i + 1 == levels_.size()) {
      levels_.emplace_back();
      levels_.back().reserve(profile_.max_links);
    }
    levels_[i + 1].push_back(std::move(up));
  }
}

FileImporter::PendingLink FileImporter::commit_node(std::vector<PendingLink>& children) {
  UnixfsData ufs;
  ufs.type = UnixfsType::file;
  std::uint64_t file_bytes = 0;
  std::uint64_t child_tsizes = 0;
  ufs.blocksizes.reserve(children.size());
  for (const PendingLink& c : children) {
    file_bytes += c.file_bytes;
    child_tsizes += c.tsize;
    ufs.blocksizes.push_back(c.file_bytes);
  }
  ufs.filesize = file_bytes;
  Bytes data = encode_unixfs(ufs);

  PbNode node;
  node.links.reserve(children.size());
  for (PendingLink& c : children) {
    node.links.push_back(PbLink{std::move(c.cid), std::string(), c.tsize});
  }
  node.data = ByteView(data);
  Bytes block = encode_dag_pb(node);
  children.clear();

  Cid cid = Cid::of_block(profile_.cid_version == 0 ? 0 : 1, Codec::dag_pb, block);
  const std::uint64_t block_size = block.size();
  dag_size_ += block_size;
  ++block_count_;
  if (sink_) sink_(Block{cid, std::move(block)});
  return PendingLink{std::move(cid), file_bytes, block_size + child_tsizes};
}

ImportResult FileImporter::finish() {
  const std::size_t prefix = leaf_prefix();
  if (chunk_.size() > prefix || leaf_count_ == 0) flush_chunk();
  // Collapse from the bottom; the top level's single link is the root.
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    bool top = i + 1 == levels_.size();
    if (top && levels_[i].size() == 1) break;
    if (levels_[i].empty()) continue;
    PendingLink up = commit_node(levels_[i]);
    if (top) {
      levels_.emplace_back();
    }
    levels_[i + 1].push_back(std::move(up));
  }
  PendingLink& root = levels_.back().front();
  ImportResult result{std::move(root.cid), size_, root.tsize, block_count_};
  return result;
}

}  // namespace srcgate::content
