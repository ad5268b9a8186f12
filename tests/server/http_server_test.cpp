// Integration tests of the HTTP server on 127.0.0.1, port 0, with a small
// blocking client written here on POSIX sockets (independent of Beast), so
// that the bytes on the wire are checked by code that does not share the
// server's parser. Every wait is bounded (socket timeouts, deadlines, futures).
#include "server/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <optional>
#include <string>

#include "tests/server/empty_store_handler.hpp"

using namespace srcgate::server;
using namespace std::chrono_literals;
using srcgate::content::ByteView;
using srcgate::content::Errc;
using srcgate::content::Result;

namespace {

const std::string kSha256EmptyHex =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The test body: byte i of a stream is pattern_byte(i).
char pattern_byte(std::uint64_t i) { return static_cast<char>((i * 7 + i / 251) & 0xff); }
std::string pattern(std::uint64_t n) {
  std::string s(n, '\0');
  for (std::uint64_t i = 0; i < n; ++i) s[i] = pattern_byte(i);
  return s;
}

// A one-shot event that a test can wait on with a bound.
class Event {
 public:
  void set() {
    std::lock_guard lock(mu_);
    if (!set_) promise_.set_value();
    set_ = true;
  }
  bool wait_for(std::chrono::milliseconds bound) {
    return future_.wait_for(bound) == std::future_status::ready;
  }

 private:
  std::mutex mu_;
  bool set_ = false;
  std::promise<void> promise_;
  std::shared_future<void> future_ = promise_.get_future().share();
};

// A streamed body of `size` pattern bytes in `chunk`-byte pieces, with a delay
// before each piece after the first, optionally failing before piece
// `fail_at`. Sets `destroyed` when the session lets go of it.
class PatternSource final : public BodySource {
 public:
  PatternSource(std::uint64_t size, std::size_t chunk, std::chrono::milliseconds delay, int fail_at,
                std::shared_ptr<Event> destroyed)
      : size_(size),
        chunk_(chunk),
        delay_(delay),
        fail_at_(fail_at),
        destroyed_(std::move(destroyed)) {}
  ~PatternSource() override {
    if (destroyed_) destroyed_->set();
  }

  Awaitable<Result<ByteView>> next() override {
    if (pieces_ == fail_at_) {
      co_return srcgate::content::make_error(Errc::not_found, "block bafytest is missing");
    }
    if (pieces_ > 0 && delay_.count() > 0) {
      SteadyTimer timer(co_await net::this_coro::executor);
      timer.expires_after(delay_);
      std::ignore = co_await timer.async_wait();
    }
    ++pieces_;
    const std::uint64_t n = std::min<std::uint64_t>(chunk_, size_ - offset_);
    buffer_.resize(n);
    for (std::uint64_t i = 0; i < n; ++i) buffer_[i] = pattern_byte(offset_ + i);
    offset_ += n;
    co_return ByteView(reinterpret_cast<const std::uint8_t*>(buffer_.data()), n);
  }

 private:
  std::uint64_t size_;
  std::size_t chunk_;
  std::chrono::milliseconds delay_;
  int fail_at_;
  std::shared_ptr<Event> destroyed_;
  std::uint64_t offset_ = 0;
  int pieces_ = 0;
  std::string buffer_;
};

// The placeholder handler, plus test routes:
//   /stream/N    N pattern bytes, Content-Length, 64 KiB pieces
//   /chunked/N   the same without a length (chunked)
//   /slow/N      1000-byte pieces 50 ms apart
//   /forever     a first piece, then nothing for an hour (length 10^9)
//   /fail-first  a source that fails at once -> 500
//   /fail-mid    fails after two pieces of 1000 bytes (length 10000)
//   /background  answers at once and leaves a coroutine on the server's
//                io_context that waits an hour (a cache fill nobody waits for)
class TestHandler final : public Handler {
 public:
  std::shared_ptr<Event> destroyed = std::make_shared<Event>();

  Awaitable<Response> handle(const Request& request) override {
    const std::string_view t = request.target;
    const auto number = [&](std::string_view prefix) {
      return std::stoull(std::string(t.substr(prefix.size())));
    };
    const auto streamed = [&](std::uint64_t size, std::size_t chunk, std::chrono::milliseconds d,
                              int fail_at, bool with_length) {
      Response r;
      r.stream = std::make_unique<PatternSource>(size, chunk, d, fail_at, destroyed);
      if (with_length) r.stream_length = size;
      r.header("Content-Type", "application/octet-stream");
      r.cache = CacheStatus::hit;
      return r;
    };
    if (t.starts_with("/stream/")) co_return streamed(number("/stream/"), 65536, 0ms, -1, true);
    if (t.starts_with("/chunked/")) {
      co_return streamed(number("/chunked/"), 65536, 0ms, -1, false);
    }
    if (t.starts_with("/slow/")) co_return streamed(number("/slow/"), 1000, 50ms, -1, true);
    if (t == "/forever") co_return streamed(1'000'000'000, 1000, 3600s, -1, true);
    if (t == "/fail-first") co_return streamed(10000, 1000, 0ms, 0, true);
    if (t == "/fail-mid") co_return streamed(10000, 1000, 0ms, 2, true);
    if (t == "/lines") {
      Response r = Response::text(200, "lines");
      r.header_lines = std::make_shared<const std::string>("X-First: 1\r\nX-Second: two\r\n");
      co_return r;
    }
    if (t == "/background") {
      net::co_spawn(
          co_await net::this_coro::executor,
          []() -> Awaitable<void> {
            SteadyTimer timer(co_await net::this_coro::executor);
            timer.expires_after(3600s);
            std::ignore = co_await timer.async_wait();
          },
          net::detached);
      co_return Response::text(200, "started");
    }
    co_return co_await fallback_.handle(request);
  }

 private:
  EmptyStoreHandler fallback_{"s3cret"};
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A blocking HTTP/1.1 client over one TCP connection; every recv and send is
// bounded by SO_RCVTIMEO/SO_SNDTIMEO.
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
    connect_errno_ = connected_ ? 0 : errno;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int connect_errno() const { return connect_errno_; }
  int fd() const { return fd_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response; nullopt when the connection ends (or times out) first.
  std::optional<HttpResponse> read_response(bool head = false) {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > (1 << 20) || !fill()) return std::nullopt;
    }
    HttpResponse r;
    const std::string block = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    std::size_t line_end = block.find("\r\n");
    const std::string status_line = block.substr(0, line_end);
    if (!status_line.starts_with("HTTP/1.1 ")) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = block.find("\r\n", start);
      const std::string line = block.substr(start, line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    if (head || r.status == 204 || r.status == 304) return r;
    if (r.header("transfer-encoding") == "chunked") {
      while (true) {
        std::size_t eol;
        while ((eol = buffer_.find("\r\n")) == std::string::npos) {
          if (!fill()) return std::nullopt;
        }
        const std::size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
        while (buffer_.size() < eol + 2 + size + 2) {
          if (!fill()) return std::nullopt;
        }
        r.body += buffer_.substr(eol + 2, size);
        if (buffer_.substr(eol + 2 + size, 2) != "\r\n") return std::nullopt;
        buffer_.erase(0, eol + 2 + size + 2);
        if (size == 0) return r;
      }
    }
    if (!r.headers.count("content-length")) {
      while (fill()) {
      }
      r.body = std::move(buffer_);
      buffer_.clear();
      return r;
    }
    const std::size_t length = std::stoull(r.header("content-length"));
    while (buffer_.size() < length) {
      if (!fill()) return std::nullopt;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  std::optional<HttpResponse> get(const std::string& target, const std::string& extra = "") {
    if (!send("GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n")) {
      return std::nullopt;
    }
    return read_response();
  }

  // Reads until the peer closes; returns the bytes read (bounded by the socket
  // timeout per recv and by `limit`). `reset` tells whether it ended by RST.
  std::size_t drain(bool* closed, std::size_t limit = std::size_t{1} << 30) {
    std::size_t total = buffer_.size();
    buffer_.clear();
    char chunk[65536];
    *closed = false;
    while (total < limit) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        *closed = true;
        break;
      }
      if (n < 0) break;  // timeout
      total += static_cast<std::size_t>(n);
    }
    return total;
  }

  // True when the peer has closed the connection (EOF or reset) within `bound`
  // and sent nothing else first.
  bool closed_within(std::chrono::milliseconds bound) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(bound.count())) != 1) return false;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool fill() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  int connect_errno_ = 0;
  std::string buffer_;
};

ServerOptions test_options() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  o.idle_timeout = 10s;
  o.read_timeout = 10s;
  o.write_timeout = 10s;
  o.shutdown_grace = 5s;
  return o;
}

// A started server with the TestHandler, its metrics and an access log file.
class TestServer {
 public:
  explicit TestServer(ServerOptions options = test_options()) {
    log_file_ = std::tmpfile();
    REQUIRE(log_file_ != nullptr);
    server_ = std::make_unique<HttpServer>(
        options, handler, metrics, std::make_shared<AccessLog>(AccessLogFormat::text, log_file_));
    server_->start();
  }
  ~TestServer() {
    stop_and_wait(30s);
    server_.reset();
    std::fclose(log_file_);
  }
  std::uint16_t port() const { return server_->port(); }
  HttpServer& server() { return *server_; }

  // stop() then wait(), bounded.
  bool stop_and_wait(std::chrono::milliseconds bound) {
    server_->stop();
    auto done = std::async(std::launch::async, [this] { server_->wait(); });
    return done.wait_for(bound) == std::future_status::ready;
  }

  // The value of one sample line of the exposition ("name{labels}"), or -1.
  double metric(const std::string& sample) const {
    const std::string text = metrics->expose();
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

  std::shared_ptr<TestHandler> handler = std::make_shared<TestHandler>();
  std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();

 private:
  std::FILE* log_file_ = nullptr;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace

TEST_CASE("several requests on one kept-alive connection, and pipelined ones", "[server]") {
  TestServer s;
  Client c(s.port());
  REQUIRE(c.connected());

  auto health = c.get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body == "ok\n");
  CHECK(health->header("connection").empty());
  CHECK_FALSE(health->header("date").empty());

  auto miss = c.get("/sha256/" + kSha256EmptyHex);
  REQUIRE(miss);
  CHECK(miss->status == 404);
  CHECK(miss->body == "sha256:" + kSha256EmptyHex + " is not in the store\n");
  CHECK(miss->header("content-type") == "text/plain; charset=utf-8");

  auto ready = c.get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);

  auto ipfs = c.get("/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
  REQUIRE(ipfs);
  CHECK(ipfs->status == 404);

  // Two requests in one write: two responses, in order.
  REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto first = c.read_response();
  auto second = c.read_response();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->status == 200);
  CHECK(second->status == 404);
  CHECK(second->body == "not found\n");

  auto metrics = c.get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_THAT(metrics->body,
             Catch::Matchers::Contains("srcgate_http_requests_total{route=\"hash\",method=\"GET\","
                                       "status=\"404\"} 1\n"));
  CHECK_THAT(metrics->body, Catch::Matchers::Contains("srcgate_http_connections_open 1\n"));

  // "Connection: close" is honoured.
  auto last = c.get("/healthz", "Connection: close\r\n");
  REQUIRE(last);
  CHECK(last->header("connection") == "close");
  CHECK(c.closed_within(5s));

  // One access line per request, with the fields of the issue.
  CHECK(s.stop_and_wait(10s));
  const std::string log = s.log_text();
  CHECK_THAT(log, Catch::Matchers::Contains(
                      " method=GET target=/sha256/" + kSha256EmptyHex +
                      " status=404 bytes=" + std::to_string(miss->body.size()) + " duration_ms="));
  CHECK_THAT(log, Catch::Matchers::Contains(" cache=- outcome=ok\n"));
  CHECK(std::count(log.begin(), log.end(), '\n') == 8);
}

TEST_CASE("HEAD has GET's headers and no body", "[server]") {
  TestServer s;
  Client c(s.port());
  REQUIRE(c.connected());
  auto get = c.get("/sha256/" + kSha256EmptyHex);
  REQUIRE(get);
  REQUIRE(c.send("HEAD /sha256/" + kSha256EmptyHex + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = c.read_response(true);
  REQUIRE(head);
  CHECK(head->status == 404);
  CHECK(head->header("content-length") == std::to_string(get->body.size()));
  CHECK(head->header("content-type") == get->header("content-type"));

  REQUIRE(c.send("HEAD /stream/100000 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head_stream = c.read_response(true);
  REQUIRE(head_stream);
  CHECK(head_stream->status == 200);
  CHECK(head_stream->header("content-length") == "100000");

  // Had either HEAD sent a body, this response would not parse.
  auto after = c.get("/healthz");
  REQUIRE(after);
  CHECK(after->status == 200);
  CHECK(after->body == "ok\n");
}

TEST_CASE("a handler's preformatted header lines are sent with its other headers", "[server]") {
  TestServer s;
  Client c(s.port());
  REQUIRE(c.connected());
  for (int i = 0; i < 2; ++i) {  // and the connection goes on after it
    auto r = c.get("/lines");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("x-first") == "1");
    CHECK(r->header("x-second") == "two");
    CHECK(r->header("content-type") == "text/plain; charset=utf-8");
    CHECK(r->header("content-length") == "6");
    CHECK(r->body == "lines\n");
  }
}

TEST_CASE("malformed requests get 400 with the reason, other methods 405", "[server]") {
  TestServer s;
  Client c(s.port());
  REQUIRE(c.connected());
  auto bad = c.get("/sha256/abc");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK_THAT(bad->body,
             Catch::Matchers::Contains("3 characters") && Catch::Matchers::Contains("64 (hex)"));
  auto traversal =
      c.get("/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4/%2e%2e/x");
  REQUIRE(traversal);
  CHECK(traversal->status == 400);
  CHECK_THAT(traversal->body, Catch::Matchers::Contains("decodes to '..'"));
  auto cid = c.get("/ipfs/notacid");
  REQUIRE(cid);
  CHECK(cid->status == 400);
  CHECK_THAT(cid->body, Catch::Matchers::Contains("invalid CID 'notacid'"));

  REQUIRE(c.send("DELETE /sha256/" + kSha256EmptyHex + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto del = c.read_response();
  REQUIRE(del);
  CHECK(del->status == 405);
  CHECK(del->header("allow") == "GET, HEAD");

  auto cached = c.get("/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
                      "Cache-Control: only-if-cached\r\n");
  REQUIRE(cached);
  CHECK(cached->status == 412);

  auto admin = c.get("/api/v1/stats");
  REQUIRE(admin);
  CHECK(admin->status == 401);
  CHECK(admin->header("www-authenticate") == "Bearer realm=\"srcgate\"");
  auto authorised = c.get("/api/v1/stats", "Authorization: Bearer s3cret\r\n");
  REQUIRE(authorised);
  CHECK(authorised->status == 501);

  // A request with a body outside the admin API is refused and the connection closed.
  REQUIRE(c.send("PUT /ipfs/bafkqaaa HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
  auto put = c.read_response();
  REQUIRE(put);
  CHECK(put->status == 413);
  CHECK(c.closed_within(5s));

  // Garbage is a 400 and a close.
  Client garbage(s.port());
  REQUIRE(garbage.send("NOT HTTP AT ALL\r\n\r\n"));
  auto refused = garbage.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 400);
  CHECK(garbage.closed_within(5s));
}

TEST_CASE("streamed bodies: with a length, chunked, and failing sources", "[server]") {
  TestServer s;
  Client c(s.port());
  REQUIRE(c.connected());
  auto big = c.get("/stream/1000003");
  REQUIRE(big);
  CHECK(big->status == 200);
  CHECK(big->header("content-length") == "1000003");
  CHECK(big->body == pattern(1000003));

  auto chunked = c.get("/chunked/300001");
  REQUIRE(chunked);
  CHECK(chunked->header("transfer-encoding") == "chunked");
  CHECK(chunked->body == pattern(300001));

  auto empty = c.get("/stream/0");
  REQUIRE(empty);
  CHECK(empty->status == 200);
  CHECK(empty->body.empty());

  auto first = c.get("/fail-first");
  REQUIRE(first);
  CHECK(first->status == 500);
  CHECK_THAT(first->body, Catch::Matchers::Contains("block bafytest is missing"));

  // A source that fails after two pieces: the response is cut short.
  REQUIRE(c.send("GET /fail-mid HTTP/1.1\r\nHost: t\r\n\r\n"));
  CHECK_FALSE(c.read_response());
  CHECK(s.metric("srcgate_cache_requests_total{result=\"hit\"}") == 4);

  CHECK(s.stop_and_wait(10s));
  CHECK_THAT(s.log_text(),
             Catch::Matchers::Contains("target=/fail-mid status=200 bytes=2000 duration_ms="));
  CHECK_THAT(s.log_text(), Catch::Matchers::Contains(
                               "outcome=\"body source failed: block bafytest is missing\""));
}

TEST_CASE("a 64 KiB header is refused with 431 and the server goes on", "[server]") {
  ServerOptions o = test_options();
  o.max_header_bytes = 16 * 1024;
  TestServer s(o);
  Client c(s.port());
  REQUIRE(c.connected());
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
  c.send(request);  // the server may close before taking all of it
  auto r = c.read_response();
  if (r) CHECK(r->status == 431);
  CHECK(c.closed_within(5s));

  Client other(s.port());
  auto ok = other.get("/healthz");
  REQUIRE(ok);
  CHECK(ok->status == 200);
}

TEST_CASE("a client that does not read is cut off after the write timeout", "[server]") {
  ServerOptions o = test_options();
  o.write_timeout = 300ms;
  TestServer s(o);
  constexpr std::uint64_t kSize = 64ull << 20;
  Client slow(s.port(), 4096);
  REQUIRE(slow.connected());
  REQUIRE(slow.send("GET /stream/" + std::to_string(kSize) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  // The session lets go of the source when it gives up on the client.
  REQUIRE(s.handler->destroyed->wait_for(20s));
  bool closed = false;
  const std::size_t received = slow.drain(&closed);
  CHECK(closed);
  CHECK(received < kSize);
  CHECK(s.metric("srcgate_http_timeouts_total{phase=\"write\"}") == 1);

  Client other(s.port());
  auto ok = other.get("/healthz");
  REQUIRE(ok);
  CHECK(ok->status == 200);
}

TEST_CASE("headers that trickle in slower than the read timeout are cut off", "[server]") {
  ServerOptions o = test_options();
  o.read_timeout = 300ms;
  TestServer s(o);
  Client slowloris(s.port());
  REQUIRE(slowloris.send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n"));  // never ends
  CHECK(slowloris.closed_within(5s));

  Client other(s.port());
  auto ok = other.get("/healthz");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(s.stop_and_wait(10s));
  CHECK(s.metric("srcgate_http_timeouts_total{phase=\"read\"}") == 1);
  const std::string log = s.log_text();
  CHECK_THAT(log, Catch::Matchers::Contains("method=- target=- status=408 bytes=0 duration_ms="));
  CHECK_THAT(log, Catch::Matchers::Contains(" cache=- outcome=\"read timeout\"\n"));
}

TEST_CASE("a port in use is a start-up error naming the address", "[server]") {
  TestServer first;
  ServerOptions o = test_options();
  o.port = first.port();
  HttpServer second(o, std::make_shared<EmptyStoreHandler>(""), std::make_shared<MetricsRegistry>(),
                    nullptr);
  try {
    second.start();
    FAIL("start() bound a port that is in use");
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::StartsWith(
                             "listen 127.0.0.1:" + std::to_string(first.port()) + ": "));
    CHECK(e.code() == std::errc::address_in_use);
  }
}

TEST_CASE("1000 idle connections are closed by the idle timeout; others are served",
          "[server][idle]") {
  constexpr int kIdle = 1000;
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < 2 * kIdle + 100) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 2 * kIdle + 100);
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  REQUIRE(limit.rlim_cur >= 2 * kIdle + 100);

  ServerOptions o = test_options();
  o.idle_timeout = 500ms;
  o.max_connections = 2 * kIdle;
  TestServer s(o);
  std::vector<std::unique_ptr<Client>> idle;
  idle.reserve(kIdle);
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<Client>(s.port()));
    REQUIRE(idle.back()->connected());
  }
  Client active(s.port());
  auto ok = active.get("/healthz", "Connection: close\r\n");
  REQUIRE(ok);
  CHECK(ok->status == 200);

  const auto deadline = std::chrono::steady_clock::now() + 20s;
  int closed = 0;
  for (auto& c : idle) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (c->closed_within(left)) ++closed;
  }
  CHECK(closed == kIdle);

  Client after(s.port());
  auto still = after.get("/healthz", "Connection: close\r\n");
  REQUIRE(still);
  CHECK(still->status == 200);

  // A client sees the close before its session has counted it: count after stop.
  CHECK(s.stop_and_wait(10s));
  CHECK(s.metric("srcgate_http_timeouts_total{phase=\"idle\"}") == kIdle);
}

TEST_CASE("beyond max_connections a connection gets 503 and is closed", "[server]") {
  ServerOptions o = test_options();
  o.max_connections = 2;
  TestServer s(o);
  Client a(s.port());
  Client b(s.port());
  REQUIRE(a.get("/healthz"));  // both are sessions now
  REQUIRE(b.get("/healthz"));
  Client c(s.port());
  REQUIRE(c.connected());
  auto busy = c.read_response();
  if (busy) {
    CHECK(busy->status == 503);
    CHECK(busy->header("retry-after") == "1");
  }
  CHECK(c.closed_within(5s));
  CHECK(s.metric("srcgate_http_connections_rejected_total{reason=\"max_connections\"}") == 1);

  // Once one closes (the server frees the slot before it closes), a new
  // connection is served.
  REQUIRE(a.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  REQUIRE(a.read_response());
  REQUIRE(a.closed_within(5s));
  Client d(s.port());
  auto r = d.get("/healthz");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("stop() lets a running response finish and closes idle connections", "[server][stop]") {
  TestServer s;
  Client idle(s.port());
  REQUIRE(idle.get("/healthz"));
  Client busy(s.port());
  REQUIRE(busy.send("GET /slow/10000 HTTP/1.1\r\nHost: t\r\n\r\n"));
  // Wait until the response has begun: its first bytes are readable.
  pollfd p{busy.fd(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);

  s.server().stop();
  CHECK(idle.closed_within(2s));
  auto r = busy.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == pattern(10000));
  CHECK(busy.closed_within(5s));
  CHECK(s.stop_and_wait(10s));
  Client late(s.port());
  CHECK_FALSE(late.connected());
  CHECK(late.connect_errno() == ECONNREFUSED);
}

TEST_CASE("stop() cuts responses still running when the grace period ends", "[server][stop]") {
  ServerOptions o = test_options();
  o.shutdown_grace = 300ms;
  TestServer s(o);
  Client c(s.port());
  REQUIRE(c.send("GET /forever HTTP/1.1\r\nHost: t\r\n\r\n"));
  pollfd p{c.fd(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);
  const auto start = std::chrono::steady_clock::now();
  CHECK(s.stop_and_wait(10s));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  bool closed = false;
  const std::size_t received = c.drain(&closed, 1 << 20);
  CHECK(closed);
  CHECK(received < 1'000'000'000);
}

TEST_CASE("stop() does not wait for background work once every connection is done",
          "[server][stop]") {
  TestServer s;  // a 5 s grace period
  {
    Client c(s.port());
    auto r = c.get("/background");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  const auto start = std::chrono::steady_clock::now();
  CHECK(s.stop_and_wait(10s));
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}
