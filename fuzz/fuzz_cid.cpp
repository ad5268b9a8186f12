// Fuzzes CID parsing from text (URL path segments) and from binary (CAR
// sections, dag-pb links). A parsed CID must round-trip through both forms.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "content/cid.hpp"

using namespace srcgate::content;

namespace {

void check_round_trip(const Cid& cid) {
  auto from_text = Cid::parse(cid.to_string());
  if (!from_text || *from_text != cid) std::abort();
  auto from_bin = Cid::from_bytes(cid.bytes());
  if (!from_bin || *from_bin != cid) std::abort();
  if (cid.version() == 1) {
    for (auto base :
         {Multibase::base58btc, Multibase::base16, Multibase::base64url, Multibase::base32upper}) {
      auto other = Cid::parse(cid.to_string(base));
      if (!other || *other != cid) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto cid = Cid::parse(text)) check_round_trip(*cid);

  ByteView bytes(data, size);
  if (auto cid = Cid::from_bytes(bytes)) check_round_trip(*cid);

  ByteView in(data, size);
  if (auto cid = Cid::read(in)) {
    if (in.size() + cid->bytes().size() != size) std::abort();  // consumed exactly the CID
    check_round_trip(*cid);
  }
  return 0;
}
