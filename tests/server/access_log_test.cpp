#include "server/access_log.hpp"

#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>

using namespace srcgate::server;
using namespace std::chrono_literals;

namespace {

// 2026-11-26T13:05:09.042Z
const std::chrono::system_clock::time_point kTime{1795698309042ms};

AccessRecord record() {
  AccessRecord r;
  r.time = kTime;
  r.remote = "127.0.0.1:51234";
  r.method = "GET";
  r.target = "/sha256/0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
  r.status = 200;
  r.bytes = 1048576;
  r.duration = 1234567ns;
  r.cache = CacheStatus::hit;
  return r;
}

}  // namespace

TEST_CASE("a text access line is logfmt with every field", "[access_log]") {
  CHECK(format_access_record(record(), AccessLogFormat::text) ==
        "time=2026-11-26T13:05:09.042Z remote=127.0.0.1:51234 method=GET "
        "target=/sha256/0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73 status=200 "
        "bytes=1048576 duration_ms=1.234 cache=hit outcome=ok\n");
}

TEST_CASE("a JSON access line is one object with every field", "[access_log]") {
  AccessRecord r = record();
  r.cache = CacheStatus::miss;
  r.outcome = "write timeout";
  CHECK(format_access_record(r, AccessLogFormat::json) ==
        "{\"time\":\"2026-11-26T13:05:09.042Z\",\"remote\":\"127.0.0.1:51234\",\"method\":\"GET\","
        "\"target\":\"/sha256/0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\","
        "\"status\":200,\"bytes\":1048576,\"duration_ms\":1.234,\"cache\":\"miss\","
        "\"outcome\":\"write timeout\"}\n");
}

TEST_CASE("hostile targets stay on one line and are escaped", "[access_log]") {
  AccessRecord r = record();
  r.target = "/a b\"c\\d\n\x01\xC3\xA9\xFF";
  r.cache = CacheStatus::none;
  r.outcome = "write error: Broken pipe";
  const std::string text = format_access_record(r, AccessLogFormat::text);
  CHECK_THAT(text, Catch::Matchers::Contains(
                       "target=\"/a b\\\"c\\\\d\\x0a\\x01\\xc3\\xa9\\xff\" status=200"));
  CHECK_THAT(text, Catch::Matchers::Contains("cache=- outcome=\"write error: Broken pipe\"\n"));
  const std::string json = format_access_record(r, AccessLogFormat::json);
  // valid UTF-8 kept, the invalid byte replaced by U+FFFD, controls escaped
  CHECK_THAT(json, Catch::Matchers::Contains(
                       "\"target\":\"/a b\\\"c\\\\d\\u000a\\u0001\xC3\xA9\xEF\xBF\xBD\""));
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(std::count(json.begin(), json.end(), '\n') == 1);
}

TEST_CASE("the log writes whole lines to its FILE", "[access_log]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  AccessLog log(AccessLogFormat::text, f);
  log.write(record());
  log.write(record());
  std::rewind(f);
  char buffer[1024] = {};
  const std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
  std::fclose(f);
  const std::string line = format_access_record(record(), AccessLogFormat::text);
  CHECK(std::string(buffer, n) == line + line);
  CHECK_FALSE(AccessLog(AccessLogFormat::text, nullptr).enabled());
}

namespace {
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buffer[4096];
  for (int i = 0; i < 10000; ++i) {  // bounded: the file is small
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, f);
    if (n == 0) break;
    out.append(buffer, n);
  }
  std::fseek(f, 0, SEEK_END);
  return out;
}
}  // namespace

TEST_CASE("a buffered log writes its lines once they pass the buffer size", "[access_log]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  const std::string line = format_access_record(record(), AccessLogFormat::text);
  {
    // A flush interval no test waits for: only size, flush() and destruction write.
    AccessLog log(AccessLogFormat::text, f,
                  AccessLogBuffering{3 * line.size(), std::chrono::hours(1)});
    log.write(record());
    log.write(record());
    CHECK(contents(f).empty());
    log.write(record());  // passes the size: all three go out, in order
    CHECK(contents(f) == line + line + line);
    log.write(record());
    CHECK(contents(f) == line + line + line);
    log.flush();
    CHECK(contents(f) == line + line + line + line);
    log.write(record());
  }  // destruction writes the rest
  CHECK(contents(f) == line + line + line + line + line);
  std::fclose(f);
}

TEST_CASE("a buffered log writes a lone line within its flush interval", "[access_log]") {
  // Through a pipe, so that the test waits for the write itself (poll, 5 s
  // bound) rather than for time to pass.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::FILE* w = ::fdopen(fds[1], "w");
  REQUIRE(w != nullptr);
  const std::string line = format_access_record(record(), AccessLogFormat::text);
  {
    AccessLog log(AccessLogFormat::text, w,
                  AccessLogBuffering{1 << 20, std::chrono::milliseconds(20)});
    log.write(record());
    std::string got;
    for (int i = 0; i < 100 && got.size() < line.size(); ++i) {  // bounded
      pollfd p{fds[0], POLLIN, 0};
      REQUIRE(::poll(&p, 1, 5000) == 1);
      char buffer[1024];
      const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
      REQUIRE(n > 0);
      got.append(buffer, static_cast<std::size_t>(n));
    }
    CHECK(got == line);
  }
  std::fclose(w);
  ::close(fds[0]);
}

TEST_CASE("access lines are the same whatever second or duration they carry", "[access_log]") {
  // Times across second boundaries (the per-thread cache of the seconds part),
  // before 1970, and durations with and without fractions.
  AccessRecord r = record();
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795698309999));
  CHECK_THAT(format_access_record(r, AccessLogFormat::text),
             Catch::Matchers::StartsWith("time=2026-11-26T13:05:09.999Z "));
  r.time += std::chrono::milliseconds(1);
  CHECK_THAT(format_access_record(r, AccessLogFormat::text),
             Catch::Matchers::StartsWith("time=2026-11-26T13:05:10.000Z "));
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(5));
  CHECK_THAT(format_access_record(r, AccessLogFormat::json),
             Catch::Matchers::StartsWith("{\"time\":\"1970-01-01T00:00:00.005Z\""));
  r.duration = std::chrono::microseconds(12'000'007);
  CHECK_THAT(format_access_record(r, AccessLogFormat::text),
             Catch::Matchers::Contains(" duration_ms=12000.007 "));
  r.duration = std::chrono::nanoseconds(999);
  CHECK_THAT(format_access_record(r, AccessLogFormat::text),
             Catch::Matchers::Contains(" duration_ms=0.000 "));
}
