#include "server/access_log.hpp"

#include <catch2/catch.hpp>
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
