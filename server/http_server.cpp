#include "server/http_server.hpp"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <variant>
#include <vector>

namespace srcgate::server {

namespace http = beast::http;

// How a session works (one coroutine per connection, on its own strand):
//
//   loop:  wait for the first byte of a request     (idle_timeout; stop() cancels this wait)
//          read the request line and headers         (read_timeout, header_limit)
//          route; built-in route or Handler::handle
//          write the header block [+ first chunk]    (write_timeout per write)
//          write each further chunk                  (write_timeout per write)
//          access log, metrics
//   until the client or the response asks to close, an error or timeout, or stop().
//
// Every connection is registered (Connection) so that stop() can reach it from
// another thread: it posts to the connection's strand, where the session's own
// operations run, so the registry never touches a stream concurrently with its
// session. The session clears `stream` before the stream dies.
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kFirstRead = 4096;
constexpr std::size_t kDrainLimit = 1 << 20;

struct Connection {
  net::any_io_executor executor;  // the connection's strand
  TcpStream* stream = nullptr;    // on the strand only
  bool idle = true;               // waiting for a request; on the strand only
};

std::string_view method_label(Method m) {
  switch (m) {
    case Method::get:
      return "GET";
    case Method::head:
      return "HEAD";
    case Method::post:
      return "POST";
    case Method::put:
      return "PUT";
    case Method::delete_:
      return "DELETE";
    case Method::options:
      return "OPTIONS";
    case Method::other:
      break;
  }
  return "other";
}

Method method_of(http::verb v) {
  switch (v) {
    case http::verb::get:
      return Method::get;
    case http::verb::head:
      return Method::head;
    case http::verb::post:
      return Method::post;
    case http::verb::put:
      return Method::put;
    case http::verb::delete_:
      return Method::delete_;
    case http::verb::options:
      return Method::options;
    default:
      return Method::other;
  }
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

bool token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

// Header fields the session writes itself, or that would break the framing.
bool sendable_field(std::string_view name, std::string_view value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), token_char)) return false;
  // One pass (find_first_of would call memchr once per character).
  for (const char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return !iequals(name, "content-length") && !iequals(name, "transfer-encoding") &&
         !iequals(name, "connection");
}

// "Date: <IMF-fixdate>\r\n", formatted at most once a second per thread.
void append_date(std::string& out) {
  thread_local std::time_t cached_second = 0;
  thread_local char cached[64];
  thread_local std::size_t cached_size = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    cached_size = std::strftime(cached, sizeof cached, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    cached_second = now;
  }
  out.append(cached, cached_size);
}

std::string_view reason_phrase(unsigned status) {
  const auto r = http::obsolete_reason(static_cast<http::status>(status));
  if (r.empty() || r.front() == '<') return {};
  return std::string_view(r.data(), r.size());
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// The body of an accepted upload (/api/v1/), read from the session's socket
// as the handler pulls it: the header parser's state moves into a
// buffer_body parser, which fills one bounded piece per read(). Lives in the
// session's frame for one request.
class SessionBody final : public RequestBody {
 public:
  static constexpr std::size_t kPiece = 256 * 1024;

  SessionBody(TcpStream& stream, beast::flat_buffer& buffer,
              http::request_parser<http::empty_body>&& header, std::uint64_t limit,
              std::chrono::milliseconds timeout)
      : stream_(stream),
        buffer_(buffer),
        parser_(std::move(header)),
        length_(parser_.content_length() ? std::optional<std::uint64_t>(*parser_.content_length())
                                         : std::nullopt),
        timeout_(timeout) {
    parser_.body_limit(limit);
    const auto expect = parser_.get()[http::field::expect];
    expect_continue_ = beast::iequals(expect, "100-continue");
  }

  std::optional<std::uint64_t> length() const override { return length_; }
  bool done() const { return parser_.is_done(); }

  Awaitable<content::Result<content::ByteView>> read() override {
    if (expect_continue_) {
      expect_continue_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(timeout_);
      auto [wec, wn] = co_await net::async_write(stream_, net::buffer(kContinue));
      if (wec) co_return fail("writing 100 Continue: " + wec.message());
    }
    piece_.resize(kPiece);
    // Each pass reads from the socket or ends; the timeout bounds each read.
    while (!parser_.is_done()) {
      auto& body = parser_.get().body();
      body.data = piece_.data();
      body.size = piece_.size();
      body.more = true;
      stream_.expires_after(timeout_);
      auto [ec, n] = co_await http::async_read_some(stream_, buffer_, parser_);
      const std::size_t got = piece_.size() - parser_.get().body().size;
      if (ec && ec != http::error::need_buffer) {
        if (ec == http::error::body_limit) co_return fail("request body exceeds the size limit");
        co_return fail("reading the request body: " + ec.message());
      }
      if (got > 0) co_return content::ByteView(piece_.data(), got);
    }
    co_return content::ByteView{};
  }

 private:
  static content::Error fail(std::string message) {
    return content::make_error(content::Errc::truncated, std::move(message));
  }
  TcpStream& stream_;
  beast::flat_buffer& buffer_;
  http::request_parser<http::buffer_body> parser_;
  std::optional<std::uint64_t> length_;
  std::chrono::milliseconds timeout_;
  bool expect_continue_ = false;
  std::vector<std::uint8_t> piece_;
};

struct ServerMetrics {
  explicit ServerMetrics(MetricsRegistry& r)
      : requests(r.counter_family("srcgate_http_requests_total",
                                  "HTTP requests answered, by route, method and status.",
                                  {"route", "method", "status"})),
        body_bytes(r.counter_family("srcgate_http_response_body_bytes_total",
                                    "Response body bytes written to clients, by route.",
                                    {"route"})),
        duration(r.histogram_family(
            "srcgate_http_request_duration_seconds",
            "Time from a request's headers to the end of its response, by route.", {"route"},
            kLatencyBuckets)),
        open(r.gauge("srcgate_http_connections_open", "Client connections open now.")),
        accepted(r.counter("srcgate_http_connections_accepted_total",
                           "Client connections accepted and served.")),
        rejected(r.counter_family("srcgate_http_connections_rejected_total",
                                  "Client connections closed at once, by reason.", {"reason"})
                     .with({"max_connections"})),
        timeouts(r.counter_family("srcgate_http_timeouts_total",
                                  "Connections closed by a timeout, by phase.", {"phase"})),
        idle_timeouts(timeouts.with({"idle"})),
        read_timeouts(timeouts.with({"read"})),
        write_timeouts(timeouts.with({"write"})),
        cache(r.counter_family("srcgate_cache_requests_total",
                               "Content requests answered from the store (hit) or fetched (miss).",
                               {"result"})),
        hits(cache.with({"hit"})),
        misses(cache.with({"miss"})) {}

  CounterFamily& requests;
  CounterFamily& body_bytes;
  HistogramFamily& duration;
  Gauge& open;
  Counter& accepted;
  Counter& rejected;
  CounterFamily& timeouts;
  Counter& idle_timeouts;
  Counter& read_timeouts;
  Counter& write_timeouts;
  CounterFamily& cache;
  Counter& hits;
  Counter& misses;
};

// The children of srcgate_http_requests_total, _response_body_bytes_total
// and _request_duration_seconds for one (route, method, status), resolved
// once: Family::with() compares label strings in a map under a lock; here a
// request costs a hash of three words and one atomic load. Keys are the
// labels' data pointers (route_name(), method_label() and the session's
// literals are static strings), so a key never dangles; two pointers to
// equal text merely resolve to the same children twice. At most kMaxOwned
// combinations are kept; beyond them, every call resolves.
// Thread-safety: get() from any thread; entries are immutable once published.
class RequestMetricsCache {
 public:
  struct Children {
    const char* route = nullptr;
    const char* method = nullptr;
    unsigned status = 0;
    Counter* requests = nullptr;
    Counter* body_bytes = nullptr;
    Histogram* duration = nullptr;
  };

  RequestMetricsCache(CounterFamily& requests, CounterFamily& body_bytes, HistogramFamily& duration)
      : requests_(requests), body_bytes_(body_bytes), duration_(duration) {}

  Children get(std::string_view route, std::string_view method, unsigned status) {
    const auto key = reinterpret_cast<std::uintptr_t>(route.data()) * 31 +
                     reinterpret_cast<std::uintptr_t>(method.data()) * 7 + status;
    auto& slot = slots_[(key ^ (key >> 9)) % kSlots];
    const Children* c = slot.load(std::memory_order_acquire);
    if (c != nullptr && c->route == route.data() && c->method == method.data() &&
        c->status == status) {
      return *c;
    }
    char buf[16];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, status);
    const std::string_view status_text(buf, static_cast<std::size_t>(end - buf));
    Children fresh{route.data(),
                   method.data(),
                   status,
                   &requests_.with({route, method, status_text}),
                   &body_bytes_.with({route}),
                   &duration_.with({route})};
    std::lock_guard lock(mu_);
    if (owned_.size() < kMaxOwned) {
      owned_.push_back(std::make_unique<Children>(fresh));
      slot.store(owned_.back().get(), std::memory_order_release);
    }
    return fresh;
  }

 private:
  static constexpr std::size_t kSlots = 256;
  static constexpr std::size_t kMaxOwned = 4096;
  CounterFamily& requests_;
  CounterFamily& body_bytes_;
  HistogramFamily& duration_;
  std::array<std::atomic<const Children*>, kSlots> slots_{};
  std::mutex mu_;
  std::vector<std::unique_ptr<Children>> owned_;  // guarded by mu_; never shrinks
};

struct WriteResult {
  std::uint64_t body_bytes = 0;
  std::string outcome;  // empty, or why the response was cut
  bool complete() const { return outcome.empty(); }
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(ServerOptions options, std::shared_ptr<Handler> handler,
       std::shared_ptr<MetricsRegistry> metrics, std::shared_ptr<AccessLog> log)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        registry_(std::move(metrics)),
        log_(std::move(log)),
        metrics_(*registry_),
        request_metrics_(metrics_.requests, metrics_.body_bytes, metrics_.duration),
        ioc_(static_cast<int>(std::max(1u, options_.threads))),
        control_(net::make_strand(ioc_)),
        acceptor_(control_),
        grace_timer_(control_) {}

  ~Impl() {
    stop();
    wait();
    io_stopped_ = true;  // frames destroyed with ioc_ from here on must not post
  }

  void start() {
    if (started_.exchange(true) || stopping_) {
      throw std::logic_error("HttpServer::start called twice or after stop");
    }
    // sendfile(2) has no MSG_NOSIGNAL: a client that resets the connection
    // mid-file would kill the process with SIGPIPE instead of failing the write.
    std::signal(SIGPIPE, SIG_IGN);
    const std::string where = "listen " + options_.host + ":" + std::to_string(options_.port);
    ErrorCode ec;
    tcp::resolver resolver(ioc_);
    const auto results =
        resolver.resolve(options_.host, std::to_string(options_.port),
                         tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) throw std::system_error(ec, where);
    const tcp::endpoint endpoint = results.begin()->endpoint();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, where);
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(control_, accept_loop(), [](std::exception_ptr e) { report("listener", e); });
    for (unsigned i = 0; i < std::max(1u, options_.threads); ++i) {
      threads_.emplace_back([this] { run_io(); });
    }
  }

  std::uint16_t port() const { return port_; }

  void stop() {
    if (stopping_.exchange(true)) return;
    net::post(control_, [this] {
      ErrorCode ignored;
      acceptor_.close(ignored);
      for (const auto& c : snapshot()) {
        net::post(c->executor, [c] {
          if (c->stream != nullptr && c->idle) c->stream->cancel();
        });
      }
      if (open_.load() == 0) {
        finish();
        return;
      }
      grace_timer_.expires_after(options_.shutdown_grace);
      grace_timer_.async_wait([this](ErrorCode ec) {
        if (!ec) force_close();
      });
    });
  }

  void wait() {
    std::lock_guard lock(join_mu_);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void stop_on_signal_and_wait() {
    net::post(control_, [this] {
      if (stopping_) return;
      signals_.emplace(control_, SIGINT, SIGTERM);
      wait_for_signal();
    });
    wait();
  }

 private:
  static void report(const char* what, std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "srcgate: %s: unexpected exception: %s\n", what, ex.what());
    } catch (...) {
      std::fprintf(stderr, "srcgate: %s: unexpected exception\n", what);
    }
  }

  void run_io() {
    while (true) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "srcgate: unexpected exception in the I/O loop: %s\n", e.what());
      }
    }
  }

  // On control_.
  void wait_for_signal() {
    if (!signals_) return;
    signals_->async_wait([this](ErrorCode ec, int signal) {
      if (ec) return;
      if (!stopping_) {
        std::fprintf(stderr, "srcgate: signal %d: stopping; running responses have %lld ms\n",
                     signal, static_cast<long long>(options_.shutdown_grace.count()));
        stop();
        wait_for_signal();
      } else {
        std::fprintf(stderr, "srcgate: signal %d again: closing every connection now\n", signal);
        force_close();
      }
    });
  }

  std::vector<std::shared_ptr<Connection>> snapshot() {
    std::lock_guard lock(conns_mu_);
    return {conns_.begin(), conns_.end()};
  }

  // On control_: every connection is done. Stop the io_context: fetches that
  // no client waits for any more (cache fills) are abandoned with their
  // frames, as at the end of the grace period, rather than holding the
  // shutdown for as long as an upstream takes.
  void finish() {
    grace_timer_.cancel();
    if (signals_) signals_->cancel();
    io_stopped_ = true;
    ioc_.stop();
  }

  // On control_: the grace period is over. Close every socket on its strand,
  // then stop the io_context; frames still suspended are destroyed with it.
  void force_close() {
    if (forcing_) return;
    forcing_ = true;
    if (signals_) signals_->cancel();
    const auto conns = snapshot();
    if (conns.empty()) {
      io_stopped_ = true;
      ioc_.stop();
      return;
    }
    force_remaining_ = conns.size();
    for (const auto& c : conns) {
      net::post(c->executor, [this, c] {
        if (c->stream != nullptr) {
          ErrorCode ignored;
          c->stream->socket().close(ignored);
        }
        if (force_remaining_.fetch_sub(1) == 1) {
          net::post(control_, [this] {
            io_stopped_ = true;
            ioc_.stop();
          });
        }
      });
    }
  }

  // Reply with a canned 503 and close, without a session.
  void reject(tcp::socket& socket) {
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 26\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        "too many open connections\n";
    metrics_.rejected.inc();  // first, so that it is counted when the client sees the close
    ErrorCode ignored;
    socket.non_blocking(true, ignored);
    std::ignore = socket.write_some(net::buffer(kBusy.data(), kBusy.size()), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  Awaitable<void> accept_loop() {
    while (true) {
      auto [ec, socket] =
          co_await acceptor_.async_accept(net::any_io_executor(net::make_strand(ioc_)));
      if (ec) {
        if (stopping_ || ec == net::error::operation_aborted) co_return;
        std::fprintf(stderr, "srcgate: accept: %s\n", ec.message().c_str());
        // Out of descriptors or memory: back off instead of spinning.
        SteadyTimer pause(control_);
        pause.expires_after(std::chrono::milliseconds(50));
        std::ignore = co_await pause.async_wait();
        continue;
      }
      if (open_.load() >= options_.max_connections) {
        reject(socket);
        continue;
      }
      auto conn = std::make_shared<Connection>();
      conn->executor = socket.get_executor();
      {
        std::lock_guard lock(conns_mu_);
        conns_.insert(conn);
      }
      open_.fetch_add(1);
      metrics_.open.add(1);
      metrics_.accepted.inc();
      ErrorCode ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      net::co_spawn(conn->executor, session(TcpStream(std::move(socket)), conn),
                    [](std::exception_ptr e) { report("session", e); });
    }
  }

  // Unregisters a connection when its session ends, however it ends: at
  // release(), or when the session's frame is destroyed.
  struct ConnectionGuard {
    Impl* server;
    std::shared_ptr<Connection> conn;
    ~ConnectionGuard() { release(); }
    void release() {
      if (!conn) return;
      conn->stream = nullptr;
      {
        std::lock_guard lock(server->conns_mu_);
        server->conns_.erase(conn);
      }
      server->metrics_.open.sub(1);
      if (server->open_.fetch_sub(1) == 1 && server->stopping_ && !server->io_stopped_) {
        net::post(server->control_, [s = server] { s->finish(); });
      }
      conn.reset();
    }
  };

  std::optional<Response> builtin(const Route& route, Method method) const {
    const bool service = std::holds_alternative<MetricsRequest>(route) ||
                         std::holds_alternative<HealthRequest>(route) ||
                         std::holds_alternative<ReadyRequest>(route);
    if (!service) return std::nullopt;
    if (method != Method::get && method != Method::head) {
      return std::move(Response::text(405, "method not allowed").header("Allow", "GET, HEAD"));
    }
    Response r;
    if (std::holds_alternative<MetricsRequest>(route)) {
      r.body = registry_->expose();
      r.header("Content-Type", std::string(kMetricsContentType));
    } else if (std::holds_alternative<HealthRequest>(route)) {
      r = Response::text(200, "ok");
    } else {
      r = stopping_ ? Response::text(503, "stopping") : Response::text(200, "ready");
    }
    r.header("Cache-Control", "no-store");
    return r;
  }

  // Writes `buffers` under the write timeout. Returns "" or why it failed.
  template <class Buffers>
  Awaitable<std::string> write_all(TcpStream& stream, const Buffers& buffers) {
    stream.expires_after(options_.write_timeout);
    auto [ec, n] = co_await net::async_write(stream, buffers);
    if (!ec) co_return std::string();
    if (ec == beast::error::timeout) {
      metrics_.write_timeouts.inc();
      co_return std::string("write timeout");
    }
    co_return "write error: " + ec.message();
  }

  // Sends `lead`, then bytes [file_offset, file_offset + file_length) of the
  // file piece with sendfile(2), then `tail`; the whole under the write
  // timeout, like write_all. Returns "" or why it failed.
  Awaitable<std::string> send_file(TcpStream& stream, std::string_view lead, const BodyPiece& piece,
                                   std::string_view tail) {
    auto& socket = stream.socket();
    ErrorCode ec;
    if (!socket.native_non_blocking()) socket.native_non_blocking(true, ec);
    if (ec) co_return "write error: " + ec.message();
    const int out = socket.native_handle();
    const auto deadline = Clock::now() + options_.write_timeout;
    // Headers go out with the first bytes of the file (MSG_MORE) when the
    // socket takes them at once, which it nearly always does.
    if (!lead.empty()) {
      const ssize_t n = ::send(out, lead.data(), lead.size(), MSG_MORE | MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        co_return "write error: " + std::system_category().message(errno);
      }
      const auto sent = static_cast<std::size_t>(std::max<ssize_t>(n, 0));
      if (sent < lead.size()) {
        auto rest = co_await write_all(stream, net::buffer(lead.substr(sent)));
        if (!rest.empty()) co_return rest;
      }
    }
    auto offset = static_cast<off_t>(piece.file_offset);
    std::uint64_t left = piece.file_length;
    SteadyTimer timer(socket.get_executor());
    while (left > 0) {
      const ssize_t n =
          ::sendfile(out, piece.file, &offset,
                     static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30)));
      if (n > 0) {
        left -= static_cast<std::uint64_t>(n);
        continue;
      }
      if (n == 0) co_return std::string("body source failed: its file ended early");
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        co_return "write error: " + std::system_category().message(errno);
      }
      timer.expires_at(deadline);
      using namespace net::experimental::awaitable_operators;
      auto which =
          co_await (socket.async_wait(tcp::socket::wait_write, kUseTuple) || timer.async_wait());
      if (which.index() == 1) {
        metrics_.write_timeouts.inc();
        co_return std::string("write timeout");
      }
      if (auto [wec] = std::get<0>(which); wec) co_return "write error: " + wec.message();
    }
    if (tail.empty()) co_return std::string();
    co_return co_await write_all(stream, net::buffer(tail.data(), tail.size()));
  }

  // Sends `res` (headers only when `head_only`). Clears `keep_alive` when the
  // connection must close after it.
  // `head` is the caller's buffer for the header block (a session keeps one).
  Awaitable<WriteResult> write_response(TcpStream& stream, Response& res, bool head_only,
                                        unsigned version, bool& keep_alive, std::string& head) {
    WriteResult result;
    const bool bodiless = res.status < 200 || res.status == 204 || res.status == 304;
    const bool send_body = !head_only && !bodiless;
    BodyPiece first;
    if (res.stream && send_body) {
      auto piece = co_await res.stream->next_piece();
      if (!piece) {
        const std::string message = piece.error().message;
        res = Response::text(500, "cannot produce the response: " + message);
      } else {
        first = *piece;
      }
    }
    const bool had_stream = res.stream != nullptr;
    if (!send_body) res.stream.reset();
    const bool streamed = res.stream != nullptr;
    const bool chunked = streamed && !res.stream_length && version >= 11;
    if (streamed && !res.stream_length && !chunked) keep_alive = false;  // close-delimited
    if (res.close) keep_alive = false;

    head.clear();
    head.reserve(512);
    head += "HTTP/1.1 ";
    append_number(head, res.status);
    head += ' ';
    head += reason_phrase(res.status);
    head += "\r\n";
    append_date(head);
    if (res.header_lines) head += *res.header_lines;
    for (const auto& [name, value] : res.headers) {
      if (!sendable_field(name, value)) continue;
      head += name;
      head += ": ";
      head += value;
      head += "\r\n";
    }
    if (!bodiless) {
      if (!had_stream) {
        head += "Content-Length: ";
        append_number(head, res.body.size());
        head += "\r\n";
      } else if (res.stream_length) {
        head += "Content-Length: ";
        append_number(head, *res.stream_length);
        head += "\r\n";
      } else if (chunked) {
        head += "Transfer-Encoding: chunked\r\n";
      }  // else close-delimited, or HEAD of a body of unknown length
    }
    if (!keep_alive) {
      head += "Connection: close\r\n";
    } else if (version < 11) {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";

    if (!streamed) {
      const bool with_body = send_body && !res.body.empty();
      const std::array<net::const_buffer, 2> buffers = {
          net::buffer(head), with_body ? net::buffer(res.body) : net::const_buffer()};
      result.outcome = co_await write_all(stream, buffers);
      if (!result.complete()) co_return result;
      if (with_body) result.body_bytes = res.body.size();
      co_return result;
    }

    // Streamed body: the header block goes out with the first piece.
    char size_line[24];
    static constexpr std::string_view kCrlf = "\r\n";
    static constexpr std::string_view kLastChunk = "0\r\n\r\n";
    BodyPiece piece = first;
    std::string_view prefix = head;
    while (true) {
      if (res.stream_length && result.body_bytes + piece.size() > *res.stream_length) {
        result.outcome = "body longer than its Content-Length";
        co_return result;
      }
      std::string_view chunk_head;
      if (chunked && !piece.end()) {
        const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
        chunk_head = std::string_view(size_line, static_cast<std::size_t>(n));
      }
      const std::string_view tail = chunked && !piece.end() ? kCrlf : std::string_view();
      if (piece.is_file()) {
        // Headers and chunk head, then the file's bytes without a copy.
        std::string lead(prefix);
        lead += chunk_head;
        result.outcome = co_await send_file(stream, lead, piece, tail);
        if (!result.complete()) co_return result;
      } else {
        const std::array<net::const_buffer, 4> buffers = {
            net::buffer(prefix.data(), prefix.size()),
            net::buffer(chunk_head.data(), chunk_head.size()),
            net::buffer(piece.bytes.data(), piece.bytes.size()),
            net::buffer(tail.data(), tail.size())};
        if (!prefix.empty() || !piece.end()) {
          result.outcome = co_await write_all(stream, buffers);
          if (!result.complete()) co_return result;
        }
      }
      result.body_bytes += piece.size();
      prefix = {};
      if (piece.end()) break;  // the source said "end"
      auto next = co_await res.stream->next_piece();
      if (!next) {
        result.outcome = "body source failed: " + next.error().message;
        co_return result;
      }
      piece = *next;
    }
    if (res.stream_length && result.body_bytes != *res.stream_length) {
      result.outcome = "body shorter than its Content-Length";
      co_return result;
    }
    if (chunked) {
      result.outcome =
          co_await write_all(stream, net::buffer(kLastChunk.data(), kLastChunk.size()));
    }
    co_return result;
  }

  // Metrics and the access line of one response. `req` is null when the
  // request could not be read.
  void record(const Request* req, std::string_view remote, std::string_view route_label,
              unsigned status, const WriteResult& w, CacheStatus cache,
              std::chrono::system_clock::time_point when, Clock::time_point start) {
    const auto elapsed = Clock::now() - start;
    const std::string_view method = req ? method_label(req->method) : std::string_view("-");
    const auto children = request_metrics_.get(route_label, method, status);
    children.requests->inc();
    children.body_bytes->inc(w.body_bytes);
    children.duration->observe(std::chrono::duration<double>(elapsed).count());
    if (cache == CacheStatus::hit) metrics_.hits.inc();
    if (cache == CacheStatus::miss) metrics_.misses.inc();
    if (log_ && log_->enabled()) {
      AccessRecord r;
      r.time = when;
      r.remote = remote;
      r.method = req ? req->method_name : "-";
      r.target = req ? req->target : "-";
      r.status = status;
      r.bytes = w.body_bytes;
      r.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed);
      r.cache = cache;
      r.outcome = w.complete() ? std::string_view("ok") : std::string_view(w.outcome);
      log_->write(r);
    }
  }

  // Answers a request that could not be read (431, 400, 413) and closes.
  Awaitable<void> refuse(TcpStream& stream, unsigned status, std::string_view text,
                         const Request* req, std::string_view remote) {
    const auto when = std::chrono::system_clock::now();
    const auto start = Clock::now();
    Response res = Response::text(status, text);
    res.close = true;
    bool keep_alive = false;
    std::string head;
    const WriteResult w = co_await write_response(stream, res, false, 11, keep_alive, head);
    record(req, remote, req ? route_name(*req->route) : "invalid", status, w, CacheStatus::none,
           when, start);
    if (!w.complete()) co_return;
    // Let the client read the answer: stop sending, then drain what it is
    // still sending for a bounded time and size, so that closing does not
    // reset the connection under the unread response.
    ErrorCode ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    std::array<char, 16384> sink;
    std::size_t drained = 0;
    stream.expires_after(std::min(options_.read_timeout, std::chrono::milliseconds(2000)));
    while (drained < kDrainLimit) {
      auto [ec, n] = co_await stream.async_read_some(net::buffer(sink));
      if (ec) break;
      drained += n;
    }
  }

  Awaitable<void> session(TcpStream stream, std::shared_ptr<Connection> conn) {
    ConnectionGuard guard{this, conn};
    conn->stream = &stream;
    ErrorCode ec;
    const auto peer = stream.socket().remote_endpoint(ec);
    const std::string remote = ec ? std::string("-") : endpoint_text(peer);
    beast::flat_buffer buffer(options_.max_header_bytes + 65536);
    // The header list's storage, lent to each request in turn.
    std::vector<std::pair<std::string_view, std::string_view>> header_storage;
    header_storage.reserve(16);
    std::string head;  // each response's header block
    head.reserve(512);
    bool keep_alive = true;
    while (keep_alive && !stopping_) {
      // Wait for the next request; stop() cancels this wait.
      if (buffer.size() == 0) {
        conn->idle = true;
        if (stopping_) break;
        stream.expires_after(options_.idle_timeout);
        auto [rec, n] = co_await stream.async_read_some(buffer.prepare(kFirstRead));
        conn->idle = false;
        if (rec) {
          if (rec == beast::error::timeout) metrics_.idle_timeouts.inc();
          co_return;
        }
        buffer.commit(n);
      }
      conn->idle = false;

      http::request_parser<http::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
      // Judged below (413, or SessionBody's own limit), not by Beast's 1 MB default.
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      stream.expires_after(options_.read_timeout);
      auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser);
      if (hec) {
        if (hec == http::error::header_limit || hec == http::error::buffer_overflow) {
          co_await refuse(stream, 431, "request header fields too large", nullptr, remote);
        } else if (hec == beast::error::timeout) {
          // The stream has closed the socket already: nothing can be sent.
          metrics_.read_timeouts.inc();
          const auto now = Clock::now();
          record(nullptr, remote, "invalid", 408, WriteResult{0, "read timeout"}, CacheStatus::none,
                 std::chrono::system_clock::now(), now);
        } else if (hec != http::error::end_of_stream && hec != http::error::partial_message &&
                   hec != net::error::connection_reset && hec != net::error::operation_aborted) {
          co_await refuse(stream, 400, "malformed request: " + hec.message(), nullptr, remote);
        }
        co_return;
      }
      const auto when = std::chrono::system_clock::now();
      const auto start = Clock::now();
      const auto& msg = parser.get();

      Request req;
      req.method = method_of(msg.method());
      req.method_name = std::string_view(msg.method_string().data(), msg.method_string().size());
      req.target = std::string_view(msg.target().data(), msg.target().size());
      req.remote = remote;
      req.headers.swap(header_storage);
      req.headers.clear();
      for (const auto& field : msg) {
        req.headers.emplace_back(
            std::string_view(field.name_string().data(), field.name_string().size()),
            std::string_view(field.value().data(), field.value().size()));
      }
      const Route route = server::route(req.target, options_.base_path);
      req.route = &route;

      // Bodies only for the admin API; the header's fields (and the views into
      // them above) move into the body's parser, so read keep_alive and the
      // version first.
      keep_alive = msg.keep_alive();
      const unsigned version = msg.version();
      std::optional<SessionBody> body;
      const auto content_length = parser.content_length();
      if ((content_length && *content_length > 0) || parser.chunked()) {
        if (!std::holds_alternative<ApiRequest>(route)) {
          co_await refuse(stream, 413, "request bodies are not accepted", &req, remote);
          co_return;
        }
        if (content_length && *content_length > options_.max_body_bytes) {
          co_await refuse(
              stream, 413,
              "request body larger than " + std::to_string(options_.max_body_bytes) + " bytes",
              &req, remote);
          co_return;
        }
        body.emplace(stream, buffer, std::move(parser), options_.max_body_bytes,
                     options_.read_timeout);
        req.body = &*body;
      }

      std::optional<Response> res = builtin(route, req.method);
      if (!res) {
        try {
          res = co_await handler_->handle(req);
        } catch (const std::exception& e) {
          res = Response::text(500, std::string("internal error: ") + e.what());
        }
      }
      if (stopping_) keep_alive = false;
      if (body && !body->done()) keep_alive = false;  // unread body bytes: the framing is lost
      const WriteResult w = co_await write_response(stream, *res, req.method == Method::head,
                                                    version, keep_alive, head);
      record(&req, remote, route_name(route), res->status, w, res->cache, when, start);
      header_storage.swap(req.headers);
      if (!w.complete()) {
        // Cut, never completed: close without a graceful shutdown.
        ErrorCode ignored;
        stream.socket().close(ignored);
        co_return;
      }
    }
    // Free the connection's slot before the client can see the end of it, so
    // that a client who reconnects at once finds it free.
    guard.release();
    ErrorCode ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // Declaration order is destruction order reversed: ioc_ must die after the
  // objects it owns handlers for (below it) and before what its suspended
  // session frames use (above it).
  ServerOptions options_;
  std::shared_ptr<Handler> handler_;
  std::shared_ptr<MetricsRegistry> registry_;
  std::shared_ptr<AccessLog> log_;
  ServerMetrics metrics_;
  RequestMetricsCache request_metrics_;
  std::mutex conns_mu_;
  std::unordered_set<std::shared_ptr<Connection>> conns_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> io_stopped_{false};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> force_remaining_{0};  // force_close(): closes still to run
  std::uint16_t port_ = 0;
  std::mutex join_mu_;

  net::io_context ioc_;
  net::strand<net::io_context::executor_type> control_;  // listener, stop, signals
  TcpAcceptor acceptor_;
  SteadyTimer grace_timer_;
  std::optional<net::signal_set> signals_;  // on control_
  bool forcing_ = false;                    // on control_
  std::vector<std::thread> threads_;
};

HttpServer::HttpServer(ServerOptions options, std::shared_ptr<Handler> handler,
                       std::shared_ptr<MetricsRegistry> metrics, std::shared_ptr<AccessLog> log)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(metrics),
                                   std::move(log))) {}

HttpServer::~HttpServer() = default;
void HttpServer::start() { impl_->start(); }
std::uint16_t HttpServer::port() const { return impl_->port(); }
void HttpServer::stop() { impl_->stop(); }
void HttpServer::wait() { impl_->wait(); }
void HttpServer::stop_on_signal_and_wait() { impl_->stop_on_signal_and_wait(); }

}  // namespace srcgate::server
