#include "content/car.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include "content/varint.hpp"

namespace srcgate::content {
namespace {

// Frames (header or section) larger than this are rejected before buffering.
constexpr std::size_t kMaxSectionSize = kMaxBlockSize + 256;
constexpr std::size_t kMaxHeaderSize = kMaxBlockSize;
// A multiformats varint is at most 9 bytes.
constexpr std::size_t kMaxVarintBytes = 9;

// A strict reader of the few CBOR items a CARv1 header holds. Offsets in its
// messages are stream offsets (`base` is the stream offset of `in[0]`).
class CborReader {
 public:
  CborReader(ByteView in, std::uint64_t base) : in_(in), base_(base) {}

  struct Head {
    unsigned major;
    std::uint64_t arg;
  };

  std::uint64_t where() const { return base_ + pos_; }
  bool done() const { return pos_ == in_.size(); }

  // One item head with a minimal (DAG-CBOR) argument encoding; no indefinite
  // lengths.
  Result<Head> head() {
    const std::uint64_t at = where();
    if (pos_ >= in_.size()) return err(at, "ends where a CBOR item was expected");
    const std::uint8_t ib = in_[pos_++];
    Head h{static_cast<unsigned>(ib >> 5), ib & 31u};
    const unsigned ai = ib & 31u;
    if (ai < 24) return h;
    if (ai > 27) {
      return err(at, ai == 31 ? "indefinite-length CBOR item (not allowed in DAG-CBOR)"
                              : "reserved CBOR additional info " + std::to_string(ai));
    }
    const std::size_t n = std::size_t{1} << (ai - 24);
    if (in_.size() - pos_ < n) return err(at, "CBOR item head is cut off");
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | in_[pos_++];
    const std::uint64_t min = ai == 24 ? 24 : (std::uint64_t{1} << (4 * n));
    if (v < min) return err(at, "non-minimal CBOR integer encoding (not allowed in DAG-CBOR)");
    h.arg = v;
    return h;
  }

  Result<Head> expect(unsigned major, std::string_view what) {
    const std::uint64_t at = where();
    auto h = head();
    if (!h) return h.error();
    if (h->major != major) {
      return err(
          at, std::string(what) + " expected, found CBOR major type " + std::to_string(h->major));
    }
    return h;
  }

  // The payload of a byte or text string whose head was just read.
  Result<ByteView> payload(std::uint64_t len) {
    if (in_.size() - pos_ < len) return err(where(), "CBOR string runs past the header");
    ByteView v = in_.subspan(pos_, static_cast<std::size_t>(len));
    pos_ += static_cast<std::size_t>(len);
    return v;
  }

  static Error err(std::uint64_t at, std::string what) {
    return make_error(Errc::malformed,
                      "CAR header at byte " + std::to_string(at) + ": " + std::move(what));
  }

 private:
  ByteView in_;
  std::uint64_t base_;
  std::size_t pos_ = 0;
};

// Decodes {roots: [...], version: N}; `base` is the stream offset of `cbor`.
Result<CarHeader> decode_header(ByteView cbor, std::uint64_t base) {
  CborReader r(cbor, base);
  auto map = r.expect(5, "a map");
  if (!map) return map.error();
  if (map->arg == 0 || map->arg > 2) {
    return CborReader::err(
        base, "map has " + std::to_string(map->arg) + " entries, expected roots and version");
  }
  CarHeader header;
  bool have_roots = false;
  bool have_version = false;
  for (std::uint64_t i = 0; i < map->arg; ++i) {
    const std::uint64_t key_at = r.where();
    auto key_head = r.expect(3, "a text key");
    if (!key_head) return key_head.error();
    auto key = r.payload(key_head->arg);
    if (!key) return key.error();
    const std::string_view name = as_chars(*key);
    if (name == "version") {
      if (have_version) return CborReader::err(key_at, "duplicate key \"version\"");
      have_version = true;
      auto v = r.expect(0, "an unsigned version");
      if (!v) return v.error();
      header.version = v->arg;
    } else if (name == "roots") {
      if (have_roots) return CborReader::err(key_at, "duplicate key \"roots\"");
      have_roots = true;
      auto arr = r.expect(4, "an array of roots");
      if (!arr) return arr.error();
      // Each root takes at least 3 bytes; a larger count cannot fit.
      if (arr->arg > cbor.size()) return CborReader::err(key_at, "roots count exceeds the header");
      header.roots.reserve(static_cast<std::size_t>(arr->arg));
      for (std::uint64_t j = 0; j < arr->arg; ++j) {
        const std::uint64_t root_at = r.where();
        auto tag = r.expect(6, "a tag-42 CID");
        if (!tag) return tag.error();
        if (tag->arg != 42) {
          return CborReader::err(
              root_at, "root has CBOR tag " + std::to_string(tag->arg) + ", a CID needs tag 42");
        }
        auto bytes_head = r.expect(2, "a CID byte string");
        if (!bytes_head) return bytes_head.error();
        auto bytes = r.payload(bytes_head->arg);
        if (!bytes) return bytes.error();
        if (bytes->empty() || (*bytes)[0] != 0x00) {
          return CborReader::err(root_at, "CID byte string must start with 0x00");
        }
        auto cid = Cid::from_bytes(bytes->subspan(1));
        if (!cid) return CborReader::err(root_at, "root CID: " + cid.error().message);
        header.roots.push_back(std::move(*cid));
      }
    } else {
      return CborReader::err(key_at, "unexpected key \"" + std::string(name) + "\"");
    }
  }
  if (!r.done()) return CborReader::err(r.where(), "trailing bytes after the header map");
  if (!have_version) return CborReader::err(base, "no \"version\" key");
  if (header.version != 1) {
    return make_error(Errc::unsupported,
                      "CAR version " + std::to_string(header.version) + " is not supported" +
                          (header.version == 2 ? " (CARv2; only CARv1 is read)" : " (only 1)"));
  }
  if (!have_roots) return CborReader::err(base, "no \"roots\" key");
  return header;
}

void put_cbor_head(Bytes& out, unsigned major, std::uint64_t arg) {
  const auto mt = static_cast<std::uint8_t>(major << 5);
  if (arg < 24) {
    out.push_back(static_cast<std::uint8_t>(mt | arg));
    return;
  }
  unsigned n = arg <= 0xff ? 1 : arg <= 0xffff ? 2 : arg <= 0xffffffffULL ? 4 : 8;
  out.push_back(static_cast<std::uint8_t>(mt | (24 + (n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : 3))));
  for (unsigned i = n; i > 0; --i) out.push_back(static_cast<std::uint8_t>(arg >> (8 * (i - 1))));
}

void put_cbor_text(Bytes& out, std::string_view s) {
  put_cbor_head(out, 3, s.size());
  append(out, as_bytes(s));
}

std::string section_name(bool header) { return header ? "CAR header" : "CAR section"; }

}  // namespace

CarReader::CarReader(Handler handler) : handler_(std::move(handler)) {}

Result<void> CarReader::fail(Error e) {
  failed_ = true;
  buffer_.clear();
  buffer_.shrink_to_fit();
  return e;
}

Result<void> CarReader::frame(ByteView payload, std::uint64_t at) {
  if (!header_done_) {
    // The CBOR starts after the length varint.
    const std::uint64_t cbor_at = at + uvarint_size(payload.size());
    auto header = decode_header(payload, cbor_at);
    if (!header) return header.error();
    header_done_ = true;
    if (handler_.on_header) return handler_.on_header(*header);
    return {};
  }
  ByteView in = payload;
  auto cid = Cid::read(in);
  if (!cid) {
    return make_error(
        cid.error().code == Errc::truncated ? Errc::malformed : cid.error().code,
        "CAR section at byte " + std::to_string(at) + ": bad CID: " + cid.error().message);
  }
  auto ok = cid->verify(in);
  if (!ok) {
    return make_error(ok.error().code, "CAR section at byte " + std::to_string(at) + " (" +
                                           cid->to_string() + "): " + ok.error().message);
  }
  if (!*ok) {
    return make_error(Errc::mismatch, "CAR section at byte " + std::to_string(at) + ": block of " +
                                          std::to_string(in.size()) + " bytes does not match " +
                                          cid->to_string());
  }
  if (handler_.on_block) return handler_.on_block(*cid, in, at);
  return {};
}

Result<void> CarReader::check_length(std::uint64_t len) const {
  const std::size_t limit = header_done_ ? kMaxSectionSize : kMaxHeaderSize;
  if (len > limit) {
    return make_error(Errc::too_large, section_name(!header_done_) + " at byte " +
                                           std::to_string(offset_) + " is " + std::to_string(len) +
                                           " bytes, limit " + std::to_string(limit));
  }
  if (len == 0 && header_done_) {
    return make_error(Errc::malformed,
                      "CAR section at byte " + std::to_string(offset_) + " has length 0");
  }
  return {};
}

Result<void> CarReader::feed(ByteView data) {
  if (failed_) return make_error(Errc::malformed, "CAR reader used after an error");

  // Complete a frame split across calls, copying only its bytes.
  while (!buffer_.empty()) {
    ByteView in(buffer_);
    auto len = read_uvarint(in);
    if (!len) {
      if (len.error().code != Errc::truncated || buffer_.size() >= kMaxVarintBytes) {
        return fail(make_error(Errc::malformed, section_name(!header_done_) + " at byte " +
                                                    std::to_string(offset_) + ": length " +
                                                    len.error().message));
      }
      if (data.empty()) return {};
      buffer_.push_back(data[0]);  // at most 9 single-byte steps per frame
      data = data.subspan(1);
      continue;
    }
    if (auto ok = check_length(*len); !ok) return fail(ok.error());
    const std::size_t vlen = buffer_.size() - in.size();
    const std::size_t total = vlen + static_cast<std::size_t>(*len);
    const std::size_t take = std::min(total - buffer_.size(), data.size());
    buffer_.reserve(total);
    buffer_.insert(buffer_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data = data.subspan(take);
    if (buffer_.size() < total) return {};
    auto r = frame(ByteView(buffer_).subspan(vlen), offset_);
    if (!r) return fail(r.error());
    offset_ += total;
    buffer_.clear();
  }

  if (!buffer_.empty()) return {};  // `data` went into the pending frame

  // Whole frames inside `data` are handled in place.
  while (!data.empty()) {
    ByteView in = data;
    auto len = read_uvarint(in);
    if (!len) {
      if (len.error().code == Errc::truncated && data.size() < kMaxVarintBytes) break;
      return fail(make_error(Errc::malformed, section_name(!header_done_) + " at byte " +
                                                  std::to_string(offset_) + ": length " +
                                                  len.error().message));
    }
    if (auto ok = check_length(*len); !ok) return fail(ok.error());
    if (in.size() < *len) break;
    const std::size_t vlen = data.size() - in.size();
    auto r = frame(in.first(static_cast<std::size_t>(*len)), offset_);
    if (!r) return fail(r.error());
    const std::size_t total = vlen + static_cast<std::size_t>(*len);
    offset_ += total;
    data = data.subspan(total);
  }
  // Keep the partial frame (at most one section) for the next call.
  buffer_.assign(data.begin(), data.end());
  return {};
}

Result<void> CarReader::finish() {
  if (failed_) return make_error(Errc::malformed, "CAR reader finished after an error");
  if (!buffer_.empty()) {
    ByteView in(buffer_);
    auto len = read_uvarint(in);
    std::string have = std::to_string(buffer_.size()) + " bytes";
    if (len) have += " of " + std::to_string(buffer_.size() - in.size() + *len);
    failed_ = true;
    return make_error(Errc::truncated, section_name(!header_done_) + " at byte " +
                                           std::to_string(offset_) + " is cut off (" + have + ")");
  }
  if (!header_done_) {
    failed_ = true;
    return make_error(Errc::truncated, "CAR stream ends before its header (empty stream)");
  }
  return {};
}

Result<void> read_car(ByteView car, CarReader::Handler handler) {
  CarReader reader(std::move(handler));
  if (auto r = reader.feed(car); !r) return r;
  return reader.finish();
}

Bytes encode_car_header(const std::vector<Cid>& roots) {
  Bytes cbor;
  std::size_t est = 16;
  for (const Cid& c : roots) est += c.bytes().size() + 5;
  cbor.reserve(est);
  put_cbor_head(cbor, 5, 2);
  put_cbor_text(cbor, "roots");
  put_cbor_head(cbor, 4, roots.size());
  for (const Cid& c : roots) {
    put_cbor_head(cbor, 6, 42);
    put_cbor_head(cbor, 2, c.bytes().size() + 1);
    cbor.push_back(0x00);
    append(cbor, c.bytes());
  }
  put_cbor_text(cbor, "version");
  put_cbor_head(cbor, 0, 1);

  Bytes out;
  out.reserve(cbor.size() + 3);
  put_uvarint(out, cbor.size());
  append(out, cbor);
  return out;
}

void append_car_section(Bytes& out, const Cid& cid, ByteView block) {
  const std::size_t len = cid.bytes().size() + block.size();
  out.reserve(out.size() + uvarint_size(len) + len);
  put_uvarint(out, len);
  append(out, cid.bytes());
  append(out, block);
}

Bytes car_section_prefix(const Cid& cid, std::size_t block_size) {
  const std::size_t len = cid.bytes().size() + block_size;
  Bytes out;
  out.reserve(uvarint_size(len) + cid.bytes().size());
  put_uvarint(out, len);
  append(out, cid.bytes());
  return out;
}

}  // namespace srcgate::content
