#include "server/prefetch_command.hpp"

// GCC 12 reports asio's awaitable-frame operator new/delete pair, once both
// are inlined into a coroutine's ramp, as mismatched (a false positive, GCC
// bug 109224); the pair is asio's own and matches.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include "config/config.hpp"
#include "content/nix_hash.hpp"
#include "server/admin_client.hpp"
#include "server/cli_command.hpp"
#include "server/config_flags.hpp"
#include "server/proxy_settings.hpp"
#include "server/source_list.hpp"
#include "server/url.hpp"
#include "storage/rocksdb_store.hpp"

namespace srcgate::server {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

// ---- Prefetcher ---------------------------------------------------------

class Prefetcher::Impl {
 public:
  Impl(storage::BlockStore& store, PrefetchOptions options)
      : store_(&store), options_(std::move(options)), client_(options_.client) {
    fetcher_.emplace(store, client_, options_.miss, nullptr);
  }
  Impl(std::string server, PrefetchOptions options)
      : server_(std::move(server)), options_(std::move(options)), client_(options_.client) {
    while (server_.ends_with('/')) server_.pop_back();
  }

  ~Impl() {
    std::lock_guard lock(mu_);
    ioc_.reset();  // before the fetcher: abandoned fetches end first
  }

  PrefetchSummary run(std::span<const content::Digest> digests, const EventFn& on_event,
                      const TickFn& on_tick) {
    RunState st(digests, on_event);
    st.summary.total = digests.size();
    const unsigned jobs = std::max(1u, options_.jobs);
    const std::size_t workers = std::min<std::size_t>(jobs, digests.size());
    unsigned threads = options_.threads;
    if (threads == 0) {
      threads = std::min(jobs, std::max(1u, std::thread::hardware_concurrency()));
    }
    threads =
        static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(threads, workers)));

    net::io_context* ioc = nullptr;
    {
      std::lock_guard lock(mu_);
      if (stop_requested_ || workers == 0) {
        st.summary.interrupted = stop_requested_ && workers != 0;
        st.summary.seconds = seconds_since(st.start);
        return std::move(st.summary);
      }
      ioc_.emplace(static_cast<int>(threads));
      ioc = &*ioc_;
    }
    {  // the I/O objects below go before the io_context
      auto control = net::make_strand(*ioc);
      net::steady_timer tick(control);
      std::optional<net::signal_set> signals;
      if (options_.stop_on_signals) {
        signals.emplace(control, SIGINT, SIGTERM);
        signals->async_wait([this](ErrorCode ec, int) {
          if (!ec) stop();
        });
      }
      st.finish = [&] {
        net::post(control, [&] {
          st.finished = true;
          tick.cancel();
          if (signals) signals->cancel();
        });
      };
      std::function<void()> arm_tick = [&] {
        tick.expires_after(options_.tick);
        tick.async_wait([&](ErrorCode ec) {
          if (ec || st.finished) return;
          {
            std::lock_guard lock(st.mu);
            st.summary.seconds = seconds_since(st.start);
            on_tick(st.summary);
          }
          arm_tick();
        });
      };
      if (on_tick) net::post(control, arm_tick);

      st.live = workers;
      for (std::size_t i = 0; i < workers; ++i) {
        net::co_spawn(net::make_strand(*ioc), worker(st), [&st](std::exception_ptr e) {
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& error) {
              std::fprintf(stderr, "srcgate prefetch: unexpected exception: %s\n", error.what());
            } catch (...) {
              std::fprintf(stderr, "srcgate prefetch: unexpected exception\n");
            }
          }
          if (st.live.fetch_sub(1) == 1) st.finish();
        });
      }
      std::vector<std::thread> pool;
      pool.reserve(threads - 1);
      for (unsigned i = 1; i < threads; ++i) pool.emplace_back([ioc] { ioc->run(); });
      ioc->run();
      for (auto& t : pool) t.join();
    }

    // Every thread is out of run(): what is left is abandoned. Destroying the
    // io_context destroys the suspended fetches, which aborts their imports.
    {
      std::lock_guard lock(mu_);
      ioc_.reset();
    }
    PrefetchSummary summary = std::move(st.summary);
    summary.seconds = seconds_since(st.start);
    summary.interrupted = summary.done() < summary.total;
    return summary;
  }

  void stop() {
    std::lock_guard lock(mu_);
    stop_requested_ = true;
    if (ioc_) ioc_->stop();
  }

 private:
  struct RunState {
    RunState(std::span<const content::Digest> d, const EventFn& e) : digests(d), on_event(e) {}
    std::span<const content::Digest> digests;
    const EventFn& on_event;
    const Clock::time_point start = Clock::now();
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> live{0};
    std::function<void()> finish;  // posts the end of the ticks and signals
    bool finished = false;         // on the control strand
    std::mutex mu;                 // guards summary and serializes the callbacks
    PrefetchSummary summary;
  };

  Awaitable<void> worker(RunState& st) {
    while (true) {
      const std::size_t i = st.next.fetch_add(1);
      if (i >= st.digests.size()) co_return;
      PrefetchEvent event = co_await one(st.digests[i]);
      std::lock_guard lock(st.mu);
      PrefetchSummary& s = st.summary;
      switch (event.outcome) {
        case PrefetchOutcome::fetched:
          ++s.fetched;
          s.bytes += event.bytes;
          break;
        case PrefetchOutcome::already_stored:
          ++s.already_stored;
          break;
        case PrefetchOutcome::failed:
          ++s.failed;
          s.failures.push_back(PrefetchFailure{event.digest, event.reason});
          break;
      }
      s.seconds = seconds_since(st.start);
      if (st.on_event) st.on_event(event, s);
    }
  }

  Awaitable<PrefetchEvent> one(const content::Digest& digest) {
    if (!fetcher_) co_return co_await one_via_server(digest);
    PrefetchEvent event;
    event.digest = digest;
    auto entry = store_->lookup(digest);
    if (!entry) {
      event.reason = "the store: " + entry.error().message;
      co_return event;
    }
    if (*entry) {
      event.outcome = PrefetchOutcome::already_stored;
      co_return event;
    }
    MissAnswer answer = co_await fetcher_->find(digest);
    switch (answer.kind) {
      case MissKind::stored: {
        // The store lacked it a moment ago: the fetch that find() started was
        // done before find() looked (small files), or another digest of the
        // same file arrived meanwhile. Either way this run brought it.
        event.outcome = PrefetchOutcome::fetched;
        auto stored = store_->lookup(digest);
        event.bytes = stored && *stored ? (*stored)->size : 0;
        co_return event;
      }
      case MissKind::not_found:
        event.reason = std::move(answer.reason);
        co_return event;
      case MissKind::streaming:
        break;
    }
    if (co_await fetcher_->wait_done(answer)) {
      event.outcome = PrefetchOutcome::fetched;
      auto stored = store_->lookup(digest);
      event.bytes = stored && *stored ? (*stored)->size : answer.length.value_or(0);
      co_return event;
    }
    event.reason = co_await failure_reason(answer, digest);
    co_return event;
  }

  // Why the fetch of a streaming answer failed. MissAnswer carries reasons
  // only for not_found; a body of the ended fetch fails with them ("no
  // upstream delivered <digest>: <url>: <outcome>; ..."), without reading
  // anything. The announced length is dropped so that the body cannot fail
  // for another reason (a next upstream declaring another length).
  Awaitable<std::string> failure_reason(const MissAnswer& answer, const content::Digest& digest) {
    MissAnswer probe = answer;
    probe.length.reset();
    auto body = fetcher_->body(probe, 0, std::nullopt);
    auto first = co_await body->next();
    if (first) {
      co_return "no news of the fetch for " + std::to_string(options_.miss.deadline.count()) +
          " ms; given up";
    }
    std::string reason = std::move(first.error().message);
    const std::string prefix = "no upstream delivered " + digest_name(digest) + ": ";
    if (reason.starts_with(prefix)) reason.erase(0, prefix.size());
    co_return reason;
  }

  // Through a server: HEAD with only-if-cached says whether it holds the
  // file (200) or not (412); then a GET whose body is read to its end and
  // discarded makes the server fetch and store it (the server verifies it
  // before the last byte; a cut body is a failure).
  Awaitable<PrefetchEvent> one_via_server(const content::Digest& digest) {
    PrefetchEvent event;
    event.digest = digest;
    const std::string url = server_ + "/" + std::string(content::algo_name(digest.algo)) + "/" +
                            content::to_hex(digest);
    ClientRequest head;
    head.method = "HEAD";
    head.url = url;
    head.headers.emplace_back("Cache-Control", "only-if-cached");
    auto cached = co_await client_.send(std::move(head));
    if (!cached) {
      event.reason = url + ": " + std::string(to_string(cached.error().code)) + " (" +
                     cached.error().message + ")";
      co_return event;
    }
    const unsigned head_status = (*cached)->status();
    (void)co_await (*cached)->read();  // the (empty) end, so that the connection is reused
    cached->reset();
    if (head_status == 200) {
      event.outcome = PrefetchOutcome::already_stored;
      co_return event;
    }
    if (head_status != 412) {
      event.reason = url + ": HEAD with only-if-cached answered " + std::to_string(head_status);
      co_return event;
    }
    ClientRequest get;
    get.url = url;
    auto response = co_await client_.send(std::move(get));
    if (!response) {
      event.reason = url + ": " + std::string(to_string(response.error().code)) + " (" +
                     response.error().message + ")";
      co_return event;
    }
    ClientResponse& r = **response;
    std::uint64_t bytes = 0;
    std::string text;  // the start of a non-200 body: the server's reasons
    for (;;) {
      auto piece = co_await r.read();
      if (!piece) {
        event.reason = url + ": " + std::to_string(r.status()) + " cut after " +
                       std::to_string(bytes) + " bytes: " + piece.error().message;
        co_return event;
      }
      if (piece->empty()) break;
      bytes += piece->size();
      if (r.status() != 200 && text.size() < kMaxReasonBytes) {
        text.append(reinterpret_cast<const char*>(piece->data()),
                    std::min(piece->size(), kMaxReasonBytes - text.size()));
      }
    }
    if (r.status() != 200) {
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      event.reason = url + ": " + std::to_string(r.status()) + (text.empty() ? "" : ": " + text);
      co_return event;
    }
    if (r.content_length() && *r.content_length() != bytes) {
      event.reason = url + ": 200 with " + std::to_string(bytes) + " of " +
                     std::to_string(*r.content_length()) + " bytes";
      co_return event;
    }
    event.outcome = PrefetchOutcome::fetched;
    event.bytes = bytes;
    co_return event;
  }

  static constexpr std::size_t kMaxReasonBytes = 4096;

  storage::BlockStore* store_ = nullptr;  // null: through server_
  std::string server_;
  const PrefetchOptions options_;
  HttpClient client_;
  std::optional<MissFetcher> fetcher_;  // with a store only

  std::mutex mu_;  // guards ioc_ and stop_requested_
  std::optional<net::io_context> ioc_;
  bool stop_requested_ = false;
};

Prefetcher::Prefetcher(storage::BlockStore& store, PrefetchOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

Prefetcher::Prefetcher(std::string server, PrefetchOptions options)
    : impl_(std::make_unique<Impl>(std::move(server), std::move(options))) {}

Prefetcher::~Prefetcher() = default;

PrefetchSummary Prefetcher::run(std::span<const content::Digest> digests, const EventFn& on_event,
                                const TickFn& on_tick) {
  return impl_->run(digests, on_event, on_tick);
}

void Prefetcher::stop() { impl_->stop(); }

// ---- text -----------------------------------------------------------------

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  // 1023.5 KiB prints as 1.00 MiB, not as 1024 KiB.
  while (v >= 1023.5 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  const int decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;  // three significant digits
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f %s", decimals, v, kUnits[unit]);
  return buf;
}

std::string digest_name(const content::Digest& digest) {
  return std::string(content::algo_name(digest.algo)) + ":" + content::to_hex(digest);
}

std::string progress_line(const PrefetchSummary& s) {
  std::string line = std::to_string(s.done()) + "/" + std::to_string(s.total) + " done, " +
                     std::to_string(s.failed) + " failed, " + format_bytes(s.bytes);
  const double rate = s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0;
  line += ", " + format_bytes(static_cast<std::uint64_t>(rate)) + "/s";
  return line;
}

std::string prefetch_summary_json(const PrefetchSummary& s) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", s.seconds);
  return "{\"total\":" + std::to_string(s.total) + ",\"fetched\":" + std::to_string(s.fetched) +
         ",\"already_stored\":" + std::to_string(s.already_stored) +
         ",\"failed\":" + std::to_string(s.failed) +
         ",\"not_done\":" + std::to_string(s.total - std::min(s.total, s.done())) +
         ",\"bytes\":" + std::to_string(s.bytes) + ",\"seconds\":" + seconds +
         ",\"interrupted\":" + (s.interrupted ? "true" : "false") + "}";
}

// ---- the command ------------------------------------------------------------

namespace {

namespace po = boost::program_options;

constexpr std::string_view kHelp =
    "Usage: srcgate prefetch [--data DIR] [--jobs N] [--mirror URL]... [options] [HASH...]\n"
    "\n"
    "Fetches into the store every source that the source index lists (`srcgate\n"
    "sources import`) and the store does not hold yet, or only the hashes given\n"
    "(algo:hash in hex, nix32 or base64, SRI, or bare hex), N at a time (default\n"
    "4). Each goes through the miss path of `srcgate serve`: the hashed mirrors in\n"
    "order (each --mirror, then https://tarballs.nixos.org unless\n"
    "--no-default-upstreams), then the URLs indexed for the hash; the bytes are\n"
    "verified against the hash before anything is stored. A source URL whose\n"
    "address is loopback, link-local or private is refused unless\n"
    "--allow-private-upstreams. The configuration (--config FILE, SRCGATE_*\n"
    "variables, proxies) is read as `srcgate serve` reads it.\n"
    "\n"
    "Resumable: what the store holds already is skipped, so running it again\n"
    "after an interruption fetches only what is missing. Ctrl-C abandons the\n"
    "running fetches (nothing half-stored) and prints the summary.\n"
    "\n"
    "Progress goes to standard error: on a terminal one self-updating line\n"
    "(done/total, failures, bytes, rate); otherwise one line per fetched or\n"
    "failed hash. At the end, standard error gets the summary and every failure\n"
    "with its reason, and standard output one JSON line:\n"
    "  {\"total\":N,\"fetched\":N,\"already_stored\":N,\"failed\":N,\"not_done\":N,\n"
    "   \"bytes\":N,\"seconds\":S,\"interrupted\":false}\n"
    "\n"
    "The store lives in the data directory given by --data DIR; without it,\n"
    "$SRCGATE_DATA_DIR, else /var/lib/srcgate for root, else\n"
    "${XDG_DATA_HOME:-~/.local/share}/srcgate (the directory `srcgate serve` uses).\n"
    "While `srcgate serve` holds the store it cannot be opened here: run prefetch\n"
    "while the server is stopped, or with --server URL: the server then does the\n"
    "fetching (with its own upstreams and configuration). prefetch lists its\n"
    "source index (GET /api/v1/sources, token from $SRCGATE_ADMIN_TOKEN; not needed\n"
    "when hashes are given), skips what it holds (HEAD with Cache-Control:\n"
    "only-if-cached) and GETs <URL>/<algo>/<hex> for the rest, discarding the body.\n"
    "\n"
    "Exit status: 0 when every hash is stored now; 1 when some failed or the run\n"
    "was interrupted (or the store could not be opened); 2 on a usage error.\n";

constexpr ConfigFlag kFlags[] = {
    {"data", "data_dir", "DIR", "the store's data directory (see above for the default)"},
    kConfigFileFlag,
    {"mirror", "mirrors", "URL",
     "an upstream hashed mirror (http:// or https://); repeat for more, asked in order; "
     "replaces the list of $SRCGATE_MIRRORS and the file",
     ConfigFlagKind::repeated},
    {"no-default-upstreams", "no_default_upstreams", "",
     "do not ask https://tarballs.nixos.org after the mirrors", ConfigFlagKind::on},
    {"allow-private-upstreams", "allow_private_upstreams", "",
     "let source-index URLs reach loopback, link-local and private addresses", ConfigFlagKind::on},
    kCaFileFlag,
    kConnectTimeoutFlag,
    kFirstByteTimeoutFlag,
    kStallTimeoutFlag,
    kSpoolDirFlag,
};

// A prefetch has no client waiting: the search for one hash is bounded by
// the upstreams' own timeouts, and this only guards against a fetch that
// gives no news at all.
constexpr std::chrono::milliseconds kPrefetchDeadline{60 * 60 * 1000};
constexpr unsigned kMaxJobs = 1024;
// The least first-byte and stall timeouts towards a server (--server).
constexpr std::chrono::milliseconds kServerWait{120'000};

int usage(std::ostream& err, const std::string& message) {
  return usage_error(err, "prefetch", message);
}

// What the progress display writes to `err`. Callbacks come serialized.
class Display {
 public:
  Display(std::ostream& err, bool terminal) : err_(err), terminal_(terminal) {}

  void event(const PrefetchEvent& e, const PrefetchSummary& s) {
    if (terminal_) {
      if (e.outcome == PrefetchOutcome::failed) {
        err_ << "\r\033[K"
             << "srcgate prefetch: failed " << digest_name(e.digest) << ": " << e.reason << '\n';
        redraw(s);
      } else if (Clock::now() - drawn_at_ >= kRedrawEvery) {
        redraw(s);  // a resumed run skips stored hashes faster than a terminal draws
      }
      return;
    }
    const std::string count = "[" + std::to_string(s.done()) + "/" + std::to_string(s.total) + "] ";
    switch (e.outcome) {
      case PrefetchOutcome::fetched:
        err_ << "srcgate prefetch: " << count << "fetched " << digest_name(e.digest) << " ("
             << e.bytes << " bytes)\n";
        break;
      case PrefetchOutcome::failed:
        err_ << "srcgate prefetch: " << count << "failed " << digest_name(e.digest) << ": "
             << e.reason << '\n';
        break;
      case PrefetchOutcome::already_stored:
        return;  // counted in the summary; a resumed run would print mostly these
    }
    err_.flush();
  }

  void tick(const PrefetchSummary& s) {
    if (terminal_) redraw(s);
  }

  // Ends the self-updating line before the summary.
  void end() {
    if (terminal_ && drawn_) err_ << "\r\033[K";
    err_.flush();
  }

 private:
  static constexpr std::chrono::milliseconds kRedrawEvery{100};

  void redraw(const PrefetchSummary& s) {
    err_ << "\r\033[K"
         << "srcgate prefetch: " << progress_line(s);
    err_.flush();
    drawn_ = true;
    drawn_at_ = Clock::now();
  }

  std::ostream& err_;
  const bool terminal_;
  bool drawn_ = false;
  Clock::time_point drawn_at_{};
};

void print_summary(const PrefetchSummary& s, std::ostream& out, std::ostream& err) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", s.seconds);
  err << "srcgate prefetch: " << s.fetched << " fetched (" << format_bytes(s.bytes) << "), "
      << s.already_stored << " already stored, " << s.failed << " failed, of " << s.total << " in "
      << seconds << " s";
  if (s.interrupted) err << "; interrupted with " << s.total - s.done() << " not done";
  err << '\n';
  if (!s.failures.empty()) {
    err << "srcgate prefetch: " << s.failures.size() << " failure(s):\n";
    for (const PrefetchFailure& f : s.failures) {
      err << "  " << digest_name(f.digest) << ": " << f.reason << '\n';
    }
  }
  err.flush();
  out << prefetch_summary_json(s) << '\n';
  out.flush();
}

// Runs `prefetcher` over `digests` with the progress display, prints the
// summary and returns the exit status.
int run_and_report(Prefetcher& prefetcher, const std::vector<content::Digest>& digests,
                   std::ostream& out, std::ostream& err) {
  Display display(err, &err == &std::cerr && ::isatty(STDERR_FILENO) == 1);
  const PrefetchSummary summary = prefetcher.run(
      digests, [&](const PrefetchEvent& e, const PrefetchSummary& s) { display.event(e, s); },
      [&](const PrefetchSummary& s) { display.tick(s); });
  display.end();
  print_summary(summary, out, err);
  if (!out) {
    err << "srcgate prefetch: cannot write to standard output\n";
    return kExitFailure;
  }
  return summary.all_ok() ? kExitOk : kExitFailure;
}

// The hashes of the server's source index (GET /api/v1/sources); nullopt
// after a message.
std::optional<std::vector<content::Digest>> list_server_sources(const AdminEndpoint& endpoint,
                                                                std::ostream& err) {
  auto reply = admin_request(endpoint, "GET", "sources", "");
  if (!reply) {
    err << "srcgate prefetch: " << reply.error().message << '\n';
    return std::nullopt;
  }
  if (reply->status != 200) {
    std::string body = reply->body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    err << "srcgate prefetch: GET /api/v1/sources: the server answered " << reply->status << ": "
        << body.substr(0, 500) << '\n';
    return std::nullopt;
  }
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(reply->body, ec);
  const boost::json::array* list = ec ? nullptr : parsed.if_array();
  if (list == nullptr) {
    err << "srcgate prefetch: GET /api/v1/sources: the answer is not a JSON array\n";
    return std::nullopt;
  }
  std::vector<content::Digest> digests;
  digests.reserve(list->size());
  for (const boost::json::value& v : *list) {
    const boost::json::object* o = v.if_object();
    const boost::json::value* hash = o ? o->if_contains("hash") : nullptr;
    const boost::json::value* type = o ? o->if_contains("type") : nullptr;
    if (!hash || !type || !hash->is_string() || !type->is_string()) {
      err << "srcgate prefetch: GET /api/v1/sources: an element without \"hash\" and \"type\": "
          << boost::json::serialize(v).substr(0, 200) << '\n';
      return std::nullopt;
    }
    auto d = parse_hash_argument(std::string(type->get_string()) + ":" +
                                 std::string(hash->get_string()));
    if (!d) {
      err << "srcgate prefetch: GET /api/v1/sources: " << d.error().message << '\n';
      return std::nullopt;
    }
    digests.push_back(*d);
  }
  return digests;
}

int prefetch_via_server(const std::string& server, const po::variables_map& vm, unsigned jobs,
                        const config::Config& cfg, std::vector<content::Digest> digests,
                        std::ostream& out, std::ostream& err) {
  for (const char* local : {"data", "mirror", "no-default-upstreams", "allow-private-upstreams",
                            "ca-file", "spool-dir"}) {
    if (vm.count(local)) {
      return usage(err, std::string("--") + local +
                            " applies to a local store; with --server the server's settings are "
                            "used");
    }
  }
  const char* token = std::getenv("SRCGATE_ADMIN_TOKEN");
  auto endpoint = parse_admin_url(server, token ? token : "");
  if (!endpoint) {
    err << "srcgate prefetch: " << endpoint.error().message << '\n';
    return kExitUsage;
  }
  if (digests.empty()) {
    auto listed = list_server_sources(*endpoint, err);
    if (!listed) return kExitFailure;
    digests = std::move(*listed);
    if (digests.empty()) err << "srcgate prefetch: the server's source index is empty\n";
  }
  PrefetchOptions options;
  options.jobs = jobs;
  options.stop_on_signals = true;
  options.client.connect_timeout = cfg.connect_timeout;
  // The server answers a miss once an upstream sends (or after its own miss
  // deadline), and its body may pause while it fails over to another upstream.
  options.client.first_byte_timeout = std::max(cfg.first_byte_timeout, kServerWait);
  options.client.stall_timeout = std::max(cfg.stall_timeout, kServerWait);
  const std::string host =
      endpoint->host.find(':') != std::string::npos ? "[" + endpoint->host + "]" : endpoint->host;
  Prefetcher prefetcher("http://" + host + ":" + endpoint->port + endpoint->base_path,
                        std::move(options));
  return run_and_report(prefetcher, digests, out, err);
}

}  // namespace

int run_prefetch_command(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err) {
  po::options_description visible("Options");
  unsigned jobs = 4;
  std::string server;
  visible.add_options()("help,h", "print this help")("jobs,j",
                                                     po::value<unsigned>(&jobs)->value_name("N"),
                                                     "hashes fetched at the same time (default 4)")(
      "server", po::value<std::string>(&server)->value_name("URL"),
      "have the `srcgate serve` at URL (http://host:port[/base]) fetch them instead of "
      "opening the store");
  add_config_flags(kFlags, visible);
  std::vector<std::string> hashes;
  po::options_description hidden;
  hidden.add_options()("hash", po::value<std::vector<std::string>>(&hashes));
  po::positional_options_description positional;
  positional.add("hash", -1);
  po::options_description all;
  all.add(visible).add(hidden);
  po::variables_map vm;
  if (auto done =
          parse_command_line(args, "prefetch", all, &positional, vm, kHelp, visible, out, err)) {
    return *done;
  }
  if (jobs < 1 || jobs > kMaxJobs) {
    return usage(
        err, "--jobs: expected 1 to " + std::to_string(kMaxJobs) + ", got " + std::to_string(jobs));
  }
  std::vector<content::Digest> digests;
  for (const std::string& h : hashes) {
    auto d = parse_hash_argument(h);
    if (!d) return usage(err, "'" + h + "': " + d.error().message);
    if (std::find(digests.begin(), digests.end(), *d) == digests.end()) digests.push_back(*d);
  }

  const config::ConfigSources sources = command_config_sources(kFlags, vm);
  std::optional<config::Config> loaded = load_command_config(sources, "prefetch", err);
  if (!loaded) return kExitUsage;
  const config::Config& cfg = *loaded;
  if (cfg.offline) {
    return usage(err,
                 "offline is set (SRCGATE_OFFLINE or the config file): prefetch needs upstream "
                 "I/O");
  }

  if (!server.empty()) return prefetch_via_server(server, vm, jobs, cfg, digests, out, err);

  PrefetchOptions options;
  options.jobs = jobs;
  options.stop_on_signals = true;
  auto proxy = ProxySettings::from_environment(sources.env);
  if (!proxy) {
    err << "srcgate prefetch: proxy: " << proxy.error().message << '\n';
    return kExitUsage;
  }
  options.client.proxy = std::move(*proxy);
  if (!cfg.ca_file.empty()) options.client.ca_file = cfg.ca_file;
  options.client.connect_timeout = cfg.connect_timeout;
  options.client.first_byte_timeout = cfg.first_byte_timeout;
  options.client.stall_timeout = cfg.stall_timeout;
  options.miss.mirrors = config::effective_mirrors(cfg);
  options.miss.negative_ttl = std::chrono::milliseconds(0);  // each hash is asked once
  options.miss.deadline = kPrefetchDeadline;
  options.miss.spool_dir = cfg.spool_dir;
  options.miss.allow_private_sources = cfg.allow_private_upstreams;

  storage::RocksDbOptions store_options;
  store_options.dir = cfg.data_dir;
  store_options.create_if_missing = !digests.empty();
  if (cfg.max_size != 0) store_options.store.max_size = cfg.max_size;
  auto store = storage::open_rocksdb_store(store_options);
  if (!store) {
    print_store_open_error(err, "prefetch", cfg.data_dir, store.error(),
                           "stop the server and run prefetch again, or let the server fetch "
                           "(`srcgate prefetch --server http://HOST:PORT`)",
                           "index sources first with `srcgate sources import`, or pass --data DIR");
    return kExitFailure;
  }

  if (digests.empty()) {
    auto listed =
        (*store)->for_each_source([&](const content::Digest& d, const std::vector<std::string>&) {
          digests.push_back(d);
          return true;
        });
    if (!listed) {
      err << "srcgate prefetch: cannot read the source index: " << listed.error().message << '\n';
      return kExitFailure;
    }
    if (digests.empty()) {
      err << "srcgate prefetch: the source index is empty (index sources with `srcgate sources "
             "import FILE.json`)\n";
    }
  }

  std::optional<Prefetcher> prefetcher;
  try {
    prefetcher.emplace(**store, std::move(options));
  } catch (const std::runtime_error& e) {
    if (cfg.ca_file.empty()) throw;
    err << "srcgate prefetch: config: ca_file: " << e.what() << '\n';
    return kExitUsage;
  }
  return run_and_report(*prefetcher, digests, out, err);
}

}  // namespace srcgate::server
