// The access log: one structured line per request (time, client, method,
// target, status, body bytes sent, duration, cache hit/miss, outcome), in
// logfmt ("text") or JSON.
//
// Unbuffered (buffer_bytes 0), each line is written with one fwrite as it
// comes. Buffered, lines collect in memory and are written together (one
// fwrite and fflush) when they pass buffer_bytes, when the oldest of them has
// waited flush_interval (a background thread looks that often), at flush()
// and at destruction; as nginx's `access_log ... buffer= flush=`. Lines keep
// their order either way; a crash loses at most the buffered ones.
//
// Ownership: the server holds a shared_ptr<AccessLog>; the FILE* is borrowed
// (stderr in production) and must outlive the log.
// Thread-safety: write() and flush() may be called from any thread; lines
// never interleave (unbuffered: stdio locks the FILE for each fwrite;
// buffered: a mutex guards the buffer and the writes).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

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
// The same line, appended to `out`.
void append_access_record(std::string& out, const AccessRecord& r, AccessLogFormat format);

struct AccessLogBuffering {
  std::size_t buffer_bytes = 0;  // 0: every line at once
  std::chrono::milliseconds flush_interval{1000};
};

class AccessLog {
 public:
  // `out` == nullptr disables the log.
  AccessLog(AccessLogFormat format, std::FILE* out, AccessLogBuffering buffering = {});
  // Writes what is buffered.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void write(const AccessRecord& r);
  // Writes the buffered lines now.
  void flush();
  bool enabled() const { return out_ != nullptr; }

 private:
  void flush_locked();  // under mu_
  void run_flusher();

  AccessLogFormat format_;
  std::FILE* out_;
  AccessLogBuffering buffering_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::string buffer_;                            // guarded by mu_
  std::chrono::steady_clock::time_point oldest_;  // of the buffered lines; guarded
  bool stopping_ = false;                         // guarded by mu_
  std::thread flusher_;                           // when buffered
};

}  // namespace srcgate::server
