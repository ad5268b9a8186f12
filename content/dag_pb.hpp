// dag-pb (codec 0x70): strict decoding and canonical encoding of PBNode blocks
// (ipld dag-pb spec "Protobuf Strictness"; ipfs-gateway.md §2.1-2.2).
// Decoded nodes view the block they came from: keep the block alive as long as
// the node. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "content/bytes.hpp"
#include "content/cid.hpp"
#include "content/error.hpp"

namespace srcgate::content {

struct PbLink {
  Cid hash;
  std::optional<std::string> name;  // kubo writes "" for file chunks; encode keeps it
  std::optional<std::uint64_t> tsize;
};

struct PbNode {
  std::vector<PbLink> links;
  std::optional<ByteView> data;  // views the decoded block, or caller storage when encoding
};

// Strict decode: fields Links (2) and Data (1) only, Links in any position
// relative to Data but Data at most once; PBLink fields Hash (1), Name (2),
// Tsize (3) in that order, each at most once, Hash required; wire types must
// match; no unknown fields; no trailing bytes. Errors are Errc::malformed or
// Errc::truncated and name the field and byte offset.
Result<PbNode> decode_dag_pb(ByteView block);

// Canonical encode: every link (Hash, Name if set, Tsize if set) before Data.
Bytes encode_dag_pb(const PbNode& node);

}  // namespace srcgate::content
