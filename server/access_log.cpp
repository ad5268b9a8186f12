#include "server/access_log.hpp"

#include <algorithm>
#include <ctime>

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

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<int>(ms.count() % 1000));
  out.append(buf, static_cast<std::size_t>(n));
}

void append_duration_ms(std::string& out, std::chrono::nanoseconds d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(us / 1000),
                              static_cast<long long>(us % 1000));
  out.append(buf, static_cast<std::size_t>(n));
}

// logfmt value: bare when it is a non-empty run of safe characters, else quoted
// with \" \\ and \xHH escapes.
void append_text_value(std::string& out, std::string_view v) {
  const bool bare = !v.empty() && v.find_first_of(" =\"\\") == std::string_view::npos &&
                    std::all_of(v.begin(), v.end(), [](char c) {
                      const auto u = static_cast<unsigned char>(c);
                      return u > 0x20 && u < 0x7f;
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
  if (format == AccessLogFormat::json) {
    out += "{\"time\":\"";
    append_time(out, r.time);
    out += "\",\"remote\":";
    append_json_string(out, r.remote);
    out += ",\"method\":";
    append_json_string(out, r.method);
    out += ",\"target\":";
    append_json_string(out, r.target);
    out += ",\"status\":" + std::to_string(r.status);
    out += ",\"bytes\":" + std::to_string(r.bytes);
    out += ",\"duration_ms\":";
    append_duration_ms(out, r.duration);
    out += ",\"cache\":\"";
    out += cache_name(r.cache);
    out += "\",\"outcome\":";
    append_json_string(out, r.outcome);
    out += "}\n";
    return out;
  }
  out += "time=";
  append_time(out, r.time);
  out += " remote=";
  append_text_value(out, r.remote);
  out += " method=";
  append_text_value(out, r.method);
  out += " target=";
  append_text_value(out, r.target);
  out += " status=" + std::to_string(r.status);
  out += " bytes=" + std::to_string(r.bytes);
  out += " duration_ms=";
  append_duration_ms(out, r.duration);
  out += " cache=";
  out += cache_name(r.cache);
  out += " outcome=";
  append_text_value(out, r.outcome);
  out += '\n';
  return out;
}

void AccessLog::write(const AccessRecord& r) const {
  if (out_ == nullptr) return;
  const std::string line = format_access_record(r, format_);
  std::fwrite(line.data(), 1, line.size(), out_);
}

}  // namespace srcgate::server
