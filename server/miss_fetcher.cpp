#include "server/miss_fetcher.hpp"

// GCC 12 reports asio's awaitable-frame operator new/delete pair, once both
// are inlined into a coroutine's ramp, as mismatched (a false positive, GCC
// bug 109224); the pair is asio's own and matches.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdio>
#include <exception>
#include <limits>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "content/nix_hash.hpp"
#include "server/spool_file.hpp"
#include "server/url.hpp"

namespace srcgate::server {

using content::ByteView;
using content::Digest;
using content::Errc;
using content::make_error;
using content::Result;
using Clock = std::chrono::steady_clock;

namespace {

// One party waiting for a fetch to change: a find(), a wait_done() or a
// MissBody. The fetch wakes every registered waiter after each change; a
// channel of capacity 1 keeps one pending wake-up, so a change that happens
// between a waiter's look at the state and its wait is never lost, whatever
// the threads involved.
struct Waiter {
  explicit Waiter(net::any_io_executor ex) : channel(std::move(ex), 1) {}
  void wake() { channel.try_send(ErrorCode{}); }
  net::experimental::concurrent_channel<void(ErrorCode)> channel;
};

// Waits for a wake-up of `w`, at most until `until`. False on the time-out.
Awaitable<bool> wait_for_wake(Waiter& w, Clock::time_point until) {
  if (w.channel.try_receive([](ErrorCode) {})) co_return true;
  if (Clock::now() >= until) co_return false;
  using namespace net::experimental::awaitable_operators;
  SteadyTimer timer(co_await net::this_coro::executor);
  timer.expires_at(until);
  const auto first = co_await (w.channel.async_receive(kUseTuple) || timer.async_wait(kUseTuple));
  co_return first.index() == 0;
}

std::string describe(const Digest& digest) {
  return std::string(content::algo_name(digest.algo)) + ":" + content::to_hex(digest);
}

std::string millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

struct DigestHash {
  std::size_t operator()(const Digest& d) const noexcept {
    std::size_t h = static_cast<std::size_t>(d.algo);
    for (std::size_t i = 0; i < sizeof(std::size_t); ++i) h = (h << 8) ^ d.data[i];
    return h;
  }
};

// Metric labels of the outcomes that are not ClientErrc names.
constexpr std::string_view kOk = "ok";
constexpr std::string_view kNotFound = "not_found";
constexpr std::string_view kHttpError = "http_error";
constexpr std::string_view kShortBody = "short_body";
constexpr std::string_view kMismatch = "mismatch";
constexpr std::string_view kStoreError = "store_error";
constexpr std::string_view kRefused = "refused";
// The `upstream` label of a source URL that does not parse.
constexpr std::string_view kInvalidOrigin = "invalid-url";

// Whether a source URL is for this path (http or https); others, such as
// ipfs://, are the IPFS path's.
bool http_source(std::string_view url) {
  const auto starts = [&](std::string_view scheme) {
    if (url.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
      char c = url[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != scheme[i]) return false;
    }
    return true;
  };
  return starts("http://") || starts("https://");
}

}  // namespace

// The shared state of one in-flight fetch. Every field after `mu` is guarded
// by it; the fetch coroutine is the only writer.
class Fetch {
 public:
  enum class Phase {
    searching,  // no upstream is sending the body now (before the first 200, between upstreams)
    streaming,  // generation `generation` is arriving into `spool`
    verified,   // generation `generation` matched and is committed to the store
    failed,     // every upstream was tried; `reasons` says what each answered
  };

  Fetch(const Digest& d, std::chrono::milliseconds bound)
      : digest(d), name(describe(d)), wait_bound(bound) {}

  void add_waiter(const std::shared_ptr<Waiter>& w) {
    std::lock_guard lock(mu);
    waiters.push_back(w);
  }
  void remove_waiter(const Waiter* w) {
    std::lock_guard lock(mu);
    auto it = std::find_if(waiters.begin(), waiters.end(),
                           [w](const std::shared_ptr<Waiter>& p) { return p.get() == w; });
    if (it == waiters.end()) return;
    std::swap(*it, waiters.back());
    waiters.pop_back();
  }
  // REQUIRES: mu held.
  void wake_locked() {
    for (const auto& w : waiters) w->wake();
  }

  const Digest digest;
  const std::string name;                      // "sha256:<hex>", for messages
  const std::chrono::milliseconds wait_bound;  // the longest a reader waits without news

  std::mutex mu;
  Phase phase = Phase::searching;
  // Incremented at each 200: a body that read from one generation must not
  // continue with another's bytes.
  std::uint64_t generation = 0;
  std::shared_ptr<SpoolFile> spool;     // the current generation's bytes
  std::uint64_t arrived = 0;            // bytes of the current generation in `spool`
  std::optional<std::uint64_t> length;  // what the current generation declared
  std::string reasons;                  // "url: outcome; url: outcome"
  std::vector<std::shared_ptr<Waiter>> waiters;
};

namespace {

// The BodySource of a streaming answer: bytes [pos, end) read from the spool
// at the client's own pace.
class MissBody final : public BodySource {
 public:
  static constexpr std::size_t kBufferSize = 256 * 1024;

  MissBody(std::shared_ptr<Fetch> fetch, std::uint64_t begin, std::optional<std::uint64_t> end,
           std::optional<std::uint64_t> announced)
      : fetch_(std::move(fetch)), pos_(begin), end_(end), announced_(announced) {}

  ~MissBody() override {
    if (waiter_) fetch_->remove_waiter(waiter_.get());
  }

  Awaitable<Result<ByteView>> next() override {
    if (!waiter_) {
      waiter_ = std::make_shared<Waiter>(co_await net::this_coro::executor);
      fetch_->add_waiter(waiter_);
    }
    while (true) {
      Step s = step();
      switch (s.kind) {
        case Step::end:
          co_return ByteView{};
        case Step::fail:
          co_return make_error(Errc::truncated, std::move(s.error));
        case Step::read: {
          if (!buffer_) buffer_ = std::make_unique_for_overwrite<std::uint8_t[]>(kBufferSize);
          auto n = s.spool->read_at(pos_, std::span<std::uint8_t>(buffer_.get(), s.size));
          if (!n) co_return n.error();
          if (*n != s.size) {
            co_return make_error(Errc::truncated,
                                 fetch_->name + ": the spool holds " + std::to_string(pos_ + *n) +
                                     " bytes, fewer than the " + std::to_string(pos_ + s.size) +
                                     " it announced");
          }
          pos_ += *n;
          delivered_ = true;
          co_return ByteView(buffer_.get(), *n);
        }
        case Step::wait:
          if (!co_await wait_for_wake(*waiter_, Clock::now() + fetch_->wait_bound)) {
            co_return make_error(
                Errc::truncated,
                fetch_->name + ": no news from the upstream for " + millis(fetch_->wait_bound));
          }
          break;
      }
    }
  }

 private:
  struct Step {
    enum Kind { read, wait, end, fail } kind = wait;
    std::shared_ptr<SpoolFile> spool;  // read
    std::size_t size = 0;              // read
    std::string error;                 // fail
  };

  static Step fail(std::string message) {
    Step s;
    s.kind = Step::fail;
    s.error = std::move(message);
    return s;
  }

  // What to do next, decided under the fetch's lock.
  Step step() {
    Fetch& f = *fetch_;
    std::lock_guard lock(f.mu);
    const bool mine_ended =
        generation_ && (f.generation != *generation_ || f.phase == Fetch::Phase::searching ||
                        f.phase == Fetch::Phase::failed);
    if (mine_ended) {
      if (delivered_) {
        return fail("the upstream sending " + f.name +
                    " failed after this response began: " + f.reasons);
      }
      generation_.reset();  // nothing sent yet: continue with the next upstream
    }
    if (f.phase == Fetch::Phase::failed)
      return fail("no upstream delivered " + f.name + ": " + f.reasons);
    if (!generation_) {
      if (f.phase == Fetch::Phase::searching) return Step{};
      if (announced_ && f.length != announced_) {
        return fail(f.name + ": the next upstream declares " +
                    (f.length ? std::to_string(*f.length) + " bytes" : std::string("no length")) +
                    ", not the " + std::to_string(*announced_) + " this response announced");
      }
      generation_ = f.generation;
    }
    const bool verified = f.phase == Fetch::Phase::verified;
    std::uint64_t limit = 0;
    if (verified) {
      limit = end_ ? std::min(*end_, f.arrived) : f.arrived;
    } else if (end_) {
      // The range's last byte waits for the verification.
      limit = *end_ == 0 ? 0 : std::min(f.arrived, *end_ - 1);
    } else {
      // The end is unknown until the body ends: hold back the last byte so far.
      limit = f.arrived == 0 ? 0 : f.arrived - 1;
    }
    if (pos_ < limit) {
      Step s;
      s.kind = Step::read;
      s.spool = f.spool;
      s.size = static_cast<std::size_t>(std::min<std::uint64_t>(limit - pos_, kBufferSize));
      return s;
    }
    if (verified) {
      Step s;
      s.kind = Step::end;
      return s;
    }
    return Step{};
  }

  std::shared_ptr<Fetch> fetch_;
  std::uint64_t pos_;
  const std::optional<std::uint64_t> end_;
  const std::optional<std::uint64_t> announced_;
  std::optional<std::uint64_t> generation_;  // the generation this body reads
  bool delivered_ = false;                   // some bytes went to the client
  std::shared_ptr<Waiter> waiter_;
  std::unique_ptr<std::uint8_t[]> buffer_;
};

// Registers a waiter for the scope of a find() or wait_done().
class ScopedWaiter {
 public:
  ScopedWaiter(Fetch& fetch, net::any_io_executor ex)
      : fetch_(fetch), waiter_(std::make_shared<Waiter>(std::move(ex))) {
    fetch_.add_waiter(waiter_);
  }
  ~ScopedWaiter() { fetch_.remove_waiter(waiter_.get()); }
  ScopedWaiter(const ScopedWaiter&) = delete;
  ScopedWaiter& operator=(const ScopedWaiter&) = delete;
  Waiter& get() { return *waiter_; }

 private:
  Fetch& fetch_;
  std::shared_ptr<Waiter> waiter_;
};

}  // namespace

class MissFetcher::Impl {
 public:
  Impl(storage::BlockStore& store, HttpClient& client, MissOptions options,
       MetricsRegistry* metrics)
      : store_(store), client_(client), options_(std::move(options)) {
    MetricsRegistry& m = metrics ? *metrics : own_metrics_;
    requests_ = &m.counter_family("srcgate_upstream_requests_total",
                                  "Requests to upstream mirrors by upstream and outcome",
                                  {"upstream", "outcome"});
    bytes_ = &m.counter_family("srcgate_upstream_bytes_total",
                               "Body bytes received from upstream mirrors", {"upstream"});
    first_byte_ =
        &m.histogram_family("srcgate_upstream_first_byte_seconds",
                            "Time from sending an upstream request to its response headers",
                            {"upstream"}, kLatencyBuckets);
    in_flight_ = &m.gauge("srcgate_fetches_in_flight", "Upstream fetches running now");
    coalesced_ = &m.counter("srcgate_fetch_coalesced_total",
                            "Requests that joined a running upstream fetch");
    mismatches_ =
        &m.counter_family("srcgate_hash_mismatches_total",
                          "Upstream bodies whose digest was not the requested one", {"upstream"});
    negative_hits_ = &m.counter("srcgate_negative_cache_hits_total",
                                "Requests answered from the negative cache");
    mirrors_.reserve(options_.mirrors.size());
    for (const std::string& base : options_.mirrors) {
      Mirror mirror;
      mirror.upstream = upstream(base);
      mirror.prefix = base.ends_with('/') ? base : base + "/";
      mirrors_.push_back(std::move(mirror));
    }
  }

  const MissOptions& options() const { return options_; }

  static Awaitable<MissAnswer> find(std::shared_ptr<Impl> self, Digest digest) {
    const Clock::time_point until = Clock::now() + self->options_.deadline;
    MissAnswer answer;
    if (self->mirrors_.empty() && !self->has_http_source(digest)) {
      answer.reason =
          "no upstream mirror is configured and the source index has no http(s) URL "
          "for it";
      co_return answer;
    }
    auto joined = self->join(digest);
    if (!joined) {
      answer.reason = std::move(joined.error());
      co_return answer;
    }
    if (!joined->fetch) {
      answer.kind = MissKind::stored;
      co_return answer;
    }
    std::shared_ptr<Fetch> fetch = std::move(joined->fetch);
    const auto ex = co_await net::this_coro::executor;
    if (joined->started) {
      self->in_flight_->add(1);
      net::co_spawn(ex, run(self, fetch), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& error) {
          std::fprintf(stderr, "srcgate: upstream fetch: unexpected exception: %s\n", error.what());
        } catch (...) {
          std::fprintf(stderr, "srcgate: upstream fetch: unexpected exception\n");
        }
      });
    }
    ScopedWaiter waiter(*fetch, ex);
    while (true) {
      {
        std::lock_guard lock(fetch->mu);
        switch (fetch->phase) {
          case Fetch::Phase::streaming:
            answer.kind = MissKind::streaming;
            answer.length = fetch->length;
            answer.fetch = fetch;
            co_return answer;
          case Fetch::Phase::verified:
            answer.kind = MissKind::stored;
            co_return answer;
          case Fetch::Phase::failed:
            answer.reason = fetch->reasons;
            co_return answer;
          case Fetch::Phase::searching:
            break;
        }
      }
      if (!co_await wait_for_wake(waiter.get(), until)) {
        std::lock_guard lock(fetch->mu);
        answer.reason = "no upstream answered within " + millis(self->options_.deadline);
        if (!fetch->reasons.empty()) answer.reason += "; " + fetch->reasons;
        co_return answer;
      }
    }
  }

  static Awaitable<bool> wait_done(std::shared_ptr<Fetch> fetch) {
    ScopedWaiter waiter(*fetch, co_await net::this_coro::executor);
    while (true) {
      {
        std::lock_guard lock(fetch->mu);
        if (fetch->phase == Fetch::Phase::verified) co_return true;
        if (fetch->phase == Fetch::Phase::failed) co_return false;
      }
      if (!co_await wait_for_wake(waiter.get(), Clock::now() + fetch->wait_bound)) co_return false;
    }
  }

 private:
  // The metric children of one `upstream` label.
  struct Upstream {
    std::string label;  // a mirror's base URL as configured, or a source URL's origin
    Counter* bytes = nullptr;
    Histogram* first_byte = nullptr;
    Counter* mismatches = nullptr;
  };

  struct Mirror {
    Upstream upstream;
    std::string prefix;  // the base URL with a trailing '/'
  };

  Upstream upstream(std::string_view label) {
    Upstream u;
    u.label = std::string(label);
    u.bytes = &bytes_->with({label});
    u.first_byte = &first_byte_->with({label});
    u.mismatches = &mismatches_->with({label});
    return u;
  }

  // Whether the source index holds an http(s) URL for `digest` (a store
  // error counts as yes: the fetch then reports it).
  bool has_http_source(const Digest& digest) {
    auto listed = store_.sources(digest);
    if (!listed) return true;
    return std::any_of(listed->begin(), listed->end(),
                       [](const std::string& url) { return http_source(url); });
  }

  struct Joined {
    std::shared_ptr<Fetch> fetch;  // null: the store has the digest now
    bool started = false;          // this request created the fetch: spawn it
  };

  struct Remembered {
    Clock::time_point expires;
    std::string reason;
  };

  // Joins the running fetch of `digest` or creates it; an error is the reason
  // of a remembered not_found.
  boost::system::result<Joined, std::string> join(const Digest& digest) {
    {
      std::lock_guard lock(mu_);
      if (auto remembered = remembered_locked(digest)) return *remembered;
      if (auto it = fetches_.find(digest); it != fetches_.end()) {
        coalesced_->inc();
        return Joined{it->second, false};
      }
    }
    // A fetch may have committed between the caller's look-up and ours.
    if (auto entry = store_.lookup(digest); entry && *entry) return Joined{};
    std::lock_guard lock(mu_);
    if (auto remembered = remembered_locked(digest)) return *remembered;
    auto [it, inserted] = fetches_.try_emplace(digest);
    if (!inserted) {
      coalesced_->inc();
      return Joined{it->second, false};
    }
    it->second = std::make_shared<Fetch>(digest, options_.deadline);
    return Joined{it->second, true};
  }

  // REQUIRES: mu_ held.
  std::optional<std::string> remembered_locked(const Digest& digest) {
    auto it = negative_.find(digest);
    if (it == negative_.end()) return std::nullopt;
    if (Clock::now() >= it->second.expires) {
      negative_.erase(it);
      return std::nullopt;
    }
    negative_hits_->inc();
    return it->second.reason + " (remembered for " + millis(options_.negative_ttl) + ")";
  }

  // REQUIRES: mu_ held.
  void remember_locked(const Digest& digest, std::string reason) {
    const Clock::time_point now = Clock::now();
    if (negative_.size() >= kNegativeSweepAt) {
      std::erase_if(negative_, [now](const auto& kv) { return now >= kv.second.expires; });
      // Still full of live entries: forget the lot rather than grow without bound.
      if (negative_.size() >= kNegativeSweepAt) negative_.clear();
    }
    negative_[digest] = Remembered{now + options_.negative_ttl, std::move(reason)};
  }

  struct Attempt {
    std::string_view outcome;
    std::string detail;
  };

  // Ends the fetch's life in the map, however the coroutine ends.
  struct RunGuard {
    Impl& impl;
    const std::shared_ptr<Fetch>& fetch;
    bool done = false;
    ~RunGuard() {
      impl.in_flight_->sub(1);
      if (done) return;
      std::lock_guard lock(impl.mu_);
      auto it = impl.fetches_.find(fetch->digest);
      if (it != impl.fetches_.end() && it->second == fetch) impl.fetches_.erase(it);
    }
  };

  // After a failed attempt: the reason joins the list, the fetch searches on.
  static void note_failure(Fetch& fetch, std::string& reasons, const std::string& url,
                           const Attempt& a) {
    if (!reasons.empty()) reasons += "; ";
    reasons += url + ": " + std::string(a.outcome);
    if (!a.detail.empty()) reasons += " (" + a.detail + ")";
    std::lock_guard lock(fetch.mu);
    fetch.phase = Fetch::Phase::searching;
    fetch.spool.reset();
    fetch.reasons = reasons;
    fetch.wake_locked();
  }

  // The fetch: each mirror in order, then each http(s) URL of the source
  // index, until one delivers the verified body.
  static Awaitable<void> run(std::shared_ptr<Impl> self, std::shared_ptr<Fetch> fetch) {
    RunGuard guard{*self, fetch};
    const std::string path =
        std::string(content::algo_name(fetch->digest.algo)) + "/" + content::to_hex(fetch->digest);
    std::string reasons;
    bool all_not_found = true;
    std::size_t asked = 0;
    bool ok = false;
    for (const Mirror& mirror : self->mirrors_) {
      const std::string url = mirror.prefix + path;
      const Attempt a = co_await self->attempt(*fetch, mirror.upstream, url, false);
      self->requests_->with({mirror.upstream.label, a.outcome}).inc();
      ++asked;
      if (a.outcome == kOk) {
        ok = true;
        break;
      }
      if (a.outcome != kNotFound) all_not_found = false;
      note_failure(*fetch, reasons, url, a);
    }
    if (!ok) {
      auto listed = self->store_.sources(fetch->digest);
      if (!listed) {
        all_not_found = false;
        if (!reasons.empty()) reasons += "; ";
        reasons += "source index: " + listed.error().message;
      } else {
        for (const std::string& source : *listed) {
          if (!http_source(source)) continue;
          Attempt a;
          std::string label(kInvalidOrigin);
          if (auto parsed = parse_url(source); !parsed) {
            a = Attempt{to_string(ClientErrc::bad_url), parsed.error().message};
          } else {
            label = parsed->scheme + "://" + parsed->authority();
            a = co_await self->attempt(*fetch, self->upstream(label), source,
                                       !self->options_.allow_private_sources);
          }
          self->requests_->with({label, a.outcome}).inc();
          ++asked;
          if (a.outcome == kOk) {
            ok = true;
            break;
          }
          if (a.outcome == kRefused) {
            std::fprintf(stderr, "srcgate: refused source URL %s: %s\n", source.c_str(),
                         a.detail.c_str());
          }
          if (a.outcome != kNotFound) all_not_found = false;
          note_failure(*fetch, reasons, source, a);
        }
      }
    }
    if (ok) {
      {
        std::lock_guard lock(self->mu_);
        self->fetches_.erase(fetch->digest);
      }
      guard.done = true;
      co_return;
    }
    if (asked == 0 && reasons.empty()) {
      reasons = "no upstream mirror is configured and the source index has no http(s) URL for it";
    }
    {
      std::lock_guard lock(self->mu_);
      self->fetches_.erase(fetch->digest);
      // Only when some upstream was asked: a source added later must not be
      // hidden by the answer of an empty list.
      if (asked > 0 && all_not_found && self->options_.negative_ttl.count() > 0) {
        self->remember_locked(fetch->digest, reasons);
      }
    }
    guard.done = true;
    std::lock_guard lock(fetch->mu);
    fetch->phase = Fetch::Phase::failed;
    fetch->reasons = reasons;
    fetch->wake_locked();
  }

  // One upstream request. "ok" when the body was verified and committed (the
  // fetch is then `verified`); any other outcome leaves the fetch for the
  // caller to move on.
  // `public_only`: the client's SSRF guard (source URLs).
  Awaitable<Attempt> attempt(Fetch& fetch, const Upstream& mirror, const std::string& url,
                             bool public_only) {
    ClientRequest request;
    request.url = url;
    request.public_destinations_only = public_only;
    const Clock::time_point sent = Clock::now();
    auto sent_result = co_await client_.send(std::move(request));
    if (!sent_result) {
      const ClientError& e = sent_result.error();
      if (e.code == ClientErrc::destination_refused) co_return Attempt{kRefused, e.message};
      co_return Attempt{to_string(e.code), e.message};
    }
    std::unique_ptr<ClientResponse> response = std::move(*sent_result);
    mirror.first_byte->observe(std::chrono::duration<double>(Clock::now() - sent).count());
    const unsigned status = response->status();
    if (status == 404 || status == 410) co_return Attempt{kNotFound, std::to_string(status)};
    if (status != 200) co_return Attempt{kHttpError, std::to_string(status)};

    auto created = SpoolFile::create(options_.spool_dir);
    if (!created) co_return Attempt{kStoreError, created.error().message};
    std::shared_ptr<SpoolFile> spool = std::move(*created);
    std::unique_ptr<storage::FileImport> import = store_.begin_import(options_.profile);
    const std::optional<std::uint64_t> declared = response->content_length();
    {
      std::lock_guard lock(fetch.mu);
      ++fetch.generation;
      fetch.phase = Fetch::Phase::streaming;
      fetch.spool = spool;
      fetch.arrived = 0;
      fetch.length = declared;
      fetch.wake_locked();
    }

    std::uint64_t arrived = 0;
    while (true) {
      auto piece = co_await response->read();
      if (!piece) {
        const ClientError& e = piece.error();
        import->abort();
        if (e.code == ClientErrc::reset && declared && arrived < *declared) {
          co_return Attempt{kShortBody, std::to_string(arrived) + " of " +
                                            std::to_string(*declared) + " bytes: " + e.message};
        }
        co_return Attempt{to_string(e.code), e.message};
      }
      if (piece->empty()) break;
      if (auto a = spool->append(*piece); !a) {
        import->abort();
        co_return Attempt{kStoreError, a.error().message};
      }
      arrived += piece->size();
      {
        std::lock_guard lock(fetch.mu);
        fetch.arrived = arrived;
        fetch.wake_locked();
      }
      mirror.bytes->inc(piece->size());
      if (auto w = import->write(*piece); !w) {
        import->abort();
        co_return Attempt{kStoreError, w.error().message};
      }
    }
    if (declared && arrived != *declared) {
      import->abort();
      co_return Attempt{kShortBody,
                        std::to_string(arrived) + " of " + std::to_string(*declared) + " bytes"};
    }
    auto summary = import->finish();
    if (!summary) {
      import->abort();
      co_return Attempt{kStoreError, summary.error().message};
    }
    const Digest& got = summary->digests.get(fetch.digest.algo);
    if (got != fetch.digest) {
      import->abort();
      mirror.mismatches->inc();
      co_return Attempt{kMismatch, "the body's " + std::string(content::algo_name(got.algo)) +
                                       " is " + content::to_hex(got)};
    }
    auto committed = import->commit();
    if (!committed) {
      import->abort();
      co_return Attempt{kStoreError, committed.error().message};
    }
    std::lock_guard lock(fetch.mu);
    fetch.phase = Fetch::Phase::verified;
    fetch.wake_locked();
    co_return Attempt{kOk, {}};
  }

  static constexpr std::size_t kNegativeSweepAt = 100'000;

  storage::BlockStore& store_;
  HttpClient& client_;
  const MissOptions options_;
  MetricsRegistry own_metrics_;  // when the creator gives none
  std::vector<Mirror> mirrors_;
  CounterFamily* requests_ = nullptr;
  CounterFamily* bytes_ = nullptr;
  HistogramFamily* first_byte_ = nullptr;
  CounterFamily* mismatches_ = nullptr;
  Gauge* in_flight_ = nullptr;
  Counter* coalesced_ = nullptr;
  Counter* negative_hits_ = nullptr;

  std::mutex mu_;  // guards fetches_ and negative_
  std::unordered_map<Digest, std::shared_ptr<Fetch>, DigestHash> fetches_;
  std::unordered_map<Digest, Remembered, DigestHash> negative_;
};

MissFetcher::MissFetcher(storage::BlockStore& store, HttpClient& client, MissOptions options,
                         MetricsRegistry* metrics)
    : impl_(std::make_shared<Impl>(store, client, std::move(options), metrics)) {}

MissFetcher::~MissFetcher() = default;

Awaitable<MissAnswer> MissFetcher::find(const content::Digest& digest) {
  return Impl::find(impl_, digest);
}

std::unique_ptr<BodySource> MissFetcher::body(const MissAnswer& answer, std::uint64_t begin,
                                              std::optional<std::uint64_t> end) {
  return std::make_unique<MissBody>(answer.fetch, begin, end ? end : answer.length, answer.length);
}

Awaitable<bool> MissFetcher::wait_done(const MissAnswer& answer) {
  return Impl::wait_done(answer.fetch);
}

const MissOptions& MissFetcher::options() const { return impl_->options(); }

}  // namespace srcgate::server
