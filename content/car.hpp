// CARv1 (ipfs-gateway.md §3.1): a streaming reader that verifies every block
// against its CID, and a writer. Thread-safety: one reader/writer per stream.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "content/bytes.hpp"
#include "content/cid.hpp"
#include "content/error.hpp"

namespace srcgate::content {

// Blocks larger than this are rejected (the 2 MiB block limit of ipfs-gateway.md §1.7).
inline constexpr std::size_t kMaxBlockSize = 2 << 20;

struct CarHeader {
  std::vector<Cid> roots;
  std::uint64_t version = 1;
};

// Push parser: feed() the stream in slices of any size; it calls on_header once
// and then on_block for every section, after checking the block's bytes against
// its CID. A block that does not verify, a malformed header or section, or a
// section larger than kMaxBlockSize is an error naming the byte offset of the
// section; after an error the reader is done. finish() reports a stream cut off
// mid-header or mid-section as Errc::truncated.
// Header: DAG-CBOR {roots: [tag 42 bytes(0x00 + CID)], version: 1}, keys in
// either order, minimal CBOR heads, no other keys; version != 1 (e.g. CARv2)
// is Errc::unsupported; headers larger than kMaxBlockSize are Errc::too_large.
// Complete sections inside a fed slice are parsed in place (no copy); only a
// section split across feed() calls is buffered.
class CarReader {
 public:
  struct Handler {
    std::function<Result<void>(const CarHeader&)> on_header;
    // `offset` is where the section (its length varint) starts in the stream.
    // `block` is valid only during the call. Either callback may be empty.
    std::function<Result<void>(const Cid&, ByteView block, std::uint64_t offset)> on_block;
  };

  explicit CarReader(Handler handler);
  Result<void> feed(ByteView data);
  Result<void> finish();

  // Stream offset of the first byte not yet parsed (the start of a buffered
  // partial header or section).
  std::uint64_t offset() const { return offset_; }

 private:
  // Handles one complete frame (header or section) whose payload follows a
  // length varint, starting at stream offset `at`.
  Result<void> frame(ByteView payload, std::uint64_t at);
  Result<void> fail(Error e);
  // Rejects a frame length above the limit, or a zero-length section.
  Result<void> check_length(std::uint64_t len) const;
  Handler handler_;
  Bytes buffer_;              // unparsed bytes, at most one section
  std::uint64_t offset_ = 0;  // stream offset of buffer_[0] (the next unparsed byte)
  bool header_done_ = false;
  bool failed_ = false;
};

// Reads a whole CAR held in memory (tests and small files).
Result<void> read_car(ByteView car, CarReader::Handler handler);

// Encodes a CARv1 header: varint length + DAG-CBOR {roots, version: 1}.
Bytes encode_car_header(const std::vector<Cid>& roots);
// Appends one section: varint(len(cid)+len(block)) + cid + block.
void append_car_section(Bytes& out, const Cid& cid, ByteView block);
// The varint + CID prefix of a section, for writers that send the block
// separately (no copy of large blocks).
Bytes car_section_prefix(const Cid& cid, std::size_t block_size);

}  // namespace srcgate::content
