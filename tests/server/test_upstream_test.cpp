// The test upstream (tests/support/test_upstream.hpp) checked with curl: each
// canned kind behaves as the miss-path tests assume it does.
#include "tests/support/test_upstream.hpp"

#include <catch2/catch.hpp>
#include <chrono>

#include "tests/support/test_support.hpp"

using namespace srcgate;
using namespace srcgate::test;

namespace {

std::string text(const content::Bytes& b) { return std::string(b.begin(), b.end()); }

content::Bytes bytes_of(std::string_view s) { return content::Bytes(s.begin(), s.end()); }

// curl -sS URL -o FILE; returns the exit code and the body.
std::pair<int, std::string> curl_get(const std::string& url,
                                     const std::vector<std::string>& extra = {}) {
  TempDir dir;
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "-o", (dir / "b").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  const CommandResult r = run_command(argv);
  const std::string body =
      std::filesystem::exists(dir / "b") ? text(read_file(dir / "b")) : std::string();
  return {r.exit_code, body};
}

}  // namespace

TEST_CASE("test upstream: good mirror serves known targets, 404 otherwise, HEAD, keep-alive") {
  TestUpstream up(good_mirror({{"/sha256/aa", bytes_of("hello world")}}));
  auto [rc, body] = curl_get(up.url() + "/sha256/aa");
  CHECK(rc == 0);
  CHECK(body == "hello world");

  const CommandResult head =
      run_command({"curl", "-sS", "--max-time", "10", "--head", up.url() + "/sha256/aa"});
  CHECK(head.exit_code == 0);
  CHECK(head.out.find("HTTP/1.1 200") == 0);
  CHECK(head.out.find("Content-Length: 11") != std::string::npos);

  auto [rc404, body404] = curl_get(up.url() + "/sha256/bb", {"-w", "%{http_code}"});
  CHECK(rc404 == 0);

  // Two requests in one curl run share one connection.
  const std::size_t before = up.connections();
  const CommandResult two = run_command(
      {"curl", "-sS", "--max-time", "10", up.url() + "/sha256/aa", up.url() + "/sha256/aa"});
  CHECK(two.exit_code == 0);
  CHECK(two.out == "hello worldhello world");
  CHECK(up.connections() == before + 1);

  CHECK(up.requests("/sha256/aa") == 4);
  CHECK(up.requests("/sha256/bb") == 1);
  CHECK(up.requests() == 5);
  const auto log = up.request_log();
  REQUIRE(log.size() == 5);
  CHECK(log[0].method == "GET");
  CHECK(log[1].method == "HEAD");
  CHECK(log[0].header("host") == "127.0.0.1:" + std::to_string(up.port()));
}

TEST_CASE("test upstream: generated mirror streams deterministic bytes") {
  TestUpstream up(generated_mirror({{"/x", GeneratedObject{"seed", 3'000'000}}}));
  TempDir dir;
  const CommandResult r =
      run_command({"curl", "-sS", "--max-time", "20", "-o", (dir / "b").string(), up.url() + "/x"});
  CHECK(r.exit_code == 0);
  CHECK(read_file(dir / "b") == deterministic_bytes("seed", 3'000'000));
}

TEST_CASE("test upstream: wrong bytes have the right length and a different last byte") {
  const content::Bytes good = bytes_of("0123456789");
  TestUpstream up(wrong_bytes_mirror({{"/w", good}}));
  auto [rc, body] = curl_get(up.url() + "/w");
  CHECK(rc == 0);
  REQUIRE(body.size() == good.size());
  CHECK(body.substr(0, 9) == "012345678");
  CHECK(body[9] != '9');
}

TEST_CASE("test upstream: cut short ends the body early (curl: partial file, exit 18)") {
  TestUpstream up(cut_short_mirror({{"/c", content::Bytes(1000, 7)}}, 100));
  auto [rc, body] = curl_get(up.url() + "/c");
  CHECK(rc == 18);
  CHECK(body.size() == 100);
}

TEST_CASE("test upstream: reset after the request (curl: exit 56, recv failure)") {
  TestUpstream up(reset_after_request());
  auto [rc, body] = curl_get(up.url() + "/r");
  CHECK(rc == 56);
  CHECK(up.requests("/r") == 1);
}

TEST_CASE("test upstream: fixed status") {
  TestUpstream up(fixed_status(500));
  const CommandResult r = run_command(
      {"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", up.url() + "/"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "500");
}

TEST_CASE("test upstream: redirect loop and redirect to another base") {
  TestUpstream up(redirect_loop());
  auto [rc, body] = curl_get(up.url() + "/sha256/aa", {"-L", "--max-redirs", "5"});
  CHECK(rc == 47);  // too many redirects
  CHECK(up.requests("/sha256/aa") == 3);
  CHECK(up.requests("/loop/sha256/aa") == 3);

  TestUpstream good(good_mirror({{"/sha256/aa", bytes_of("data")}}));
  TestUpstream redirect(redirect_to(good.url()));
  auto [rc2, body2] = curl_get(redirect.url() + "/sha256/aa", {"-L"});
  CHECK(rc2 == 0);
  CHECK(body2 == "data");
}

TEST_CASE("test upstream: a stall after headers ends when the upstream stops, bounded") {
  auto up = std::make_unique<TestUpstream>(stall_after_headers_mirror({{"/s", bytes_of("abc")}}));
  const std::string url = up->url() + "/s";
  std::pair<int, std::string> result;
  std::thread client([&] { result = curl_get(url); });
  REQUIRE(up->wait_for_requests(1, std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  up.reset();  // destructor: wakes the stalled handler, closes, joins
  const auto took = std::chrono::steady_clock::now() - t0;
  client.join();
  CHECK(took < std::chrono::seconds(1));
  CHECK(result.first == 18);  // transfer closed with bytes remaining
  CHECK(result.second.empty());
}

TEST_CASE("test upstream: throttled writes are paced") {
  TestUpstream up(good_mirror({{"/t", content::Bytes(200'000, 1)}}, 400'000));
  const auto t0 = std::chrono::steady_clock::now();
  auto [rc, body] = curl_get(up.url() + "/t");
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(rc == 0);
  CHECK(body.size() == 200'000);
  CHECK(took >= std::chrono::milliseconds(450));
  CHECK(took < std::chrono::seconds(3));
}
