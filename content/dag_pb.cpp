#include "content/dag_pb.hpp"

#include <string_view>

#include "content/protobuf_reader.hpp"
#include "content/varint.hpp"

namespace srcgate::content {

namespace {

// Protobuf wire types used by dag-pb.
constexpr std::uint64_t kVarint = 0;
constexpr std::uint64_t kLengthDelimited = 2;

Error wrong_wire_type(std::string_view field, std::uint64_t got, std::size_t at) {
  return make_error(Errc::malformed, "dag-pb: " + std::string(field) + " at byte " +
                                         std::to_string(at) + " has wire type " +
                                         std::to_string(got) + ", expected " +
                                         (field == "PBLink.Tsize" ? "0 (varint)" : "2 (bytes)"));
}

Result<PbLink> decode_link(ByteView bytes, const std::uint8_t* block_start) {
  ProtobufReader r(bytes, block_start, "dag-pb");
  std::optional<Cid> hash;
  std::optional<std::string> name;
  std::optional<std::uint64_t> tsize;
  std::uint64_t last_field = 0;
  while (!r.done()) {
    std::size_t at = r.offset();
    auto tag = r.varint("PBLink field tag");
    if (!tag) return tag.error();
    std::uint64_t field = *tag >> 3;
    std::uint64_t wire = *tag & 7;
    if (field < 1 || field > 3) {
      return make_error(Errc::malformed, "dag-pb: unknown PBLink field " + std::to_string(field) +
                                             " at byte " + std::to_string(at));
    }
    if (field <= last_field) {
      return make_error(Errc::malformed,
                        "dag-pb: PBLink field " + std::to_string(field) + " at byte " +
                            std::to_string(at) +
                            (field == last_field ? " is duplicated" : " is out of order") +
                            " (Hash, Name, Tsize must appear at most once, in that order)");
    }
    last_field = field;
    if (field == 1) {
      if (wire != kLengthDelimited) return wrong_wire_type("PBLink.Hash", wire, at);
      auto h = r.bytes("PBLink.Hash");
      if (!h) return h.error();
      auto cid = Cid::from_bytes(*h);
      if (!cid) {
        return make_error(Errc::malformed, "dag-pb: PBLink.Hash at byte " + std::to_string(at) +
                                               " is not a valid CID: " + cid.error().message);
      }
      hash = std::move(*cid);
    } else if (field == 2) {
      if (wire != kLengthDelimited) return wrong_wire_type("PBLink.Name", wire, at);
      auto n = r.bytes("PBLink.Name");
      if (!n) return n.error();
      name = std::string(as_chars(*n));
    } else {
      if (wire != kVarint) return wrong_wire_type("PBLink.Tsize", wire, at);
      auto t = r.varint("PBLink.Tsize");
      if (!t) return t.error();
      tsize = *t;
    }
  }
  if (!hash) {
    return make_error(Errc::malformed, "dag-pb: PBLink ending at byte " +
                                           std::to_string(r.offset()) + " has no Hash");
  }
  return PbLink{std::move(*hash), std::move(name), tsize};
}

std::size_t link_body_size(const PbLink& link) {
  std::size_t n = 0;
  std::size_t h = link.hash.bytes().size();
  n += 1 + uvarint_size(h) + h;
  if (link.name) n += 1 + uvarint_size(link.name->size()) + link.name->size();
  if (link.tsize) n += 1 + uvarint_size(*link.tsize);
  return n;
}

}  // namespace

Result<PbNode> decode_dag_pb(ByteView block) {
  ProtobufReader r(block, block.data(), "dag-pb");
  PbNode node;
  while (!r.done()) {
    std::size_t at = r.offset();
    auto tag = r.varint("PBNode field tag");
    if (!tag) return tag.error();
    std::uint64_t field = *tag >> 3;
    std::uint64_t wire = *tag & 7;
    if (field == 1) {
      if (wire != kLengthDelimited) return wrong_wire_type("PBNode.Data", wire, at);
      if (node.data) {
        return make_error(Errc::malformed,
                          "dag-pb: duplicate PBNode.Data at byte " + std::to_string(at));
      }
      auto d = r.bytes("PBNode.Data");
      if (!d) return d.error();
      node.data = *d;
    } else if (field == 2) {
      if (wire != kLengthDelimited) return wrong_wire_type("PBNode.Links", wire, at);
      auto l = r.bytes("PBNode.Links");
      if (!l) return l.error();
      auto link = decode_link(*l, block.data());
      if (!link) return link.error();
      node.links.push_back(std::move(*link));
    } else {
      return make_error(Errc::malformed, "dag-pb: unknown PBNode field " + std::to_string(field) +
                                             " (wire type " + std::to_string(wire) + ") at byte " +
                                             std::to_string(at));
    }
  }
  return node;
}

Bytes encode_dag_pb(const PbNode& node) {
  std::size_t total = 0;
  for (const PbLink& link : node.links) {
    std::size_t body = link_body_size(link);
    total += 1 + uvarint_size(body) + body;
  }
  if (node.data) total += 1 + uvarint_size(node.data->size()) + node.data->size();

  Bytes out;
  out.reserve(total);
  for (const PbLink& link : node.links) {
    out.push_back(0x12);
    put_uvarint(out, link_body_size(link));
    ByteView h = link.hash.bytes();
    out.push_back(0x0a);
    put_uvarint(out, h.size());
    append(out, h);
    if (link.name) {
      out.push_back(0x12);
      put_uvarint(out, link.name->size());
      append(out, as_bytes(*link.name));
    }
    if (link.tsize) {
      out.push_back(0x18);
      put_uvarint(out, *link.tsize);
    }
  }
  if (node.data) {
    out.push_back(0x0a);
    put_uvarint(out, node.data->size());
    append(out, *node.data);
  }
  return out;
}

}  // namespace srcgate::content
