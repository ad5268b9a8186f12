// The access log: one structured line per request (time, client, method,
// target, status, body bytes sent, duration, cache hit/miss, outcome), in
// logfmt ("text") or JSON, written with one fwrite per line.
//
// Ownership: the server holds a shared_ptr<AccessLog>; the FILE* is borrowed
// (stderr in production) and must outlive the log.
// Thread-safety: write() may be called from any thread; stdio locks the FILE
// for each fwrite, so lines never interleave.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace srcgate::server {

// Whether the response came from the store, was fetched, or neither ("-").
enum class CacheStatus { none, hit, miss };

enum class AccessLogFormat { text, json };

struct AccessRecord {
  std::chrono::system_clock::time_point time;  // when the request's headers had arrived
  std::string_view remote;                     // "127.0.0.1:51234"
  std::string_view method;
  std::string_view target;
  unsigned status = 0;
  std::uint64_t bytes = 0;  // body bytes written to the socket
  std::chrono::nanoseconds duration{0};
  CacheStatus cache = CacheStatus::none;
  std::string_view outcome = "ok";  // "ok", or why the response was cut ("write timeout", ...)
};

// The line for `r`, ending in '\n'. Text: logfmt, every value that is not a
// plain token quoted, bytes outside printable ASCII escaped as \xHH, so a line
// is always one line of ASCII. JSON: one object; invalid UTF-8 becomes U+FFFD.
// Time is RFC 3339 UTC with milliseconds; duration_ms has microsecond digits.
std::string format_access_record(const AccessRecord& r, AccessLogFormat format);

class AccessLog {
 public:
  // `out` == nullptr disables the log.
  AccessLog(AccessLogFormat format, std::FILE* out) : format_(format), out_(out) {}
  void write(const AccessRecord& r) const;
  bool enabled() const { return out_ != nullptr; }

 private:
  AccessLogFormat format_;
  std::FILE* out_;
};

}  // namespace srcgate::server
