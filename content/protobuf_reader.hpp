// Reads protobuf wire-format fields from a view, for the strict dag-pb and
// UnixFS decoders. Offsets in errors are relative to `start` (the start of the
// whole block), and each message begins with `prefix` ("dag-pb", "unixfs").
// A value type over borrowed bytes; one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "content/bytes.hpp"
#include "content/error.hpp"
#include "content/varint.hpp"

namespace srcgate::content {

class ProtobufReader {
 public:
  ProtobufReader(ByteView in, const std::uint8_t* start, std::string_view prefix)
      : in_(in), start_(start), prefix_(prefix) {}

  bool done() const { return in_.empty(); }
  std::size_t offset() const { return static_cast<std::size_t>(in_.data() - start_); }

  Result<std::uint64_t> varint(std::string_view what) {
    std::size_t at = offset();
    auto v = read_uvarint(in_, VarintRules::protobuf);
    if (!v) {
      return make_error(v.error().code, std::string(prefix_) + ": bad varint for " +
                                            std::string(what) + " at byte " + std::to_string(at) +
                                            ": " + v.error().message);
    }
    return *v;
  }

  Result<ByteView> bytes(std::string_view what) {
    std::size_t at = offset();
    auto len = varint(what);
    if (!len) return len.error();
    if (*len > in_.size()) {
      return make_error(Errc::truncated, std::string(prefix_) + ": " + std::string(what) +
                                             " at byte " + std::to_string(at) + " declares " +
                                             std::to_string(*len) + " bytes but only " +
                                             std::to_string(in_.size()) + " remain");
    }
    ByteView out = in_.first(static_cast<std::size_t>(*len));
    in_ = in_.subspan(static_cast<std::size_t>(*len));
    return out;
  }

  Result<std::uint32_t> fixed32(std::string_view what) {
    if (in_.size() < 4) {
      return make_error(Errc::truncated, std::string(prefix_) + ": " + std::string(what) +
                                             " at byte " + std::to_string(offset()) +
                                             " needs 4 bytes, only " + std::to_string(in_.size()) +
                                             " remain");
    }
    std::uint32_t v = std::uint32_t{in_[0]} | std::uint32_t{in_[1]} << 8 |
                      std::uint32_t{in_[2]} << 16 | std::uint32_t{in_[3]} << 24;
    in_ = in_.subspan(4);
    return v;
  }

 private:
  ByteView in_;
  const std::uint8_t* start_;
  std::string_view prefix_;
};

}  // namespace srcgate::content
