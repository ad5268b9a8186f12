#include "server/access_log.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <limits>

#include "server/cli_command.hpp"  // to_valid_utf8

namespace srcgate::server {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string_view cache_name(CacheStatus c) {
  switch (c) {
    case CacheStatus::hit:
      return "hit";
    case CacheStatus::miss:
      return "miss";
    case CacheStatus::none:
      break;
  }
  return "-";
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Zero-padded to `width` digits. REQUIRES: v < 10^width, width <= 4.
void append_padded(char* at, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    at[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  // "YYYY-MM-DDTHH:MM:SS" formatted once a second per thread.
  thread_local std::int64_t cached_second = std::numeric_limits<std::int64_t>::min();
  thread_local char cached[20];
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  std::int64_t secs = ms.count() / 1000;
  std::int64_t milli = ms.count() % 1000;
  if (milli < 0) {  // before 1970
    milli += 1000;
    secs -= 1;
  }
  if (secs != cached_second) {
    const std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n != sizeof cached - 1) {  // a year past 9999: not cached
      out.append(buf, static_cast<std::size_t>(std::max(n, 0)));
      out += '.';
      char digits[3];
      append_padded(digits, static_cast<unsigned>(milli), 3);
      out.append(digits, 3);
      out += 'Z';
      return;
    }
    std::memcpy(cached, buf, sizeof cached - 1);
    cached_second = secs;
  }
  char tail[5] = {'.', '0', '0', '0', 'Z'};
  append_padded(tail + 1, static_cast<unsigned>(milli), 3);
  out.append(cached, sizeof cached - 1);
  out.append(tail, sizeof tail);
}

void append_duration_ms(std::string& out, std::chrono::nanoseconds d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us < 0) {
    out += '-';
    append_duration_ms(out, -d);
    return;
  }
  append_uint(out, static_cast<std::uint64_t>(us / 1000));
  char frac[4] = {'.', '0', '0', '0'};
  append_padded(frac + 1, static_cast<unsigned>(us % 1000), 3);
  out.append(frac, sizeof frac);
}

// logfmt value: bare when it is a non-empty run of safe characters, else quoted
// with \" \\ and \xHH escapes.
void append_text_value(std::string& out, std::string_view v) {
  const bool bare = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '=' && c != '"' && c != '\\';
  });
  if (bare) {
    out += v;
    return;
  }
  out += '"';
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_json_string(std::string& out, std::string_view v) {
  const std::string valid = to_valid_utf8(v);
  out += '"';
  for (const char c : valid) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string format_access_record(const AccessRecord& r, AccessLogFormat format) {
  std::string out;
  out.reserve(160 + r.target.size());
  append_access_record(out, r, format);
  return out;
}

void append_access_record(std::string& out, const AccessRecord& r, AccessLogFormat format) {
  if (format == AccessLogFormat::json) {
    out += "{\"time\":\"";
    append_time(out, r.time);
    out += "\",\"remote\":";
    append_json_string(out, r.remote);
    out += ",\"method\":";
    append_json_string(out, r.method);
    out += ",\"target\":";
    append_json_string(out, r.target);
    out += ",\"status\":";
    append_uint(out, r.status);
    out += ",\"bytes\":";
    append_uint(out, r.bytes);
    out += ",\"duration_ms\":";
    append_duration_ms(out, r.duration);
    out += ",\"cache\":\"";
    out += cache_name(r.cache);
    out += "\",\"outcome\":";
    append_json_string(out, r.outcome);
    out += "}\n";
    return;
  }
  out += "time=";
  append_time(out, r.time);
  out += " remote=";
  append_text_value(out, r.remote);
  out += " method=";
  append_text_value(out, r.method);
  out += " target=";
  append_text_value(out, r.target);
  out += " status=";
  append_uint(out, r.status);
  out += " bytes=";
  append_uint(out, r.bytes);
  out += " duration_ms=";
  append_duration_ms(out, r.duration);
  out += " cache=";
  out += cache_name(r.cache);
  out += " outcome=";
  append_text_value(out, r.outcome);
  out += '\n';
}

AccessLog::AccessLog(AccessLogFormat format, std::FILE* out, AccessLogBuffering buffering)
    : format_(format), out_(out), buffering_(buffering) {
  if (out_ != nullptr && buffering_.buffer_bytes > 0) {
    buffer_.reserve(buffering_.buffer_bytes + 1024);
    flusher_ = std::thread([this] { run_flusher(); });
  }
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  flush();
}

void AccessLog::write(const AccessRecord& r) {
  if (out_ == nullptr) return;
  thread_local std::string line;
  line.clear();
  append_access_record(line, r, format_);
  if (buffering_.buffer_bytes == 0) {
    std::fwrite(line.data(), 1, line.size(), out_);
    return;
  }
  std::lock_guard lock(mu_);
  const bool first = buffer_.empty();
  if (first) oldest_ = std::chrono::steady_clock::now();
  buffer_ += line;
  if (buffer_.size() >= buffering_.buffer_bytes) {
    flush_locked();
  } else if (first) {
    wake_.notify_one();  // the flusher's deadline is now this line's
  }
}

void AccessLog::flush() {
  if (out_ == nullptr) return;
  std::lock_guard lock(mu_);
  flush_locked();
}

void AccessLog::flush_locked() {
  if (buffer_.empty()) return;
  std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
  std::fflush(out_);
  buffer_.clear();
}

void AccessLog::run_flusher() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Wakes at most flush_interval after the oldest buffered line arrived.
    const auto deadline = buffer_.empty()
                              ? std::chrono::steady_clock::now() + buffering_.flush_interval
                              : oldest_ + buffering_.flush_interval;
    wake_.wait_until(lock, deadline);
    if (!buffer_.empty() &&
        std::chrono::steady_clock::now() - oldest_ >= buffering_.flush_interval) {
      flush_locked();
    }
  }
}

}  // namespace srcgate::server
