// The Nix hashed-mirror routes (nix.md §1.3, issue 4 item 2, issue 5):
// GET/HEAD /{md5,sha1,sha256,sha512}/<hash> and the SRI forms.
//
// Hit: answered from the store's name index. 200 with the file's bytes
// streamed block by block, Content-Length, Content-Type
// application/octet-stream, the strong ETag "<root cid>", Cache-Control
// public, max-age=29030400, immutable, Accept-Ranges: bytes with single
// ranges (206/416), If-None-Match (304) and X-Ipfs-Path /ipfs/<root cid>.
//
// Miss (ARCHITECTURE.md "How a request flows", 2):
// - `Cache-Control: only-if-cached`: 412, no upstream I/O;
// - no fetcher (offline, or no mirror): a fast 404 (Nix falls back at once);
// - otherwise the MissFetcher's answer: stored (it arrived meanwhile) is
//   served as a hit; not_found is a 404 whose body says what each mirror
//   answered; streaming is a 200 whose body comes from the arriving upstream
//   body (Content-Length when the upstream declared one, else chunked),
//   Content-Type application/octet-stream, Cache-Control immutable, and
//   neither Accept-Ranges nor ETag (Nix would resume a cut transfer with a
//   Range request and glue good bytes to bad). The handler waits for the
//   body's first piece before it answers, so a fetch that fails before
//   sending any byte is still a 404. HEAD gets the same headers at once;
//   the fetch goes on and fills the cache. A Range on a miss is a 206 (or
//   416) over the arriving body when its length is declared; otherwise the
//   request waits for the fetch to end and is served as a hit (or 404). A
//   declared length of 0 also waits (an empty 200 would complete before the
//   verification).
// A store failure is 500.
//
// The hit cache (hit_cache.hpp): a hit found in it, confirmed at the store's
// current names_generation(), is answered without reading the store (the
// access still touches the root's recency); one whose confirmation is older
// is looked up again first. A hit that is not in it is added, with the
// file's bytes when it is small. The answer is the same either way: status,
// headers in the same order, body; If-None-Match, Range and HEAD as above.
// Thread-safety: free functions; as thread-safe as the store, cache and fetcher.
#pragma once

#include <optional>

#include "server/handler.hpp"
#include "server/hit_cache.hpp"
#include "server/miss_fetcher.hpp"
#include "server/router.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

// REQUIRES: request.method is GET or HEAD. `fetcher` null: offline; `cache`
// null: no hit cache.
Awaitable<Response> serve_hash(storage::BlockStore& store, HitCache* cache, MissFetcher* fetcher,
                               const Request& request, const HashRequest& hash);

// The answer from `cache` alone: when it holds `hash` confirmed at the
// store's current generation; nullopt otherwise (then call serve_hash).
// REQUIRES: request.method is GET or HEAD.
std::optional<Response> serve_cached_hash(storage::BlockStore& store, HitCache& cache,
                                          const Request& request, const HashRequest& hash);

}  // namespace srcgate::server
