// The admin API (issue 4 item 5) over real sockets: 403 when no token is
// configured, 401 without the right bearer token; PUT /api/v1/files streams
// the body into the store and answers exactly the `srcgate hash` line (with
// Content-Length, chunked, and Expect: 100-continue uploads), PUT
// /api/v1/car stores verified CARs and rejects a bad one leaving nothing,
// POST/DELETE /api/v1/pins/<cid|hash>, GET /api/v1/stats; bodies on other
// routes are 413.
#include <catch2/catch.hpp>
#include <string>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
using Catch::Matchers::Contains;
using test::http;
using test::HttpResult;
using test::TestGateway;

namespace {

const std::string kToken = "s3cret-token";
const std::vector<std::string> kAuth = {"-H", "Authorization: Bearer " + kToken};

std::vector<std::string> with_auth(std::vector<std::string> extra) {
  extra.insert(extra.begin(), kAuth.begin(), kAuth.end());
  return extra;
}

std::string sha256_hex(const content::Bytes& data) {
  return content::hex_encode(content::digest_of(content::HashAlgo::sha256, data).bytes());
}

}  // namespace

TEST_CASE("the admin API is refused without a configured token, or without the right one",
          "[admin]") {
  TestGateway off;
  HttpResult disabled = http(off.url() + "/api/v1/stats", kAuth);
  CHECK(disabled.status == 403);

  TestGateway on("", kToken);
  CHECK(http(on.url() + "/api/v1/stats").status == 401);
  CHECK(http(on.url() + "/api/v1/stats", {"-H", "Authorization: Bearer wrong"}).status == 401);
  CHECK(http(on.url() + "/api/v1/stats", {"-H", "Authorization: Basic " + kToken}).status == 401);
  HttpResult ok = http(on.url() + "/api/v1/stats", kAuth);
  CHECK(ok.status == 200);
  CHECK(ok.header("content-type") == "application/json");
  CHECK_THAT(ok.body, Contains("\"files\":0"));
  CHECK(http(on.url() + "/api/v1/nothing", kAuth).status == 404);
  CHECK(http(on.url() + "/api/v1/stats", kAuth, "POST").status == 405);
  // An unauthorised upload is refused before its body is read; nothing is stored.
  test::TempDir tmp;
  test::write_file(tmp / "f", test::deterministic_bytes("admin-unauth", 3 << 20));
  HttpResult refused =
      http(on.url() + "/api/v1/files", {"-T", (tmp / "f").string(), "-H", "Expect:"});
  CHECK(refused.status == 401);
  auto st = on.store().stats();
  REQUIRE(st);
  CHECK(st->files == 0);
}

TEST_CASE("PUT /api/v1/files stores the body and answers the `srcgate hash` line", "[admin]") {
  TestGateway gw("", kToken);
  test::TempDir tmp;
  const content::Bytes data = test::deterministic_bytes("admin-upload", (3u << 20) + 77);
  const auto file = tmp / "upload.bin";
  test::write_file(file, data);
  // The independent answer: the srcgate binary's hash command on the same file.
  const auto hashed = test::run_command({test::srcgate_binary().string(), "hash", file.string()});
  REQUIRE(hashed.exit_code == 0);

  const std::string name = file.string();
  struct Upload {
    std::string what;
    std::vector<std::string> args;
  };
  const std::vector<Upload> uploads = {
      {"Content-Length", {"-T", file.string(), "-H", "Expect:"}},
      {"Expect: 100-continue", {"-T", file.string(), "-H", "Expect: 100-continue"}},
      {"chunked", {"-T", file.string(), "-H", "Transfer-Encoding: chunked"}},
  };
  for (const Upload& u : uploads) {
    INFO(u.what);
    const auto start = std::chrono::steady_clock::now();
    HttpResult r = http(gw.url() + "/api/v1/files?name=" + name, with_auth(u.args));
    INFO(r.curl_err);
    CHECK(r.status == 200);
    CHECK(r.body == hashed.out);
    // curl waits up to 1 s for "100 Continue" when the server sends none.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(900));
  }
  auto st = gw.store().stats();
  REQUIRE(st);
  CHECK(st->files == 1);
  HttpResult get = http(gw.url() + "/sha256/" + sha256_hex(data));
  CHECK(get.status == 200);
  const bool same = get.body == std::string(data.begin(), data.end());
  CHECK(same);

  // An empty upload is the empty file.
  HttpResult empty =
      http(gw.url() + "/api/v1/files", with_auth({"-X", "PUT", "-H", "Content-Length: 0"}));
  CHECK(empty.status == 200);
  CHECK_THAT(
      empty.body,
      Contains("\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""));
  CHECK(http(gw.url() + "/sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            .status == 200);
  CHECK(http(gw.url() + "/api/v1/files?profile=nope", with_auth({"-T", file.string()})).status ==
        400);
  CHECK(http(gw.url() + "/api/v1/files", with_auth({"-T", file.string(), "-X", "POST"})).status ==
        405);
  // Bodies are refused outside the admin API.
  CHECK(http(gw.url() + "/sha256/" + sha256_hex(data), {"-T", file.string(), "-X", "GET"}).status ==
        413);
}

TEST_CASE("PUT /api/v1/car stores a verified CAR; a bad CAR leaves nothing", "[admin]") {
  TestGateway gw("", kToken);
  const auto car = test::fixture("path_gateway_unixfs/dir-with-files.car");
  HttpResult r = http(gw.url() + "/api/v1/car", with_auth({"-T", car.string()}));
  CHECK(r.status == 200);
  CHECK_THAT(r.body,
             Contains("\"root\":\"bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy\""));
  HttpResult served = http(
      gw.url() + "/ipfs/bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy/ascii.txt");
  CHECK(served.status == 200);
  CHECK(served.body == "hello application/vnd.ipld.car\n");
  auto before = gw.store().stats();
  REQUIRE(before);

  // The same CAR with one byte of a block flipped: rejected, nothing stored.
  test::TempDir tmp;
  content::Bytes bad = test::read_file(car);
  bad[bad.size() - 3] ^= 0x01;
  test::write_file(tmp / "bad.car", bad);
  HttpResult rejected =
      http(gw.url() + "/api/v1/car", with_auth({"-T", (tmp / "bad.car").string()}));
  CHECK(rejected.status == 400);
  auto after = gw.store().stats();
  REQUIRE(after);
  CHECK(after->blocks == before->blocks);
  CHECK(after->files == before->files);
}

TEST_CASE("POST and DELETE /api/v1/pins/<cid|hash> pin and unpin", "[admin]") {
  TestGateway gw("", kToken);
  const content::Bytes data = test::deterministic_bytes("admin-pin", 5000);
  const auto summary = gw.import(data);
  const std::string root = summary.dag.root.to_string();

  HttpResult pin = http(gw.url() + "/api/v1/pins/" + sha256_hex(data), kAuth, "POST");
  CHECK(pin.status == 200);
  CHECK(pin.body == "{\"root\":\"" + root + "\",\"pinned\":true}\n");
  auto st = gw.store().stats();
  REQUIRE(st);
  CHECK(st->pinned_bytes == 5000);
  HttpResult stats = http(gw.url() + "/api/v1/stats", kAuth);
  CHECK_THAT(stats.body, Contains("\"pinned_bytes\":5000"));

  HttpResult unpin = http(gw.url() + "/api/v1/pins/" + root, kAuth, "DELETE");
  CHECK(unpin.status == 200);
  CHECK(unpin.body == "{\"root\":\"" + root + "\",\"pinned\":false}\n");
  st = gw.store().stats();
  REQUIRE(st);
  CHECK(st->pinned_bytes == 0);

  HttpResult sri =
      http(gw.url() + "/api/v1/pins/sha256-" +
               content::base64_encode(content::digest_of(content::HashAlgo::sha256, data).bytes()),
           kAuth, "POST");
  CHECK(sri.status == 200);
  CHECK(http(gw.url() + "/api/v1/pins/" + std::string(64, 'a'), kAuth, "POST").status == 404);
  CHECK(http(gw.url() + "/api/v1/pins/not-a-thing", kAuth, "POST").status == 400);
}
