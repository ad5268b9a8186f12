#include "server/hash_handler.hpp"

#include <memory>
#include <optional>
#include <string>

#include "content/encoding.hpp"
#include "content/nix_hash.hpp"
#include "server/file_body.hpp"
#include "server/http_policy.hpp"

namespace srcgate::server {

namespace {

std::string describe(const content::Digest& digest) {
  return std::string(content::algo_name(digest.algo)) + ":" + content::to_hex(digest);
}

// 404 "<algo>:<hex> is not in the store[: <why>]".
Response not_in_store(const content::Digest& digest, std::string_view why = {}) {
  std::string text = describe(digest) + " is not in the store";
  if (!why.empty()) {
    text += ": ";
    text += why;
  }
  Response r = Response::text(404, text);
  r.cache = CacheStatus::miss;
  return r;
}

Response serve_entry(storage::BlockStore& store, const Request& request,
                     const storage::NameEntry& entry) {
  const content::Cid& root = entry.root;
  store.touch(root);
  const std::string root_text = root.to_string();
  Response r;
  r.cache = CacheStatus::hit;
  r.header("Content-Type", "application/octet-stream");
  r.header("Cache-Control", std::string(kImmutableCacheControl));
  r.header("X-Ipfs-Path", "/ipfs/" + root_text);
  serve_bytes(r, request, make_etag(root_text), entry.size, true,
              [&](std::uint64_t begin, std::uint64_t end) -> std::unique_ptr<BodySource> {
                return std::make_unique<FileBody>(store, root, begin, end);
              });
  return r;
}

// The body of a cached small hit: bytes [begin, end) of the entry's copy of
// the file, in one piece. Holds the entry, which may leave the cache meanwhile.
class CachedBody final : public BodySource {
 public:
  CachedBody(std::shared_ptr<const CachedHit> hit, std::size_t begin, std::size_t end)
      : hit_(std::move(hit)), begin_(begin), end_(end) {}
  Awaitable<content::Result<content::ByteView>> next() override {
    if (done_) co_return content::ByteView{};
    done_ = true;
    co_return content::ByteView(hit_->bytes->data() + begin_, end_ - begin_);
  }

 private:
  std::shared_ptr<const CachedHit> hit_;
  std::size_t begin_;
  std::size_t end_;
  bool done_ = false;
};

// A hit answered from its cache entry: the answer of serve_entry, whose
// header lines the entry keeps formatted (see make_hit), with serve_bytes's
// conditional and range rules (select_bytes); tests/server/hit_cache_test.cpp
// compares the two answers, shape by shape.
Response serve_hit(storage::BlockStore& store, const Request& request,
                   std::shared_ptr<const CachedHit> hit) {
  store.touch(hit->root);
  const CachedHit& h = *hit;
  Response r;
  r.cache = CacheStatus::hit;
  r.header_lines = std::shared_ptr<const std::string>(hit, &h.header_lines);
  const auto span = select_bytes(r, request, h.etag, h.size, true);
  if (!span || span->begin == span->end) return r;  // no body, or an empty one: Content-Length 0
  const std::uint64_t begin = span->begin;
  const std::uint64_t end = span->end;
  if (h.bytes) {
    r.stream = std::make_unique<CachedBody>(std::move(hit), begin, end);
  } else {
    r.stream = std::make_unique<FileBody>(store, h.root, begin, end);
  }
  r.stream_length = end - begin;
  return r;
}

// The cache entry of a hit that lookup() gave at `generation`: with the
// file's bytes when it is small. Null when those bytes cannot be read (the
// answer then comes from serve_entry, which reports the failure as before).
std::shared_ptr<const CachedHit> make_hit(storage::BlockStore& store, const HitCache& cache,
                                          const content::Digest& digest,
                                          const storage::NameEntry& entry,
                                          std::uint64_t generation) {
  auto hit = std::make_shared<CachedHit>(digest, entry.root, entry.size);
  // serve_entry's headers, in its order (serve_bytes adds Etag and
  // Accept-Ranges after the first three).
  hit->header_lines = "Content-Type: application/octet-stream\r\nCache-Control: ";
  hit->header_lines += kImmutableCacheControl;
  hit->header_lines += "\r\nX-Ipfs-Path: " + hit->ipfs_path + "\r\nEtag: " + hit->etag +
                       "\r\nAccept-Ranges: bytes\r\n";
  hit->header_lines.shrink_to_fit();
  if (entry.size <= cache.options().max_file_bytes) {
    content::Bytes bytes;
    bytes.reserve(static_cast<std::size_t>(entry.size));
    auto read = store.read_file(
        entry.root, 0, entry.size, [&](content::ByteView piece) -> storage::Result<void> {
          if (bytes.size() + piece.size() > entry.size) {
            return storage::make_error(storage::Errc::corruption, "file longer than its size");
          }
          bytes.insert(bytes.end(), piece.begin(), piece.end());
          return {};
        });
    if (!read || bytes.size() != entry.size) return nullptr;
    hit->bytes = std::move(bytes);
  }
  hit->confirmed_at.store(generation, std::memory_order_relaxed);
  return hit;
}

// The digest arrived in the store during this request: serve it as a hit,
// counted as a miss.
Response serve_arrived(storage::BlockStore& store, const Request& request,
                       const content::Digest& digest) {
  auto entry = store.lookup(digest);
  if (!entry) return Response::text(500, "storage: " + entry.error().message);
  if (!*entry) return not_in_store(digest, "it was fetched, then evicted");
  Response r = serve_entry(store, request, **entry);
  r.cache = CacheStatus::miss;
  return r;
}

// A body whose first piece was pulled already (by the handler, so that a
// fetch that fails before its first byte is a 404 rather than the session's
// 500). The piece stays valid: the inner source is not called again until
// this one's second next().
class PrimedBody final : public BodySource {
 public:
  PrimedBody(std::unique_ptr<BodySource> inner, content::ByteView first)
      : inner_(std::move(inner)), first_(first) {}
  Awaitable<content::Result<content::ByteView>> next() override {
    if (first_) {
      const content::ByteView piece = *first_;
      first_.reset();
      co_return piece;
    }
    co_return co_await inner_->next();
  }

 private:
  std::unique_ptr<BodySource> inner_;
  std::optional<content::ByteView> first_;
};

}  // namespace

std::optional<Response> serve_cached_hash(storage::BlockStore& store, HitCache& cache,
                                          const Request& request, const HashRequest& hash) {
  if (!cache.enabled()) return std::nullopt;
  const std::uint64_t generation = store.names_generation();
  auto hit = cache.find(hash.digest);
  if (!hit || hit->confirmed_at.load(std::memory_order_acquire) != generation) {
    return std::nullopt;
  }
  return serve_hit(store, request, std::move(hit));
}

Awaitable<Response> serve_hash(storage::BlockStore& store, HitCache* cache, MissFetcher* fetcher,
                               const Request& request, const HashRequest& hash) {
  if (cache != nullptr && !cache->enabled()) cache = nullptr;
  std::shared_ptr<const CachedHit> cached;
  std::uint64_t generation = 0;
  if (cache != nullptr) {
    // Read before the lookup below, so that a change committed after it
    // makes the entry look stale (names_generation()).
    generation = store.names_generation();
    cached = cache->find(hash.digest);
    if (cached && cached->confirmed_at.load(std::memory_order_acquire) == generation) {
      co_return serve_hit(store, request, std::move(cached));
    }
  }
  auto entry = store.lookup(hash.digest);
  if (!entry) co_return Response::text(500, "storage: " + entry.error().message);
  if (*entry) {
    const storage::NameEntry& e = **entry;
    if (cache != nullptr) {
      if (cached && cached->root == e.root && cached->size == e.size) {
        cached->confirmed_at.store(generation, std::memory_order_release);
      } else {
        cached = make_hit(store, *cache, hash.digest, e, generation);
        if (cached) cache->insert(cached);
      }
      if (cached) co_return serve_hit(store, request, std::move(cached));
    }
    co_return serve_entry(store, request, e);
  }
  if (cached) cache->erase(hash.digest);  // evicted or removed since it was cached

  if (has_only_if_cached(request.header("Cache-Control"))) {
    Response r =
        Response::text(412, describe(hash.digest) + " is not in the store (only-if-cached)");
    r.cache = CacheStatus::miss;
    co_return r;
  }
  if (fetcher == nullptr) co_return not_in_store(hash.digest);

  const MissAnswer answer = co_await fetcher->find(hash.digest);
  switch (answer.kind) {
    case MissKind::stored:
      co_return serve_arrived(store, request, hash.digest);
    case MissKind::not_found:
      co_return not_in_store(hash.digest, "no upstream has it: " + answer.reason);
    case MissKind::streaming:
      break;
  }

  const std::string_view range_header = request.header("Range");
  // An If-Range cannot match: a miss has no entity tag yet.
  const bool ranged = !range_header.empty() && request.header("If-Range").empty();
  if ((ranged && !answer.length) || answer.length == std::uint64_t{0}) {
    const bool done = co_await fetcher->wait_done(answer);
    if (!done) co_return not_in_store(hash.digest, "its upstream fetch failed");
    co_return serve_arrived(store, request, hash.digest);
  }

  Response r;
  r.cache = CacheStatus::miss;
  r.header("Content-Type", "application/octet-stream");
  r.header("Cache-Control", std::string(kImmutableCacheControl));
  std::uint64_t begin = 0;
  std::optional<std::uint64_t> end = answer.length;
  if (ranged) {
    const RangeDecision range = evaluate_range(range_header, *answer.length);
    switch (range.kind) {
      case RangeDecision::full:
        break;
      case RangeDecision::partial:
        r.status = 206;
        r.header("Content-Range", content_range(range.range, *answer.length));
        begin = range.range.first;
        end = range.range.last + 1;
        break;
      case RangeDecision::unsatisfiable:
        r.status = 416;
        r.header("Content-Range", unsatisfied_content_range(*answer.length));
        co_return r;
    }
  }
  std::unique_ptr<BodySource> body = fetcher->body(answer, begin, end);
  if (end) r.stream_length = *end - begin;
  if (request.method == Method::head) {
    r.stream = std::move(body);  // headers only; the fetch goes on
    co_return r;
  }
  // Wait for the first piece here: when no upstream delivers one (a stall
  // after the headers, a body cut before its first byte, wrong bytes caught
  // before any was sent), the answer is still a 404.
  auto first = co_await body->next();
  if (!first) co_return not_in_store(hash.digest, first.error().message);
  r.stream = std::make_unique<PrimedBody>(std::move(body), *first);
  co_return r;
}

}  // namespace srcgate::server
