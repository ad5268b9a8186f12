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

Awaitable<Response> serve_hash(storage::BlockStore& store, MissFetcher* fetcher,
                               const Request& request, const HashRequest& hash) {
  auto entry = store.lookup(hash.digest);
  if (!entry) co_return Response::text(500, "storage: " + entry.error().message);
  if (*entry) co_return serve_entry(store, request, **entry);

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
