// TestUpstream: a scriptable HTTP/1.1 server on 127.0.0.1 (port 0) for the
// miss-path, client and Nix tests: it plays a hashed mirror, good or broken.
// Each accepted connection gets its own thread (plain POSIX sockets), which
// reads requests one after another (keep-alive, unless the request says
// `Connection: close` or the handler closes) and passes each one to the
// handler with an UpstreamConnection through which the handler answers:
// a status and headers, body bytes (optionally throttled), a close, a reset
// (RST), or a stall until the server stops.
//
// Canned handlers (below) cover the upstream kinds of the miss-path tests:
// a good hashed mirror, 200 with wrong bytes, a body cut short, a stall after
// the headers, a fixed status, a reset after the request, a redirect loop and
// a redirect to another base URL.
//
// Stopping: stop() (and the destructor) stops accepting, makes every
// connection operation fail fast (writes return false, stall() returns at
// once), shuts every open socket down, and joins every thread. Handlers must
// return once their connection operations fail or `stopping()` is true; the
// canned ones do, so stop() is bounded (each blocking socket call wakes at
// least every 100 ms to look at the stop flag).
//
// Thread-safety: the handler runs concurrently on the connection threads
// (one call per request; it must be thread-safe). The counters, the request
// log and wait_for_requests() may be called from any thread at any time.
// An UpstreamConnection is used only by the thread that runs its handler.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "content/bytes.hpp"

namespace srcgate::test {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One parsed request, as the upstream received it.
struct UpstreamRequest {
  std::string method;            // "GET", "HEAD", ...
  std::string target;            // request-target as sent ("/sha256/ab..")
  std::string version;           // "HTTP/1.1"
  HeaderList headers;            // names and values as sent (values trimmed)
  std::uint64_t connection = 0;  // index of the connection (0, 1, ...) in accept order

  // The first value of header `name` (case-insensitive), nullopt when absent.
  std::optional<std::string> header(std::string_view name) const;
  // Whether the client asked for the connection to be closed after this one.
  bool wants_close() const;
};

class TestUpstream;

// The server side of one connection, handed to the handler.
class UpstreamConnection {
 public:
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  // Writes "HTTP/1.1 <status> <reason>\r\n", the headers in order, and the
  // blank line. Adds nothing: the handler says Content-Length (or closes to
  // end the body). False when the connection is gone or the server stops.
  bool send_head(int status, const HeaderList& headers = {});
  // Writes body bytes. With bytes_per_second > 0 the write is paced in
  // slices of about 1/50 s. False when the connection is gone or the server
  // stops (the write may then have been partial).
  bool write(content::ByteView data, std::uint64_t bytes_per_second = 0);
  bool write(std::string_view data, std::uint64_t bytes_per_second = 0);
  // A complete response: status, Content-Length, `headers`, and the body
  // (not for HEAD: `head_only` sends the Content-Length of `body` without it).
  bool respond(int status, content::ByteView body, const HeaderList& headers = {},
               bool head_only = false);
  bool respond(int status, std::string_view body, const HeaderList& headers = {},
               bool head_only = false);

  // Orderly close (FIN). Later operations fail.
  void close();
  // Abortive close: SO_LINGER 0, then close, so the peer gets a RST.
  void reset();
  // Waits until the server stops or `timeout` has passed, whichever is first.
  // True when it returned because the server stops.
  bool stall(std::chrono::milliseconds timeout = std::chrono::milliseconds(120'000));

  bool open() const;
  bool stopping() const;
  // The server's base URL ("http://127.0.0.1:PORT"), for Location headers.
  std::string base_url() const;

 private:
  friend class TestUpstream;
  UpstreamConnection(TestUpstream& server, int fd, std::uint64_t index);
  ~UpstreamConnection();
  bool send_all(const std::uint8_t* data, std::size_t size);

  TestUpstream& server_;
  int fd_;  // guarded by server_.mutex_ for close/reset vs. stop()
  std::uint64_t index_;
};

using UpstreamHandler = std::function<void(const UpstreamRequest&, UpstreamConnection&)>;

class TestUpstream {
 public:
  // Binds 127.0.0.1:0, listens, and starts accepting. Fails the test (Catch
  // REQUIRE) when the socket cannot be set up.
  explicit TestUpstream(UpstreamHandler handler);
  ~TestUpstream();  // stop()
  TestUpstream(const TestUpstream&) = delete;
  TestUpstream& operator=(const TestUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:PORT"

  // Requests received (parsed) in total and for one exact target; accepted
  // connections.
  std::uint64_t requests() const;
  std::uint64_t requests(std::string_view target) const;
  std::uint64_t connections() const;
  // A copy of every request received so far, in arrival order.
  std::vector<UpstreamRequest> request_log() const;
  // Waits until at least `n` requests have arrived or `timeout` has passed;
  // true when they have.
  bool wait_for_requests(std::uint64_t n, std::chrono::milliseconds timeout) const;

  // Stops accepting, wakes stalled handlers, shuts every connection down and
  // joins every thread. Idempotent.
  void stop();
  bool stopping() const { return stopping_.load(); }

 private:
  friend class UpstreamConnection;
  void accept_loop();
  void serve(int fd, std::uint64_t index);

  UpstreamHandler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;  // stop and request arrivals
  std::vector<int> open_fds_;           // connection sockets not yet closed
  std::vector<std::thread> threads_;    // connection threads
  std::vector<UpstreamRequest> log_;
  std::map<std::string, std::uint64_t, std::less<>> per_target_;
  std::uint64_t connections_ = 0;
  std::thread acceptor_;
};

// ---- Canned handlers ----------------------------------------------------

// Objects served by the canned handlers, by request target ("/sha256/<hex>").
using ObjectMap = std::map<std::string, content::Bytes, std::less<>>;
// An object produced on the fly: deterministic_bytes(seed, size), streamed
// without holding it in memory (for objects of hundreds of MiB).
struct GeneratedObject {
  std::string seed;
  std::uint64_t size = 0;
};
using GeneratedMap = std::map<std::string, GeneratedObject, std::less<>>;

// A good hashed mirror: 200 with the exact bytes and Content-Length for a
// known target (HEAD: the headers only), 404 otherwise. Throttled to
// `bytes_per_second` when > 0.
UpstreamHandler good_mirror(ObjectMap objects, std::uint64_t bytes_per_second = 0);
UpstreamHandler generated_mirror(GeneratedMap objects, std::uint64_t bytes_per_second = 0);
// 200 with the right Content-Length but wrong bytes: the object with its
// last byte inverted (so only the end of the body shows the difference);
// 404 for an unknown target.
UpstreamHandler wrong_bytes_mirror(ObjectMap objects);
// 200 with the full Content-Length, then only the first `sent` bytes (fewer
// when the object is shorter than sent + 1), then an orderly close.
UpstreamHandler cut_short_mirror(ObjectMap objects, std::uint64_t sent);
// 200 with the full Content-Length, no body byte, then a stall until the
// server stops (or `timeout`), then a close.
UpstreamHandler stall_after_headers_mirror(
    ObjectMap objects, std::chrono::milliseconds timeout = std::chrono::milliseconds(120'000));
// Every request: `status` with a short text body and Content-Length.
UpstreamHandler fixed_status(int status);
// Every request: read, then the connection is reset (RST), no response.
UpstreamHandler reset_after_request();
// A redirect loop: T -> 302 Location <base>/loop<T>, /loop<T> -> 302
// Location <base><T>; never ends.
UpstreamHandler redirect_loop();
// Every request: 302 Location <base_url><target>.
UpstreamHandler redirect_to(std::string base_url);

}  // namespace srcgate::test
