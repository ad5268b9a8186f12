#include "content/unixfs.hpp"

#include <string>
#include <string_view>

#include "content/protobuf_reader.hpp"
#include "content/varint.hpp"

namespace srcgate::content {

namespace {

constexpr std::uint64_t kVarint = 0;
constexpr std::uint64_t kLengthDelimited = 2;
constexpr std::uint64_t kFixed32 = 5;

const char* wire_name(std::uint64_t wire) {
  switch (wire) {
    case kVarint:
      return "varint";
    case kLengthDelimited:
      return "bytes";
    case kFixed32:
      return "fixed32";
    default:
      return "other";
  }
}

Error wrong_wire(std::string_view field, std::uint64_t got, std::uint64_t want, std::size_t at) {
  return make_error(Errc::malformed, "unixfs: field " + std::string(field) + " at byte " +
                                         std::to_string(at) + " has wire type " +
                                         std::to_string(got) + ", expected " +
                                         std::to_string(want) + " (" + wire_name(want) + ")");
}

Result<UnixfsMtime> decode_mtime(ByteView bytes, const std::uint8_t* start) {
  ProtobufReader r(bytes, start, "unixfs");
  UnixfsMtime m;
  while (!r.done()) {
    std::size_t at = r.offset();
    auto tag = r.varint("mtime field tag");
    if (!tag) return tag.error();
    std::uint64_t field = *tag >> 3, wire = *tag & 7;
    if (field == 1) {
      if (wire != kVarint) return wrong_wire("mtime.Seconds", wire, kVarint, at);
      auto s = r.varint("mtime.Seconds");
      if (!s) return s.error();
      m.seconds = static_cast<std::int64_t>(*s);  // int64: two's complement varint
    } else if (field == 2) {
      if (wire != kFixed32) return wrong_wire("mtime.FractionalNanoseconds", wire, kFixed32, at);
      auto n = r.fixed32("mtime.FractionalNanoseconds");
      if (!n) return n.error();
      m.nanos = *n;
    } else {
      return make_error(Errc::malformed, "unixfs: unknown mtime field " + std::to_string(field) +
                                             " at byte " + std::to_string(at));
    }
  }
  return m;
}

}  // namespace

Result<UnixfsData> decode_unixfs(ByteView bytes) {
  ProtobufReader r(bytes, bytes.data(), "unixfs");
  UnixfsData out;
  bool have_type = false;
  while (!r.done()) {
    std::size_t at = r.offset();
    auto tag = r.varint("field tag");
    if (!tag) return tag.error();
    std::uint64_t field = *tag >> 3, wire = *tag & 7;
    switch (field) {
      case 1: {
        if (wire != kVarint) return wrong_wire("Type", wire, kVarint, at);
        auto t = r.varint("Type");
        if (!t) return t.error();
        if (*t > static_cast<std::uint64_t>(UnixfsType::hamt_shard)) {
          return make_error(Errc::malformed, "unixfs: unknown Type " + std::to_string(*t) +
                                                 " at byte " + std::to_string(at) +
                                                 " (known: 0-5)");
        }
        out.type = static_cast<UnixfsType>(*t);
        have_type = true;
        break;
      }
      case 2: {
        if (wire != kLengthDelimited) return wrong_wire("Data", wire, kLengthDelimited, at);
        auto d = r.bytes("Data");
        if (!d) return d.error();
        out.data = *d;
        break;
      }
      case 3: {
        if (wire != kVarint) return wrong_wire("filesize", wire, kVarint, at);
        auto v = r.varint("filesize");
        if (!v) return v.error();
        out.filesize = *v;
        break;
      }
      case 4: {
        if (wire == kVarint) {
          auto v = r.varint("blocksizes");
          if (!v) return v.error();
          out.blocksizes.push_back(*v);
        } else if (wire == kLengthDelimited) {
          auto packed = r.bytes("blocksizes (packed)");
          if (!packed) return packed.error();
          ProtobufReader p(*packed, bytes.data(), "unixfs");
          while (!p.done()) {
            auto v = p.varint("blocksizes (packed)");
            if (!v) return v.error();
            out.blocksizes.push_back(*v);
          }
        } else {
          return wrong_wire("blocksizes", wire, kVarint, at);
        }
        break;
      }
      case 5: {
        if (wire != kVarint) return wrong_wire("hashType", wire, kVarint, at);
        auto v = r.varint("hashType");
        if (!v) return v.error();
        out.hash_type = *v;
        break;
      }
      case 6: {
        if (wire != kVarint) return wrong_wire("fanout", wire, kVarint, at);
        auto v = r.varint("fanout");
        if (!v) return v.error();
        out.fanout = *v;
        break;
      }
      case 7: {
        if (wire != kVarint) return wrong_wire("mode", wire, kVarint, at);
        auto v = r.varint("mode");
        if (!v) return v.error();
        if (*v > 0xffffffffu) {
          return make_error(Errc::malformed, "unixfs: mode " + std::to_string(*v) + " at byte " +
                                                 std::to_string(at) + " does not fit uint32");
        }
        out.mode = static_cast<std::uint32_t>(*v);
        break;
      }
      case 8: {
        if (wire != kLengthDelimited) return wrong_wire("mtime", wire, kLengthDelimited, at);
        auto b = r.bytes("mtime");
        if (!b) return b.error();
        auto m = decode_mtime(*b, bytes.data());
        if (!m) return m.error();
        out.mtime = *m;
        break;
      }
      default:
        return make_error(Errc::malformed, "unixfs: unknown field " + std::to_string(field) +
                                               " (wire type " + std::to_string(wire) +
                                               ") at byte " + std::to_string(at));
    }
  }
  if (!have_type) return make_error(Errc::malformed, "unixfs: required field Type is missing");
  return out;
}

Bytes encode_unixfs(const UnixfsData& data) {
  std::size_t size = 2 + uvarint_size(static_cast<std::uint64_t>(data.type));
  if (data.data) size += 1 + uvarint_size(data.data->size()) + data.data->size();
  if (data.filesize) size += 1 + uvarint_size(*data.filesize);
  for (std::uint64_t b : data.blocksizes) size += 1 + uvarint_size(b);
  size += 32;  // hashType, fanout, mode, mtime: small, bounded

  Bytes out;
  out.reserve(size);
  out.push_back(0x08);
  put_uvarint(out, static_cast<std::uint64_t>(data.type));
  if (data.data) {
    out.push_back(0x12);
    put_uvarint(out, data.data->size());
    append(out, *data.data);
  }
  if (data.filesize) {
    out.push_back(0x18);
    put_uvarint(out, *data.filesize);
  }
  for (std::uint64_t b : data.blocksizes) {
    out.push_back(0x20);
    put_uvarint(out, b);
  }
  if (data.hash_type) {
    out.push_back(0x28);
    put_uvarint(out, *data.hash_type);
  }
  if (data.fanout) {
    out.push_back(0x30);
    put_uvarint(out, *data.fanout);
  }
  if (data.mode) {
    out.push_back(0x38);
    put_uvarint(out, *data.mode);
  }
  if (data.mtime) {
    Bytes m;
    m.push_back(0x08);
    put_uvarint(m, static_cast<std::uint64_t>(data.mtime->seconds));
    if (data.mtime->nanos) {
      m.push_back(0x15);
      std::uint32_t n = *data.mtime->nanos;
      for (int i = 0; i < 4; ++i) m.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    }
    out.push_back(0x42);
    put_uvarint(out, m.size());
    append(out, m);
  }
  return out;
}

}  // namespace srcgate::content
