#include "tests/support/test_upstream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>

#include "tests/support/test_support.hpp"

namespace srcgate::test {
namespace {

// Every blocking socket call wakes at least this often to look at the stop flag.
constexpr int kPollMillis = 100;
// A request head larger than this ends the connection.
constexpr std::size_t kMaxHead = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

void set_timeouts(int fd) {
  timeval tv{};
  tv.tv_sec = 0;
  tv.tv_usec = kPollMillis * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Parses a request head (without the final blank line). False when malformed.
bool parse_head(std::string_view head, UpstreamRequest& out) {
  const std::size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  out.method = std::string(line.substr(0, sp1));
  out.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  out.version = std::string(line.substr(sp2 + 1));
  std::size_t at = eol == std::string_view::npos ? head.size() : eol + 2;
  while (at < head.size()) {
    std::size_t end = head.find("\r\n", at);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view h = head.substr(at, end - at);
    const std::size_t colon = h.find(':');
    if (colon == std::string_view::npos) return false;
    out.headers.emplace_back(std::string(trim(h.substr(0, colon))),
                             std::string(trim(h.substr(colon + 1))));
    at = end + 2;
  }
  return true;
}

}  // namespace

// ---- UpstreamRequest ------------------------------------------------------

std::optional<std::string> UpstreamRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

bool UpstreamRequest::wants_close() const {
  const auto c = header("Connection");
  if (version == "HTTP/1.0") return !c || !iequals(*c, "keep-alive");
  return c && iequals(*c, "close");
}

// ---- UpstreamConnection ---------------------------------------------------

UpstreamConnection::UpstreamConnection(TestUpstream& server, int fd, std::uint64_t index)
    : server_(server), fd_(fd), index_(index) {}

UpstreamConnection::~UpstreamConnection() { close(); }

bool UpstreamConnection::open() const { return fd_ >= 0; }
bool UpstreamConnection::stopping() const { return server_.stopping(); }
std::string UpstreamConnection::base_url() const { return server_.url(); }

bool UpstreamConnection::send_all(const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    if (fd_ < 0 || server_.stopping()) return false;
    const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      size -= static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      continue;  // send timeout: look at the stop flag again
    } else {
      return false;
    }
  }
  return true;
}

bool UpstreamConnection::send_head(int status, const HeaderList& headers) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  for (const auto& [n, v] : headers) head += n + ": " + v + "\r\n";
  head += "\r\n";
  return send_all(reinterpret_cast<const std::uint8_t*>(head.data()), head.size());
}

bool UpstreamConnection::write(content::ByteView data, std::uint64_t bytes_per_second) {
  if (bytes_per_second == 0) return send_all(data.data(), data.size());
  const std::size_t slice = std::max<std::uint64_t>(1, bytes_per_second / 50);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  while (sent < data.size()) {
    const std::size_t n = std::min<std::size_t>(slice, data.size() - sent);
    if (!send_all(data.data() + sent, n)) return false;
    sent += n;
    const auto due = start + std::chrono::microseconds(sent * 1'000'000 / bytes_per_second);
    std::unique_lock lock(server_.mutex_);
    if (server_.cv_.wait_until(lock, due, [&] { return server_.stopping(); })) return false;
  }
  return true;
}

bool UpstreamConnection::write(std::string_view data, std::uint64_t bytes_per_second) {
  return write(content::ByteView(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()),
               bytes_per_second);
}

bool UpstreamConnection::respond(int status, content::ByteView body, const HeaderList& headers,
                                 bool head_only) {
  HeaderList all;
  all.reserve(headers.size() + 1);
  all.emplace_back("Content-Length", std::to_string(body.size()));
  all.insert(all.end(), headers.begin(), headers.end());
  if (!send_head(status, all)) return false;
  return head_only || write(body);
}

bool UpstreamConnection::respond(int status, std::string_view body, const HeaderList& headers,
                                 bool head_only) {
  return respond(status,
                 content::ByteView(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()),
                 headers, head_only);
}

void UpstreamConnection::close() {
  if (fd_ < 0) return;
  std::lock_guard lock(server_.mutex_);
  std::erase(server_.open_fds_, fd_);
  ::shutdown(fd_, SHUT_WR);
  ::close(fd_);
  fd_ = -1;
}

void UpstreamConnection::reset() {
  if (fd_ < 0) return;
  std::lock_guard lock(server_.mutex_);
  std::erase(server_.open_fds_, fd_);
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd_);
  fd_ = -1;
}

bool UpstreamConnection::stall(std::chrono::milliseconds timeout) {
  std::unique_lock lock(server_.mutex_);
  return server_.cv_.wait_for(lock, timeout, [&] { return server_.stopping(); });
}

// ---- TestUpstream ---------------------------------------------------------

TestUpstream::TestUpstream(UpstreamHandler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listen_fd_ >= 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  const bool bound = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  INFO("bind 127.0.0.1:0: " << std::strerror(errno));
  REQUIRE(bound);
  REQUIRE(::listen(listen_fd_, 256) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TestUpstream::~TestUpstream() { stop(); }

std::string TestUpstream::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::uint64_t TestUpstream::requests() const {
  std::lock_guard lock(mutex_);
  return log_.size();
}

std::uint64_t TestUpstream::requests(std::string_view target) const {
  std::lock_guard lock(mutex_);
  const auto it = per_target_.find(target);
  return it == per_target_.end() ? 0 : it->second;
}

std::uint64_t TestUpstream::connections() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

std::vector<UpstreamRequest> TestUpstream::request_log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

bool TestUpstream::wait_for_requests(std::uint64_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return log_.size() >= n; });
}

void TestUpstream::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_.exchange(true)) return;
    // Wake blocked reads and writes at once; the serve threads close the fds.
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void TestUpstream::accept_loop() {
  while (!stopping()) {
    pollfd p{listen_fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, kPollMillis);
    if (r <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    set_timeouts(fd);
    std::lock_guard lock(mutex_);
    if (stopping()) {
      ::close(fd);
      break;
    }
    const std::uint64_t index = connections_++;
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd, index] { serve(fd, index); });
  }
}

void TestUpstream::serve(int fd, std::uint64_t index) {
  UpstreamConnection conn(*this, fd, index);
  std::string buffer;
  char chunk[16 * 1024];
  while (conn.open() && !stopping()) {
    // Read one request head.
    std::size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > kMaxHead || stopping()) return;
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer.append(chunk, static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        continue;
      } else {
        return;  // peer closed or error; ~UpstreamConnection closes
      }
    }
    UpstreamRequest request;
    request.connection = index;
    if (!parse_head(std::string_view(buffer).substr(0, head_end), request)) {
      conn.respond(400, std::string_view("malformed request\n"), {{"Connection", "close"}});
      return;
    }
    buffer.erase(0, head_end + 4);
    // Discard a request body (tests send none, but keep the stream in step).
    if (const auto cl = request.header("Content-Length")) {
      std::uint64_t left = std::strtoull(cl->c_str(), nullptr, 10);
      const std::size_t have = std::min<std::uint64_t>(left, buffer.size());
      buffer.erase(0, have);
      left -= have;
      while (left > 0) {
        if (stopping()) return;
        const ssize_t n = ::recv(fd, chunk, std::min<std::uint64_t>(sizeof chunk, left), 0);
        if (n > 0) {
          left -= static_cast<std::uint64_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
          continue;
        } else {
          return;
        }
      }
    }
    {
      std::lock_guard lock(mutex_);
      log_.push_back(request);
      ++per_target_[request.target];
    }
    cv_.notify_all();
    handler_(request, conn);
    if (request.wants_close()) return;
  }
}

// ---- Canned handlers ------------------------------------------------------

namespace {

bool is_head(const UpstreamRequest& r) { return r.method == "HEAD"; }

void not_found(const UpstreamRequest& r, UpstreamConnection& c) {
  c.respond(404, std::string_view("no such object\n"), {{"Content-Type", "text/plain"}},
            is_head(r));
}

}  // namespace

UpstreamHandler good_mirror(ObjectMap objects, std::uint64_t bytes_per_second) {
  auto shared = std::make_shared<const ObjectMap>(std::move(objects));
  return [shared, bytes_per_second](const UpstreamRequest& r, UpstreamConnection& c) {
    const auto it = shared->find(r.target);
    if (it == shared->end()) return not_found(r, c);
    const HeaderList h = {{"Content-Type", "application/octet-stream"}};
    if (bytes_per_second == 0 || is_head(r)) {
      c.respond(200, content::ByteView(it->second), h, is_head(r));
      return;
    }
    HeaderList all = {{"Content-Length", std::to_string(it->second.size())}};
    all.insert(all.end(), h.begin(), h.end());
    if (c.send_head(200, all)) c.write(content::ByteView(it->second), bytes_per_second);
  };
}

UpstreamHandler generated_mirror(GeneratedMap objects, std::uint64_t bytes_per_second) {
  auto shared = std::make_shared<const GeneratedMap>(std::move(objects));
  return [shared, bytes_per_second](const UpstreamRequest& r, UpstreamConnection& c) {
    const auto it = shared->find(r.target);
    if (it == shared->end()) return not_found(r, c);
    const GeneratedObject& o = it->second;
    if (!c.send_head(200, {{"Content-Length", std::to_string(o.size)},
                           {"Content-Type", "application/octet-stream"}}))
      return;
    if (is_head(r)) return;
    DeterministicStream stream(o.seed);
    std::vector<std::uint8_t> buf(1 << 20);
    for (std::uint64_t at = 0; at < o.size;) {
      const std::size_t n = std::min<std::uint64_t>(buf.size(), o.size - at);
      stream.fill(std::span<std::uint8_t>(buf.data(), n));
      if (!c.write(content::ByteView(buf.data(), n), bytes_per_second)) return;
      at += n;
    }
  };
}

UpstreamHandler wrong_bytes_mirror(ObjectMap objects) {
  for (auto& [target, bytes] : objects)
    if (!bytes.empty()) bytes.back() = static_cast<std::uint8_t>(~bytes.back());
  return good_mirror(std::move(objects));
}

UpstreamHandler cut_short_mirror(ObjectMap objects, std::uint64_t sent) {
  auto shared = std::make_shared<const ObjectMap>(std::move(objects));
  return [shared, sent](const UpstreamRequest& r, UpstreamConnection& c) {
    const auto it = shared->find(r.target);
    if (it == shared->end()) return not_found(r, c);
    const content::Bytes& b = it->second;
    if (!c.send_head(200, {{"Content-Length", std::to_string(b.size())},
                           {"Content-Type", "application/octet-stream"}}))
      return;
    if (is_head(r)) return;
    const std::size_t n = std::min<std::uint64_t>(sent, b.empty() ? 0 : b.size() - 1);
    c.write(content::ByteView(b.data(), n));
    c.close();
  };
}

UpstreamHandler stall_after_headers_mirror(ObjectMap objects, std::chrono::milliseconds timeout) {
  auto shared = std::make_shared<const ObjectMap>(std::move(objects));
  return [shared, timeout](const UpstreamRequest& r, UpstreamConnection& c) {
    const auto it = shared->find(r.target);
    if (it == shared->end()) return not_found(r, c);
    if (!c.send_head(200, {{"Content-Length", std::to_string(it->second.size())},
                           {"Content-Type", "application/octet-stream"}}))
      return;
    if (is_head(r)) return;
    c.stall(timeout);
    c.close();
  };
}

UpstreamHandler fixed_status(int status) {
  return [status](const UpstreamRequest& r, UpstreamConnection& c) {
    c.respond(status, "test upstream: status " + std::to_string(status) + "\n",
              {{"Content-Type", "text/plain"}}, is_head(r));
  };
}

UpstreamHandler reset_after_request() {
  return [](const UpstreamRequest&, UpstreamConnection& c) { c.reset(); };
}

UpstreamHandler redirect_loop() {
  return [](const UpstreamRequest& r, UpstreamConnection& c) {
    constexpr std::string_view kLoop = "/loop";
    const std::string_view t = r.target;
    const std::string location = t.starts_with(kLoop) ? c.base_url() + std::string(t.substr(5))
                                                      : c.base_url() + "/loop" + std::string(t);
    c.respond(302, std::string_view(), {{"Location", location}}, is_head(r));
  };
}

UpstreamHandler redirect_to(std::string base_url) {
  return [base_url = std::move(base_url)](const UpstreamRequest& r, UpstreamConnection& c) {
    c.respond(302, std::string_view(), {{"Location", base_url + r.target}}, is_head(r));
  };
}

}  // namespace srcgate::test
