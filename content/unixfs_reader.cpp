#include "content/unixfs_reader.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

#include "content/dag_pb.hpp"
#include "content/hamt.hpp"

namespace srcgate::content {
namespace {

constexpr std::uint64_t kDagPb = static_cast<std::uint64_t>(Codec::dag_pb);
constexpr std::uint64_t kRaw = static_cast<std::uint64_t>(Codec::raw);
// The only HAMT hash function UnixFS defines (murmur3-x64-64).
constexpr std::uint64_t kMurmur3X64_64 = 0x22;
// Balanced trees of 174+ links per node never get near this; it bounds
// recursion on hostile DAGs.
constexpr unsigned kMaxFileDepth = 64;

// One fetched block, decoded as far as it is dag-pb/UnixFS. `pb` and `fs` view
// `block`, whose heap buffer survives moves of the struct.
struct Node {
  Bytes block;
  bool is_pb = false;
  bool is_unixfs = false;
  PbNode pb;
  UnixfsData fs;
};

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string hex_bucket(std::uint32_t bucket, std::size_t width) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out(width, '0');
  for (std::size_t i = width; i > 0 && bucket != 0; --i, bucket >>= 4)
    out[i - 1] = kDigits[bucket & 15];
  return out;
}

std::string codec_hex(std::uint64_t codec) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, codec, 16);
  return "0x" + std::string(buf, r.ptr);
}

// Hex digits of fanout-1, as boxo's padLength.
std::size_t hamt_pad_length(std::uint64_t fanout) {
  std::size_t n = 0;
  for (std::uint64_t v = fanout - 1; v != 0; v >>= 4) ++n;
  return n;
}

std::string kind_name(const Node& n) {
  if (!n.is_pb) return "not dag-pb";
  if (!n.is_unixfs) return "not UnixFS";
  switch (n.fs.type) {
    case UnixfsType::raw:
    case UnixfsType::file:
      return "a file";
    case UnixfsType::directory:
      return "a directory";
    case UnixfsType::hamt_shard:
      return "a HAMT directory";
    case UnixfsType::symlink:
      return "a symlink";
    case UnixfsType::metadata:
      return "a metadata node";
  }
  return "unknown";
}

bool is_file(const Node& n) {
  return n.is_unixfs && (n.fs.type == UnixfsType::file || n.fs.type == UnixfsType::raw);
}

// The byte length of a file node: Data.Data plus its children's blocksizes,
// which must agree with `filesize` when present.
Result<std::uint64_t> file_size(const Node& n, const Cid& cid) {
  const std::uint64_t data = n.fs.data ? n.fs.data->size() : 0;
  if (n.pb.links.size() != n.fs.blocksizes.size()) {
    return make_error(Errc::malformed, "file node " + cid.to_string() + " has " +
                                           std::to_string(n.pb.links.size()) + " links but " +
                                           std::to_string(n.fs.blocksizes.size()) + " blocksizes");
  }
  std::uint64_t total = data;
  for (std::uint64_t b : n.fs.blocksizes) {
    if (total + b < total) {
      return make_error(Errc::malformed, "file node " + cid.to_string() + " size overflows");
    }
    total += b;
  }
  if (n.fs.filesize && *n.fs.filesize != total) {
    return make_error(Errc::malformed, "file node " + cid.to_string() + " says filesize " +
                                           std::to_string(*n.fs.filesize) + " but holds " +
                                           std::to_string(total) + " bytes");
  }
  return total;
}

// Validates a HAMT shard's parameters; returns its fanout.
Result<unsigned> hamt_fanout(const Node& n, const Cid& cid) {
  if (!n.fs.hash_type || *n.fs.hash_type != kMurmur3X64_64) {
    return make_error(Errc::unsupported,
                      "HAMT shard " + cid.to_string() + " uses hash type " +
                          (n.fs.hash_type ? std::to_string(*n.fs.hash_type) : "(none)") +
                          ", only murmur3-x64-64 (0x22) is supported");
  }
  const std::uint64_t f = n.fs.fanout.value_or(0);
  if (f < 8 || f > 1024 || (f & (f - 1)) != 0) {
    return make_error(Errc::malformed, "HAMT shard " + cid.to_string() + " has fanout " +
                                           std::to_string(f) + ", need a power of two in 8..1024");
  }
  return static_cast<unsigned>(f);
}

// Splits a HAMT link name into its bucket prefix and entry name (empty for a
// sub-shard).
Result<std::pair<std::string_view, std::string_view>> split_hamt_name(const PbLink& link,
                                                                      std::size_t pad,
                                                                      const Cid& shard) {
  if (!link.name || link.name->size() < pad) {
    return make_error(Errc::malformed, "HAMT shard " + shard.to_string() + " has a link named " +
                                           quoted(link.name.value_or("")) + ", shorter than " +
                                           std::to_string(pad) + " hex digits");
  }
  std::string_view name = *link.name;
  return std::pair{name.substr(0, pad), name.substr(pad)};
}

// Fetches and decodes blocks; resolves identity CIDs inline.
class UnixfsReaderImpl {
 public:
  explicit UnixfsReaderImpl(BlockSource& source) : source_(source) {}

  Result<Node> load(const Cid& cid) {
    Node n;
    if (cid.is_identity()) {
      ByteView d = cid.digest();
      n.block.assign(d.begin(), d.end());
    } else {
      auto got = source_.get(cid);
      if (!got) return got.error();
      if (!*got) return make_error(Errc::not_found, "block " + cid.to_string() + " not found");
      n.block = std::move(**got);
    }
    if (cid.codec() != kDagPb) return n;
    auto pb = decode_dag_pb(n.block);
    if (!pb) {
      return make_error(pb.error().code,
                        "dag-pb block " + cid.to_string() + ": " + pb.error().message);
    }
    n.pb = std::move(*pb);
    n.is_pb = true;
    if (n.pb.data) {
      auto fs = decode_unixfs(*n.pb.data);
      if (fs) {
        n.fs = std::move(*fs);
        n.is_unixfs = true;
      }
    }
    return n;
  }

  // Finds `name` in the HAMT rooted at `shard` (already loaded). Appends the
  // sub-shards it reads to `visited`; nullopt when absent.
  Result<std::optional<Cid>> hamt_find(Node shard, const Cid& shard_cid, std::string_view name,
                                       std::vector<Cid>* visited) {
    Cid cur = shard_cid;
    for (unsigned depth = 0;; ++depth) {
      auto fanout = hamt_fanout(shard, cur);
      if (!fanout) return fanout.error();
      if (depth >= hamt_max_depth(*fanout)) {
        return make_error(Errc::malformed, "HAMT below " + shard_cid.to_string() +
                                               " is deeper than its hash allows");
      }
      const std::size_t pad = hamt_pad_length(*fanout);
      const std::string prefix = hex_bucket(hamt_bucket(name, depth, *fanout), pad);
      const PbLink* hit = nullptr;
      bool subshard = false;
      for (const PbLink& link : shard.pb.links) {
        auto parts = split_hamt_name(link, pad, cur);
        if (!parts) return parts.error();
        if (parts->first != prefix) continue;
        if (parts->second.empty()) {
          hit = &link;
          subshard = true;
          break;
        }
        if (parts->second == name) {
          hit = &link;
          break;
        }
      }
      if (hit == nullptr) return std::optional<Cid>();
      if (!subshard) return std::optional<Cid>(hit->hash);
      Cid next = hit->hash;
      auto child = load(next);
      if (!child) return child.error();
      if (visited) visited->push_back(next);
      if (!child->is_unixfs || child->fs.type != UnixfsType::hamt_shard) {
        return make_error(Errc::malformed,
                          "HAMT sub-shard " + next.to_string() + " is " + kind_name(*child));
      }
      shard = std::move(*child);
      cur = std::move(next);
    }
  }

  Result<void> hamt_list(const Node& shard, const Cid& cid, unsigned depth,
                         std::vector<DirEntry>& out) {
    auto fanout = hamt_fanout(shard, cid);
    if (!fanout) return fanout.error();
    if (depth >= hamt_max_depth(*fanout)) {
      return make_error(Errc::malformed,
                        "HAMT shard " + cid.to_string() + " is deeper than its hash allows");
    }
    const std::size_t pad = hamt_pad_length(*fanout);
    for (const PbLink& link : shard.pb.links) {
      auto parts = split_hamt_name(link, pad, cid);
      if (!parts) return parts.error();
      if (!parts->second.empty()) {
        out.push_back(DirEntry{std::string(parts->second), link.hash, link.tsize.value_or(0)});
        continue;
      }
      auto child = load(link.hash);
      if (!child) return child.error();
      if (!child->is_unixfs || child->fs.type != UnixfsType::hamt_shard) {
        return make_error(Errc::malformed,
                          "HAMT sub-shard " + link.hash.to_string() + " is " + kind_name(*child));
      }
      if (auto r = hamt_list(*child, link.hash, depth + 1, out); !r) return r;
    }
    return {};
  }

  // Emits the part of [begin, end) that node `n` (covering [at, at + size))
  // holds, fetching only overlapping children.
  Result<void> read_node(const Node& n, const Cid& cid, std::uint64_t at, std::uint64_t begin,
                         std::uint64_t end, unsigned depth, const UnixfsReader::Sink& sink) {
    if (depth > kMaxFileDepth) {
      return make_error(Errc::malformed, "file DAG below " + cid.to_string() + " is deeper than " +
                                             std::to_string(kMaxFileDepth) + " levels");
    }
    if (!n.is_pb) {
      if (cid.codec() != kRaw) {
        return make_error(Errc::unsupported,
                          "file block " + cid.to_string() + " is neither raw nor dag-pb");
      }
      return emit(n.block, at, begin, end, sink);
    }
    if (!is_file(n)) {
      return make_error(Errc::malformed,
                        "file DAG node " + cid.to_string() + " is " + kind_name(n));
    }
    auto size = file_size(n, cid);
    if (!size) return size.error();
    ByteView data = n.fs.data.value_or(ByteView{});
    if (auto r = emit(data, at, begin, end, sink); !r) return r;
    std::uint64_t child_at = at + data.size();
    for (std::size_t i = 0; i < n.pb.links.size() && child_at < end; ++i) {
      const std::uint64_t child_size = n.fs.blocksizes[i];
      const std::uint64_t child_end = child_at + child_size;
      if (child_end > begin && child_size > 0) {
        const Cid& child_cid = n.pb.links[i].hash;
        auto child = load(child_cid);
        if (!child) return child.error();
        auto actual = node_size(*child, child_cid);
        if (!actual) return actual.error();
        if (*actual != child_size) {
          return make_error(Errc::malformed, "child " + child_cid.to_string() + " of " +
                                                 cid.to_string() + " holds " +
                                                 std::to_string(*actual) +
                                                 " bytes, its parent's blocksizes say " +
                                                 std::to_string(child_size));
        }
        if (auto r = read_node(*child, child_cid, child_at, begin, end, depth + 1, sink); !r) {
          return r;
        }
      }
      child_at = child_end;
    }
    return {};
  }

  // Bytes a file node holds (raw block length or the UnixFS file size).
  Result<std::uint64_t> node_size(const Node& n, const Cid& cid) {
    if (!n.is_pb) {
      if (cid.codec() != kRaw) {
        return make_error(Errc::unsupported,
                          "file block " + cid.to_string() + " is neither raw nor dag-pb");
      }
      return n.block.size();
    }
    if (!is_file(n)) {
      return make_error(Errc::malformed,
                        "file DAG node " + cid.to_string() + " is " + kind_name(n));
    }
    return file_size(n, cid);
  }

 private:
  static Result<void> emit(ByteView bytes, std::uint64_t at, std::uint64_t begin, std::uint64_t end,
                           const UnixfsReader::Sink& sink) {
    const std::uint64_t lo = std::max(begin, at);
    const std::uint64_t hi = std::min<std::uint64_t>(end, at + bytes.size());
    if (lo >= hi) return {};
    return sink(
        bytes.subspan(static_cast<std::size_t>(lo - at), static_cast<std::size_t>(hi - lo)));
  }

  BlockSource& source_;
};

}  // namespace

Result<NodeInfo> UnixfsReader::stat(const Cid& cid) {
  UnixfsReaderImpl impl(source_);
  auto n = impl.load(cid);
  if (!n) return n.error();
  NodeInfo info{cid, EntryKind::other, 0, false};
  if (!n->is_pb) {
    if (cid.codec() == kRaw) {
      info.kind = EntryKind::raw_block;
      info.size = n->block.size();
    }
    return info;
  }
  if (!n->is_unixfs) return info;
  switch (n->fs.type) {
    case UnixfsType::raw:
    case UnixfsType::file: {
      auto size = file_size(*n, cid);
      if (!size) return size.error();
      info.kind = EntryKind::file;
      info.size = *size;
      break;
    }
    case UnixfsType::directory:
      info.kind = EntryKind::directory;
      break;
    case UnixfsType::hamt_shard:
      info.kind = EntryKind::directory;
      info.hamt = true;
      break;
    case UnixfsType::symlink:
      info.kind = EntryKind::symlink;
      info.size = n->fs.data ? n->fs.data->size() : 0;
      break;
    case UnixfsType::metadata:
      break;
  }
  return info;
}

Result<Resolved> UnixfsReader::resolve(const Cid& root, const std::vector<std::string>& segments) {
  UnixfsReaderImpl impl(source_);
  Resolved out{root, {root}, {}};
  out.roots.reserve(segments.size() + 1);
  for (const std::string& segment : segments) {
    const Cid cur = out.cid;
    auto n = impl.load(cur);
    if (!n) return n.error();
    out.visited.push_back(cur);
    if (!n->is_pb) {
      if (cur.codec() == kRaw) {
        return make_error(Errc::not_found, "path segment " + quoted(segment) + " not found: " +
                                               cur.to_string() + " is a raw block");
      }
      return make_error(Errc::unsupported, "path segment " + quoted(segment) + ": " +
                                               cur.to_string() + " is not UnixFS (codec " +
                                               codec_hex(cur.codec()) + ")");
    }
    std::optional<Cid> next;
    if (n->is_unixfs && n->fs.type == UnixfsType::directory) {
      for (const PbLink& link : n->pb.links) {
        if (link.name && *link.name == segment) {
          next = link.hash;
          break;
        }
      }
    } else if (n->is_unixfs && n->fs.type == UnixfsType::hamt_shard) {
      auto found = impl.hamt_find(std::move(*n), cur, segment, &out.visited);
      if (!found) return found.error();
      next = std::move(*found);
    } else {
      return make_error(Errc::not_found, "path segment " + quoted(segment) +
                                             " not found: " + cur.to_string() + " is " +
                                             kind_name(*n) + ", not a directory");
    }
    if (!next) {
      return make_error(Errc::not_found, "path segment " + quoted(segment) +
                                             " not found in directory " + cur.to_string());
    }
    out.cid = *next;
    out.roots.push_back(std::move(*next));
  }
  return out;
}

Result<std::vector<DirEntry>> UnixfsReader::list(const Cid& dir) {
  UnixfsReaderImpl impl(source_);
  auto n = impl.load(dir);
  if (!n) return n.error();
  std::vector<DirEntry> out;
  if (n->is_unixfs && n->fs.type == UnixfsType::directory) {
    out.reserve(n->pb.links.size());
    for (const PbLink& link : n->pb.links) {
      if (!link.name) {
        return make_error(Errc::malformed,
                          "directory " + dir.to_string() + " has a link without a name");
      }
      out.push_back(DirEntry{*link.name, link.hash, link.tsize.value_or(0)});
    }
    return out;
  }
  if (n->is_unixfs && n->fs.type == UnixfsType::hamt_shard) {
    if (auto r = impl.hamt_list(*n, dir, 0, out); !r) return r.error();
    return out;
  }
  return make_error(Errc::unsupported, dir.to_string() + " is " +
                                           (n->is_pb ? kind_name(*n) : std::string("not dag-pb")) +
                                           ", not a directory");
}

Result<std::string> UnixfsReader::symlink_target(const Cid& cid) {
  UnixfsReaderImpl impl(source_);
  auto n = impl.load(cid);
  if (!n) return n.error();
  if (!n->is_unixfs || n->fs.type != UnixfsType::symlink) {
    return make_error(Errc::unsupported,
                      cid.to_string() + " is " +
                          (n->is_pb ? kind_name(*n) : std::string("not dag-pb")) +
                          ", not a symlink");
  }
  ByteView target = n->fs.data.value_or(ByteView{});
  return std::string(as_chars(target));
}

Result<void> UnixfsReader::read_range(const Cid& file, std::uint64_t begin, std::uint64_t end,
                                      const Sink& sink) {
  UnixfsReaderImpl impl(source_);
  auto n = impl.load(file);
  if (!n) return n.error();
  auto size = impl.node_size(*n, file);
  if (!size) return size.error();
  end = std::min(end, *size);
  if (begin >= end) return {};
  return impl.read_node(*n, file, 0, begin, end, 0, sink);
}

// ---- FileCursor -------------------------------------------------------------

namespace {

// One node on the cursor's path: a file node (or raw leaf) covering
// [at, at + size) of the file, and how far its children have been walked.
struct CursorFrame {
  Node node;
  Cid cid;
  std::uint64_t at = 0;        // file offset of the node's first byte
  bool data_done = false;      // its own bytes (leaf data or Data.Data) were handled
  std::size_t next_child = 0;  // index of the next link to consider
  std::uint64_t child_at = 0;  // file offset of that link's first byte
};

// The bytes a node holds itself: a raw block whole, or UnixFS Data.Data.
ByteView own_bytes(const Node& n) {
  if (!n.is_pb) return n.block;
  return n.fs.data.value_or(ByteView{});
}

}  // namespace

struct FileCursor::State {
  explicit State(BlockSource& source) : impl(source) {}
  UnixfsReaderImpl impl;
  std::vector<CursorFrame> stack;  // root first
  std::uint64_t size = 0;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t pos = 0;
};

FileCursor::FileCursor(std::unique_ptr<State> state) : s_(std::move(state)) {}
FileCursor::FileCursor(FileCursor&&) noexcept = default;
FileCursor& FileCursor::operator=(FileCursor&&) noexcept = default;
FileCursor::~FileCursor() = default;

std::uint64_t FileCursor::file_size() const { return s_->size; }
std::uint64_t FileCursor::begin() const { return s_->begin; }
std::uint64_t FileCursor::end() const { return s_->end; }
std::uint64_t FileCursor::position() const { return s_->pos; }

Result<FileCursor> FileCursor::open(BlockSource& source, const Cid& file, std::uint64_t begin,
                                    std::uint64_t end) {
  auto s = std::make_unique<State>(source);
  auto n = s->impl.load(file);
  if (!n) return n.error();
  auto size = s->impl.node_size(*n, file);
  if (!size) return size.error();
  s->size = *size;
  s->end = std::min(end, *size);
  s->begin = std::min(begin, s->end);
  s->pos = s->begin;
  if (s->begin < s->end) {
    s->stack.reserve(8);
    CursorFrame root{std::move(*n), file, 0, false, 0, 0};
    root.child_at = own_bytes(root.node).size();
    s->stack.push_back(std::move(root));
  }
  return FileCursor(std::move(s));
}

Result<ByteView> FileCursor::next() {
  auto slice = next_slice(0);
  if (!slice) return slice.error();
  return slice->bytes;
}

Result<FileCursor::Slice> FileCursor::next_slice(std::uint64_t defer_size) {
  State& s = *s_;
  // Each pass either returns, pops a frame, or pushes a child of the top frame
  // that covers unread bytes; the DAG depth is bounded by kMaxFileDepth and
  // every frame's links are walked once, so the loop ends.
  while (!s.stack.empty() && s.pos < s.end) {
    CursorFrame& top = s.stack.back();
    if (!top.data_done) {
      top.data_done = true;
      const ByteView own = own_bytes(top.node);
      const std::uint64_t lo = std::max(s.pos, top.at);
      const std::uint64_t hi = std::min<std::uint64_t>(s.end, top.at + own.size());
      if (lo < hi) {
        s.pos = hi;
        Slice slice;
        slice.bytes =
            own.subspan(static_cast<std::size_t>(lo - top.at), static_cast<std::size_t>(hi - lo));
        return slice;
      }
    }
    const Node& n = top.node;
    const std::size_t links = n.is_pb ? n.pb.links.size() : 0;
    bool pushed = false;
    while (top.next_child < links && top.child_at < s.end) {
      const std::size_t i = top.next_child++;
      const std::uint64_t child_size = n.fs.blocksizes[i];
      const std::uint64_t child_at = top.child_at;
      top.child_at += child_size;
      if (child_size == 0 || child_at + child_size <= s.pos) continue;
      if (s.stack.size() > kMaxFileDepth) {
        return make_error(Errc::malformed, "file DAG below " + s.stack.front().cid.to_string() +
                                               " is deeper than " + std::to_string(kMaxFileDepth) +
                                               " levels");
      }
      const Cid child_cid = n.pb.links[i].hash;
      if (defer_size > 0 && child_size >= defer_size && child_cid.codec() == kRaw &&
          !child_cid.is_identity()) {
        Slice slice;
        slice.leaf = child_cid;
        slice.leaf_size = child_size;
        slice.offset = std::max(s.pos, child_at) - child_at;
        const std::uint64_t hi = std::min(s.end, child_at + child_size);
        slice.length = hi - (child_at + slice.offset);
        s.pos = hi;
        return slice;
      }
      auto child = s.impl.load(child_cid);
      if (!child) return child.error();
      auto actual = s.impl.node_size(*child, child_cid);
      if (!actual) return actual.error();
      if (*actual != child_size) {
        return make_error(Errc::malformed,
                          "child " + child_cid.to_string() + " of " + top.cid.to_string() +
                              " holds " + std::to_string(*actual) +
                              " bytes, its parent's blocksizes say " + std::to_string(child_size));
      }
      CursorFrame frame{std::move(*child), child_cid, child_at, false, 0, 0};
      frame.child_at = child_at + own_bytes(frame.node).size();
      s.stack.push_back(std::move(frame));  // invalidates `top`
      pushed = true;
      break;
    }
    if (!pushed) s.stack.pop_back();
  }
  return Slice{};
}

}  // namespace srcgate::content
