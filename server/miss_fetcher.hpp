// MissFetcher: the miss path of the hashed-mirror routes (ARCHITECTURE.md,
// "How a request flows", 2). A request for a digest that the store lacks
// joins the one in-flight fetch of that digest, or starts it. The fetch asks
// the upstream hashed mirrors in order for <mirror>/<algo>/<hex>, then GETs
// the http(s) URLs that the store's source index holds for that digest (the
// original URLs, in the order BlockStore::sources gives them; other schemes,
// such as ipfs://, are skipped: they are the IPFS path's); the body of
// the first 200 spills to an unlinked temporary file in spool_dir (memory
// stays bounded whatever the object size) and, at the same time, goes through
// a storage::FileImport (the four digests and the UnixFS blocks). Every client
// of the fetch reads the spool at its own pace, so a slow client never slows
// the fetch or the others, and a client that leaves does not cancel it: a
// fetch runs to its end and fills the cache even with no client left.
//
// Verification before completion: when the body has ended, the import is
// finished and its digest of the requested algorithm is compared with the
// requested digest. Only on a match is the file committed to the store; only
// then may a body (MissBody) hand out the last byte of its range. On a
// mismatch, a short body, a stall or any other failure, the import is
// aborted and the spool discarded; bodies that have already delivered bytes
// fail (the session cuts the connection before its end, so Nix falls back);
// bodies that have delivered nothing wait, transparently, for the next
// upstream (when it declares a different length than the one their header
// announced, they fail too).
//
// Failover order: each mirror once, in order, then each source URL once, in
// order. A connect failure, timeout, stall, reset, 5xx, short body, mismatch
// or refused destination moves to the next one; 404 and 410 too. When every
// mirror and every source URL answered 404/410 (and at least one was asked)
// the digest goes into a negative cache for negative_ttl (later requests get
// not_found without upstream I/O). With no mirror and no http(s) source URL a
// miss is not_found at once, and not remembered.
//
// The SSRF guard: source URLs come from data (imported lists, the admin API),
// not from the operator, so unless allow_private_sources they are fetched with
// ClientRequest::public_destinations_only: a destination (any hop of a
// redirect chain) that is loopback, link-local, private or otherwise not
// public is refused before it is contacted, logged to stderr as one line
// "srcgate: refused source URL <url>: <reason>" and counted with outcome
// "refused". Through an http(s) proxy only IP literals and localhost names
// can be checked (the proxy resolves the rest).
// The whole search is bounded by `deadline`: a request that has no answer by
// then gets not_found with the reasons so far (the fetch itself goes on).
//
// Metrics (registered when a registry is given):
//   srcgate_upstream_requests_total{upstream,outcome}  outcome: ok, not_found,
//       http_error, connect, resolve, tls, proxy, timeout, stall, reset,
//       protocol, too_many_redirects, redirect_refused, bad_url, short_body, mismatch,
//       store_error, refused
//   srcgate_upstream_bytes_total{upstream}          body bytes received
//   srcgate_upstream_first_byte_seconds{upstream}   request sent -> headers (histogram)
//   srcgate_fetches_in_flight                       fetches running now (gauge)
//   srcgate_fetch_coalesced_total                   requests that joined a running fetch
//   srcgate_hash_mismatches_total{upstream}         bodies whose digest was wrong
//   srcgate_negative_cache_hits_total               requests answered from the negative cache
// `upstream` is the mirror's base URL as configured; for a source URL, its
// origin ("https://example.org", "http://10.0.0.5:8080": scheme://host[:port],
// never the path), so that the label's cardinality stays bounded by the
// number of hosts; "invalid-url" for a source URL that does not parse.
//
// Ownership: the creator owns the fetcher; the store and client must outlive
// it, and the fetcher must outlive the io_context its fetches run on (fetches
// are coroutines spawned on the executor of the request that started them;
// destroying that io_context destroys them, which aborts their imports).
// Thread-safety: find() and body() may be called concurrently from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "content/importer.hpp"
#include "server/handler.hpp"
#include "server/http_client.hpp"
#include "server/metrics.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

struct MissOptions {
  // Base URLs of hashed mirrors ("https://tarballs.nixos.org",
  // "http://srcgate-2:8080/cache"), tried in order. Empty: every miss is
  // not_found at once.
  std::vector<std::string> mirrors;
  // How long "no mirror has it" is remembered; 0 disables the negative cache.
  std::chrono::milliseconds negative_ttl{60'000};
  // From a request's arrival to its answer (streaming or not_found).
  std::chrono::milliseconds deadline{30'000};
  // Where arriving bodies spill; created if missing. Files there are unlinked
  // at creation (O_TMPFILE), so a crash leaves nothing behind.
  std::filesystem::path spool_dir = std::filesystem::temp_directory_path();
  content::ImportProfile profile = content::ImportProfile::v1_2025;
  // After the mirrors, the URLs that the store's source index holds for the
  // requested digest are tried in order (issue 6 item 2); http(s) only, other
  // schemes (ipfs://) are left to the IPFS path. Unless this is set, a source
  // URL whose destination (after DNS, on every redirect hop) is a loopback,
  // link-local, private or otherwise non-public address is refused and logged.
  // Mirrors are the operator's choice and are never filtered.
  bool allow_private_sources = false;
};

class Fetch;  // one in-flight fetch; opaque

enum class MissKind {
  stored,     // the store has it now (it arrived meanwhile): serve it as a hit
  streaming,  // an upstream is sending it: serve a MissBody
  not_found,  // no mirror or source URL has it (or none answered within the deadline)
};

struct MissAnswer {
  MissKind kind = MissKind::not_found;
  // not_found: what each mirror and source URL answered, for the 404's body
  // ("http://m1/sha256/ab..: 404; http://m2/sha256/ab..: timeout").
  std::string reason;
  // streaming: the length the upstream declared, when it did.
  std::optional<std::uint64_t> length;
  std::shared_ptr<Fetch> fetch;  // streaming only
};

class MissFetcher {
 public:
  // `metrics` may be null.
  MissFetcher(storage::BlockStore& store, HttpClient& client, MissOptions options,
              MetricsRegistry* metrics);
  ~MissFetcher();
  MissFetcher(const MissFetcher&) = delete;
  MissFetcher& operator=(const MissFetcher&) = delete;

  // REQUIRES: the caller found `digest` missing from the store. Starts or
  // joins its fetch, then waits until it can answer (bounded by deadline).
  Awaitable<MissAnswer> find(const content::Digest& digest);

  // The body of bytes [begin, end) of a streaming answer (end nullopt: to the
  // end of the object). Pieces come as they arrive; the last byte waits for
  // the verification. REQUIRES: answer.kind == streaming; when `end` is set,
  // answer.length is too and end <= *answer.length.
  std::unique_ptr<BodySource> body(const MissAnswer& answer, std::uint64_t begin,
                                   std::optional<std::uint64_t> end);

  // Waits until the fetch of a streaming answer has ended: true when it was
  // verified and committed (the store has it), false when it failed.
  Awaitable<bool> wait_done(const MissAnswer& answer);

  const MissOptions& options() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace srcgate::server
