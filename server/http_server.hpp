// The HTTP/1.1 server: a listener and one session per connection, written as
// C++20 coroutines on one io_context run by N threads. Each session reads a
// request's headers (bounded size, timeouts), routes the target, answers
// /healthz, /readyz and /metrics itself and hands everything else to the
// Handler, writes the response (streamed bodies chunk by chunk, each write
// under a timeout), logs one access line, and loops while the connection is
// kept alive.
//
// Limits and timeouts (ServerOptions):
// - headers larger than max_header_bytes: 431, then the connection is closed;
// - more than max_connections open: a new connection gets a canned 503 and is
//   closed at once;
// - idle_timeout: a kept-alive connection with no new request is closed;
// - read_timeout: a request's headers must arrive within it (else the
//   connection is closed; logged as 408);
// - write_timeout: every write (a header block, a body chunk) must complete
//   within it, so a client that reads one byte a second is cut off.
// stop() is graceful: the listener closes, /readyz turns 503, idle
// connections close, running responses may finish (then their connection
// closes) until shutdown_grace has passed; then everything is closed and the
// threads return.
//
// Ownership: the server owns its io_context, threads and sockets; it shares the
// Handler, MetricsRegistry and AccessLog with its creator.
// Thread-safety: start(), stop(), wait() and port() may be called from any
// thread; stop() is idempotent. The destructor stops and joins.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "server/access_log.hpp"
#include "server/handler.hpp"
#include "server/metrics.hpp"

namespace srcgate::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // address or name to bind
  std::uint16_t port = 0;          // 0: any free port; see HttpServer::port()
  unsigned threads = 1;
  std::string base_path;  // router prefix: "" or "/cache"
  std::size_t max_connections = 4096;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds shutdown_grace{10'000};
  // Request bodies are accepted for /api/v1/ only, up to this many bytes
  // (more: 413); each piece is read under read_timeout.
  std::uint64_t max_body_bytes = std::uint64_t{16} << 30;
};

class HttpServer {
 public:
  // `log` may be null (no access log). Registers the server's metrics
  // (srcgate_http_*) in `metrics`, so one registry serves one server.
  HttpServer(ServerOptions options, std::shared_ptr<Handler> handler,
             std::shared_ptr<MetricsRegistry> metrics, std::shared_ptr<AccessLog> log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens, then starts the threads. Sets SIGPIPE to be ignored in
  // the whole process (file bodies go out with sendfile(2), which cannot ask
  // for no signal per call): a reset connection is then a write error. Throws std::system_error
  // ("listen 0.0.0.0:8080: Address already in use") when it cannot. Once, and
  // not after stop().
  void start();
  // The bound port (the real one when options.port was 0). REQUIRES: start().
  std::uint16_t port() const;
  // Begins the graceful stop described above and returns at once.
  void stop();
  // Returns when the server has stopped and its threads have ended.
  void wait();
  // After start(): stop() on the first SIGINT or SIGTERM (a second one closes
  // everything at once), and wait(). For `srcgate serve`.
  void stop_on_signal_and_wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace srcgate::server
