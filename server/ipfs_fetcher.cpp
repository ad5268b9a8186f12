#include "server/ipfs_fetcher.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <cstdio>
#include <exception>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "content/car.hpp"
#include "content/unixfs_reader.hpp"
#include "content/varint.hpp"
#include "server/http_policy.hpp"
#include "server/media_type.hpp"

namespace srcgate::server {

using content::ByteView;
using content::Cid;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxStages = 6;
// Bytes a media type is sniffed from (IpfsHandler sniffs the file's head).
constexpr std::uint64_t kSniffBytes = 512;
// A gateway attempt's deadline moves `deadline` past now each time this many
// more bytes of its answer have arrived (see "Bounds" in the header).
constexpr std::uint64_t kProgressBytes = 1u << 20;
// However it progresses, an answer (and a wait for one) ends after this many
// deadlines (an hour with the default).
constexpr int kCeilingDeadlines = 30;

bool unreserved_path_char(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
      return true;
    default:
      return false;
  }
}

std::string escape_segment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved_path_char(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A BlockSource over the store that remembers whether a block was absent.
class RecordingSource final : public content::BlockSource {
 public:
  explicit RecordingSource(storage::BlockStore& store) : inner_(store) {}
  content::Result<std::optional<content::Bytes>> get(const Cid& cid) override {
    auto r = inner_.get(cid);
    if (r && !*r) missing_ = true;
    return r;
  }
  bool missing() const { return missing_; }

 private:
  storage::StoreBlockSource inner_;
  bool missing_ = false;
};

enum class Check { satisfied, missing, unanswerable };

// Whether every block that a CAR walk of `scope` (and `range`) below
// `terminal` visits is stored. Raw (non-dag-pb) blocks are asked for with
// has_block(); dag-pb nodes are read for their links.
Check walk_complete(storage::BlockStore& store, const Cid& terminal, DagScope scope,
                    const std::optional<InclusiveRange>& range) {
  if (scope != DagScope::block) {
    // A complete file record holds every block of the file's DAG (any range).
    auto rec = store.record(terminal);
    if (rec && *rec && (*rec)->digests) return Check::satisfied;
  }
  const WalkMode mode = scope == DagScope::block    ? WalkMode::block
                        : scope == DagScope::entity ? WalkMode::entity
                                                    : WalkMode::all;
  std::vector<WalkItem> stack{WalkItem{terminal, mode, 0}};
  std::unordered_set<std::string> seen;
  constexpr std::uint64_t kDagPb = static_cast<std::uint64_t>(content::Codec::dag_pb);
  while (!stack.empty()) {
    WalkItem item = std::move(stack.back());
    stack.pop_back();
    if (item.cid.is_identity()) continue;
    if (!seen.insert(std::string(content::as_chars(item.cid.bytes()))).second) continue;
    if (item.cid.codec() != kDagPb || item.mode == WalkMode::block) {
      auto has = store.has_block(item.cid);
      if (!has) return Check::unanswerable;
      if (!*has) return Check::missing;
      continue;
    }
    auto block = store.get_block(item.cid);
    if (!block) return Check::unanswerable;
    if (!*block) return Check::missing;
    if (!push_walk_children(item, **block, range, stack)) return Check::unanswerable;
  }
  return Check::satisfied;
}

// Resolves spec's path in the store and checks its scope. `terminal` receives
// the resolved CID when the path resolves.
Check check_spec(storage::BlockStore& store, const FetchSpec& spec, Cid* terminal = nullptr) {
  Cid cid = spec.root;
  if (!spec.path.empty()) {
    RecordingSource source(store);
    content::UnixfsReader reader(source);
    auto resolved = reader.resolve(spec.root, spec.path);
    if (!resolved) return source.missing() ? Check::missing : Check::unanswerable;
    cid = resolved->cid;
  }
  if (terminal) *terminal = cid;
  return walk_complete(store, cid, spec.scope, spec.range);
}

// The stages of a UnixFS file's answer (Range, sniffed type) that are missing.
std::optional<FetchSpec> file_needs(storage::BlockStore& store, const Request& request,
                                    const Cid& file, std::uint64_t size, std::string_view name) {
  if (size == 0) return std::nullopt;
  const std::string etag = make_etag(file.to_string());
  if (if_none_match(request.header("If-None-Match"), etag)) return std::nullopt;
  std::vector<InclusiveRange> ranges;
  const bool typed = media_type_from_name(name).has_value();
  std::optional<InclusiveRange> wanted = InclusiveRange{0, size - 1};
  const std::string_view range_header = request.header("Range");
  if (!range_header.empty() && if_range_allows(request.header("If-Range"), etag)) {
    const RangeDecision d = evaluate_range(range_header, size);
    if (d.kind == RangeDecision::unsatisfiable) return std::nullopt;
    if (d.kind == RangeDecision::partial) wanted = InclusiveRange{d.range.first, d.range.last};
  }
  if (request.method == Method::head) {
    // The headers only: the piece a body would be primed with.
    wanted = InclusiveRange{wanted->first, wanted->first};
    if (typed) wanted.reset();
  }
  // The sniffed head first (small, fetched whole), then the response's own
  // bytes, which a GET streams while they are fetched.
  if (!typed && (!wanted || wanted->first > 0)) {
    ranges.push_back(InclusiveRange{0, std::min(size, kSniffBytes) - 1});
  }
  if (wanted) ranges.push_back(*wanted);
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const InclusiveRange& r = ranges[i];
    FetchSpec spec{file, {}, DagScope::entity, r};
    if (r.first == 0 && r.last == size - 1) spec.range.reset();
    spec.streamed = wanted && i + 1 == ranges.size() && request.method != Method::head;
    if (walk_complete(store, file, spec.scope, spec.range) == Check::missing) return spec;
  }
  return std::nullopt;
}

// Whether the first block that a response to `spec` (a file's range) sends is
// stored, with the nodes above it; true also when reading it fails for
// another reason than a missing block (the handler then says what).
bool first_piece_stored(storage::BlockStore& store, const FetchSpec& spec) {
  storage::StoreBlockSource source(store);
  const std::uint64_t first = spec.range ? spec.range->first : 0;
  auto cursor = content::FileCursor::open(source, spec.root, first, first + 1);
  if (!cursor) return cursor.error().code != content::Errc::not_found;
  auto piece = cursor->next();
  return piece || piece.error().code != content::Errc::not_found;
}

// One party waiting for a fetch to end; a channel of capacity 1 keeps a
// wake-up that comes between a look at the state and the wait.
struct Waiter {
  explicit Waiter(net::any_io_executor ex) : channel(std::move(ex), 1) {}
  void wake() { channel.try_send(ErrorCode{}); }
  net::experimental::concurrent_channel<void(ErrorCode)> channel;
};

Awaitable<bool> wait_for_wake(Waiter& w, Clock::time_point until) {
  if (w.channel.try_receive([](ErrorCode) {})) co_return true;
  if (Clock::now() >= until) co_return false;
  using namespace net::experimental::awaitable_operators;
  SteadyTimer timer(co_await net::this_coro::executor);
  timer.expires_at(until);
  const auto first = co_await (w.channel.async_receive(kUseTuple) || timer.async_wait(kUseTuple));
  co_return first.index() == 0;
}

// Replaces a CAR stream's header by one whose only root is `root`, and
// forwards the sections untouched to the import.
class HeaderSwap {
 public:
  explicit HeaderSwap(Cid root) : root_(std::move(root)) {}

  storage::Result<void> write(ByteView in, storage::CarImport& import) {
    if (done_) return import.write(in);
    buffer_.insert(buffer_.end(), in.begin(), in.end());
    ByteView view(buffer_);
    auto length = content::read_uvarint(view);
    if (!length) {
      if (length.error().code == content::Errc::truncated && buffer_.size() < 16) return {};
      return storage::from_content(content::make_error(
          content::Errc::malformed, "CAR header length: " + length.error().message));
    }
    if (*length > content::kMaxBlockSize) {
      return storage::from_content(content::make_error(
          content::Errc::too_large, "CAR header of " + std::to_string(*length) + " bytes"));
    }
    if (view.size() < *length) return {};
    // Their header must parse as a CARv1 header; its roots are ignored.
    const std::size_t header_end = buffer_.size() - view.size() + *length;
    content::CarReader check({});
    if (auto r = check.feed(ByteView(buffer_).first(header_end)); !r) {
      return storage::from_content(r.error());
    }
    done_ = true;
    const content::Bytes ours = content::encode_car_header({root_});
    if (auto w = import.write(ours); !w) return w;
    const ByteView rest = ByteView(buffer_).subspan(header_end);
    storage::Result<void> w;
    if (!rest.empty()) w = import.write(rest);
    buffer_ = {};
    return w;
  }
  bool done() const { return done_; }

 private:
  Cid root_;
  content::Bytes buffer_;
  bool done_ = false;
};

}  // namespace

std::string FetchSpec::target() const {
  std::string t = "/ipfs/" + root.to_string();
  for (const std::string& s : path) {
    t += '/';
    t += escape_segment(s);
  }
  t += "?format=car&dag-scope=";
  t += scope == DagScope::block ? "block" : scope == DagScope::entity ? "entity" : "all";
  if (range) {
    t += "&entity-bytes=" + std::to_string(range->first) + ":" + std::to_string(range->last);
  }
  return t;
}

bool spec_satisfied(storage::BlockStore& store, const FetchSpec& spec) {
  return check_spec(store, spec) != Check::missing;
}

std::optional<FetchSpec> next_missing(storage::BlockStore& store, const Request& request,
                                      const IpfsRequest& ipfs) {
  if (ipfs.cid.is_identity() && ipfs.path.empty()) return std::nullopt;
  const Negotiation n = negotiate_format(ipfs.query, request.header("Accept"));
  if (!n.error.empty()) return std::nullopt;

  // 1. The path and the terminal block.
  FetchSpec path_spec{ipfs.cid, ipfs.path, DagScope::block, std::nullopt};
  Cid terminal = ipfs.cid;
  switch (check_spec(store, path_spec, &terminal)) {
    case Check::missing:
      return path_spec;
    case Check::unanswerable:
      return std::nullopt;
    case Check::satisfied:
      break;
  }

  storage::StoreBlockSource source(store);
  content::UnixfsReader reader(source);
  const auto is_file = [](content::EntryKind k) {
    return k == content::EntryKind::file || k == content::EntryKind::raw_block;
  };

  // 2. The terminal entity.
  if (n.format == ResponseFormat::car) {
    FetchSpec spec{terminal, {}, ipfs.query.dag_scope.value_or(DagScope::all), std::nullopt};
    if (ipfs.query.entity_bytes) {
      spec.scope = DagScope::entity;
      auto info = reader.stat(terminal);
      if (!info) return std::nullopt;
      if (is_file(info->kind)) {
        spec.range = resolve_entity_bytes(*ipfs.query.entity_bytes, info->size);
        if (!spec.range) return std::nullopt;  // 400 or an empty file
        if (spec.range->first == 0 && spec.range->last + 1 == info->size) spec.range.reset();
      }
    }
    if (spec.scope == DagScope::block) return std::nullopt;
    if (walk_complete(store, terminal, spec.scope, spec.range) == Check::missing) return spec;
    return std::nullopt;
  }
  if (n.format) return std::nullopt;  // raw, dag-json & co.: the terminal block alone
  constexpr auto kDagPb = static_cast<std::uint64_t>(content::Codec::dag_pb);
  constexpr auto kRaw = static_cast<std::uint64_t>(content::Codec::raw);
  if (terminal.codec() != kDagPb && terminal.codec() != kRaw) return std::nullopt;

  auto info = reader.stat(terminal);
  if (!info) return std::nullopt;
  const std::string_view last_segment =
      ipfs.path.empty() ? std::string_view() : std::string_view(ipfs.path.back());
  const std::string_view name =
      ipfs.query.filename ? std::string_view(*ipfs.query.filename) : last_segment;
  if (is_file(info->kind)) return file_needs(store, request, terminal, info->size, name);
  if (info->kind != content::EntryKind::directory || !ipfs.trailing_slash) return std::nullopt;

  FetchSpec listing{terminal, {}, DagScope::entity, std::nullopt};
  if (walk_complete(store, terminal, DagScope::entity, std::nullopt) == Check::missing) {
    return listing;
  }
  auto index = reader.resolve(terminal, {"index.html"});
  if (!index) return std::nullopt;
  auto index_info = reader.stat(index->cid);
  if (!index_info) {
    // The index's own block is absent (the listing brought only the link).
    if (index_info.error().code == content::Errc::not_found) {
      return FetchSpec{index->cid, {}, DagScope::entity, std::nullopt};
    }
    return std::nullopt;
  }
  if (!is_file(index_info->kind)) return std::nullopt;
  return file_needs(store, request, index->cid, index_info->size, "index.html");
}

// --- the fetcher ----------------------------------------------------------------

class IpfsFetcher::Impl : public std::enable_shared_from_this<IpfsFetcher::Impl> {
 public:
  Impl(storage::BlockStore& store, HttpClient& client, IpfsFetcherOptions options,
       MetricsRegistry* metrics)
      : store_(store), client_(client), options_(std::move(options)) {
    MetricsRegistry& m = metrics ? *metrics : own_metrics_;
    requests_ = &m.counter_family("srcgate_ipfs_upstream_requests_total",
                                  "CAR requests to upstream IPFS gateways by gateway and outcome",
                                  {"gateway", "outcome"});
    blocks_ = &m.counter("srcgate_ipfs_upstream_blocks_total",
                         "Verified blocks received from upstream IPFS gateways");
    bytes_ = &m.counter("srcgate_ipfs_upstream_bytes_total",
                        "CAR body bytes received from upstream IPFS gateways");
    bad_blocks_ = &m.counter("srcgate_ipfs_upstream_bad_blocks_total",
                             "Upstream IPFS answers rejected for a block that did not verify");
    coalesced_ = &m.counter("srcgate_ipfs_fetch_coalesced_total",
                            "/ipfs/ requests that joined a running upstream fetch");
    in_flight_ = &m.gauge("srcgate_ipfs_fetches_in_flight",
                          "Upstream IPFS fetches running now, streamed ones included");
  }

  // One in-flight fetch of a spec. `fill` ends with it (file_body.hpp).
  struct Flight {
    explicit Flight(std::chrono::milliseconds patience)
        : fill(std::make_shared<BlockFill>(patience)) {}
    std::mutex mu;
    bool done = false;
    bool ok = false;
    std::string failure;
    std::vector<std::shared_ptr<Waiter>> waiters;
    const std::shared_ptr<BlockFill> fill;
    std::atomic<std::uint64_t> received{0};  // answer bytes, all attempts
  };

  // The flight of `spec`: the running one, or a new one spawned on `ex`,
  // which runs to its end whoever waits for it.
  // REQUIRES: at least one gateway.
  static std::shared_ptr<Flight> join(const std::shared_ptr<Impl>& self, const FetchSpec& spec,
                                      const net::any_io_executor& ex) {
    const std::string key = spec.target();
    std::shared_ptr<Flight> flight;
    bool started = false;
    {
      std::lock_guard lock(self->mu_);
      auto& slot = self->flights_[key];
      if (!slot) {
        slot = std::make_shared<Flight>(self->options_.deadline);
        started = true;
      }
      flight = slot;
    }
    if (!started) {
      self->coalesced_->inc();
      return flight;
    }
    self->in_flight_->add(1);
    net::co_spawn(ex, run(self, spec, flight, key), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "srcgate: IPFS fetch: unexpected exception: %s\n", error.what());
      } catch (...) {
        std::fprintf(stderr, "srcgate: IPFS fetch: unexpected exception\n");
      }
    });
    return flight;
  }

  // join(), plus a waiter registered on the flight (the caller removes it).
  static std::pair<std::shared_ptr<Flight>, std::shared_ptr<Waiter>> enlist(
      const std::shared_ptr<Impl>& self, const FetchSpec& spec, const net::any_io_executor& ex) {
    std::shared_ptr<Flight> flight = join(self, spec, ex);
    auto waiter = std::make_shared<Waiter>(ex);
    std::lock_guard lock(flight->mu);
    flight->waiters.push_back(waiter);
    return {std::move(flight), std::move(waiter)};
  }

  static Awaitable<bool> fetch(std::shared_ptr<Impl> self, FetchSpec spec, Clock::time_point until,
                               std::string* failure) {
    if (self->options_.gateways.empty()) {
      if (failure) *failure = "no IPFS gateway is configured";
      co_return false;
    }
    const std::string key = spec.target();
    const auto [flight, waiter] = enlist(self, spec, co_await net::this_coro::executor);
    bool ok = false;
    std::uint64_t seen = flight->received.load(std::memory_order_relaxed);
    const Clock::time_point ceiling = Clock::now() + self->options_.deadline * kCeilingDeadlines;
    for (;;) {
      {
        std::lock_guard lock(flight->mu);
        if (flight->done) {
          ok = flight->ok;
          if (failure) *failure = flight->failure;
          break;
        }
      }
      if (!co_await wait_for_wake(*waiter, until)) {
        // Like an attempt, a waiter waits on while the answer progresses.
        const std::uint64_t received = flight->received.load(std::memory_order_relaxed);
        if (received - seen >= kProgressBytes && Clock::now() < ceiling) {
          seen = received;
          until = Clock::now() + self->options_.deadline;
          continue;
        }
        std::lock_guard lock(flight->mu);
        if (flight->done) {  // it ended as the timer fired
          ok = flight->ok;
          if (failure) *failure = flight->failure;
          break;
        }
        if (failure) *failure = "no IPFS gateway answered " + key + " in time";
        break;
      }
    }
    {
      std::lock_guard lock(flight->mu);
      std::erase(flight->waiters, waiter);
    }
    co_return ok;
  }

  // Starts (or joins) the fetch of a streamed stage and waits until the
  // first block the response sends is stored, the fetch has ended, or
  // `until`. Sets out.fill unless `until` passed first.
  static Awaitable<void> stream(std::shared_ptr<Impl> self, FetchSpec spec, Clock::time_point until,
                                Outcome* out) {
    if (self->options_.gateways.empty()) {
      out->failure = "no IPFS gateway is configured";
      co_return;
    }
    const std::string key = spec.target();
    const auto [flight, waiter] = enlist(self, spec, co_await net::this_coro::executor);
    std::chrono::milliseconds look = BlockFill::first_look;
    for (;;) {
      bool done = false;
      bool ok = false;
      {
        std::lock_guard lock(flight->mu);
        done = flight->done;
        ok = flight->ok;
        if (done && !ok) out->failure = flight->failure;
      }
      // After `done`: what the fetch stored is all there will be.
      const bool ready = first_piece_stored(self->store_, spec);
      if (ready || done) {
        out->fetched = out->fetched || ready || ok;
        out->fill = flight->fill;
        break;
      }
      const Clock::time_point now = Clock::now();
      if (now >= until) {
        out->failure = "no IPFS gateway answered " + key + " in time";
        break;
      }
      std::ignore = co_await wait_for_wake(*waiter, std::min(now + look, until));
      look = BlockFill::next_look(look);
    }
    std::lock_guard lock(flight->mu);
    std::erase(flight->waiters, waiter);
  }

  storage::BlockStore& store() { return store_; }
  const IpfsFetcherOptions& options() const { return options_; }

 private:
  struct Attempt {
    std::string outcome;  // metric label
    std::string reason;   // for the failure text
  };

  // Ends a flight however run() ends (returned, threw, or its frame was
  // destroyed with a stopped io_context): unlists it and ends its fill, and
  // wakes its waiters unless the frame is being destroyed (the waiting frames
  // of a stopped io_context go with it, and nothing may be posted to it).
  struct FlightEnd {
    std::shared_ptr<Impl> self;
    std::shared_ptr<Flight> flight;
    std::string key;
    bool ok = false;
    bool returned = false;
    std::string failures = "the fetch ended early";
    ~FlightEnd() {
      const bool wake = returned || std::uncaught_exceptions() > 0;
      {
        std::lock_guard lock(self->mu_);
        self->flights_.erase(key);
      }
      self->in_flight_->sub(1);
      flight->fill->ended.store(true, std::memory_order_release);
      std::lock_guard lock(flight->mu);
      flight->done = true;
      flight->ok = ok;
      flight->failure = std::move(failures);
      if (!wake) return;
      for (const auto& w : flight->waiters) w->wake();
    }
  };

  static Awaitable<void> run(std::shared_ptr<Impl> self, FetchSpec spec,
                             std::shared_ptr<Flight> flight, std::string key) {
    FlightEnd end{self, flight, std::move(key)};
    // A fetch that ended just before this one started may have stored it.
    bool ok = spec_satisfied(self->store_, spec);
    std::string failures;
    for (const std::string& gateway : self->options_.gateways) {
      if (ok) break;
      const Clock::time_point until = Clock::now() + self->options_.deadline;
      Attempt a = co_await self->attempt(gateway, spec, until, flight->received);
      self->requests_->with({gateway, a.outcome}).inc();
      if (a.outcome == "ok") {
        ok = true;
        break;
      }
      if (!failures.empty()) failures += "; ";
      failures += gateway + ": " + a.reason;
    }
    end.ok = ok;
    end.failures = std::move(failures);
    end.returned = true;
  }

  // Counts the answer's bytes into `received`.
  Awaitable<Attempt> attempt(const std::string& gateway, const FetchSpec& spec,
                             Clock::time_point until, std::atomic<std::uint64_t>& received) {
    ClientRequest req;
    req.url =
        (gateway.ends_with('/') ? gateway.substr(0, gateway.size() - 1) : gateway) + spec.target();
    req.headers.emplace_back("Accept", "application/vnd.ipld.car");
    auto sent = co_await client_.send(std::move(req));
    if (!sent) co_return Attempt{std::string(to_string(sent.error().code)), sent.error().message};
    ClientResponse& response = **sent;
    const unsigned status = response.status();
    if (status == 404 || status == 410) {
      co_return Attempt{"not_found", "HTTP " + std::to_string(status)};
    }
    if (status != 200) co_return Attempt{"http_error", "HTTP " + std::to_string(status)};

    auto import = store_.begin_car_import();
    HeaderSwap swap(spec.root);
    const auto rejected = [&](const storage::Error& e) {
      import->abort();
      if (e.code != storage::Errc::invalid_input) return Attempt{"store_error", e.message};
      if (e.message.find("does not match") != std::string::npos) {
        bad_blocks_->inc();
        return Attempt{"bad_block", e.message};
      }
      return Attempt{"bad_car", e.message};
    };
    std::uint64_t total = 0;     // bytes of this answer
    std::uint64_t moved_at = 0;  // `total` when `until` last moved
    const Clock::time_point ceiling = Clock::now() + options_.deadline * kCeilingDeadlines;
    const std::uint64_t cap = store_.limits().max_size;  // 0: unbounded
    for (;;) {
      if (Clock::now() >= ceiling) {
        import->abort();
        co_return Attempt{"deadline", "the answer did not end within " +
                                          std::to_string(kCeilingDeadlines) + " deadlines"};
      }
      if (cap != 0 && total > cap) {
        import->abort();
        co_return Attempt{"too_large", "the answer is larger than the store's cap of " +
                                           std::to_string(cap) + " bytes"};
      }
      if (Clock::now() >= until) {
        import->abort();
        co_return Attempt{"deadline", "less than 1 MiB of the answer arrived within " +
                                          std::to_string(options_.deadline.count()) + " ms"};
      }
      auto piece = co_await response.read();
      if (!piece) {
        import->abort();
        co_return Attempt{std::string(to_string(piece.error().code)), piece.error().message};
      }
      if (piece->empty()) break;
      bytes_->inc(piece->size());
      received.fetch_add(piece->size(), std::memory_order_relaxed);
      total += piece->size();
      if (total - moved_at >= kProgressBytes) {
        moved_at = total;
        until = Clock::now() + options_.deadline;
      }
      if (auto w = swap.write(*piece, *import); !w) co_return rejected(w.error());
    }
    if (!swap.done()) {
      import->abort();
      co_return Attempt{"bad_car", "the CAR ends within its header"};
    }
    auto committed = import->commit();
    if (!committed) co_return rejected(committed.error());
    blocks_->inc(committed->blocks);
    if (!spec_satisfied(store_, spec)) {
      co_return Attempt{"incomplete", "the CAR lacks blocks that " + spec.target() + " needs"};
    }
    co_return Attempt{"ok", ""};
  }

  storage::BlockStore& store_;
  HttpClient& client_;
  IpfsFetcherOptions options_;
  MetricsRegistry own_metrics_;  // when the creator gives none
  CounterFamily* requests_ = nullptr;
  Counter* blocks_ = nullptr;
  Counter* bytes_ = nullptr;
  Counter* bad_blocks_ = nullptr;
  Counter* coalesced_ = nullptr;
  Gauge* in_flight_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
};

IpfsFetcher::IpfsFetcher(storage::BlockStore& store, HttpClient& client, IpfsFetcherOptions options,
                         MetricsRegistry* metrics)
    : impl_(std::make_shared<Impl>(store, client, std::move(options), metrics)) {}

IpfsFetcher::~IpfsFetcher() = default;

Awaitable<IpfsFetcher::Outcome> IpfsFetcher::ensure(const Request& request,
                                                    const IpfsRequest& ipfs) {
  Outcome out;
  const Clock::time_point until = Clock::now() + impl_->options().deadline;
  std::string previous;
  for (int stage = 0; stage < kMaxStages; ++stage) {
    std::optional<FetchSpec> need = next_missing(impl_->store(), request, ipfs);
    if (!need) break;
    std::string key = need->target();
    if (key == previous) break;  // fetched, yet still missing: the handler says what
    std::shared_ptr<Impl> self = impl_;
    if (need->streamed) {
      // The response's own bytes: it starts once their first block is stored.
      const FetchSpec spec = std::move(*need);
      co_await Impl::stream(self, spec, until, &out);
      break;
    }
    std::string failure;
    const bool ok = co_await Impl::fetch(self, *need, until, &failure);
    if (!ok) {
      out.failure = std::move(failure);
      break;
    }
    out.fetched = true;
    previous = std::move(key);
  }
  co_return out;
}

Awaitable<bool> IpfsFetcher::fetch(const FetchSpec& spec, std::string* failure) {
  std::shared_ptr<Impl> self = impl_;
  const Clock::time_point until = Clock::now() + self->options().deadline;
  const bool ok = co_await Impl::fetch(self, spec, until, failure);
  co_return ok;
}

}  // namespace srcgate::server
