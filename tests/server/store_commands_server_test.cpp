// The store commands with --server URL (issue 4 item 5): while a server holds
// the store, `srcgate import`, `import-car`, `pin`, `unpin` and `stats` go
// through its admin API (token from $SRCGATE_ADMIN_TOKEN) and print what the
// local commands print: `import` prints exactly the `srcgate hash` line.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
using Catch::Matchers::Contains;
using test::run_command;
using test::TestGateway;

TEST_CASE("store commands work through a running server with --server", "[admin][cli]") {
  const std::string token = "cli-token";
  TestGateway gw("/cache", token);
  const std::string server = gw.url() + "/cache";
  const std::string bin = test::srcgate_binary().string();
  test::TempDir tmp;
  const content::Bytes data = test::deterministic_bytes("cli-server", (2u << 20) + 3);
  const auto file = tmp / "a file+name.bin";
  test::write_file(file, data);
  const std::string sha256 =
      content::hex_encode(content::digest_of(content::HashAlgo::sha256, data).bytes());

  ::setenv("SRCGATE_ADMIN_TOKEN", token.c_str(), 1);
  const auto hashed = run_command({bin, "hash", file.string()});
  REQUIRE(hashed.exit_code == 0);
  const auto imported = run_command({bin, "import", "--server", server, file.string()});
  INFO(imported.err);
  CHECK(imported.exit_code == 0);
  CHECK(imported.out == hashed.out);
  CHECK(test::http(gw.url() + "/sha256/" + sha256).status == 200);

  const auto car = test::fixture("path_gateway_unixfs/symlink.car");
  const auto car_imported = run_command({bin, "import-car", "--server", server, car.string()});
  INFO(car_imported.err);
  CHECK(car_imported.exit_code == 0);
  CHECK_THAT(car_imported.out,
             Contains("{\"car\":\"" + car.string() +
                      "\",\"root\":\"QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt\""));

  const auto pinned = run_command({bin, "pin", "--server", server, sha256});
  INFO(pinned.err);
  CHECK(pinned.exit_code == 0);
  CHECK_THAT(pinned.out, Catch::Matchers::StartsWith("pinned bafy"));
  const auto stats = run_command({bin, "stats", "--server", server});
  CHECK(stats.exit_code == 0);
  CHECK_THAT(stats.out, Contains("\"files\":2"));
  CHECK_THAT(stats.out, Contains("\"pinned_bytes\":"));
  const auto unpinned = run_command({bin, "unpin", "--server", server, sha256});
  CHECK(unpinned.exit_code == 0);
  CHECK_THAT(unpinned.out, Catch::Matchers::StartsWith("unpinned bafy"));

  // A wrong token, an unknown hash, a bad URL: clear messages and failure.
  ::setenv("SRCGATE_ADMIN_TOKEN", "wrong", 1);
  const auto refused = run_command({bin, "stats", "--server", server});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Contains("server answered 401"));
  ::setenv("SRCGATE_ADMIN_TOKEN", token.c_str(), 1);
  const auto unknown = run_command({bin, "pin", "--server", server, std::string(64, 'a')});
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.err, Contains("server answered 404"));
  const auto bad_url = run_command({bin, "stats", "--server", "ftp://x"});
  CHECK(bad_url.exit_code == 2);
  CHECK_THAT(bad_url.err, Contains("must start with http://"));
  const auto down = run_command({bin, "stats", "--server", "http://127.0.0.1:9"});
  CHECK(down.exit_code == 1);
  CHECK_THAT(down.err, Contains("cannot connect to 127.0.0.1:9"));
  ::unsetenv("SRCGATE_ADMIN_TOKEN");
}
