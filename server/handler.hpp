// The seam between the HTTP server and what it serves. The server (a session
// per connection) reads and routes a request, then asks a Handler for a
// Response: a status, header fields, and a body that is either a string or a
// BodySource pulled chunk by chunk, so that file bytes stream from the store
// (or from an upstream fetch) to the socket without being buffered whole.
//
// Ownership: the server owns one shared Handler for its lifetime. A Request and
// everything it points to belong to the session and live until handle()'s
// awaitable completes; the Response, and its BodySource, are moved to the
// session, which destroys the source when the body is done or the connection
// is cut.
// Thread-safety: handle() is called concurrently from many sessions on any of
// the server's threads; implementations must be thread-safe and must not block
// for long (no lock held across a co_await). One BodySource is used by one
// session at a time (its next() calls never overlap).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "content/bytes.hpp"
#include "content/error.hpp"
#include "server/access_log.hpp"
#include "server/net.hpp"
#include "server/router.hpp"

namespace srcgate::server {

enum class Method { get, head, post, put, delete_, options, other };

// The body of a request, pulled by the handler piece by piece (admin API
// uploads). The server accepts bodies only for /api/v1/ routes, up to
// ServerOptions::max_body_bytes; other requests with a body get 413.
// If the handler does not read the body to its end, the server closes the
// connection after the response. Used by one handler call at a time.
class RequestBody {
 public:
  virtual ~RequestBody() = default;
  // The next piece: a non-empty view valid until the next call; an empty view
  // at the end of the body; an error when the client is too slow (the
  // server's read timeout applies to each piece), breaks the framing, or
  // sends more than the limit. The first call answers "Expect: 100-continue".
  virtual Awaitable<content::Result<content::ByteView>> read() = 0;
  // Content-Length, or nullopt for a chunked body.
  virtual std::optional<std::uint64_t> length() const = 0;
};

// A request whose headers have been read.
struct Request {
  Method method = Method::get;
  std::string_view method_name;  // as sent ("GET")
  std::string_view target;       // as sent ("/sha256/...?x")
  const Route* route = nullptr;  // route(target, base_path); never null in handle()
  // Header fields in arrival order; names as sent.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string_view remote;  // "ip:port" of the client
  // The body, for the requests whose body the server accepts; null otherwise.
  RequestBody* body = nullptr;

  // The first value of header `name` (case-insensitive), "" when absent.
  std::string_view header(std::string_view name) const;
};

// One piece of a body: bytes in memory, or `file_length` bytes of an open
// file from `file_offset` (sent with sendfile(2), without a copy). The
// descriptor belongs to the source and stays open until its next call.
struct BodyPiece {
  content::ByteView bytes;
  int file = -1;
  std::uint64_t file_offset = 0;
  std::uint64_t file_length = 0;
  bool is_file() const { return file >= 0; }
  std::uint64_t size() const { return is_file() ? file_length : bytes.size(); }
  bool end() const { return size() == 0; }
};

// A response body produced piece by piece.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next piece of the body: a non-empty view that stays valid until the
  // next call to next() or the source's destruction; an empty view at the end;
  // or an error, after which the session cuts the connection without
  // completing the response (so a client never takes a partial body for a
  // whole one). If the first call fails, nothing has been sent and the session
  // answers 500 with the error's message instead.
  // The session applies its write timeout to each piece; a source that waits
  // (an upstream fetch) must bound its own waits.
  virtual Awaitable<content::Result<content::ByteView>> next() = 0;
  // next(), for a session that can send files: a source that reads from the
  // store's block files may answer with file pieces (the same bytes). One
  // session uses either next() or next_piece(), not both.
  virtual Awaitable<content::Result<BodyPiece>> next_piece();
};

struct Response {
  unsigned status = 200;
  // Header fields to send, in order. The session owns Content-Length,
  // Transfer-Encoding and Connection and drops them from this list; a field
  // whose name or value holds CR, LF or NUL is dropped too.
  std::vector<std::pair<std::string, std::string>> headers;
  // Header lines formatted by the handler ("Name: value\r\n" each), sent as
  // they are before `headers`: a handler that gives one answer often (the hit
  // cache) shares its lines instead of building `headers` each time. The
  // session does not check them: they must be well-formed and must not hold
  // Content-Length, Transfer-Encoding or Connection.
  std::shared_ptr<const std::string> header_lines;
  // The body, when `stream` is null. Content-Length is its size, also for HEAD.
  std::string body;
  // A streamed body. Its Content-Length is `stream_length` when known (the
  // source must then produce exactly that many bytes, or the connection is
  // cut); otherwise the body is sent chunked (HTTP/1.1) or close-delimited.
  std::unique_ptr<BodySource> stream;
  std::optional<std::uint64_t> stream_length;
  // For the access log and the hit/miss metrics.
  CacheStatus cache = CacheStatus::none;
  // Close the connection after this response.
  bool close = false;

  // A text/plain response whose body is `text` plus a newline.
  static Response text(unsigned status, std::string_view text);
  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// Shared answers of handlers: 405 with `Allow: GET, HEAD` unless the method
// is GET or HEAD; the admin API's authentication (403 when `admin_token` is
// "", 401 with WWW-Authenticate without the right bearer token). nullopt when
// the request may go on.
std::optional<Response> require_get_or_head(const Request& request);
std::optional<Response> check_admin(const Request& request, const std::string& admin_token);

class Handler {
 public:
  virtual ~Handler() = default;
  // Answers `request`. For HEAD, return what GET would return; the session
  // sends the headers only and never pulls a stream. Must not throw: a
  // failure is a Response (500 for a storage failure).
  virtual Awaitable<Response> handle(const Request& request) = 0;
};

}  // namespace srcgate::server
