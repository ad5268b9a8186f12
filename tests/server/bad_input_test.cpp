// Issue 4's bad-input acceptance at full scale, against the real gateway
// (RocksDB store with an imported file, GatewayHandler, HttpServer on
// 127.0.0.1 port 0): 10,000 idle connections, and a client that reads one
// byte a second. Each gets a clear status or a timeout, other clients are
// served meanwhile, and the store does not change (same stats and names,
// verify() clean). Malformed hashes and CIDs, traversal and the 64 KiB header
// are covered by hash_routes_test, conformance_test, router_test and
// http_server_test; the small-scale idle, limit and write-timeout cases with a
// test handler by http_server_test.
//
// The gateway is built here rather than with gateway_test_support's
// TestGateway, whose ServerOptions (limits and timeouts) are fixed.
// The 10,000 idle connections live in a child process: one process cannot
// hold both ends of 10,000 connections under the usual 20,000-descriptor hard
// limit. Every wait is bounded (poll timeouts, socket timeouts, deadlines).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "content/nix_hash.hpp"
#include "server/file_body.hpp"
#include "server/gateway_handler.hpp"
#include "server/http_server.hpp"
#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A gateway over a fresh store with the given limits and timeouts, and an
// access log in a temporary file.
class Gateway {
 public:
  explicit Gateway(server::ServerOptions so) {
    storage::RocksDbOptions o;
    o.dir = dir_ / "store";
    auto s = storage::open_rocksdb_store(o);
    INFO((s ? "" : s.error().message));
    REQUIRE(s);
    store_ = std::move(*s);
    metrics_ = std::make_shared<server::MetricsRegistry>();
    handler_ =
        std::make_shared<server::GatewayHandler>(*store_, server::GatewayOptions{}, metrics_.get());
    log_file_ = std::tmpfile();
    REQUIRE(log_file_ != nullptr);
    so.host = "127.0.0.1";
    so.port = 0;
    server_ = std::make_unique<server::HttpServer>(
        so, handler_, metrics_,
        std::make_shared<server::AccessLog>(server::AccessLogFormat::text, log_file_));
    server_->start();
  }
  ~Gateway() {
    stop();
    server_.reset();
    std::fclose(log_file_);
  }

  // Imports `data` (1 MiB slices) and returns its sha256 in hex.
  std::string import(content::ByteView data) {
    auto imp = store_->begin_import(content::ImportProfile::v1_2025);
    for (std::size_t at = 0; at < data.size(); at += 1 << 20) {
      REQUIRE(imp->write(data.subspan(at, std::min<std::size_t>(1 << 20, data.size() - at))));
    }
    auto summary = imp->finish();
    INFO((summary ? "" : summary.error().message));
    REQUIRE(summary);
    REQUIRE(imp->commit());
    return content::to_hex(summary->digests.sha256);
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    server_->stop();
    server_->wait();
  }

  std::uint16_t port() const { return server_->port(); }
  storage::BlockStore& store() { return *store_; }

  // The value of one sample line ("name{labels}"), or -1 when absent.
  double metric(const std::string& sample) const {
    const std::string text = metrics_->expose();
    const std::size_t at = text.find("\n" + sample + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + sample.size() + 2));
  }

  std::string log_text() {
    std::fflush(log_file_);
    std::rewind(log_file_);
    std::string text;
    char chunk[4096];
    std::size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, log_file_)) > 0) text.append(chunk, n);
    return text;
  }

 private:
  test::TempDir dir_;
  std::unique_ptr<storage::BlockStore> store_;
  std::shared_ptr<server::MetricsRegistry> metrics_;
  std::shared_ptr<server::GatewayHandler> handler_;
  std::FILE* log_file_ = nullptr;
  std::unique_ptr<server::HttpServer> server_;
  bool stopped_ = false;
};

// What must not change: the store's counters and its name index, and a clean
// verify().
struct StoreState {
  storage::StoreStats stats;
  std::size_t names = 0;
  bool same_as(const StoreState& o) const {
    return stats.files == o.stats.files && stats.blocks == o.stats.blocks &&
           stats.logical_bytes == o.stats.logical_bytes &&
           stats.pinned_bytes == o.stats.pinned_bytes &&
           stats.evicted_files == o.stats.evicted_files && names == o.names;
  }
};

StoreState store_state(storage::BlockStore& store) {
  StoreState s;
  auto st = store.stats();
  REQUIRE(st);
  s.stats = *st;
  REQUIRE(store.for_each_name([&](const content::Digest&, const storage::NameEntry&) {
    ++s.names;
    return true;
  }));
  return s;
}

void check_store_unchanged(storage::BlockStore& store, const StoreState& before) {
  const StoreState after = store_state(store);
  CHECK(after.same_as(before));
  CHECK(after.stats.files == 1);
  auto v = store.verify({});
  INFO((v ? "" : v.error().message));
  REQUIRE(v);
  CHECK(v->ok());
  CHECK(v->blocks_checked == before.stats.blocks);
}

// A blocking TCP client on 127.0.0.1 with every recv and send bounded by
// socket timeouts; reads HTTP/1.1 responses with a Content-Length.
class Client {
 public:
  explicit Client(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  struct Response {
    int status = 0;
    std::string head;  // status line and header fields
    std::string body;
  };
  // One response; nullopt when the connection ends or a recv times out first.
  std::optional<Response> read_response() {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > (1 << 20) || !fill()) return std::nullopt;
    }
    Response r;
    r.head = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    if (!r.head.starts_with("HTTP/1.1 ")) return std::nullopt;
    r.status = std::atoi(r.head.c_str() + 9);
    const std::size_t cl = lower(r.head).find("\r\ncontent-length: ");
    if (cl == std::string::npos) return std::nullopt;
    const std::size_t length = std::stoull(r.head.substr(cl + 18));
    // Bounded: each fill() takes at least one byte or fails.
    while (buffer_.size() < length) {
      if (!fill()) return std::nullopt;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  std::optional<Response> get(const std::string& target) {
    if (!send("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n")) return std::nullopt;
    return read_response();
  }

  // True when the peer closes (EOF or reset) within `bound`, having sent
  // nothing more.
  bool closed_within(std::chrono::milliseconds bound) {
    if (!buffer_.empty()) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(bound.count())) != 1) return false;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  bool fill() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

// Raises the soft descriptor limit to the hard one; returns the hard limit.
rlim_t raise_nofile() {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  limit.rlim_cur = limit.rlim_max;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  return limit.rlim_max;
}

std::int64_t monotonic_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}
std::int64_t to_ns(Clock::time_point t) {
  // libstdc++'s steady_clock is CLOCK_MONOTONIC, which the child reads too.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// --- the child process that holds the idle connections ----------------------

// What the child saw of one connection.
struct IdleRecord {
  std::int64_t connected_ns = 0;  // when connect() returned
  std::int64_t ended_ns = 0;      // when it saw EOF or a reset; 0: still open at its deadline
  std::int32_t bytes = 0;         // bytes received (an idle close sends none)
  std::int32_t state = 0;         // kConnectFailed (errno in bytes), kEof, kReset, kOpen
};
constexpr std::int32_t kOpen = 0;
constexpr std::int32_t kEof = 1;
constexpr std::int32_t kReset = 2;
constexpr std::int32_t kConnectFailed = 3;

bool write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Runs in the forked child: only system calls on memory allocated before the
// fork (the parent has other threads; the child must not take their locks).
// Opens records.size() connections, reports 'R' on `out`, then watches them
// until each has closed or `deadline_ns`, writes the records and exits.
[[noreturn]] void hold_idle_connections(std::uint16_t port, std::vector<IdleRecord>& records,
                                        std::vector<pollfd>& polls, int out,
                                        std::int64_t deadline_ns) {
  // Keep only the pipe: inherited copies of the server's sockets would keep
  // its connections open after the server closes them.
  if (::dup2(out, 3) < 0) ::_exit(10);
  out = 3;
  ::syscall(SYS_close_range, 4U, ~0U, 0U);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::int32_t opened = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    polls[i] = pollfd{-1, POLLIN, 0};
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      records[i].state = kConnectFailed;
      records[i].bytes = errno;
      if (fd >= 0) ::close(fd);
      continue;
    }
    records[i].connected_ns = monotonic_ns();
    polls[i].fd = fd;
    ++opened;
  }
  const char ready = 'R';
  if (!write_all(out, &ready, 1) || !write_all(out, &opened, sizeof opened)) ::_exit(11);
  std::size_t open_now = static_cast<std::size_t>(opened);
  // Bounded by the deadline: each pass waits at most until it.
  while (open_now > 0) {
    const std::int64_t left_ms = (deadline_ns - monotonic_ns()) / 1'000'000;
    if (left_ms <= 0) break;
    const int n = ::poll(polls.data(), polls.size(), static_cast<int>(left_ms));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    for (std::size_t i = 0; i < polls.size(); ++i) {
      if (polls[i].fd < 0 || polls[i].revents == 0) continue;
      char sink[512];
      const ssize_t got = ::recv(polls[i].fd, sink, sizeof sink, MSG_DONTWAIT);
      if (got > 0) {
        records[i].bytes += static_cast<std::int32_t>(got);
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      records[i].state = got == 0 ? kEof : kReset;
      records[i].ended_ns = monotonic_ns();
      ::close(polls[i].fd);
      polls[i].fd = -1;
      --open_now;
    }
  }
  for (auto& p : polls) {
    if (p.fd >= 0) ::close(p.fd);
  }
  const std::int32_t count = static_cast<std::int32_t>(records.size());
  if (!write_all(out, &count, sizeof count) ||
      !write_all(out, records.data(), records.size() * sizeof(IdleRecord))) {
    ::_exit(12);
  }
  ::_exit(0);
}

// Reads exactly `size` bytes from `fd` before `deadline`.
bool read_exact(int fd, void* data, std::size_t size, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd pf{fd, POLLIN, 0};
    const int r = ::poll(&pf, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    const ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Ends the child: waits up to `bound` for it to exit, then kills it.
int reap(pid_t pid, std::chrono::milliseconds bound) {
  int status = 0;
  const auto deadline = Clock::now() + bound;
  for (int i = 0; i < 100000; ++i) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

TEST_CASE(
    "10,000 idle connections: 503 beyond the limit, closed at the idle timeout, a client "
    "served meanwhile, the store unchanged",
    "[bad_input][idle]") {
  constexpr std::size_t kIdle = 10'000;
  // Room for the idle sessions, the normal client and 7 more: the next
  // connections find the server full.
  constexpr std::size_t kFill = 7;
  constexpr std::size_t kMax = kIdle + 1 + kFill;
  constexpr std::size_t kExtra = 20;
  // Long enough that opening 10,000 connections and the checks made while
  // they are open fit in it on a loaded machine; the idle closes are then
  // timed against it.
  constexpr auto kIdleTimeout = 4000ms;

  const rlim_t hard = raise_nofile();
  if (hard < kMax + 1024) {
    WARN("RLIMIT_NOFILE hard limit " << hard << " is below the " << kMax + 1024
                                     << " descriptors this test needs: skipped");
    return;
  }

  server::ServerOptions so;
  so.threads = 2;
  so.max_connections = kMax;
  so.idle_timeout = kIdleTimeout;
  so.read_timeout = 10s;
  so.write_timeout = 10s;
  so.shutdown_grace = 5s;
  Gateway gw(so);
  const content::Bytes data = test::deterministic_bytes("bad-input-idle", 3 * (1 << 20) + 17);
  const std::string target = "/sha256/" + gw.import(data);
  const std::string expected(data.begin(), data.end());
  const StoreState before = store_state(gw.store());

  // The child opens the idle connections and reports how each ended.
  std::vector<IdleRecord> records(kIdle);
  std::vector<pollfd> polls(kIdle);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const auto forked = Clock::now();
  const auto child_deadline = forked + 60s;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    hold_idle_connections(gw.port(), records, polls, pipe_fds[1], to_ns(child_deadline));
  }
  ::close(pipe_fds[1]);
  struct PipeCloser {
    int fd;
    ~PipeCloser() { ::close(fd); }
  } pipe_closer{pipe_fds[0]};
  struct Reaper {
    pid_t pid;
    bool done = false;
    ~Reaper() {
      if (!done) reap(pid, 1000ms);
    }
  } reaper{pid};

  char ready = 0;
  std::int32_t opened = 0;
  REQUIRE(read_exact(pipe_fds[0], &ready, 1, Clock::now() + 45s));
  REQUIRE(ready == 'R');
  REQUIRE(read_exact(pipe_fds[0], &opened, sizeof opened, Clock::now() + 5s));
  const auto all_open = Clock::now();
  REQUIRE(opened == static_cast<std::int32_t>(kIdle));

  // A normal client, accepted after every idle connection (the listener takes
  // them in order), gets the file while they are all open.
  Client normal(gw.port());
  REQUIRE(normal.connected());
  const auto start = Clock::now();
  auto got = normal.get(target);
  const auto took = Clock::now() - start;
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(got->body == expected);
  CHECK(took < 5s);
  CHECK(gw.metric("srcgate_http_connections_open") == kIdle + 1);

  // Fill the server up; the next connections get the canned 503 and a close.
  std::vector<std::unique_ptr<Client>> fill;
  for (std::size_t i = 0; i < kFill; ++i) {
    fill.push_back(std::make_unique<Client>(gw.port()));
    auto ok = fill.back()->get("/healthz");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
  CHECK(gw.metric("srcgate_http_connections_open") == kMax);
  int busy = 0;
  for (std::size_t i = 0; i < kExtra; ++i) {
    Client extra(gw.port());
    REQUIRE(extra.connected());
    auto r = extra.read_response();
    if (r && r->status == 503 && r->head.find("\r\nRetry-After: 1\r\n") != std::string::npos &&
        r->body == "too many open connections\n" && extra.closed_within(2s)) {
      ++busy;
    }
  }
  CHECK(busy == static_cast<int>(kExtra));
  CHECK(gw.metric("srcgate_http_connections_rejected_total{reason=\"max_connections\"}") == kExtra);
  const auto checks_done = Clock::now();
  INFO("opening the idle connections took "
       << std::chrono::duration<double>(all_open - forked).count() << " s; the checks while "
       << "they were open " << std::chrono::duration<double>(checks_done - all_open).count()
       << " s");
  // The normal and fill clients leave; the idle ones wait for the timeout.
  normal.close();
  fill.clear();

  std::int32_t count = 0;
  REQUIRE(read_exact(pipe_fds[0], &count, sizeof count, child_deadline + 10s));
  REQUIRE(count == static_cast<std::int32_t>(kIdle));
  REQUIRE(read_exact(pipe_fds[0], records.data(), records.size() * sizeof(IdleRecord),
                     Clock::now() + 10s));
  reaper.done = true;
  const int status = reap(pid, 10s);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));

  // Every idle connection was closed by the server, silently, no sooner than
  // the idle timeout after it was opened, and not long after; all of them
  // were still open when the checks above ended.
  std::size_t eof = 0, reset = 0, still_open = 0, with_bytes = 0, early = 0, late = 0,
              before_checks = 0;
  std::int64_t min_ns = INT64_MAX, max_ns = 0;
  const std::int64_t timeout_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(kIdleTimeout).count();
  for (const IdleRecord& r : records) {
    if (r.state == kEof) ++eof;
    if (r.state == kReset) ++reset;
    if (r.state == kOpen) ++still_open;
    if (r.bytes != 0) ++with_bytes;
    if (r.ended_ns == 0) continue;
    const std::int64_t lived = r.ended_ns - r.connected_ns;
    min_ns = std::min(min_ns, lived);
    max_ns = std::max(max_ns, lived);
    if (lived < timeout_ns - 50'000'000) ++early;
    if (lived > timeout_ns + 15'000'000'000) ++late;
    if (r.ended_ns < to_ns(checks_done)) ++before_checks;
  }
  INFO("closed by EOF " << eof << ", by reset " << reset << ", still open " << still_open
                        << "; lifetimes " << min_ns / 1e9 << " s to " << max_ns / 1e9 << " s");
  CHECK(eof + reset == kIdle);
  CHECK(with_bytes == 0);
  CHECK(early == 0);
  CHECK(late == 0);
  CHECK(before_checks == 0);

  // Served again once they are gone, with nothing left open.
  Client after(gw.port());
  auto again = after.get(target);
  REQUIRE(again);
  CHECK(again->status == 200);
  CHECK(again->body == expected);
  after.close();
  gw.stop();
  // A client sees the close before its session has counted it: count after stop.
  CHECK(gw.metric("srcgate_http_timeouts_total{phase=\"idle\"}") == kIdle);
  CHECK(gw.metric("srcgate_http_connections_open") == 0);
  check_store_unchanged(gw.store(), before);
}

TEST_CASE(
    "a client that reads one byte a second is cut off at the write timeout while another "
    "downloads the file, the store unchanged",
    "[bad_input][slow]") {
  constexpr auto kWriteTimeout = 3000ms;
  server::ServerOptions so;
  so.threads = 2;
  so.idle_timeout = 10s;
  so.read_timeout = 10s;
  so.write_timeout = kWriteTimeout;
  so.shutdown_grace = 5s;
  Gateway gw(so);
  constexpr std::size_t kSize = 16 * (1 << 20) + 5;
  const content::Bytes data = test::deterministic_bytes("bad-input-slow", kSize);
  const std::string target = "/sha256/" + gw.import(data);
  const StoreState before = store_state(gw.store());

  // The slow reader: a small receive buffer, one byte a second.
  Client slow(gw.port(), 4096);
  REQUIRE(slow.connected());
  const auto sent = Clock::now();
  REQUIRE(slow.send("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  char first[16];
  REQUIRE(::recv(slow.fd(), first, 1, 0) == 1);  // the response has begun (socket timeout 10 s)
  CHECK(std::string_view(first, 1) == "H");
  std::size_t slow_bytes = 1;

  // Another client downloads the whole file meanwhile.
  const auto start = Clock::now();
  test::HttpResult other = test::http("http://127.0.0.1:" + std::to_string(gw.port()) + target);
  const auto took = Clock::now() - start;
  CHECK(other.status == 200);
  CHECK(other.body == std::string(data.begin(), data.end()));
  CHECK(gw.metric("srcgate_http_timeouts_total{phase=\"write\"}") == 0);  // not cut yet
  INFO("the other download took " << std::chrono::duration<double>(took).count() << " s");

  // One byte a second until the server has given up (bounded).
  std::optional<Clock::time_point> cut;
  for (int tick = 0; tick < 20 && !cut; ++tick) {
    std::this_thread::sleep_for(1s);  // the client's pace, not a wait for an event
    if (::recv(slow.fd(), first, 1, 0) == 1) ++slow_bytes;
    if (gw.metric("srcgate_http_timeouts_total{phase=\"write\"}") == 1) cut = Clock::now();
  }
  REQUIRE(cut);
  const auto after_request = *cut - sent;
  INFO("cut " << std::chrono::duration<double>(after_request).count() << " s after the request");
  CHECK(after_request >= kWriteTimeout - 100ms);
  CHECK(after_request <= kWriteTimeout + 5s);

  // Read the rest at full speed: the connection ends short of the file.
  bool ended = false;
  char chunk[65536];
  for (int i = 0; i < 100000; ++i) {
    const ssize_t n = ::recv(slow.fd(), chunk, sizeof chunk, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      ended = true;
      break;
    }
    if (n < 0) break;  // socket timeout (10 s): not ended
    slow_bytes += static_cast<std::size_t>(n);
  }
  CHECK(ended);
  CHECK(slow_bytes < kSize);

  // Served normally afterwards.
  test::HttpResult again =
      test::http("http://127.0.0.1:" + std::to_string(gw.port()) + target, {"-r", "0-99"});
  CHECK(again.status == 206);
  CHECK(again.body == std::string(data.begin(), data.begin() + 100));
  gw.stop();
  CHECK(gw.metric("srcgate_http_timeouts_total{phase=\"write\"}") == 1);
  const std::string log = gw.log_text();
  CHECK_THAT(log, Catch::Matchers::Contains("target=" + target + " status=200 bytes="));
  CHECK_THAT(log, Catch::Matchers::Contains("outcome=\"write timeout\""));
  // The cut session let go of its block.
  CHECK(server::file_body_budget_use().held == 0);
  check_store_unchanged(gw.store(), before);
}
