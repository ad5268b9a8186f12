// HttpClient against real servers on 127.0.0.1 that the tests start: the
// scriptable TestUpstream (plain HTTP), and, written here on POSIX sockets, a
// TLS server (Asio's blocking ssl::stream, certificates made with the openssl
// CLI at test time) and an HTTP proxy (absolute-form forwarding and CONNECT
// tunnels). Bodies are checked byte for byte against deterministic data; the
// connection counts come from the servers' accept loops. Every wait is
// bounded: the client's own timeouts, run_for on the io_context, socket
// timeouts and the servers' stop().
#include "server/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/test_support.hpp"
#include "tests/support/test_upstream.hpp"

using namespace srcgate::server;
using namespace std::chrono_literals;
using srcgate::content::Bytes;
using srcgate::content::ByteView;
using srcgate::test::deterministic_bytes;
using srcgate::test::TempDir;
using srcgate::test::TestUpstream;
using srcgate::test::UpstreamConnection;
using srcgate::test::UpstreamRequest;

namespace {

using Clock = std::chrono::steady_clock;

std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

// ---- Running the client ----------------------------------------------------

// A whole exchange, as the test sees it.
struct Fetched {
  std::optional<ClientError> error;  // from send()
  unsigned status = 0;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string location;
  std::string content_length_header;
  std::optional<std::uint64_t> length;
  std::string body;
  std::optional<ClientError> body_error;  // from read()
  std::size_t pieces = 0;
  std::chrono::milliseconds elapsed{0};

  std::string what() const {
    if (error) return std::string(to_string(error->code)) + ": " + error->message;
    if (body_error) {
      return "body: " + std::string(to_string(body_error->code)) + ": " + body_error->message;
    }
    return "status " + std::to_string(status);
  }
};

// Sends a request and reads the body to its end (at most `max_pieces` reads).
// With `public_only`, the request carries the SSRF guard.
Awaitable<Fetched> fetch(HttpClient& client, std::string url, std::string method = "GET",
                         std::size_t max_pieces = 1'000'000, bool public_only = false) {
  Fetched out;
  const auto start = Clock::now();
  ClientRequest request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.public_destinations_only = public_only;
  auto r = co_await client.send(std::move(request));
  if (!r) {
    out.error = r.error();
    out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    co_return out;
  }
  auto& response = **r;
  out.status = response.status();
  out.url = response.url();
  out.headers = response.headers();
  out.location = std::string(response.header("location"));
  out.content_length_header = std::string(response.header("CONTENT-LENGTH"));
  out.length = response.content_length();
  for (std::size_t i = 0; i < max_pieces; ++i) {
    auto piece = co_await response.read();
    if (!piece) {
      out.body_error = piece.error();
      break;
    }
    if (piece->empty()) break;
    ++out.pieces;
    out.body.append(reinterpret_cast<const char*>(piece->data()), piece->size());
  }
  out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  co_return out;
}

// One io_context for a test's requests (connections are pooled per context),
// run until the operation is done, at most 30 s.
class Runner {
 public:
  template <class T>
  T run(Awaitable<T> op) {
    auto future = net::co_spawn(ioc_, std::move(op), net::use_future);
    ioc_.restart();
    ioc_.run_for(30s);
    REQUIRE(future.wait_for(0s) == std::future_status::ready);
    return future.get();
  }
  Fetched get(HttpClient& client, std::string url, std::string method = "GET") {
    return run(fetch(client, std::move(url), std::move(method)));
  }
  // A GET with ClientRequest::public_destinations_only.
  Fetched get_public(HttpClient& client, std::string url) {
    return run(fetch(client, std::move(url), "GET", 1'000'000, true));
  }
  net::io_context& context() { return ioc_; }

 private:
  net::io_context ioc_;
};

HttpClientOptions short_timeouts() {
  HttpClientOptions o;
  o.connect_timeout = 5'000ms;
  o.first_byte_timeout = 5'000ms;
  o.stall_timeout = 5'000ms;
  return o;
}

// A port on 127.0.0.1 with nothing listening (bound, then closed).
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---- A loopback server skeleton: thread per connection, joined on stop ------

class LoopbackServer {
 public:
  using Handler = std::function<void(int fd, std::uint64_t index)>;

  explicit LoopbackServer(Handler handler, int backlog = 64) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, backlog) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    if (handler_) acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~LoopbackServer() { stop(); }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint64_t connections() const { return connections_.load(); }

  // Wakes accept() and every blocked connection read (shutdown), joins all.
  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (const int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
    ::close(listen_fd_);
  }

 private:
  void accept_loop() {
    while (true) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;  // shut down
      }
      timeval tv{10, 0};  // a bound on every blocking call of a handler
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      std::lock_guard lock(mu_);
      if (stopped_) {
        ::close(fd);
        return;
      }
      open_.insert(fd);
      const std::uint64_t index = connections_++;
      threads_.emplace_back([this, fd, index] {
        handler_(fd, index);
        std::lock_guard l(mu_);
        open_.erase(fd);
        ::close(fd);
      });
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> connections_{0};
  std::mutex mu_;
  std::set<int> open_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads up to and including "\r\n\r\n" into `head`; bytes after it stay in
// `rest`. False on EOF, error, timeout or a head over 64 KiB.
bool read_head(int fd, std::string& head, std::string& rest) {
  std::string buffer = std::move(rest);
  rest.clear();
  char chunk[8192];
  for (int reads = 0; reads < 1024; ++reads) {
    if (const auto end = buffer.find("\r\n\r\n"); end != std::string::npos) {
      head = buffer.substr(0, end + 4);
      rest = buffer.substr(end + 4);
      return true;
    }
    if (buffer.size() > 64 * 1024) return false;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  return false;
}

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// ---- TLS: certificates and a server ------------------------------------------

void make_cert(const std::filesystem::path& cert, const std::filesystem::path& key,
               const std::string& cn, const std::string& san) {
  const auto r = srcgate::test::run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048",
                                             "-nodes", "-days", "1", "-subj", "/CN=" + cn,
                                             "-addext", "subjectAltName=" + san, "-keyout",
                                             key.string(), "-out", cert.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// Self-signed certificates, made once per test run with the openssl CLI.
struct Certs {
  Certs() {
    make_cert(good_cert, good_key, "localhost", "DNS:localhost,IP:127.0.0.1");
    make_cert(wrong_cert, wrong_key, "wrong.example", "DNS:wrong.example");
  }
  TempDir dir;
  std::filesystem::path good_cert = dir / "good.pem";  // CN=localhost, DNS:localhost, IP:127.0.0.1
  std::filesystem::path good_key = dir / "good.key";
  std::filesystem::path wrong_cert = dir / "wrong.pem";  // CN=wrong.example, DNS:wrong.example
  std::filesystem::path wrong_key = dir / "wrong.key";
};

const Certs& certs() {
  static const Certs made;
  return made;
}

// An HTTPS server: keep-alive; "/to-http" answers 302 to `http_base` + "/x",
// "/big" 200 with 300 000 deterministic bytes, anything else 200 "tls:<target>".
// Records the SNI name of each handshake ("" when none) and the targets.
class TlsServer {
 public:
  TlsServer(const std::filesystem::path& cert, const std::filesystem::path& key,
            std::string http_base = "")
      : ctx_(net::ssl::context::tls_server), http_base_(std::move(http_base)) {
    ctx_.use_certificate_chain_file(cert.string());
    ctx_.use_private_key_file(key.string(), net::ssl::context::pem);
    server_.emplace([this](int fd, std::uint64_t) { serve(fd); });
  }
  ~TlsServer() { server_->stop(); }

  std::uint16_t port() const { return server_->port(); }
  std::uint64_t connections() const { return server_->connections(); }
  std::vector<std::string> sni() const {
    std::lock_guard lock(mu_);
    return sni_;
  }
  std::vector<std::string> targets() const {
    std::lock_guard lock(mu_);
    return targets_;
  }
  std::uint64_t handshake_failures() const { return failures_.load(); }

 private:
  void serve(int fd) {
    net::io_context io;
    tcp::socket socket(io);
    ErrorCode ec;
    socket.assign(tcp::v4(), ::dup(fd), ec);
    if (ec) return;
    net::ssl::stream<tcp::socket> stream(std::move(socket), ctx_);
    stream.handshake(net::ssl::stream_base::server, ec);
    if (ec) {
      ++failures_;
      return;
    }
    {
      const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
      std::lock_guard lock(mu_);
      sni_.push_back(name ? name : "");
    }
    std::string buffer;
    for (int requests = 0; requests < 1000; ++requests) {
      const std::size_t n = net::read_until(stream, net::dynamic_buffer(buffer), "\r\n\r\n", ec);
      if (ec) return;
      const std::string head = buffer.substr(0, n);
      buffer.erase(0, n);
      const auto sp1 = head.find(' ');
      const auto sp2 = head.find(' ', sp1 + 1);
      const std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
      {
        std::lock_guard lock(mu_);
        targets_.push_back(target);
      }
      std::string response;
      if (target == "/to-http") {
        response =
            "HTTP/1.1 302 Found\r\nLocation: " + http_base_ + "/x\r\nContent-Length: 0\r\n\r\n";
      } else if (target == "/big") {
        const auto body = deterministic_bytes("tls-big", 300'000);
        response = "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + text(body);
      } else {
        const std::string body = "tls:" + target;
        response =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      }
      net::write(stream, net::buffer(response), ec);
      if (ec) return;
    }
  }

  net::ssl::context ctx_;
  std::string http_base_;
  mutable std::mutex mu_;
  std::vector<std::string> sni_;
  std::vector<std::string> targets_;
  std::atomic<std::uint64_t> failures_{0};
  std::optional<LoopbackServer> server_;
};

// ---- An HTTP proxy ------------------------------------------------------------

// Forwards absolute-form requests (one per connection, with Connection: close
// to the origin) and tunnels CONNECT; only to 127.0.0.1. CONNECT to a port in
// `refused` is answered 403. Records every request line.
class TestProxy {
 public:
  explicit TestProxy(std::set<std::uint16_t> refused = {})
      : refused_(std::move(refused)), server_([this](int fd, std::uint64_t) { serve(fd); }) {}

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  std::vector<std::string> request_lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  void serve(int fd) {
    std::string head, rest;
    if (!read_head(fd, head, rest)) return;
    const std::string line = head.substr(0, head.find("\r\n"));
    {
      std::lock_guard lock(mu_);
      lines_.push_back(line);
    }
    const auto sp1 = line.find(' ');
    const auto sp2 = line.find(' ', sp1 + 1);
    const std::string method = line.substr(0, sp1);
    const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (method == "CONNECT") {
      const auto colon = target.rfind(':');
      const auto port = static_cast<std::uint16_t>(std::stoi(target.substr(colon + 1)));
      if (target.substr(0, colon) != "127.0.0.1" || refused_.count(port) > 0) {
        send_all(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      const int up = connect_loopback(port);
      if (up < 0) {
        send_all(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      if (send_all(fd, "HTTP/1.1 200 Connection established\r\n\r\n") && send_all(up, rest)) {
        relay(fd, up);
      }
      ::close(up);
      return;
    }
    // "GET http://127.0.0.1:PORT/path HTTP/1.1"
    constexpr std::string_view kPrefix = "http://127.0.0.1:";
    if (!target.starts_with(kPrefix)) {
      send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const auto slash = target.find('/', kPrefix.size());
    const auto port = static_cast<std::uint16_t>(
        std::stoi(target.substr(kPrefix.size(), slash - kPrefix.size())));
    const std::string path = slash == std::string::npos ? "/" : target.substr(slash);
    const int up = connect_loopback(port);
    if (up < 0) {
      send_all(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const std::string fields = head.substr(line.size() + 2, head.size() - line.size() - 4);
    const std::string forwarded =
        method + " " + path + " HTTP/1.1\r\n" + fields + "Connection: close\r\n\r\n";
    if (send_all(up, forwarded)) relay(fd, up);
    ::close(up);
  }

  // Copies bytes both ways until either side closes or 10 s pass idle.
  static void relay(int a, int b) {
    char buffer[64 * 1024];
    for (int rounds = 0; rounds < 1'000'000; ++rounds) {
      pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (::poll(fds, 2, 10'000) <= 0) return;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].revents == 0) continue;
        const ssize_t n = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
        if (n <= 0) return;
        if (!send_all(fds[1 - i].fd, std::string_view(buffer, static_cast<std::size_t>(n)))) {
          return;
        }
      }
    }
  }

  std::set<std::uint16_t> refused_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  LoopbackServer server_;
};

}  // namespace

// ---- Bodies -------------------------------------------------------------------

TEST_CASE("a Content-Length body arrives whole, with status, headers and length", "[client]") {
  const Bytes object = deterministic_bytes("client-cl", 3 * 1024 * 1024 + 17);
  TestUpstream upstream([&](const UpstreamRequest&, UpstreamConnection& c) {
    c.respond(200, object, {{"X-First", "1"}, {"ETag", "\"abc\""}});
  });
  HttpClient client(short_timeouts());
  Runner runner;
  const auto f = runner.get(client, upstream.url() + "/sha256/x?y=1#frag");
  INFO(f.what());
  REQUIRE_FALSE(f.error);
  CHECK(f.status == 200);
  CHECK(f.url == upstream.url() + "/sha256/x?y=1");
  REQUIRE(f.length);
  CHECK(*f.length == object.size());
  CHECK_FALSE(f.body_error);
  CHECK(f.body.size() == object.size());
  CHECK(f.body == text(object));
  CHECK(f.pieces > 1);  // read piece by piece, not whole
  REQUIRE(f.headers.size() == 3);
  CHECK(f.headers[0] == std::pair<std::string, std::string>("Content-Length", "3145745"));
  CHECK(f.headers[1] == std::pair<std::string, std::string>("X-First", "1"));
  CHECK(f.headers[2] == std::pair<std::string, std::string>("ETag", "\"abc\""));
  CHECK(f.content_length_header == "3145745");
  const auto log = upstream.request_log();
  REQUIRE(log.size() == 1);
  CHECK(log[0].method == "GET");
  CHECK(log[0].target == "/sha256/x?y=1");
  CHECK(log[0].header("Host") == "127.0.0.1:" + std::to_string(upstream.port()));
  CHECK(log[0].header("User-Agent") == "srcgate");
}

TEST_CASE("a chunked body is decoded (extensions, trailer) and its connection reused", "[client]") {
  const Bytes big = deterministic_bytes("client-chunked", 300'000);  // more than the buffer
  TestUpstream upstream([&](const UpstreamRequest&, UpstreamConnection& c) {
    c.send_head(200, {{"Transfer-Encoding", "chunked"}});
    c.write(std::string_view("5;name=value\r\nhello\r\n"));
    c.write(std::string_view("493e0\r\n"));  // 300000
    c.write(big);
    c.write(std::string_view("\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n"));
  });
  HttpClient client(short_timeouts());
  Runner runner;
  for (int i = 0; i < 2; ++i) {
    const auto f = runner.get(client, upstream.url() + "/c");
    INFO(f.what());
    REQUIRE_FALSE(f.error);
    CHECK_FALSE(f.body_error);
    CHECK(f.status == 200);
    CHECK_FALSE(f.length);
    CHECK(f.body == "hello" + text(big) + "!");
  }
  CHECK(upstream.requests() == 2);
  CHECK(upstream.connections() == 1);
}

TEST_CASE("a close-delimited body ends at EOF and its connection is not reused", "[client]") {
  const Bytes object = deterministic_bytes("client-eof", 100'000);
  TestUpstream upstream([&](const UpstreamRequest&, UpstreamConnection& c) {
    c.send_head(200, {{"Content-Type", "application/octet-stream"}});
    c.write(object);
    c.close();
  });
  HttpClient client(short_timeouts());
  Runner runner;
  for (int i = 0; i < 2; ++i) {
    const auto f = runner.get(client, upstream.url() + "/e");
    INFO(f.what());
    REQUIRE_FALSE(f.error);
    CHECK_FALSE(f.body_error);
    CHECK_FALSE(f.length);
    CHECK(f.body == text(object));
  }
  CHECK(upstream.connections() == 2);
}

TEST_CASE("sequential requests to one origin share one kept-alive connection", "[client]") {
  TestUpstream upstream(srcgate::test::good_mirror(
      {{"/a", deterministic_bytes("a", 1000)}, {"/b", deterministic_bytes("b", 70'000)}}));
  HttpClient client(short_timeouts());
  Runner runner;
  const auto a = runner.get(client, upstream.url() + "/a");
  const auto b = runner.get(client, upstream.url() + "/b");
  INFO(a.what() << " / " << b.what());
  CHECK(a.body == text(deterministic_bytes("a", 1000)));
  CHECK(b.body == text(deterministic_bytes("b", 70'000)));
  CHECK(upstream.requests() == 2);
  CHECK(upstream.connections() == 1);
  const auto log = upstream.request_log();
  REQUIRE(log.size() == 2);
  CHECK(log[0].connection == log[1].connection);
}

TEST_CASE("HEAD returns the header block without a body, and keeps the connection", "[client]") {
  const Bytes object = deterministic_bytes("head", 12'345);
  TestUpstream upstream(srcgate::test::good_mirror({{"/h", object}}));
  HttpClient client(short_timeouts());
  Runner runner;
  const auto head = runner.get(client, upstream.url() + "/h", "HEAD");
  INFO(head.what());
  REQUIRE_FALSE(head.error);
  CHECK(head.status == 200);
  REQUIRE(head.length);
  CHECK(*head.length == 0);
  CHECK(head.content_length_header == "12345");
  CHECK(head.body.empty());
  CHECK(head.pieces == 0);
  const auto get = runner.get(client, upstream.url() + "/h");
  CHECK(get.body == text(object));
  CHECK(upstream.connections() == 1);
  const auto log = upstream.request_log();
  REQUIRE(log.size() == 2);
  CHECK(log[0].method == "HEAD");
}

TEST_CASE("404 and 500 are responses with their bodies, not errors", "[client]") {
  for (const int status : {404, 500}) {
    TestUpstream upstream(srcgate::test::fixed_status(status));
    HttpClient client(short_timeouts());
    Runner runner;
    const auto f = runner.get(client, upstream.url() + "/missing");
    INFO(f.what());
    REQUIRE_FALSE(f.error);
    CHECK(f.status == static_cast<unsigned>(status));
    CHECK_FALSE(f.body_error);
    REQUIRE(f.length);
    CHECK(f.body.size() == *f.length);
  }
}

TEST_CASE("a response abandoned before its end closes its connection", "[client]") {
  const Bytes object = deterministic_bytes("abandon", 4 * 1024 * 1024);
  TestUpstream upstream(srcgate::test::good_mirror({{"/o", object}}));
  HttpClient client(short_timeouts());
  Runner runner;
  struct Partial {
    std::optional<ClientError> error;
    std::size_t got = 0;
  };
  auto partial = [](HttpClient& c, std::string url) -> Awaitable<Partial> {
    Partial out;
    // A named request: GCC 12 miscompiles a braced ClientRequest temporary
    // inside co_await (valgrind: invalid free of its strings).
    ClientRequest request;
    request.url = std::move(url);
    auto r = co_await c.send(std::move(request));
    if (!r) {
      out.error = r.error();
      co_return out;
    }
    auto piece = co_await (*r)->read();
    if (piece) out.got = piece->size();
    co_return out;  // the response dies here, mid-body
  };
  const auto p = runner.run(partial(client, upstream.url() + "/o"));
  REQUIRE_FALSE(p.error);
  CHECK(p.got > 0);
  CHECK(p.got < object.size());
  const auto f = runner.get(client, upstream.url() + "/o");
  CHECK(f.body == text(object));
  CHECK(upstream.connections() == 2);
}

TEST_CASE("a body read to its last byte returns its connection without the final read",
          "[client][pool]") {
  const Bytes object = deterministic_bytes("exact", 100'000);
  TestUpstream upstream(srcgate::test::good_mirror({{"/o", object}}));
  HttpClient client(short_timeouts());
  Runner runner;
  auto exact = [](HttpClient& c, std::string url) -> Awaitable<std::string> {
    ClientRequest request;
    request.url = std::move(url);
    auto r = co_await c.send(std::move(request));
    std::string body;
    if (!r) co_return body;
    const auto length = (*r)->content_length().value_or(0);
    for (int i = 0; i < 1000 && body.size() < length; ++i) {
      auto piece = co_await (*r)->read();
      if (!piece || piece->empty()) break;
      body.append(reinterpret_cast<const char*>(piece->data()), piece->size());
    }
    co_return body;  // no read() of the end
  };
  CHECK(runner.run(exact(client, upstream.url() + "/o")) == text(object));
  CHECK(runner.run(exact(client, upstream.url() + "/o")) == text(object));
  CHECK(upstream.connections() == 1);
}

TEST_CASE("concurrent requests each get their own bytes", "[client]") {
  srcgate::test::ObjectMap objects;
  for (int i = 0; i < 8; ++i) {
    objects["/o" + std::to_string(i)] = deterministic_bytes("conc" + std::to_string(i), 200'000);
  }
  TestUpstream upstream(srcgate::test::good_mirror(objects));
  HttpClient client(short_timeouts());
  net::io_context ioc;
  std::vector<std::future<Fetched>> futures;
  for (int round = 0; round < 2; ++round) {
    futures.clear();
    for (int i = 0; i < 8; ++i) {
      futures.push_back(net::co_spawn(ioc, fetch(client, upstream.url() + "/o" + std::to_string(i)),
                                      net::use_future));
    }
    ioc.restart();
    ioc.run_for(30s);
    for (int i = 0; i < 8; ++i) {
      REQUIRE(futures[i].wait_for(0s) == std::future_status::ready);
      const auto f = futures[i].get();
      INFO(f.what());
      CHECK(f.body == text(objects["/o" + std::to_string(i)]));
    }
  }
  CHECK(upstream.requests() == 16);
  CHECK(upstream.connections() <= 8);  // the second round reuses the first's connections
}

// ---- Redirects -------------------------------------------------------------------

TEST_CASE("relative and absolute redirects are followed on the same connection",
          "[client][redirect]") {
  TestUpstream upstream([](const UpstreamRequest& r, UpstreamConnection& c) {
    const std::string moved = "moved, see elsewhere";  // a body to drain
    if (r.target == "/abs") {
      c.respond(302, moved, {{"Location", c.base_url() + "/final/abs"}});
    } else if (r.target == "/rel/a/b") {
      c.respond(301, moved, {{"Location", "../final?x=1"}});
    } else if (r.target == "/t307") {
      c.respond(307, moved, {{"Location", "/t308"}});
    } else if (r.target == "/t308") {
      c.respond(308, std::string_view(),
                {{"Location", "//127.0.0.1:" + c.base_url().substr(17) + "/t303"}});
    } else if (r.target == "/t303") {
      c.respond(303, moved, {{"Location", "final/303"}});
    } else {
      c.respond(200, "final:" + r.target);
    }
  });
  HttpClient client(short_timeouts());
  Runner runner;
  const auto abs = runner.get(client, upstream.url() + "/abs");
  INFO(abs.what());
  CHECK(abs.status == 200);
  CHECK(abs.body == "final:/final/abs");
  CHECK(abs.url == upstream.url() + "/final/abs");
  const auto rel = runner.get(client, upstream.url() + "/rel/a/b");
  INFO(rel.what());
  CHECK(rel.body == "final:/rel/final?x=1");
  CHECK(rel.url == upstream.url() + "/rel/final?x=1");
  const auto chain = runner.get(client, upstream.url() + "/t307");
  INFO(chain.what());
  CHECK(chain.body == "final:/final/303");
  CHECK(upstream.requests() == 2 + 2 + 4);
  CHECK(upstream.connections() == 1);
}

TEST_CASE("a redirect loop ends in too_many_redirects after max_redirects hops",
          "[client][redirect]") {
  TestUpstream upstream(srcgate::test::redirect_loop());
  auto options = short_timeouts();
  options.max_redirects = 5;
  HttpClient client(options);
  Runner runner;
  const auto f = runner.get(client, upstream.url() + "/x");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::too_many_redirects);
  CHECK(upstream.requests() == 6);  // the request and 5 redirects followed
}

TEST_CASE("a redirect without a Location is refused, one to ftp is a bad URL",
          "[client][redirect]") {
  TestUpstream upstream([](const UpstreamRequest& r, UpstreamConnection& c) {
    if (r.target == "/none") {
      c.respond(302, std::string_view());
    } else {
      c.respond(302, std::string_view(), {{"Location", "ftp://example.com/x"}});
    }
  });
  HttpClient client(short_timeouts());
  Runner runner;
  const auto none = runner.get(client, upstream.url() + "/none");
  REQUIRE(none.error);
  CHECK(none.error->code == ClientErrc::redirect_refused);
  const auto ftp = runner.get(client, upstream.url() + "/ftp");
  REQUIRE(ftp.error);
  INFO(ftp.error->message);
  CHECK(ftp.error->code == ClientErrc::bad_url);
}

// ---- Failures -----------------------------------------------------------------------

TEST_CASE("a stall after the headers is a stall error within about stall_timeout",
          "[client][timeout]") {
  TestUpstream upstream([](const UpstreamRequest&, UpstreamConnection& c) {
    c.send_head(200, {{"Content-Length", "1000"}});
    c.write(std::string_view("0123456789"));
    c.stall(10s);
  });
  auto options = short_timeouts();
  options.stall_timeout = 300ms;
  HttpClient client(options);
  Runner runner;
  const auto f = runner.get(client, upstream.url() + "/stall");
  INFO(f.what());
  REQUIRE_FALSE(f.error);
  CHECK(f.body == "0123456789");
  REQUIRE(f.body_error);
  CHECK(f.body_error->code == ClientErrc::stall);
  CHECK(f.body_error->message.find("10 of 1000") != std::string::npos);
  CHECK(f.elapsed >= 280ms);
  CHECK(f.elapsed < 3s);
}

TEST_CASE("no response at all is a timeout within about first_byte_timeout", "[client][timeout]") {
  TestUpstream upstream([](const UpstreamRequest&, UpstreamConnection& c) { c.stall(10s); });
  auto options = short_timeouts();
  options.first_byte_timeout = 300ms;
  HttpClient client(options);
  Runner runner;
  const auto f = runner.get(client, upstream.url() + "/silent");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::timeout);
  CHECK(f.elapsed >= 280ms);
  CHECK(f.elapsed < 3s);
}

TEST_CASE("a connect that the server never completes is a timeout", "[client][timeout]") {
  // A listener that never accepts, its backlog full: further SYNs go unanswered.
  LoopbackServer silent(nullptr, 0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(silent.port());
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  auto options = short_timeouts();
  options.connect_timeout = 300ms;
  HttpClient client(options);
  Runner runner;
  const auto f = runner.get(client, "http://127.0.0.1:" + std::to_string(silent.port()) + "/");
  for (const int fd : fillers) ::close(fd);
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::timeout);
  CHECK(f.elapsed < 3s);
}

TEST_CASE("a body shorter than its Content-Length is a reset saying how much came", "[client]") {
  const Bytes object = deterministic_bytes("short", 1000);
  TestUpstream upstream(srcgate::test::cut_short_mirror({{"/s", object}}, 600));
  HttpClient client(short_timeouts());
  Runner runner;
  const auto f = runner.get(client, upstream.url() + "/s");
  REQUIRE_FALSE(f.error);
  CHECK(f.body == text(object).substr(0, 600));
  REQUIRE(f.body_error);
  INFO(f.body_error->message);
  CHECK(f.body_error->code == ClientErrc::reset);
  CHECK(f.body_error->message.find("600 of 1000 bytes") != std::string::npos);
}

TEST_CASE("refused connections, resets and malformed responses are errors of their kind",
          "[client]") {
  HttpClient client(short_timeouts());
  Runner runner;
  const auto port = closed_port();
  const auto refused = runner.get(client, "http://127.0.0.1:" + std::to_string(port) + "/");
  REQUIRE(refused.error);
  INFO(refused.error->message);
  CHECK(refused.error->code == ClientErrc::connect);
  CHECK(refused.error->message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);

  TestUpstream reset(srcgate::test::reset_after_request());
  const auto r = runner.get(client, reset.url() + "/r");
  REQUIRE(r.error);
  INFO(r.error->message);
  CHECK(r.error->code == ClientErrc::reset);

  TestUpstream garbage([](const UpstreamRequest&, UpstreamConnection& c) {
    c.write(std::string_view("HELLO THERE\r\n\r\n"));
    c.close();
  });
  const auto g = runner.get(client, garbage.url() + "/g");
  REQUIRE(g.error);
  INFO(g.error->message);
  CHECK(g.error->code == ClientErrc::protocol);

  TestUpstream bad_chunks([](const UpstreamRequest&, UpstreamConnection& c) {
    c.send_head(200, {{"Transfer-Encoding", "chunked"}});
    c.write(std::string_view("5\r\nhello\r\nzz\r\n"));
  });
  const auto b = runner.get(client, bad_chunks.url() + "/b");
  REQUIRE_FALSE(b.error);
  CHECK(b.body == "hello");
  REQUIRE(b.body_error);
  INFO(b.body_error->message);
  CHECK(b.body_error->code == ClientErrc::protocol);
}

TEST_CASE("a header block over max_header_bytes is a protocol error", "[client]") {
  TestUpstream upstream([](const UpstreamRequest&, UpstreamConnection& c) {
    c.respond(200, std::string_view("x"), {{"X-Big", std::string(20'000, 'a')}});
  });
  auto options = short_timeouts();
  options.max_header_bytes = 16 * 1024;
  HttpClient client(options);
  Runner runner;
  const auto f = runner.get(client, upstream.url() + "/big-header");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::protocol);
  options.max_header_bytes = 64 * 1024;
  HttpClient roomy(options);
  CHECK(runner.get(roomy, upstream.url() + "/big-header").body == "x");
}

TEST_CASE("bad URLs and methods are refused before any I/O", "[client]") {
  HttpClient client(short_timeouts());
  Runner runner;
  for (const char* url : {"ftp://127.0.0.1/x", "not a url", "http://user@127.0.0.1/"}) {
    const auto f = runner.get(client, url);
    INFO(url);
    REQUIRE(f.error);
    CHECK(f.error->code == ClientErrc::bad_url);
  }
  const auto post = runner.get(client, "http://127.0.0.1:1/", "POST");
  REQUIRE(post.error);
  CHECK(post.error->code == ClientErrc::bad_url);
}

TEST_CASE("an unknown host is a resolve error (or a timeout without DNS)", "[client]") {
  auto options = short_timeouts();
  options.connect_timeout = 2'000ms;
  HttpClient client(options);
  Runner runner;
  const auto f = runner.get(client, "http://srcgate-no-such-host.invalid/");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK((f.error->code == ClientErrc::resolve || f.error->code == ClientErrc::timeout));
  CHECK(f.elapsed < 5s);
}

// ---- The pool ---------------------------------------------------------------------

TEST_CASE("a pooled connection that turns out dead is replaced transparently, once",
          "[client][pool]") {
  for (const bool rst : {false, true}) {
    std::mutex mu;
    std::map<std::uint64_t, int> per_connection;
    TestUpstream upstream([&](const UpstreamRequest& r, UpstreamConnection& c) {
      int n;
      {
        std::lock_guard lock(mu);
        n = ++per_connection[r.connection];
      }
      if (r.connection == 0 && n == 2) {  // the server dropped it as the request came
        rst ? c.reset() : c.close();
        return;
      }
      c.respond(200, "ok " + r.target);
    });
    HttpClient client(short_timeouts());
    Runner runner;
    const auto first = runner.get(client, upstream.url() + "/1");
    const auto second = runner.get(client, upstream.url() + "/2");
    INFO(rst << ": " << second.what());
    CHECK(first.body == "ok /1");
    REQUIRE_FALSE(second.error);
    CHECK(second.body == "ok /2");
    CHECK(upstream.connections() == 2);
    CHECK(upstream.requests() == 3);
  }
}

TEST_CASE("an idle connection the server closed is not reused", "[client][pool]") {
  TestUpstream upstream([](const UpstreamRequest& r, UpstreamConnection& c) {
    c.respond(200, "ok " + r.target);
    c.close();  // no Connection: close header: the client finds out from the socket
  });
  HttpClient client(short_timeouts());
  Runner runner;
  CHECK(runner.get(client, upstream.url() + "/1").body == "ok /1");
  // The FIN has arrived once the server's connection thread has closed;
  // the second request must not fail either way.
  CHECK(runner.get(client, upstream.url() + "/2").body == "ok /2");
  CHECK(upstream.connections() == 2);
  CHECK(upstream.requests() == 2);
}

TEST_CASE("a client may outlive the io_context its connections were pooled in", "[client][pool]") {
  TestUpstream upstream(
      [](const UpstreamRequest& r, UpstreamConnection& c) { c.respond(200, "ok " + r.target); });
  HttpClient client(short_timeouts());
  {
    Runner first;
    CHECK(first.get(client, upstream.url() + "/1").body == "ok /1");
    CHECK(first.get(client, upstream.url() + "/2").body == "ok /2");
  }  // its pooled connection is dropped with it
  Runner second;
  CHECK(second.get(client, upstream.url() + "/3").body == "ok /3");
  CHECK(upstream.connections() == 2);
}

// ---- TLS --------------------------------------------------------------------------

TEST_CASE("https with the CA file: verified by name and by IP, SNI only for names",
          "[client][tls]") {
  TlsServer server(certs().good_cert, certs().good_key);
  auto options = short_timeouts();
  options.ca_file = certs().good_cert;
  HttpClient client(options);
  Runner runner;
  const std::string port = std::to_string(server.port());
  const auto by_name = runner.get(client, "https://localhost:" + port + "/n");
  INFO(by_name.what());
  CHECK(by_name.status == 200);
  CHECK(by_name.body == "tls:/n");
  const auto again = runner.get(client, "https://localhost:" + port + "/big");
  INFO(again.what());
  CHECK(again.body == text(deterministic_bytes("tls-big", 300'000)));
  const auto by_ip = runner.get(client, "https://127.0.0.1:" + port + "/i");
  INFO(by_ip.what());
  CHECK(by_ip.body == "tls:/i");
  CHECK(server.connections() == 2);  // one per origin; the second request reused the first
  CHECK(server.sni() == std::vector<std::string>{"localhost", ""});
}

TEST_CASE("https without the CA that signed the certificate fails verification", "[client][tls]") {
  TlsServer server(certs().good_cert, certs().good_key);
  HttpClient client(short_timeouts());
  Runner runner;
  const auto f = runner.get(client, "https://localhost:" + std::to_string(server.port()) + "/");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::tls);
  CHECK(f.error->message.find("certificate") != std::string::npos);
  CHECK(server.targets().empty());
}

TEST_CASE("https to a certificate for another name fails host-name verification", "[client][tls]") {
  TlsServer server(certs().wrong_cert, certs().wrong_key);
  auto options = short_timeouts();
  options.ca_file = certs().wrong_cert;  // trusted, but not for localhost nor 127.0.0.1
  HttpClient client(options);
  Runner runner;
  const std::string port = std::to_string(server.port());
  const auto by_name = runner.get(client, "https://localhost:" + port + "/");
  REQUIRE(by_name.error);
  INFO(by_name.error->message);
  CHECK(by_name.error->code == ClientErrc::tls);
  CHECK(by_name.error->message.find("hostname mismatch") != std::string::npos);
  const auto by_ip = runner.get(client, "https://127.0.0.1:" + port + "/");
  REQUIRE(by_ip.error);
  INFO(by_ip.error->message);
  CHECK(by_ip.error->code == ClientErrc::tls);
  CHECK(by_ip.error->message.find("IP address mismatch") != std::string::npos);
  CHECK(server.targets().empty());
}

TEST_CASE("an unreadable CA file is a start-up error", "[client][tls]") {
  TempDir dir;
  HttpClientOptions options;
  options.ca_file = dir / "missing.pem";
  CHECK_THROWS_AS(HttpClient(options), std::runtime_error);
  srcgate::test::write_file(dir / "empty.pem", srcgate::content::as_bytes("not a certificate"));
  options.ca_file = dir / "empty.pem";
  CHECK_THROWS_AS(HttpClient(options), std::runtime_error);
}

TEST_CASE("a redirect from https to http is refused", "[client][tls][redirect]") {
  TestUpstream plain([](const UpstreamRequest&, UpstreamConnection& c) {
    c.respond(200, std::string_view("plain"));
  });
  TlsServer server(certs().good_cert, certs().good_key, plain.url());
  auto options = short_timeouts();
  options.ca_file = certs().good_cert;
  HttpClient client(options);
  Runner runner;
  const auto f =
      runner.get(client, "https://127.0.0.1:" + std::to_string(server.port()) + "/to-http");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::redirect_refused);
  CHECK(plain.requests() == 0);
}

// ---- Proxies ---------------------------------------------------------------------

TEST_CASE("http through http_proxy uses the absolute form", "[client][proxy]") {
  TestUpstream upstream([](const UpstreamRequest& r, UpstreamConnection& c) {
    c.respond(200, "origin:" + r.target);
  });
  TestProxy proxy;
  auto options = short_timeouts();
  options.proxy = ProxySettings::from_environment({{"http_proxy", proxy.url()}}).value();
  HttpClient client(options);
  Runner runner;
  const auto f = runner.get(client, upstream.url() + "/via/proxy?q=1");
  INFO(f.what());
  CHECK(f.status == 200);
  CHECK(f.body == "origin:/via/proxy?q=1");
  CHECK(proxy.request_lines() ==
        std::vector<std::string>{"GET " + upstream.url() + "/via/proxy?q=1 HTTP/1.1"});
  REQUIRE(upstream.requests() == 1);
  CHECK(upstream.request_log()[0].header("Host") == "127.0.0.1:" + std::to_string(upstream.port()));
}

TEST_CASE("https through https_proxy tunnels with CONNECT and verifies the origin",
          "[client][proxy][tls]") {
  TlsServer server(certs().good_cert, certs().good_key);
  TestProxy proxy;
  auto options = short_timeouts();
  options.ca_file = certs().good_cert;
  options.proxy = ProxySettings::from_environment({{"https_proxy", proxy.url()}}).value();
  HttpClient client(options);
  Runner runner;
  const std::string origin = "127.0.0.1:" + std::to_string(server.port());
  const auto f = runner.get(client, "https://" + origin + "/tunnelled");
  INFO(f.what());
  CHECK(f.status == 200);
  CHECK(f.body == "tls:/tunnelled");
  const auto g = runner.get(client, "https://" + origin + "/again");
  CHECK(g.body == "tls:/again");
  CHECK(proxy.request_lines() == std::vector<std::string>{"CONNECT " + origin + " HTTP/1.1"});
  CHECK(server.connections() == 1);
}

TEST_CASE("no_proxy bypasses the proxy, a refused CONNECT or a dead proxy are errors",
          "[client][proxy]") {
  TestUpstream upstream([](const UpstreamRequest& r, UpstreamConnection& c) {
    c.respond(200, "origin:" + r.target);
  });
  TlsServer server(certs().good_cert, certs().good_key);
  TestProxy proxy({server.port()});
  Runner runner;
  {
    auto options = short_timeouts();
    options.proxy = ProxySettings::from_environment(
                        {{"http_proxy", proxy.url()}, {"no_proxy", "localhost,127.0.0.0/8"}})
                        .value();
    HttpClient client(options);
    CHECK(runner.get(client, upstream.url() + "/direct").body == "origin:/direct");
    CHECK(proxy.request_lines().empty());
    CHECK(upstream.requests() == 1);
  }
  {
    auto options = short_timeouts();
    options.ca_file = certs().good_cert;
    options.proxy = ProxySettings::from_environment({{"https_proxy", proxy.url()}}).value();
    HttpClient client(options);
    const auto f = runner.get(client, "https://127.0.0.1:" + std::to_string(server.port()) + "/");
    REQUIRE(f.error);
    INFO(f.error->message);
    CHECK(f.error->code == ClientErrc::proxy);
    CHECK(f.error->message.find("403") != std::string::npos);
  }
  {
    auto options = short_timeouts();
    options.proxy = ProxySettings::from_environment(
                        {{"http_proxy", "http://127.0.0.1:" + std::to_string(closed_port())}})
                        .value();
    HttpClient client(options);
    const auto f = runner.get(client, upstream.url() + "/x");
    REQUIRE(f.error);
    INFO(f.error->message);
    CHECK(f.error->code == ClientErrc::connect);
    CHECK(f.error->message.find("proxy") != std::string::npos);
  }
}

// ---- Throughput (run by hand: http_client_test "[.benchmark]") -------------------

TEST_CASE("benchmark: a 1 GiB Content-Length body from loopback", "[.benchmark]") {
  constexpr std::uint64_t kSize = 1ull << 30;
  const std::string block(1 << 20, 'x');
  LoopbackServer server([&](int fd, std::uint64_t) {
    std::string head, rest;
    if (!read_head(fd, head, rest)) return;
    if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n")) {
      return;
    }
    for (std::uint64_t sent = 0; sent < kSize; sent += block.size()) {
      if (!send_all(fd, block)) return;
    }
  });
  HttpClient client(short_timeouts());
  Runner runner;
  auto count = [](HttpClient& c, std::string url) -> Awaitable<std::pair<std::uint64_t, double>> {
    const auto start = Clock::now();
    ClientRequest request;
    request.url = std::move(url);
    auto r = co_await c.send(std::move(request));
    std::uint64_t total = 0;
    if (!r) co_return std::pair<std::uint64_t, double>(0, 0);
    for (std::uint64_t i = 0; i < kSize; ++i) {
      auto piece = co_await (*r)->read();
      if (!piece || piece->empty()) break;
      total += piece->size();
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    co_return std::pair<std::uint64_t, double>(total, seconds);
  };
  const auto [total, seconds] =
      runner.run(count(client, "http://127.0.0.1:" + std::to_string(server.port()) + "/1g"));
  CHECK(total == kSize);
  WARN("1 GiB in " << seconds << " s: " << (static_cast<double>(kSize) / seconds / 1e9) << " GB/s");
}

// ---- The SSRF guard: public destinations only ---------------------------------------

namespace {

// non_public_address() of a literal; "public" when it is public.
std::string classify(const std::string& literal) {
  const auto address = net::ip::make_address(literal);
  const auto why = non_public_address(address);
  return why ? *why : "public";
}

}  // namespace

TEST_CASE("address classification: IPv4", "[client][ssrf]") {
  // Public unicast addresses, including the neighbours of each refused range.
  for (const char* a :
       {"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
        "126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255",
        "172.32.0.0", "192.0.1.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
        "223.255.255.255", "151.101.1.69"}) {
    INFO(a);
    CHECK(classify(a) == "public");
  }
  const std::vector<std::pair<const char*, const char*>> refused = {
      {"127.0.0.1", "loopback"},
      {"127.255.255.254", "loopback"},
      {"0.0.0.0", "unspecified (0.0.0.0/8)"},
      {"0.1.2.3", "unspecified (0.0.0.0/8)"},
      {"10.0.0.1", "private (10.0.0.0/8)"},
      {"10.255.255.255", "private (10.0.0.0/8)"},
      {"172.16.0.1", "private (172.16.0.0/12)"},
      {"172.31.255.255", "private (172.16.0.0/12)"},
      {"192.168.1.1", "private (192.168.0.0/16)"},
      {"100.64.0.1", "carrier-grade NAT (100.64.0.0/10)"},
      {"100.127.255.255", "carrier-grade NAT (100.64.0.0/10)"},
      {"169.254.169.254", "link-local"},  // cloud metadata services
      {"192.0.0.8", "reserved (192.0.0.0/24)"},
      {"192.0.2.1", "documentation (192.0.2.0/24)"},
      {"198.51.100.7", "documentation (198.51.100.0/24)"},
      {"203.0.113.9", "documentation (203.0.113.0/24)"},
      {"198.18.0.1", "benchmarking (198.18.0.0/15)"},
      {"198.19.255.255", "benchmarking (198.18.0.0/15)"},
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"240.0.0.1", "reserved (240.0.0.0/4)"},
      {"255.255.255.255", "broadcast"},
  };
  for (const auto& [a, why] : refused) {
    INFO(a);
    CHECK(classify(a) == why);
  }
}

TEST_CASE("address classification: IPv6, with embedded IPv4 judged as IPv4", "[client][ssrf]") {
  for (const char* a :
       {"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1", "::ffff:8.8.8.8",
        "64:ff9b::808:808", "2002:808:808::1", "2001:db9::1", "fbff:ffff::1", "fe7f::1"}) {
    INFO(a);
    CHECK(classify(a) == "public");
  }
  const std::vector<std::pair<const char*, const char*>> refused = {
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"::ffff:127.0.0.1", "IPv4-mapped loopback"},
      {"::ffff:10.1.2.3", "IPv4-mapped private (10.0.0.0/8)"},
      {"::ffff:169.254.169.254", "IPv4-mapped link-local"},
      {"::ffff:100.64.0.1", "IPv4-mapped carrier-grade NAT (100.64.0.0/10)"},
      {"::127.0.0.1", "reserved (IPv4-compatible ::/96)"},
      {"64:ff9b::7f00:1", "NAT64 loopback"},
      {"64:ff9b::c0a8:101", "NAT64 private (192.168.0.0/16)"},
      {"64:ff9b:1::1", "private (local-use NAT64 64:ff9b:1::/48)"},
      {"2002:7f00:1::1", "6to4 loopback"},
      {"2002:a00:1::", "6to4 private (10.0.0.0/8)"},
      {"100::1", "reserved (discard 100::/64)"},
      {"2001:db8::1", "documentation (2001:db8::/32)"},
      {"fc00::1", "unique local (fc00::/7)"},
      {"fd12:3456:789a::1", "unique local (fc00::/7)"},
      {"fe80::1", "link-local"},
      {"febf:ffff::1", "link-local"},
      {"fec0::1", "site-local (fec0::/10)"},
      {"ff02::1", "multicast"},
      {"ff0e::1", "multicast"},
  };
  for (const auto& [a, why] : refused) {
    INFO(a);
    CHECK(classify(a) == why);
  }
}

TEST_CASE("public_destinations_only refuses loopback before connecting; off, it connects",
          "[client][ssrf]") {
  TestUpstream upstream([](const UpstreamRequest& r, UpstreamConnection& c) {
    c.respond(200, "origin:" + r.target);
  });
  HttpClient client(short_timeouts());
  Runner runner;
  // An IP literal.
  auto f = runner.get_public(client, upstream.url() + "/x");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::destination_refused);
  CHECK(to_string(f.error->code) == "destination_refused");
  CHECK(f.error->message == "host 127.0.0.1 of " + upstream.url() +
                                "/x is a loopback address; only public destinations are allowed");
  // A name that resolves to loopback: the message names the address.
  const std::string port = std::to_string(upstream.port());
  f = runner.get_public(client, "http://localhost:" + port + "/y");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::destination_refused);
  CHECK_THAT(f.error->message, Catch::Matchers::StartsWith("host localhost of http://localhost:" +
                                                           port + "/y is a loopback name"));
  // An IPv6 literal, and https (refused before any TLS).
  f = runner.get_public(client, "https://[::1]:" + port + "/z");
  REQUIRE(f.error);
  CHECK(f.error->code == ClientErrc::destination_refused);
  CHECK_THAT(f.error->message, Catch::Matchers::Contains("is a loopback address"));
  f = runner.get_public(client, "http://[::ffff:127.0.0.1]:" + port + "/m");
  REQUIRE(f.error);
  CHECK(f.error->code == ClientErrc::destination_refused);
  CHECK_THAT(f.error->message, Catch::Matchers::Contains("is a IPv4-mapped loopback address"));
  CHECK(upstream.connections() == 0);
  CHECK(upstream.requests() == 0);

  // Without the guard the same URL is fetched; a pooled connection of the
  // unguarded request is not reused by a guarded one.
  f = runner.get(client, upstream.url() + "/x");
  INFO(f.what());
  CHECK(f.status == 200);
  CHECK(f.body == "origin:/x");
  f = runner.get_public(client, upstream.url() + "/x");
  REQUIRE(f.error);
  CHECK(f.error->code == ClientErrc::destination_refused);
  CHECK(upstream.requests() == 1);
}

TEST_CASE("public_destinations_only: a host that only resolves to loopback is refused after DNS",
          "[client][ssrf]") {
  // Hosts that are not IP literals to the client (inet_pton) but that the
  // resolver (getaddrinfo, inet_aton's forms) turns into 127.0.0.1: the
  // check after resolution catches them, naming the address.
  TestUpstream upstream([](const UpstreamRequest&, UpstreamConnection& c) { c.respond(200, "x"); });
  HttpClient client(short_timeouts());
  Runner runner;
  const std::string port = std::to_string(upstream.port());
  for (const char* host : {"127.1", "2130706433", "0x7f.0.0.1"}) {
    const std::string url = "http://" + std::string(host) + ":" + port + "/r";
    const auto plain = runner.get(client, url);  // without the guard it is reached
    INFO(host << ": " << plain.what());
    CHECK(plain.status == 200);
    const auto f = runner.get_public(client, url);
    REQUIRE(f.error);
    INFO(host << ": " << f.error->message);
    CHECK(f.error->code == ClientErrc::destination_refused);
    CHECK(f.error->message == "host " + std::string(host) + " of " + url +
                                  " resolves to 127.0.0.1, a loopback address; only public "
                                  "destinations are allowed");
  }
  CHECK(upstream.requests() == 3);  // the unguarded ones only
}

TEST_CASE("public_destinations_only applies to every redirect hop, through a proxy too",
          "[client][ssrf][redirect][proxy]") {
  // The target never to be reached.
  TestUpstream inside([](const UpstreamRequest&, UpstreamConnection& c) { c.respond(200, "x"); });
  // Plays an http proxy that "fetches" http://origin.example/...: the first
  // hop, a name the proxy resolves (so the client cannot check it), answers
  // with a redirect to a loopback literal or a localhost name.
  const std::string inside_url = inside.url();
  const std::string inside_port = std::to_string(inside.port());
  TestUpstream proxy([&](const UpstreamRequest& r, UpstreamConnection& c) {
    if (r.target == "http://origin.example/to-literal") {
      c.respond(302, std::string_view(), {{"Location", inside_url + "/secret"}});
    } else if (r.target == "http://origin.example/to-localhost") {
      c.respond(301, std::string_view(), {{"Location", "http://LocalHost.:" + inside_port + "/s"}});
    } else if (r.target == "http://origin.example/to-private") {
      c.respond(307, std::string_view(), {{"Location", "http://10.1.2.3/"}});
    } else {
      c.respond(200, "proxied:" + r.target);
    }
  });
  auto options = short_timeouts();
  options.proxy = ProxySettings::from_environment({{"http_proxy", proxy.url()}}).value();
  HttpClient client(options);
  Runner runner;
  // A public-looking name through the proxy is allowed (the proxy resolves it).
  auto f = runner.get_public(client, "http://origin.example/plain");
  INFO(f.what());
  CHECK(f.status == 200);
  CHECK(f.body == "proxied:http://origin.example/plain");

  f = runner.get_public(client, "http://origin.example/to-literal");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::destination_refused);
  CHECK(f.error->message == "host 127.0.0.1 of " + inside_url +
                                "/secret is a loopback address; only public destinations are "
                                "allowed");
  f = runner.get_public(client, "http://origin.example/to-localhost");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::destination_refused);
  CHECK_THAT(f.error->message, Catch::Matchers::StartsWith("host localhost. of "));
  CHECK_THAT(f.error->message, Catch::Matchers::Contains("is a loopback name"));
  f = runner.get_public(client, "http://origin.example/to-private");
  REQUIRE(f.error);
  INFO(f.error->message);
  CHECK(f.error->code == ClientErrc::destination_refused);
  CHECK_THAT(f.error->message, Catch::Matchers::Contains("is a private (10.0.0.0/8) address"));
  // The proxy saw the first hops only; the loopback target nothing.
  CHECK(proxy.requests() == 4);
  CHECK(inside.connections() == 0);

  // Without the guard, the redirect to the literal goes through the proxy.
  f = runner.get(client, "http://origin.example/to-literal");
  INFO(f.what());
  CHECK(f.status == 200);
  CHECK(f.body == "proxied:" + inside_url + "/secret");
}
