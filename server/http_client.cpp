#include "server/http_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

// How a request flows (one coroutine, the caller's):
//
//   send:      parse the URL; then, per hop of a redirect chain, exchange()
//   exchange:  take an idle connection of the origin from the pool, or
//              connect(): resolve, TCP, [CONNECT through the proxy], [TLS]
//                                     (one deadline: connect_timeout)
//              write the request, read the header block
//                                     (one deadline: first_byte_timeout)
//              a pooled connection that proves dead (EOF or reset before any
//              response byte) is replaced by a fresh one, once
//   read:      one socket read into the connection's buffer per call, at most
//              (deadline: stall_timeout); the parser hands out views of the
//              body bytes in that buffer, so bytes are copied once, by the
//              kernel; at the end a kept-alive connection goes back to the
//              pool.
//
// Timeouts: each connection has a watchdog, a timer on the caller's executor
// that closes the socket when the armed deadline passes; the operation in
// flight then fails and the watchdog says it fired. Arming is a store of a
// time point; the timer is only re-armed when the deadline moves earlier
// than its expiry. REQUIRES (as for every Asio I/O object): the coroutines
// that use a connection run on a strand or a single-threaded context, so the
// watchdog's handler and the coroutine never run at the same time; srcgate's
// sessions and fetches run on per-connection strands.
//
// The pool: idle connections keyed by (execution context, scheme, host, port,
// proxy). A socket belongs to its io_context, so a connection is only reused
// by a coroutine of the same context, and a PoolHook service in each context
// drops that context's idle connections when the context shuts down (the
// gateway destroys its io_context before the handler that owns this client).
namespace srcgate::server {

namespace http = beast::http;
namespace ssl = net::ssl;

namespace {

using Clock = std::chrono::steady_clock;
using content::ByteView;

constexpr std::size_t kBufferSize = 256 * 1024;
constexpr std::size_t kRedirectDrainLimit = 1 << 20;
constexpr int kMaxInterimResponses = 16;

ClientError fail(ClientErrc code, std::string message) { return {code, std::move(message)}; }

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Header fields that the client writes itself or that would change the framing.
bool reserved_field(std::string_view name) {
  for (const char* r : {"host", "user-agent", "connection", "content-length", "transfer-encoding",
                        "te", "upgrade", "keep-alive", "proxy-connection", "trailer", "expect"}) {
    if (iequals(name, r)) return true;
  }
  return false;
}

bool is_ip_literal(const std::string& host) {
  ErrorCode ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// The end of a stream, as opposed to a failure: EOF, or a TLS peer that
// closed without close_notify.
bool is_eof(const ErrorCode& ec) {
  return ec == net::error::eof || ec == ssl::error::stream_truncated;
}

// ---- Watchdog ---------------------------------------------------------------

// Shared between a connection and its timer's handlers, so a handler that
// runs after the connection died does nothing. `generation` names the
// current wait; handlers of older waits return at once.
struct WatchState {
  tcp::socket* socket = nullptr;       // null once the connection is gone
  net::steady_timer* timer = nullptr;  // null once the timer is gone
  Clock::time_point deadline{};
  bool armed = false;
  bool fired = false;
  bool waiting = false;
  std::uint64_t generation = 0;
};

void start_wait(const std::shared_ptr<WatchState>& w, Clock::time_point at);

void on_timer(const std::shared_ptr<WatchState>& w, std::uint64_t generation, ErrorCode ec) {
  if (generation != w->generation) return;
  w->waiting = false;
  if (ec || !w->armed || w->timer == nullptr) return;
  if (Clock::now() < w->deadline) {  // the deadline moved later meanwhile
    start_wait(w, w->deadline);
    return;
  }
  w->armed = false;
  w->fired = true;
  if (w->socket != nullptr) {
    ErrorCode ignored;
    w->socket->close(ignored);
  }
}

void start_wait(const std::shared_ptr<WatchState>& w, Clock::time_point at) {
  const std::uint64_t generation = ++w->generation;
  w->waiting = true;
  w->timer->expires_at(at);  // cancels a previous wait, whose handler is now stale
  w->timer->async_wait([w, generation](ErrorCode ec) { on_timer(w, generation, ec); });
}

// ---- Connection -------------------------------------------------------------

// One TCP or TLS connection to an origin (or to a proxy for plain http), its
// read buffer and its watchdog. Used by one coroutine at a time.
struct Connection {
  Connection(const net::any_io_executor& ex, std::string pool_key, std::size_t capacity)
      : context(&net::query(ex, net::execution::context)),
        key(std::move(pool_key)),
        plain(ex),
        buffer(std::make_unique_for_overwrite<std::uint8_t[]>(capacity)),
        capacity(capacity),
        watch(std::make_shared<WatchState>()) {
    watch->socket = &plain;
  }

  ~Connection() {
    watch->socket = nullptr;
    drop_timer();
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  tcp::socket& lowest() { return tls ? tls->next_layer() : plain; }

  // Gives the watchdog a timer on `ex`, the executor of the coroutine that
  // now uses the connection.
  void bind(const net::any_io_executor& ex) {
    if (timer && bound == ex) return;
    drop_timer();
    timer.emplace(ex);
    bound = ex;
    watch->timer = &*timer;
  }

  // Arms the watchdog: the socket closes at `deadline` unless disarmed first.
  void arm_until(Clock::time_point deadline) {
    watch->deadline = deadline;
    watch->armed = true;
    watch->fired = false;
    if (watch->waiting && timer->expiry() <= deadline) return;  // its handler re-waits
    start_wait(watch, deadline);
  }
  void arm_for(std::chrono::milliseconds d) { arm_until(Clock::now() + d); }
  // Disarms, leaving a pending wait to expire on its own (cheap, per read).
  void disarm() { watch->armed = false; }
  // Disarms and cancels the pending wait, so that nothing of this connection
  // keeps its io_context busy (idle, pooled, or about to be destroyed).
  void quiesce() {
    watch->armed = false;
    if (watch->waiting && timer) {
      ++watch->generation;
      watch->waiting = false;
      timer->cancel();
    }
  }
  bool fired() const { return watch->fired; }

  void drop_timer() {
    ++watch->generation;
    watch->waiting = false;
    watch->timer = nullptr;
    timer.reset();
  }

  Awaitable<std::tuple<ErrorCode, std::size_t>> read_some(net::mutable_buffer b) {
    if (tls) co_return co_await tls->async_read_some(b, kUseTuple);
    co_return co_await plain.async_read_some(b, kUseTuple);
  }

  Awaitable<std::tuple<ErrorCode, std::size_t>> write(net::const_buffer b) {
    if (tls) co_return co_await net::async_write(*tls, b, kUseTuple);
    co_return co_await net::async_write(plain, b, kUseTuple);
  }

  // Whether an idle connection is still usable: no EOF, no error and no
  // unexpected byte (a close_notify, a stray response) waiting on it.
  bool idle_alive() {
    auto& s = lowest();
    if (!s.is_open()) return false;
    char c;
    const auto n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  net::execution_context* context;
  std::string key;
  tcp::socket plain;  // moved into `tls` for https
  std::optional<ssl::stream<tcp::socket>> tls;
  std::unique_ptr<std::uint8_t[]> buffer;
  std::size_t capacity;
  std::optional<net::steady_timer> timer;
  net::any_io_executor bound;
  std::shared_ptr<WatchState> watch;
  Clock::time_point idle_since{};
};

// ---- Pool -------------------------------------------------------------------

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  Pool(std::size_t max_idle, std::chrono::milliseconds keepalive)
      : max_idle_(max_idle), keepalive_(keepalive) {}

  // An idle, live connection of `key` in `context`, or null.
  std::unique_ptr<Connection> take(net::execution_context* context, const std::string& key) {
    std::vector<std::unique_ptr<Connection>> dropped;  // closed outside the lock
    std::unique_ptr<Connection> found;
    {
      std::lock_guard lock(mu_);
      const auto it = idle_.find({context, key});
      if (it == idle_.end()) return nullptr;
      auto& list = it->second;
      const auto now = Clock::now();
      while (!list.empty() && !found) {
        auto c = std::move(list.back());  // the most recently used first
        list.pop_back();
        if (now - c->idle_since < keepalive_ && c->idle_alive()) {
          found = std::move(c);
        } else {
          dropped.push_back(std::move(c));
        }
      }
      if (list.empty()) idle_.erase(it);
    }
    return found;
  }

  // Puts a connection whose response ended, kept alive, back; called by
  // PoolHook with the hook's lock held. Returns connections to close.
  std::vector<std::unique_ptr<Connection>> insert(std::unique_ptr<Connection> c) {
    std::vector<std::unique_ptr<Connection>> dropped;
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {  // close what has idled too long
      auto& list = it->second;
      while (!list.empty() && now - list.front()->idle_since >= keepalive_) {
        dropped.push_back(std::move(list.front()));
        list.pop_front();
      }
      it = list.empty() ? idle_.erase(it) : std::next(it);
    }
    if (max_idle_ == 0 || keepalive_.count() <= 0) {
      dropped.push_back(std::move(c));
      return dropped;
    }
    c->idle_since = now;
    auto& list = idle_[{c->context, c->key}];
    list.push_back(std::move(c));
    while (list.size() > max_idle_) {
      dropped.push_back(std::move(list.front()));
      list.pop_front();
    }
    return dropped;
  }

  // Removes every idle connection of `context` (it is shutting down).
  std::vector<std::unique_ptr<Connection>> drop_context(net::execution_context* context) {
    std::vector<std::unique_ptr<Connection>> dropped;
    std::lock_guard lock(mu_);
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (it->first.first != context) {
        ++it;
        continue;
      }
      for (auto& c : it->second) dropped.push_back(std::move(c));
      it = idle_.erase(it);
    }
    return dropped;
  }

  void give(std::unique_ptr<Connection> c);

 private:
  std::size_t max_idle_;
  std::chrono::milliseconds keepalive_;
  std::mutex mu_;
  std::map<std::pair<net::execution_context*, std::string>, std::deque<std::unique_ptr<Connection>>>
      idle_;
};

// A service in each execution context whose connections may be pooled: when
// the context shuts down (before its socket services do), it takes that
// context's connections out of every pool that holds some.
class PoolHook final : public net::execution_context::service {
 public:
  static inline net::execution_context::id id;

  explicit PoolHook(net::execution_context& context) : service(context) {}

  // Inserts `c` into `pool` unless the context is shutting down; returns
  // what to close (`c` itself when refused).
  std::vector<std::unique_ptr<Connection>> deposit(const std::shared_ptr<Pool>& pool,
                                                   std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu_);
    if (down_) {
      std::vector<std::unique_ptr<Connection>> refused;
      refused.push_back(std::move(c));
      return refused;
    }
    pools_.erase(std::remove_if(pools_.begin(), pools_.end(),
                                [](const std::weak_ptr<Pool>& p) { return p.expired(); }),
                 pools_.end());
    const bool known = std::any_of(pools_.begin(), pools_.end(), [&](const std::weak_ptr<Pool>& p) {
      return !p.owner_before(pool) && !pool.owner_before(p);
    });
    if (!known) pools_.push_back(pool);
    return pool->insert(std::move(c));
  }

 private:
  void shutdown() override {
    std::lock_guard lock(mu_);
    down_ = true;
    for (const auto& weak : pools_) {
      if (const auto pool = weak.lock()) pool->drop_context(&context());  // closed right here
    }
    pools_.clear();
  }

  std::mutex mu_;
  bool down_ = false;
  std::vector<std::weak_ptr<Pool>> pools_;
};

void Pool::give(std::unique_ptr<Connection> c) {
  c->quiesce();
  c->drop_timer();
  auto& hook = net::use_service<PoolHook>(*c->context);
  auto dropped = hook.deposit(shared_from_this(), std::move(c));
  dropped.clear();  // outside the locks
}

// ---- Response parsing -------------------------------------------------------

// Beast's parser with callbacks that keep the header fields in arrival order
// and hand out each body piece as a view of the input (no copy).
class ResponseParser final : public http::basic_parser<false> {
 public:
  ResponseParser(std::size_t max_header_bytes, bool head) {
    header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    body_limit(std::numeric_limits<std::uint64_t>::max());
    eager(false);  // one step per put(): the header, a chunk header, or one body piece
    if (head) skip(true);
  }

  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  ByteView piece;  // the body bytes of the last put(), if any

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    status = static_cast<unsigned>(code);
  }
  void on_field_impl(http::field, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    fields.emplace_back(std::string(name), std::string(value));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    piece = content::as_bytes(body);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    piece = content::as_bytes(body);
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}
};

// Reads a response header block into c.buffer[0, end) from `begin`, feeding
// `parser` until its header is done. `received` counts the bytes read.
// On success, c.buffer[begin, end) holds the bytes after the header block.
struct HeaderRead {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::uint64_t received = 0;
};

// ---- ResponseImpl -----------------------------------------------------------

class ResponseImpl final : public ClientResponse {
 public:
  ResponseImpl(std::shared_ptr<Pool> pool, std::unique_ptr<Connection> conn,
               std::optional<ResponseParser> parser, HeaderRead at, std::string url, bool head,
               std::chrono::milliseconds stall_timeout)
      : pool_(std::move(pool)),
        conn_(std::move(conn)),
        parser_(std::move(parser)),
        begin_(at.begin),
        end_(at.end),
        url_(std::move(url)),
        stall_timeout_(stall_timeout) {
    headers_ = std::move(parser_->fields);
    status_ = parser_->status;
    if (head || status_ == 204 || status_ == 304) {
      content_length_ = 0;
    } else if (!parser_->chunked()) {
      if (const auto n = parser_->content_length()) content_length_ = *n;
    }
    if (parser_->is_done()) finish();
  }

  // A body read to its last byte gives the connection back even without the
  // final empty read(); otherwise the connection closes.
  ~ResponseImpl() override {
    if (conn_ && !error_ && parser_->is_done()) {
      finish();
    } else if (conn_) {
      conn_->quiesce();
    }
  }

  unsigned status() const override { return status_; }
  const std::string& url() const override { return url_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const override {
    return headers_;
  }
  std::optional<std::uint64_t> content_length() const override { return content_length_; }

  Awaitable<ClientResult<ByteView>> read() override {
    if (error_) co_return *error_;
    if (done_) co_return ByteView{};
    conn_->bind(co_await net::this_coro::executor);
    // Each pass parses buffered bytes or reads once from the socket (bounded
    // by the stall timeout); the loop ends with a piece, the end, or an error.
    while (true) {
      if (parser_->is_done()) {
        finish();
        co_return ByteView{};
      }
      if (begin_ < end_) {
        parser_->piece = {};
        ErrorCode ec;
        const std::size_t n =
            parser_->put(net::const_buffer(conn_->buffer.get() + begin_, end_ - begin_), ec);
        begin_ += n;
        if (ec && ec != http::error::need_more) {
          co_return failed(ClientErrc::protocol, "bad response body from " + url_ + ": " +
                                                     ec.message() + " after " +
                                                     std::to_string(body_bytes_) + " bytes");
        }
        if (!parser_->piece.empty()) {
          body_bytes_ += parser_->piece.size();
          co_return parser_->piece;
        }
        if (n > 0 && !ec) continue;  // a chunk header or the trailer: parse on
      }
      if (begin_ > 0) {  // keep the unparsed tail (part of a chunk header) at the front
        std::memmove(conn_->buffer.get(), conn_->buffer.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      if (end_ == conn_->capacity) {
        co_return failed(ClientErrc::protocol, "bad response body from " + url_ +
                                                   ": a chunk header or trailer longer than " +
                                                   std::to_string(conn_->capacity) + " bytes");
      }
      conn_->arm_for(stall_timeout_);
      auto [ec, n] = co_await conn_->read_some(
          net::mutable_buffer(conn_->buffer.get() + end_, conn_->capacity - end_));
      conn_->disarm();
      if (n > 0) {
        end_ += n;
        continue;
      }
      if (conn_->fired()) {
        co_return failed(ClientErrc::stall, "no body byte from " + url_ + " for " +
                                                ms_text(stall_timeout_) + " " + progress());
      }
      if (is_eof(ec)) {
        ErrorCode eof_ec;
        parser_->put_eof(eof_ec);
        if (!eof_ec) {  // a close-delimited body ends here
          reusable_ = false;
          finish();
          co_return ByteView{};
        }
        co_return failed(ClientErrc::reset, "connection closed by " + url_ + " " + progress());
      }
      co_return failed(ClientErrc::reset,
                       "reading the body from " + url_ + ": " + ec.message() + " " + progress());
    }
  }

 private:
  // "after 600 of 1000 bytes" / "after 600 bytes of a chunked body".
  std::string progress() const {
    if (content_length_) {
      return "after " + std::to_string(body_bytes_) + " of " + std::to_string(*content_length_) +
             " bytes";
    }
    if (parser_->chunked()) {
      return "after " + std::to_string(body_bytes_) + " bytes of a chunked body";
    }
    return "after " + std::to_string(body_bytes_) + " bytes";
  }

  ClientError failed(ClientErrc code, std::string message) {
    error_ = fail(code, std::move(message));
    conn_.reset();  // never reused
    return *error_;
  }

  void finish() {
    done_ = true;
    if (!conn_) return;
    if (reusable_ && parser_->keep_alive() && begin_ == end_ && !conn_->fired()) {
      pool_->give(std::move(conn_));
    } else {
      conn_->quiesce();
      conn_.reset();
    }
  }

  std::shared_ptr<Pool> pool_;
  std::unique_ptr<Connection> conn_;
  std::optional<ResponseParser> parser_;
  std::size_t begin_;  // unparsed bytes: conn_->buffer[begin_, end_)
  std::size_t end_;
  std::string url_;
  std::chrono::milliseconds stall_timeout_;
  unsigned status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::optional<std::uint64_t> content_length_;
  std::uint64_t body_bytes_ = 0;
  bool done_ = false;
  bool reusable_ = true;
  std::optional<ClientError> error_;
};

// ---- DNS --------------------------------------------------------------------

// A resolve that the caller can abandon at its deadline: getaddrinfo cannot
// be interrupted, so the state lives on with the resolver's handler.
struct ResolveState {
  explicit ResolveState(const net::any_io_executor& ex) : resolver(ex), timer(ex) {}
  tcp::resolver resolver;
  net::steady_timer timer;
  bool done = false;
  ErrorCode ec;
  tcp::resolver::results_type results;
};

Awaitable<ClientResult<std::vector<tcp::endpoint>>> resolve(const net::any_io_executor& ex,
                                                            const Url& where,
                                                            Clock::time_point deadline,
                                                            std::chrono::milliseconds budget) {
  ErrorCode ec;
  const auto addr = net::ip::make_address(where.host, ec);
  if (!ec) co_return std::vector<tcp::endpoint>{tcp::endpoint(addr, where.port)};
  auto state = std::make_shared<ResolveState>(ex);
  state->resolver.async_resolve(where.host, std::to_string(where.port),
                                tcp::resolver::numeric_service,
                                [state](ErrorCode rec, tcp::resolver::results_type results) {
                                  state->done = true;
                                  state->ec = rec;
                                  state->results = std::move(results);
                                  state->timer.cancel();
                                });
  state->timer.expires_at(deadline);
  co_await state->timer.async_wait(kUseTuple);
  if (!state->done) {
    state->resolver.cancel();
    co_return fail(ClientErrc::timeout,
                   "resolve " + where.host + ": no answer within " + ms_text(budget));
  }
  if (state->ec || state->results.empty()) {
    co_return fail(ClientErrc::resolve,
                   "resolve " + where.host + ": " +
                       (state->ec ? state->ec.message() : std::string("no addresses")));
  }
  std::vector<tcp::endpoint> out;
  for (const auto& entry : state->results) out.push_back(entry.endpoint());
  co_return out;
}

// Reads a header block on `c` into parser (from c.buffer[at.begin, at.end)),
// bounded by the watchdog the caller armed. Errors carry whether any byte
// came (a reused connection that sent nothing can be retried).
struct HeaderError {
  ClientError error;
  bool nothing_received = false;
};

Awaitable<boost::system::result<void, HeaderError>> read_header(Connection& c,
                                                                ResponseParser& parser,
                                                                HeaderRead& at,
                                                                std::size_t max_header_bytes,
                                                                const std::string& what) {
  std::uint64_t header_bytes = 0;
  while (true) {
    if (at.begin < at.end) {
      ErrorCode ec;
      const std::size_t n =
          parser.put(net::const_buffer(c.buffer.get() + at.begin, at.end - at.begin), ec);
      at.begin += n;
      header_bytes += n;
      if (parser.is_header_done()) co_return boost::system::result<void, HeaderError>();
      if (ec && ec != http::error::need_more) {
        if (ec == http::error::header_limit) {
          co_return HeaderError{fail(
              ClientErrc::protocol,
              what + ": header block longer than " + std::to_string(max_header_bytes) + " bytes")};
        }
        co_return HeaderError{fail(ClientErrc::protocol, what + ": " + ec.message())};
      }
    }
    if (header_bytes + (at.end - at.begin) > max_header_bytes) {
      co_return HeaderError{
          fail(ClientErrc::protocol,
               what + ": header block longer than " + std::to_string(max_header_bytes) + " bytes")};
    }
    if (at.begin > 0) {
      std::memmove(c.buffer.get(), c.buffer.get() + at.begin, at.end - at.begin);
      at.end -= at.begin;
      at.begin = 0;
    }
    auto [ec, n] =
        co_await c.read_some(net::mutable_buffer(c.buffer.get() + at.end, c.capacity - at.end));
    if (n > 0) {
      at.end += n;
      at.received += n;
      continue;
    }
    const bool nothing = at.received == 0;
    if (c.fired()) co_return HeaderError{fail(ClientErrc::timeout, what + ": timed out"), false};
    if (is_eof(ec)) {
      co_return HeaderError{
          fail(ClientErrc::reset, what + ": connection closed " +
                                      (nothing ? std::string("before any response byte")
                                               : "after " + std::to_string(at.received) +
                                                     " bytes of the header block")),
          nothing};
    }
    co_return HeaderError{
        fail(ClientErrc::reset, what + ": " + ec.message()),
        nothing && (ec == net::error::connection_reset || ec == net::error::broken_pipe ||
                    ec == net::error::connection_aborted)};
  }
}

std::string pool_key(const Url& url, const std::optional<Url>& proxy, bool public_only) {
  std::string key = url.scheme + "://" + url.host_port();
  if (proxy) key += " via " + proxy->host_port();
  if (public_only) key += " (public only)";
  return key;
}

// "localhost", "LOCALHOST." or "*.localhost": names that resolve to loopback
// by convention (RFC 6761 §6.3), whoever resolves them.
bool localhost_name(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  constexpr std::string_view kName = "localhost";
  if (host.size() < kName.size()) return false;
  const std::string_view tail = host.substr(host.size() - kName.size());
  if (!iequals(tail, kName)) return false;
  return host.size() == kName.size() || host[host.size() - kName.size() - 1] == '.';
}

// The guard of public_destinations_only for `url`'s host, before anything is
// dialled: an IP literal or a localhost name. Resolved names are checked in
// connect().
std::optional<ClientError> refuse_literal(const Url& url) {
  if (localhost_name(url.host)) {
    return fail(ClientErrc::destination_refused,
                "host " + url.host + " of " + url.to_string() +
                    " is a loopback name; only public destinations are allowed");
  }
  ErrorCode ec;
  const auto addr = net::ip::make_address(url.host, ec);
  if (ec) return std::nullopt;
  if (auto why = non_public_address(addr)) {
    return fail(ClientErrc::destination_refused,
                "host " + url.host + " of " + url.to_string() + " is a " + *why +
                    " address; only public destinations are allowed");
  }
  return std::nullopt;
}

}  // namespace

// ---- HttpClient::Impl -------------------------------------------------------

class HttpClient::Impl {
 public:
  explicit Impl(HttpClientOptions o)
      : options(std::move(o)),
        tls_context(ssl::context::tls_client),
        pool(std::make_shared<Pool>(options.max_idle_per_origin, options.idle_keepalive)),
        capacity(std::max(kBufferSize, options.max_header_bytes + 1)) {
    ErrorCode ec;
    tls_context.set_default_verify_paths(ec);  // no system store: only ca_file then
    if (options.ca_file) {
      tls_context.load_verify_file(options.ca_file->string(), ec);
      if (ec) {
        throw std::runtime_error("cannot load CA file " + options.ca_file->string() + ": " +
                                 ec.message());
      }
    }
    tls_context.set_verify_mode(ssl::verify_peer);
    SSL_CTX_set_min_proto_version(tls_context.native_handle(), TLS1_2_VERSION);
  }

  // send() on `self`, which lives as long as the coroutine.
  static Awaitable<ClientResult<std::unique_ptr<ClientResponse>>> run(std::shared_ptr<Impl> self,
                                                                      ClientRequest request) {
    co_return co_await self->send(std::move(request));
  }

  Awaitable<ClientResult<std::unique_ptr<ClientResponse>>> send(ClientRequest request) {
    if (request.method != "GET" && request.method != "HEAD") {
      co_return fail(
          ClientErrc::bad_url,
          "method " + request.method + " is not supported (GET and HEAD only): " + request.url);
    }
    for (const auto& [name, value] : request.headers) {
      if (name.empty() || !std::all_of(name.begin(), name.end(), token_char) ||
          value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        co_return fail(ClientErrc::bad_url,
                       "header \"" + name + "\" is not a valid field for " + request.url);
      }
    }
    auto parsed = parse_url(request.url);
    if (!parsed) co_return fail(ClientErrc::bad_url, parsed.error().message);
    Url url = std::move(*parsed);
    const auto ex = co_await net::this_coro::executor;
    std::string method = request.method;
    auto headers = std::move(request.headers);
    const bool public_only = request.public_destinations_only;
    for (unsigned redirects = 0;; ++redirects) {
      auto r = co_await exchange(ex, method, url, headers, public_only);
      if (!r) co_return r.error();
      auto response = std::move(*r);
      const unsigned status = response->status();
      const bool redirect =
          status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
      if (!redirect) co_return std::unique_ptr<ClientResponse>(std::move(response));
      const std::string from = url.to_string();
      const auto location = response->header("Location");
      if (location.empty()) {
        co_return fail(ClientErrc::redirect_refused,
                       std::to_string(status) + " from " + from + " without a Location");
      }
      auto next = resolve_reference(url, location);
      if (!next) {
        co_return fail(ClientErrc::bad_url,
                       std::to_string(status) + " from " + from + ": " + next.error().message);
      }
      if (url.https() && !next->https()) {
        co_return fail(ClientErrc::redirect_refused, std::to_string(status) + " from " + from +
                                                         " to " + next->to_string() +
                                                         ": https to http is refused");
      }
      if (redirects >= options.max_redirects) {
        co_return fail(ClientErrc::too_many_redirects,
                       "more than " + std::to_string(options.max_redirects) +
                           " redirects; the last from " + from + " to " + next->to_string());
      }
      // Drain a small body so that the connection can serve the next hop.
      std::size_t drained = 0;
      while (drained <= kRedirectDrainLimit) {
        auto piece = co_await response->read();
        if (!piece || piece->empty()) break;
        drained += piece->size();
      }
      response.reset();
      if (status == 303 && method != "HEAD") method = "GET";
      if (next->scheme != url.scheme || next->host != url.host || next->port != url.port) {
        std::erase_if(headers, [](const auto& h) {
          return iequals(h.first, "authorization") || iequals(h.first, "cookie");
        });
      }
      url = std::move(*next);
    }
  }

  HttpClientOptions options;

 private:
  std::string request_text(const std::string& method, const Url& url, bool absolute_form,
                           const std::vector<std::pair<std::string, std::string>>& headers) {
    std::string out;
    out.reserve(256);
    out += method;
    out += ' ';
    out += absolute_form ? url.to_string() : url.target;
    out += " HTTP/1.1\r\nHost: ";
    out += url.authority();
    out += "\r\nUser-Agent: ";
    out += options.user_agent;
    out += "\r\n";
    for (const auto& [name, value] : headers) {
      if (reserved_field(name)) continue;
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    }
    out += "\r\n";
    return out;
  }

  // One request and its response header block, on a pooled or new connection.
  Awaitable<ClientResult<std::unique_ptr<ResponseImpl>>> exchange(
      const net::any_io_executor& ex, const std::string& method, const Url& url,
      const std::vector<std::pair<std::string, std::string>>& headers, bool public_only) {
    if (public_only) {
      if (auto refused = refuse_literal(url)) co_return std::move(*refused);
    }
    const auto proxy = options.proxy.proxy_for(url);
    const std::string key = pool_key(url, proxy, public_only);
    const std::string request = request_text(method, url, proxy && !url.https(), headers);
    const std::string where = url.to_string();
    const bool head = method == "HEAD";
    auto* context = &net::query(ex, net::execution::context);
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<Connection> conn = attempt == 0 ? pool->take(context, key) : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        auto fresh = co_await connect(ex, url, proxy, key, public_only);
        if (!fresh) co_return fresh.error();
        conn = std::move(*fresh);
      }
      conn->bind(ex);
      const auto deadline = Clock::now() + options.first_byte_timeout;
      conn->arm_until(deadline);
      auto [wec, wn] = co_await conn->write(net::buffer(request));
      if (wec) {
        if (reused && attempt == 0 && !conn->fired()) continue;  // it died while idle
        conn->quiesce();
        if (conn->fired()) {
          co_return fail(ClientErrc::timeout, "sending the request to " + where +
                                                  ": no progress within " +
                                                  ms_text(options.first_byte_timeout));
        }
        co_return fail(ClientErrc::reset, "sending the request to " + where + ": " + wec.message());
      }
      std::optional<ResponseParser> parser;
      HeaderRead at;
      boost::system::result<void, HeaderError> header;
      for (int interim = 0;; ++interim) {
        parser.emplace(options.max_header_bytes, head);
        header = co_await read_header(*conn, *parser, at, options.max_header_bytes,
                                      "response from " + where);
        if (!header || parser->status / 100 != 1) break;
        if (parser->status == 101 || interim >= kMaxInterimResponses) {
          header = HeaderError{fail(
              ClientErrc::protocol,
              "response from " + where + ": unexpected status " + std::to_string(parser->status))};
          break;
        }
      }
      conn->disarm();
      if (!header) {
        if (reused && attempt == 0 && header.error().nothing_received) continue;
        conn->quiesce();
        auto e = header.error().error;
        if (e.code == ClientErrc::timeout) {
          e.message =
              "no response header from " + where + " within " + ms_text(options.first_byte_timeout);
        }
        co_return e;
      }
      co_return std::make_unique<ResponseImpl>(pool, std::move(conn), std::move(parser), at, where,
                                               head, options.stall_timeout);
    }
  }

  // A new connection to `url` (through `proxy` when set), TLS and CONNECT
  // included, within connect_timeout. With `public_only` and no proxy, every
  // address the host resolves to must be public (the proxy resolves names
  // itself; exchange() has checked literals and localhost names).
  Awaitable<ClientResult<std::unique_ptr<Connection>>> connect(const net::any_io_executor& ex,
                                                               const Url& url,
                                                               const std::optional<Url>& proxy,
                                                               const std::string& key,
                                                               bool public_only) {
    const auto budget = options.connect_timeout;
    const auto deadline = Clock::now() + budget;
    const Url& dial = proxy ? *proxy : url;
    const std::string dial_text = (proxy ? "proxy " : "") + dial.host_port();
    net::use_service<PoolHook>(net::query(ex, net::execution::context));

    auto endpoints = co_await resolve(ex, dial, deadline, budget);
    if (!endpoints) {
      if (proxy) endpoints.error().message.insert(0, "proxy: ");
      co_return endpoints.error();
    }
    if (public_only && !proxy) {
      for (const auto& ep : *endpoints) {
        if (auto why = non_public_address(ep.address())) {
          co_return fail(ClientErrc::destination_refused,
                         "host " + url.host + " of " + url.to_string() + " resolves to " +
                             ep.address().to_string() + ", a " + *why +
                             " address; only public destinations are allowed");
        }
      }
    }
    auto conn = std::make_unique<Connection>(ex, key, capacity);
    conn->bind(ex);
    ErrorCode last;
    bool connected = false;
    for (const auto& ep : *endpoints) {
      if (Clock::now() >= deadline) break;
      ErrorCode ec;
      conn->plain.close(ec);
      conn->plain.open(ep.protocol(), ec);
      if (ec) {
        last = ec;
        continue;
      }
      conn->arm_until(deadline);
      auto [cec] = co_await conn->plain.async_connect(ep, kUseTuple);
      conn->disarm();
      if (!cec) {
        connected = true;
        break;
      }
      last = cec;
      if (conn->fired()) break;
    }
    if (!connected) {
      conn->quiesce();
      if (conn->fired() || Clock::now() >= deadline) {
        co_return fail(ClientErrc::timeout,
                       "connect " + dial_text + ": no connection within " + ms_text(budget));
      }
      co_return fail(ClientErrc::connect, "connect " + dial_text + ": " + last.message());
    }
    ErrorCode ignored;
    conn->plain.set_option(tcp::no_delay(true), ignored);

    if (proxy && url.https()) {
      auto tunnel = co_await open_tunnel(*conn, url, *proxy, deadline);
      if (!tunnel) {
        conn->quiesce();
        co_return tunnel.error();
      }
    }
    if (url.https()) {
      conn->tls.emplace(std::move(conn->plain), tls_context);
      conn->watch->socket = &conn->tls->next_layer();
      SSL* ssl_handle = conn->tls->native_handle();
      SSL_set_hostflags(ssl_handle, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const bool ip = is_ip_literal(url.host);
      const int ok =
          ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), url.host.c_str())
             : SSL_set1_host(ssl_handle, url.host.c_str());
      if (ok != 1 || (!ip && SSL_set_tlsext_host_name(ssl_handle, url.host.c_str()) != 1)) {
        conn->quiesce();
        co_return fail(ClientErrc::tls,
                       "TLS with " + url.host_port() + ": cannot set the name to verify");
      }
      conn->arm_until(deadline);
      auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, kUseTuple);
      conn->disarm();
      if (hec) {
        conn->quiesce();
        if (conn->fired()) {
          co_return fail(ClientErrc::timeout, "TLS handshake with " + url.host_port() +
                                                  ": not done within " + ms_text(budget));
        }
        std::string message = "TLS handshake with " + url.host_port() + ": " + hec.message();
        const long verify = SSL_get_verify_result(ssl_handle);
        if (verify != X509_V_OK) {
          message += " (";
          message += X509_verify_cert_error_string(verify);
          message += ")";
        }
        co_return fail(ClientErrc::tls, std::move(message));
      }
    }
    co_return conn;
  }

  // CONNECT host:port through the proxy; the connection is then a tunnel.
  Awaitable<ClientResult<void>> open_tunnel(Connection& c, const Url& url, const Url& proxy,
                                            Clock::time_point deadline) {
    const std::string what = "CONNECT " + url.host_port() + " through proxy " + proxy.host_port();
    const std::string request = "CONNECT " + url.host_port() +
                                " HTTP/1.1\r\nHost: " + url.host_port() +
                                "\r\nUser-Agent: " + options.user_agent + "\r\n\r\n";
    c.arm_until(deadline);
    auto [wec, wn] = co_await c.write(net::buffer(request));
    if (wec) {
      c.disarm();
      if (c.fired()) {
        co_return fail(ClientErrc::timeout,
                       what + ": no answer within " + ms_text(options.connect_timeout));
      }
      co_return fail(ClientErrc::proxy, what + ": " + wec.message());
    }
    ResponseParser parser(options.max_header_bytes, /*head=*/true);  // a 2xx has no body
    HeaderRead at;
    auto header = co_await read_header(c, parser, at, options.max_header_bytes, what);
    c.disarm();
    if (!header) {
      auto e = header.error().error;
      if (e.code == ClientErrc::timeout) {
        e.message = what + ": no answer within " + ms_text(options.connect_timeout);
      } else {
        e.code = ClientErrc::proxy;
      }
      co_return e;
    }
    if (parser.status / 100 != 2) {
      co_return fail(ClientErrc::proxy,
                     what + ": the proxy answered " + std::to_string(parser.status));
    }
    if (at.begin != at.end) {
      co_return fail(ClientErrc::proxy, what + ": bytes after the proxy's 2xx answer");
    }
    co_return ClientResult<void>();
  }

  ssl::context tls_context;  // one for every connection of the client
  std::shared_ptr<Pool> pool;
  std::size_t capacity;
};

// ---- Public -----------------------------------------------------------------

namespace {

// Why an IPv4 address (host byte order) is not public, or nullopt.
std::optional<std::string> non_public_v4(std::uint32_t a) {
  struct Range {
    std::uint32_t base;
    unsigned prefix;
    const char* why;
  };
  static constexpr Range kRanges[] = {
      {0x00000000, 8, "unspecified (0.0.0.0/8)"},
      {0x0A000000, 8, "private (10.0.0.0/8)"},
      {0x64400000, 10, "carrier-grade NAT (100.64.0.0/10)"},
      {0x7F000000, 8, "loopback"},
      {0xA9FE0000, 16, "link-local"},
      {0xAC100000, 12, "private (172.16.0.0/12)"},
      {0xC0000000, 24, "reserved (192.0.0.0/24)"},
      {0xC0000200, 24, "documentation (192.0.2.0/24)"},
      {0xC0586300, 24, "reserved (192.88.99.0/24)"},
      {0xC0A80000, 16, "private (192.168.0.0/16)"},
      {0xC6120000, 15, "benchmarking (198.18.0.0/15)"},
      {0xC6336400, 24, "documentation (198.51.100.0/24)"},
      {0xCB007100, 24, "documentation (203.0.113.0/24)"},
      {0xE0000000, 4, "multicast"},
      {0xFFFFFFFF, 32, "broadcast"},
      {0xF0000000, 4, "reserved (240.0.0.0/4)"},
  };
  for (const Range& r : kRanges) {
    const std::uint32_t mask = r.prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - r.prefix);
    if ((a & mask) == r.base) return std::string(r.why);
  }
  return std::nullopt;
}

std::uint32_t v4_at(const net::ip::address_v6::bytes_type& b, std::size_t at) {
  return std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 |
         std::uint32_t{b[at + 2]} << 8 | std::uint32_t{b[at + 3]};
}

std::optional<std::string> non_public_v6(const net::ip::address_v6& v6) {
  const auto b = v6.to_bytes();
  const auto prefix_is = [&](std::initializer_list<std::uint8_t> head) {
    return std::equal(head.begin(), head.end(), b.begin());
  };
  const bool first_96_zero = std::all_of(b.begin(), b.begin() + 12, [](auto x) { return x == 0; });
  if (v6.is_unspecified()) return std::string("unspecified");
  if (v6.is_loopback()) return std::string("loopback");
  if (v6.is_v4_mapped()) {  // ::ffff:a.b.c.d
    if (auto why = non_public_v4(v4_at(b, 12))) return "IPv4-mapped " + *why;
    return std::nullopt;
  }
  if (first_96_zero) return std::string("reserved (IPv4-compatible ::/96)");
  if (prefix_is({0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0})) {  // NAT64 64:ff9b::/96
    if (auto why = non_public_v4(v4_at(b, 12))) return "NAT64 " + *why;
    return std::nullopt;
  }
  if (prefix_is({0x00, 0x64, 0xff, 0x9b, 0x00, 0x01})) {
    return std::string("private (local-use NAT64 64:ff9b:1::/48)");
  }
  if (prefix_is({0x01, 0x00, 0, 0, 0, 0, 0, 0})) return std::string("reserved (discard 100::/64)");
  if (prefix_is({0x20, 0x01, 0x0d, 0xb8})) return std::string("documentation (2001:db8::/32)");
  if (prefix_is({0x20, 0x02})) {  // 6to4 2002:a.b.c.d::/48
    if (auto why = non_public_v4(v4_at(b, 2))) return "6to4 " + *why;
    return std::nullopt;
  }
  if ((b[0] & 0xfe) == 0xfc) return std::string("unique local (fc00::/7)");
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return std::string("link-local");
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return std::string("site-local (fec0::/10)");
  if (b[0] == 0xff) return std::string("multicast");
  return std::nullopt;
}

}  // namespace

std::optional<std::string> non_public_address(const net::ip::address& address) {
  if (address.is_v4()) return non_public_v4(address.to_v4().to_uint());
  return non_public_v6(address.to_v6());
}

std::string_view to_string(ClientErrc code) {
  switch (code) {
    case ClientErrc::bad_url:
      return "bad_url";
    case ClientErrc::resolve:
      return "resolve";
    case ClientErrc::connect:
      return "connect";
    case ClientErrc::tls:
      return "tls";
    case ClientErrc::proxy:
      return "proxy";
    case ClientErrc::timeout:
      return "timeout";
    case ClientErrc::stall:
      return "stall";
    case ClientErrc::reset:
      return "reset";
    case ClientErrc::protocol:
      return "protocol";
    case ClientErrc::too_many_redirects:
      return "too_many_redirects";
    case ClientErrc::redirect_refused:
      return "redirect_refused";
    case ClientErrc::destination_refused:
      return "destination_refused";
  }
  return "unknown";
}

std::string_view ClientResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers()) {
    if (iequals(n, name)) return v;
  }
  return {};
}

HttpClient::HttpClient(HttpClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {}

HttpClient::~HttpClient() = default;

// Not a coroutine itself: the coroutine that runs holds the Impl.
Awaitable<ClientResult<std::unique_ptr<ClientResponse>>> HttpClient::send(ClientRequest request) {
  return Impl::run(impl_, std::move(request));
}

const HttpClientOptions& HttpClient::options() const { return impl_->options; }

}  // namespace srcgate::server
