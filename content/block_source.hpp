// Where readers get blocks from: the store, a CAR in memory, a test map.
// Implementations say how thread-safe they are.
#pragma once

#include <map>
#include <optional>

#include "content/bytes.hpp"
#include "content/cid.hpp"
#include "content/error.hpp"

namespace srcgate::content {

class BlockSource {
 public:
  virtual ~BlockSource() = default;
  // The block's bytes; nullopt when the source does not have it; an error when
  // it could not tell (I/O failure). Sources return only verified bytes.
  // Identity CIDs never reach a source: readers resolve them inline.
  virtual Result<std::optional<Bytes>> get(const Cid& cid) = 0;
};

// A BlockSource over an in-memory map. Not thread-safe for concurrent put/get.
class MemoryBlockSource final : public BlockSource {
 public:
  void put(const Cid& cid, Bytes bytes) { blocks_.insert_or_assign(cid, std::move(bytes)); }
  bool erase(const Cid& cid) { return blocks_.erase(cid) > 0; }
  std::size_t size() const { return blocks_.size(); }
  Result<std::optional<Bytes>> get(const Cid& cid) override {
    auto it = blocks_.find(cid);
    if (it == blocks_.end()) return std::optional<Bytes>();
    return std::optional<Bytes>(it->second);
  }

 private:
  std::map<Cid, Bytes> blocks_;
};

}  // namespace srcgate::content
