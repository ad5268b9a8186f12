// Fuzzes the dag-pb decoder and the UnixFS Data decoder inside it: what the
// gateway parses from every dag-pb block it reads. A decoded node must encode
// canonically to bytes that decode to the same node.
#include <cstdint>
#include <cstdlib>

#include "content/dag_pb.hpp"
#include "content/unixfs.hpp"

using namespace srcgate::content;

namespace {

bool same(const PbNode& a, const PbNode& b) {
  if (a.links.size() != b.links.size() || a.data.has_value() != b.data.has_value()) return false;
  if (a.data && !std::equal(a.data->begin(), a.data->end(), b.data->begin(), b.data->end())) {
    return false;
  }
  for (std::size_t i = 0; i < a.links.size(); ++i) {
    if (a.links[i].hash != b.links[i].hash || a.links[i].name != b.links[i].name ||
        a.links[i].tsize != b.links[i].tsize) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView block(data, size);
  auto node = decode_dag_pb(block);
  if (node) {
    Bytes encoded = encode_dag_pb(*node);
    auto again = decode_dag_pb(encoded);
    if (!again || !same(*node, *again)) std::abort();
    if (node->data) (void)decode_unixfs(*node->data);
  }
  // The UnixFS decoder on its own, on the raw input too.
  if (auto fs = decode_unixfs(block)) {
    Bytes encoded = encode_unixfs(*fs);
    auto again = decode_unixfs(encoded);
    if (!again || again->type != fs->type || again->blocksizes != fs->blocksizes ||
        again->filesize != fs->filesize) {
      std::abort();
    }
  }
  return 0;
}
