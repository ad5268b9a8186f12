#include "server/hit_cache.hpp"

#include <algorithm>
#include <cstring>

#include "server/http_policy.hpp"

namespace srcgate::server {

namespace {
// Per entry beyond its bytes and strings: the entry, its list node, its map
// node and the shared_ptr control block, rounded up.
constexpr std::uint64_t kEntryOverhead = 256;
}  // namespace

CachedHit::CachedHit(const content::Digest& d, content::Cid r, std::uint64_t s)
    : digest(d), root(std::move(r)), size(s) {
  const std::string text = root.to_string();
  etag = make_etag(text);
  ipfs_path = "/ipfs/" + text;
}

std::uint64_t CachedHit::charge() const {
  return kEntryOverhead + root.bytes().size() + etag.capacity() + ipfs_path.capacity() +
         header_lines.capacity() + (bytes ? bytes->capacity() : 0);
}

std::size_t HitCache::DigestHash::operator()(const content::Digest& d) const noexcept {
  // The digest of a cryptographic hash: its first bytes are as good as any hash.
  std::uint64_t h = 0;
  std::memcpy(&h, d.data.data(), sizeof h);
  return static_cast<std::size_t>(h ^ static_cast<std::uint64_t>(d.algo));
}

HitCache::HitCache(HitCacheOptions options) : options_(options) {
  options_.shards = std::max<std::size_t>(1, options_.shards);
  shard_capacity_ = options_.capacity_bytes / options_.shards;
  shards_.reserve(options_.shards);
  for (std::size_t i = 0; i < options_.shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

HitCache::Shard& HitCache::shard_of(const content::Digest& digest) {
  // Bits of the digest that the map's hash does not use first.
  return *shards_[digest.data[8] % shards_.size()];
}

void HitCache::remove_locked(Shard& shard, Lru::iterator it) {
  shard.bytes -= (*it)->charge();
  shard.index.erase((*it)->digest);
  shard.lru.erase(it);
}

std::shared_ptr<const CachedHit> HitCache::find(const content::Digest& digest) {
  if (!enabled()) return nullptr;
  Shard& shard = shard_of(digest);
  std::lock_guard lock(shard.mu);
  const auto it = shard.index.find(digest);
  if (it == shard.index.end()) return nullptr;
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  return *it->second;
}

bool HitCache::insert(std::shared_ptr<const CachedHit> hit) {
  if (!enabled() || hit == nullptr) return false;
  const std::uint64_t charge = hit->charge();
  if (charge > shard_capacity_) return false;
  Shard& shard = shard_of(hit->digest);
  std::lock_guard lock(shard.mu);
  if (const auto it = shard.index.find(hit->digest); it != shard.index.end()) {
    remove_locked(shard, it->second);
  }
  // Each pass drops one entry; the loop ends when the new one fits.
  while (!shard.lru.empty() && shard.bytes + charge > shard_capacity_) {
    remove_locked(shard, std::prev(shard.lru.end()));
  }
  const content::Digest digest = hit->digest;
  shard.lru.push_front(std::move(hit));
  shard.index.emplace(digest, shard.lru.begin());
  shard.bytes += charge;
  return true;
}

void HitCache::erase(const content::Digest& digest) {
  if (!enabled()) return;
  Shard& shard = shard_of(digest);
  std::lock_guard lock(shard.mu);
  if (const auto it = shard.index.find(digest); it != shard.index.end()) {
    remove_locked(shard, it->second);
  }
}

HitCache::Use HitCache::use() const {
  Use u;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    u.entries += shard->index.size();
    u.bytes += shard->bytes;
  }
  return u;
}

}  // namespace srcgate::server
