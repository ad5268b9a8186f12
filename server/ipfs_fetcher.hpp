// IpfsFetcher: the miss path of /ipfs/ (issue 6 item 4). Before IpfsHandler
// answers an /ipfs/ request from the store, GatewayHandler awaits ensure(),
// which makes the store hold every block that answer needs, fetching the
// missing ones from trustless gateways (ipfs-gateway.md §1.2, §1.8, §3.3).
//
// What a request needs, checked stage by stage against the store (each stage
// is a FetchSpec; the first one with a missing block is fetched, then the
// stages are checked again, at most kMaxStages fetches per request):
//  1. the path: the root block, the blocks that resolve every segment (plain
//     and HAMT directories) and the terminal block -> fetched as
//     /ipfs/<root>/<path>?format=car&dag-scope=block;
//  2. the terminal entity, by response kind, always under the terminal CID
//     (so that the stored record's root is the file itself):
//     - a UnixFS file (no format): the first 512 bytes when the media type
//       is sniffed and the Range starts later, then the blocks covering the
//       Range (the whole file without one; a HEAD only the first bytes) ->
//       dag-scope=entity with entity-bytes=<first>:<last>; for a GET this
//       last stage is streamed (see Latency model);
//     - a directory listing: its block or HAMT shards -> dag-scope=entity;
//       then its index.html as a file;
//     - ?format=car with dag-scope entity/all (and entity-bytes): the blocks
//       of that scope, walked as CarBody walks -> the same query;
//     - raw blocks, symlinks, dag-json & co. and dag-scope=block: stage 1 only.
// Checking reads the dag-pb nodes of the walk and only asks has_block() for
// raw leaves; a terminal whose record is a complete file skips the walk. So a
// hit costs one more walk of the DAG's inner nodes, not of its data.
//
// Fetching: GET <gateway>/ipfs/...?format=car&... with Accept:
// application/vnd.ipld.car, gateways in the configured order. The body
// streams into a storage::CarImport, which checks every block against its CID
// before writing it; the CAR header's roots are replaced by the CID the
// request named (a client ignores them, §1.8), so the record is always that
// CID's. A non-200, a transport error, a malformed CAR, a block that does not
// verify (the import is aborted: nothing of that answer stays) or an answer
// that leaves a needed block missing (its verified blocks are kept) moves to
// the next gateway. Identical fetches are coalesced: one in flight per
// request key (path and query); other requests wait for it.
//
// Latency model: every stage but the last is fetched and committed before the
// next one is looked at (one round trip each; the path and a sniffed head are
// a few blocks). The last stage of a GET of a UnixFS file, the bytes the
// response sends (the whole file or the Range's blocks), is streamed: its
// fetch (the same single coalesced CAR request, so the import still checks
// every block and the commit indexes a whole file's digests) runs as a
// coroutine of its own, which goes on when the client leaves and completes
// the cache fill; ensure() returns once the first block the response sends
// is stored (the store is looked at every 2 ms, doubling up to 50 ms, and as
// soon as the fetch ends), or once the fetch has ended, with
// Outcome::fill. The handler then answers as for a hit (same status, headers
// and bytes) with a FileBody that waits for each block the fill has not
// stored yet (file_body.hpp), and fails, so that the session cuts the
// connection before its Content-Length, when the fill ended without it.
// CarImport makes blocks visible in batches of about 4 MiB, so time to first
// byte is the path's round trips plus the first batch, not the whole file;
// the response then goes at the pace of the slower of gateway and client.
// A verified block that was sent stays right if a later block of the same
// answer fails and the import is aborted (its blocks are removed): the body
// waits for the next gateway's answer to store them again. The answer keeps
// Accept-Ranges: every byte it sends is of a verified block, so a client that
// resumes a cut transfer with a Range joins right bytes to right bytes. HEAD
// and only-if-cached are not streamed.
//
// Bounds: the HttpClient's connect, first-byte and stall timeouts bound each
// read; `deadline` bounds progress: a gateway attempt is aborted, and a
// request stops waiting for a fetch, when less than 1 MiB of the answer
// arrived within the last `deadline`. So a large file completes at any rate
// above 1 MiB per deadline (with the default, about 8.7 KB/s), and a gateway
// that trickles is cut. However it progresses, an answer (and a wait for it)
// ends after 30 deadlines, and an answer larger than the store's cap
// (max_size, when set) is cut (outcome too_large). Waiting for a streamed
// stage's first block is bounded by `deadline` from the start of ensure().
// A flight ends (its waiters woken, its fill ended) however its coroutine
// ends; at server shutdown, fetches no client waits for are abandoned.
// Cache-Control: only-if-cached requests never reach the fetcher.
//
// Metrics (registered when a registry is given):
//   srcgate_ipfs_upstream_requests_total{gateway,outcome}  outcome: ok,
//       not_found (404/410), http_error, bad_block (a block that does not hash
//       to its CID), bad_car (malformed CAR), incomplete (a needed block was
//       missing from the answer), deadline, too_large, store_error, and the HttpClient's
//       error kinds (connect, timeout, stall, reset, ...)
//   srcgate_ipfs_upstream_blocks_total        verified blocks received (distinct per answer)
//   srcgate_ipfs_upstream_bytes_total         CAR body bytes received
//   srcgate_ipfs_upstream_bad_blocks_total    answers rejected for a block that did not verify
//   srcgate_ipfs_fetch_coalesced_total        requests that joined a running fetch
//   srcgate_ipfs_fetches_in_flight            fetches running now (gauge)
//
// Ownership: the store and client must outlive the fetcher, and the fetcher
// must outlive the io_context its fetches run on (fetches are coroutines
// spawned on the executor of the request that started them).
// Thread-safety: ensure() may be called concurrently from any coroutine that
// runs on a strand or a single-threaded io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "content/cid.hpp"
#include "server/car_response.hpp"
#include "server/file_body.hpp"
#include "server/handler.hpp"
#include "server/http_client.hpp"
#include "server/metrics.hpp"
#include "server/router.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

struct IpfsFetcherOptions {
  // Trustless gateway base URLs ("https://trustless-gateway.link",
  // "http://srcgate-a:8080/cache"), tried in order.
  std::vector<std::string> gateways;
  // The progress bound: at least 1 MiB of an answer per deadline (see Bounds).
  std::chrono::milliseconds deadline{120'000};
};

// One trustless CAR request: the blocks of `scope` (and `range`) below
// `root`/`path`. Its URL is /ipfs/<root>[/<path>]?format=car&dag-scope=...
// [&entity-bytes=<first>:<last>].
struct FetchSpec {
  content::Cid root;
  std::vector<std::string> path;  // decoded segments
  DagScope scope = DagScope::block;
  std::optional<InclusiveRange> range;  // entity scope on a file only
  // The bytes a GET's response sends (the last stage): ensure() returns once
  // their first block is stored. Not part of the key.
  bool streamed = false;
  // "/ipfs/<root>/<escaped path>?format=car&dag-scope=..."; also the coalescing key.
  std::string target() const;
};

// The first stage (as above) whose blocks the store lacks, for `request`;
// nullopt when the store can answer it (or when it cannot be answered at all
// for another reason than a missing block, e.g. a path segment that the
// directory does not have, or a storage error: the handler then says so).
std::optional<FetchSpec> next_missing(storage::BlockStore& store, const Request& request,
                                      const IpfsRequest& ipfs);

// Whether the store holds every block `spec` names (path, terminal, scope).
bool spec_satisfied(storage::BlockStore& store, const FetchSpec& spec);

class IpfsFetcher {
 public:
  // `metrics` may be null.
  IpfsFetcher(storage::BlockStore& store, HttpClient& client, IpfsFetcherOptions options,
              MetricsRegistry* metrics);
  ~IpfsFetcher();
  IpfsFetcher(const IpfsFetcher&) = delete;
  IpfsFetcher& operator=(const IpfsFetcher&) = delete;

  struct Outcome {
    bool fetched = false;  // at least one stage was fetched and stored
    std::string failure;   // why a stage could not be fetched ("" when none failed)
    // When the response's bytes were streamed: the fetch that stores them,
    // for the FileBody (possibly ended already).
    std::shared_ptr<const BlockFill> fill;
  };

  // Fetches what `request` needs and the store lacks (see above); returns
  // early for a streamed stage. Never fails: on failure the handler answers
  // from what the store has.
  Awaitable<Outcome> ensure(const Request& request, const IpfsRequest& ipfs);

  // Fetches one spec (coalesced); true when the store then satisfies it.
  // `failure` receives each gateway's reason when not.
  Awaitable<bool> fetch(const FetchSpec& spec, std::string* failure = nullptr);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace srcgate::server
