// HitCache: a bounded in-memory cache of hashed-mirror hits (hash_handler.hpp),
// so that a repeated GET /<algo>/<hash> of a hot file costs no store read: per
// digest it keeps what the answer needs (the root CID, the ETag and
// X-Ipfs-Path values, the size) and, for files up to max_file_bytes, the
// file's bytes as the store gave them (read_file: the bytes verified when
// they were stored, checked by the backend's checksums on the way out).
//
// Staying right. An entry records the store's names_generation() at which
// the name index last said "digest -> this root and size" (confirmed_at).
// The store changes that number after every commit that may re-point or
// remove a name (an import, an eviction, gc), so an entry whose stamp is not
// the current generation is asked again (one lookup()) before it is used:
// a file that the store evicted stops being served from the cache at the
// next request after its eviction. An entry in use (a body being sent) is
// kept alive by its shared_ptr after it leaves the cache.
//
// Bound. Each entry is charged its bytes plus the sizes of its strings and a
// fixed overhead; the charges of all entries stay at most capacity_bytes
// (split evenly between the shards). Inserting beyond it drops the least
// recently used entries of that shard; an entry larger than a shard is not
// kept. capacity_bytes 0 disables the cache (insert keeps nothing).
//
// Ownership: the GatewayHandler owns one; entries are shared with the bodies
// that send them.
// Thread-safety: every method may be called from any thread; each shard has
// its own mutex, held only for a hash-map lookup and a list splice.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "content/bytes.hpp"
#include "content/cid.hpp"
#include "content/digest.hpp"

namespace srcgate::server {

struct HitCacheOptions {
  std::uint64_t capacity_bytes = std::uint64_t{32} << 20;  // 0: no cache
  std::uint64_t max_file_bytes = std::uint64_t{64} << 10;  // larger files: no bytes kept
  std::size_t shards = 8;                                  // at least 1
};

// What one hit needs. Immutable once inserted, but for confirmed_at.
struct CachedHit {
  CachedHit(const content::Digest& d, content::Cid r, std::uint64_t s);

  content::Digest digest;
  content::Cid root;
  std::uint64_t size = 0;  // file bytes
  std::string etag;        // "\"<root>\"" (make_etag)
  std::string ipfs_path;   // "/ipfs/<root>"
  // The header lines of the hit's answers, formatted once by their user
  // (hash_handler.cpp) for Response::header_lines.
  std::string header_lines;
  // The whole file, when size <= max_file_bytes and it could be read.
  std::optional<content::Bytes> bytes;
  // The store's names_generation() at which lookup() last gave root and size.
  mutable std::atomic<std::uint64_t> confirmed_at{0};

  // What the entry counts against the capacity.
  std::uint64_t charge() const;
};

class HitCache {
 public:
  explicit HitCache(HitCacheOptions options = {});
  HitCache(const HitCache&) = delete;
  HitCache& operator=(const HitCache&) = delete;

  const HitCacheOptions& options() const { return options_; }
  bool enabled() const { return options_.capacity_bytes > 0; }

  // The entry for `digest` (marked most recently used), or null. The caller
  // checks confirmed_at against the store's generation.
  std::shared_ptr<const CachedHit> find(const content::Digest& digest);
  // Adds `hit`, replacing an entry of the same digest, then drops least
  // recently used entries of its shard until the shard fits. Returns false
  // (keeping nothing) when the cache is disabled or the entry is larger than
  // a shard.
  bool insert(std::shared_ptr<const CachedHit> hit);
  // Removes the entry of `digest`, if any.
  void erase(const content::Digest& digest);

  struct Use {
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;  // sum of charges
  };
  Use use() const;

 private:
  struct DigestHash {
    std::size_t operator()(const content::Digest& d) const noexcept;
  };
  using Lru = std::list<std::shared_ptr<const CachedHit>>;  // front: most recent
  struct Shard {
    mutable std::mutex mu;
    Lru lru;
    std::unordered_map<content::Digest, Lru::iterator, DigestHash> index;
    std::uint64_t bytes = 0;
  };
  Shard& shard_of(const content::Digest& digest);
  // Under shard.mu.
  static void remove_locked(Shard& shard, Lru::iterator it);

  HitCacheOptions options_;
  std::uint64_t shard_capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace srcgate::server
