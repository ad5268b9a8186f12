#include "storage/block_store.hpp"

namespace srcgate::storage {

content::Result<std::optional<content::Bytes>> StoreBlockSource::get(const content::Cid& cid) {
  auto r = store_.get_block(cid);
  if (!r) {
    last_error_ = r.error();
    return to_content(r.error());
  }
  return std::move(*r);
}

}  // namespace srcgate::storage
