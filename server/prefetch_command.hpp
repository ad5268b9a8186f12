// `srcgate prefetch` (issue 6 item 3): fills the store with the sources that
// its source index lists (or the hashes named on the command line) through
// the miss path (MissFetcher: the hashed mirrors, then the digest's original
// URLs; verified before anything is stored), a bounded number at a time.
//   srcgate prefetch [--data DIR] [--jobs N] [--mirror URL]... [upstream options] [HASH...]
// Resumable: a digest the store already has is skipped, so a re-run after an
// interruption fetches only what is missing. Ctrl-C (SIGINT, or SIGTERM)
// abandons the running fetches (their imports abort: nothing half-stored),
// prints the summary and exits 1.
//
// Prefetcher is the engine under the command, usable (and tested) in-process.
// Thread-safety: a Prefetcher is used by one thread (run()), except stop(),
// which any thread may call at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "server/http_client.hpp"
#include "server/miss_fetcher.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

int run_prefetch_command(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err);

struct PrefetchOptions {
  unsigned jobs = 4;     // digests fetched at the same time, >= 1
  unsigned threads = 0;  // threads running the fetches; 0: min(jobs, CPUs)
  HttpClientOptions client;
  MissOptions miss;
  // SIGINT and SIGTERM during run() act as stop().
  bool stop_on_signals = false;
  // How often on_tick is called during run() (for a progress display).
  std::chrono::milliseconds tick{250};
};

enum class PrefetchOutcome {
  fetched,         // fetched, verified and stored by this run (possibly under another
                   // digest of the same file, fetched meanwhile)
  already_stored,  // the store had it when its turn came
  failed,          // no upstream delivered it; `reason` says what each answered
};

struct PrefetchEvent {
  content::Digest digest;
  PrefetchOutcome outcome = PrefetchOutcome::failed;
  std::uint64_t bytes = 0;  // fetched: the file's size
  std::string reason;       // failed
};

struct PrefetchFailure {
  content::Digest digest;
  std::string reason;
};

struct PrefetchSummary {
  std::uint64_t total = 0;  // digests asked for
  std::uint64_t fetched = 0;
  std::uint64_t already_stored = 0;
  std::uint64_t failed = 0;
  std::uint64_t bytes = 0;                // bytes of the fetched files
  double seconds = 0;                     // since run() began
  bool interrupted = false;               // stop() (or a signal) ended the run early
  std::vector<PrefetchFailure> failures;  // in the order they happened

  std::uint64_t done() const { return fetched + already_stored + failed; }
  bool all_ok() const { return !interrupted && failed == 0 && done() == total; }
};

class Prefetcher {
 public:
  // Calls, each serialized with the others, from the run's threads: on_event
  // after each finished digest (with the counts so far, `seconds` current),
  // on_tick every options.tick while the run goes on.
  using EventFn = std::function<void(const PrefetchEvent&, const PrefetchSummary&)>;
  using TickFn = std::function<void(const PrefetchSummary&)>;

  // The store must outlive the Prefetcher. Throws std::runtime_error when
  // options.client.ca_file cannot be loaded (as HttpClient does).
  Prefetcher(storage::BlockStore& store, PrefetchOptions options);
  // Through a running srcgate instead of a store: `server` is the base of its
  // hashed-mirror routes ("http://host:port[/base]"); a digest it holds
  // (HEAD with Cache-Control: only-if-cached answers 200) is already_stored,
  // else GET <server>/<algo>/<hex>, its body read to the end and discarded,
  // makes the server fetch it; the reason of a failure is the server's
  // answer. options.miss is not used.
  Prefetcher(std::string server, PrefetchOptions options);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Fetches every digest of `digests` that the store lacks, options.jobs at a
  // time, in order of the list. Returns when all are done, or at once after
  // stop(): the fetches then running are abandoned (destroyed with their
  // imports, which abort) and `interrupted` is set. Call once.
  PrefetchSummary run(std::span<const content::Digest> digests, const EventFn& on_event,
                      const TickFn& on_tick = {});

  // Ends run() early; a no-op when it is not running or has ended.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// "512 B", "4.00 KiB", "12.3 MiB", "150 MiB", "1.50 GiB": powers of 1024,
// three significant digits from KiB on.
std::string format_bytes(std::uint64_t bytes);

// "sha256:<hex>", as failure lines name a digest.
std::string digest_name(const content::Digest& digest);

// The progress line of a terminal: "57/200 done, 3 failed, 12.3 MiB, 4.10 MiB/s".
std::string progress_line(const PrefetchSummary& so_far);

// The summary as one JSON object (no newline):
// {"total":N,"fetched":N,"already_stored":N,"failed":N,"not_done":N,"bytes":N,
//  "seconds":S,"interrupted":B}
std::string prefetch_summary_json(const PrefetchSummary& summary);

}  // namespace srcgate::server
