// HttpClient: the upstream side of the miss path. An HTTP/1.1 client over
// plain TCP or TLS (OpenSSL through Asio/Beast), with
// - certificate and host-name verification against the system CAs plus
//   HttpClientOptions::ca_file, and SNI;
// - redirects followed inside send() (301, 302, 303, 307, 308; at most
//   max_redirects; https -> http refused; 303 turns the method into GET);
// - Content-Length, chunked and close-delimited response bodies, read piece by
//   piece (ClientResponse::read), never whole;
// - connection reuse: a connection whose response body was read to its end
//   and that the server kept alive goes back to a per-origin idle pool
//   (scheme, host, port, proxy) and is reused by a later request;
// - http_proxy / https_proxy / no_proxy (ProxySettings): plain http through
//   the proxy in absolute form, https through a CONNECT tunnel;
// - three timeouts: connect (DNS + TCP + TLS handshake + CONNECT), first byte
//   (request written -> response header block read) and stall (no body byte
//   for that long);
// - a per-request guard against server-side request forgery
//   (ClientRequest::public_destinations_only): on every hop of a redirect
//   chain, every address the host resolves to must be public
//   (non_public_address() says which are not), else the request fails with
//   destination_refused before any connection to it is made. The addresses
//   checked are the ones then dialled, so DNS cannot answer differently in
//   between. Through an http(s) proxy the proxy resolves the name: the client
//   can only check IP-literal hosts and "localhost" names, and does.
//
// Errors are ClientError values with a kind that the miss path turns into a
// metric label and a failover decision; nothing throws on the request path.
//
// Ownership: the creator owns the client; ClientResponses must not outlive it.
// A ClientResponse owns its connection until destroyed; destroying it before
// the end of the body closes the connection (it is not reused).
// Thread-safety: send() may be called concurrently from any thread and any
// coroutine; the pool is internally synchronized. One ClientResponse is used
// by one coroutine at a time. REQUIRES: the calling coroutine runs on a
// strand or a single-threaded io_context (the deadlines' timer completes on
// its executor, as with every Asio I/O object). Idle connections are pooled
// per io_context too, and closed when their io_context shuts down, so the
// client may outlive the io_contexts it was used on.
#pragma once

#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "content/bytes.hpp"
#include "server/net.hpp"
#include "server/proxy_settings.hpp"

namespace srcgate::server {

enum class ClientErrc {
  bad_url,              // the URL (or a redirect's Location) is not an http(s) URL we can fetch
  resolve,              // the host name did not resolve
  connect,              // TCP connect refused or unreachable (also the proxy's)
  tls,                  // TLS handshake or certificate/host-name verification failed
  proxy,                // the proxy refused the CONNECT (its status is in the message)
  timeout,              // connect or first-byte timeout
  stall,                // no body byte within stall_timeout
  reset,                // the peer closed or reset the connection before the response ended
                        // (a body shorter than its Content-Length is this)
  protocol,             // the response is not valid HTTP/1.x (bad status line, bad chunking,
                        // header block over max_header_bytes)
  too_many_redirects,   // more than max_redirects
  redirect_refused,     // a redirect from https to http, or without a usable Location
  destination_refused,  // public_destinations_only, and the host is (or resolves to) a
                        // non-public address; the message names the host and the address
};

struct ClientError {
  ClientErrc code;
  std::string message;  // says what failed and where: "connect 127.0.0.1:9: Connection refused"
};

// "timeout", "stall", "reset", ...: for metric labels and logs.
std::string_view to_string(ClientErrc code);

template <class T>
using ClientResult = boost::system::result<T, ClientError>;

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds first_byte_timeout{15'000};
  std::chrono::milliseconds stall_timeout{15'000};
  unsigned max_redirects = 10;
  // Added to the system CAs (PEM file). Throws at construction if unreadable.
  std::optional<std::filesystem::path> ca_file;
  ProxySettings proxy;  // default: no proxy; ProxySettings::from_environment() for the real one
  std::size_t max_idle_per_origin = 8;
  std::chrono::milliseconds idle_keepalive{
      30'000};  // idle pooled connections older than this close
  std::size_t max_header_bytes = 64 * 1024;
  std::string user_agent = "srcgate";
};

struct ClientRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;             // absolute http:// or https:// URL
  // Extra header fields (Host, User-Agent, Connection and framing are the
  // client's).
  std::vector<std::pair<std::string, std::string>> headers;
  // Refuse (destination_refused) a destination, on any hop, that is not a
  // public address: see non_public_address(). For URLs that come from data
  // rather than from the operator (source-index URLs). Connections opened
  // under this guard are pooled apart from the others.
  bool public_destinations_only = false;
};

// Why `address` is not a public unicast destination ("loopback", "private
// (10.0.0.0/8)", "link-local", "carrier-grade NAT (100.64.0.0/10)",
// "multicast", ...), or nullopt when it is one. IPv4-mapped (::ffff:a.b.c.d),
// NAT64 (64:ff9b::/96) and 6to4 (2002::/16) IPv6 addresses are judged by the
// IPv4 address they embed.
std::optional<std::string> non_public_address(const net::ip::address& address);

// A response whose header block has arrived; its body is read piece by piece.
class ClientResponse {
 public:
  virtual ~ClientResponse() = default;
  virtual unsigned status() const = 0;
  // The URL that answered (after redirects).
  virtual const std::string& url() const = 0;
  // Header fields in arrival order, names as sent.
  virtual const std::vector<std::pair<std::string, std::string>>& headers() const = 0;
  // The first value of `name` (case-insensitive), "" when absent.
  std::string_view header(std::string_view name) const;
  // The body length the server declared; nullopt for chunked or
  // close-delimited bodies (and 0 for HEAD, 204, 304).
  virtual std::optional<std::uint64_t> content_length() const = 0;
  // The next piece of the body: a non-empty view valid until the next call;
  // an empty view at its end (the connection then returns to the pool when
  // reusable); or an error (stall, reset, protocol). Each call is bounded by
  // stall_timeout.
  virtual Awaitable<ClientResult<content::ByteView>> read() = 0;
};

class HttpClient {
 public:
  // Throws std::runtime_error when ca_file cannot be loaded (a start-up error).
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` on the calling coroutine's executor and returns once the
  // final response's header block has arrived (redirects followed). Any
  // status is a value (404 and 500 are responses, not errors).
  Awaitable<ClientResult<std::unique_ptr<ClientResponse>>> send(ClientRequest request);

  const HttpClientOptions& options() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace srcgate::server
