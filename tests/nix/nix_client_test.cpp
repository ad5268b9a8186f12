// A real Nix client against the real gateway (issue 4 acceptance, nix.md
// §3.2): files are stored with `srcgate import --data DIR`, `srcgate serve`
// serves that store on 127.0.0.1 port 0, and Debian's nix-bin (daemonless, an
// isolated store in a TempDir) builds
//   import <nix/fetchurl.nix> { url = "http://127.0.0.1:9/unreachable"; ... }
// with hashed-mirrors pointing at the gateway, for files named by sha256 in
// nix32, hex and SRI, by sha512 and by sha1. The original URL is unreachable,
// so a build can only succeed from srcgate; the test also checks the
// gateway's access log for each GET /<algo>/<hex> and the fetched bytes.
// Without nix-build the test fails when $CI is set and is skipped otherwise.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "tests/nix/nix_support.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using content::HashAlgo;

namespace {

std::string hex(HashAlgo algo, const content::Bytes& data) {
  return content::hex_encode(content::digest_of(algo, data).bytes());
}

}  // namespace

TEST_CASE("nix-build fetches <nix/fetchurl.nix> files from srcgate as a hashed mirror",
          "[nix][slow]") {
  if (!test::nix_available()) return;
  test::TempDir t;
  const auto data_dir = t / "data";

  struct Case {
    std::string name;  // the derivation name, so that each build is a new store path
    std::string attr;  // the Nix attribute that names the hash
    HashAlgo algo;     // the algorithm Nix asks the mirror for
    content::Bytes data;
    std::string hash_text;
  };
  std::vector<Case> cases = {
      {"by-sha256-nix32", "sha256", HashAlgo::sha256, {}, {}},
      {"by-sha256-hex", "sha256", HashAlgo::sha256, {}, {}},
      {"by-sha256-sri", "hash", HashAlgo::sha256, {}, {}},
      {"by-sha512", "sha512", HashAlgo::sha512, {}, {}},
      {"by-sha1", "sha1", HashAlgo::sha1, {}, {}},
  };
  std::vector<std::string> import_argv = {test::srcgate_binary().string(), "import", "--data",
                                          data_dir.string()};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    Case& c = cases[i];
    // Distinct contents (one multi-block), so no case can be satisfied by another's output.
    const std::size_t size = i == 0 ? (2u << 20) + 123 : 10'000 + i;
    c.data = test::deterministic_bytes("nix-client-" + c.name, size);
    const auto digest = content::digest_of(c.algo, c.data);
    if (c.name == "by-sha256-nix32" || c.name == "by-sha512" || c.name == "by-sha1") {
      c.hash_text = content::nix32_encode(digest.bytes());
    } else if (c.name == "by-sha256-hex") {
      c.hash_text = content::hex_encode(digest.bytes());
    } else {
      c.hash_text = "sha256-" + content::base64_encode(digest.bytes());
    }
    const auto file = t / (c.name + ".bin");
    test::write_file(file, c.data);
    import_argv.push_back(file.string());
  }
  const auto imported = test::run_command(import_argv);
  INFO("srcgate import: " << imported.err);
  REQUIRE(imported.exit_code == 0);
  for (const Case& c : cases) {
    CHECK_THAT(imported.out,
               Catch::Matchers::Contains("\"sha256\":\"" + hex(HashAlgo::sha256, c.data) + "\""));
  }

  // Offline: every file is in the store, and a test must not reach the internet.
  test::ServeProcess serve({test::srcgate_binary().string(), "serve", "--listen", "127.0.0.1:0",
                            "--threads", "2", "--data", data_dir.string(), "--offline"});
  const std::string port = serve.wait_for_port();

  const test::NixClient nix(t.path(), "http://127.0.0.1:" + port + "/");
  for (const Case& c : cases) {
    INFO(c.name << ": " << c.attr << " = \"" << c.hash_text << "\"");
    const auto built = nix.build(test::fetchurl_expr(c.name, c.attr, c.hash_text));
    INFO("nix-build stderr:\n" << built.err);
    REQUIRE(built.exit_code == 0);
    const std::string out_path = test::NixClient::out_path(built);
    REQUIRE(out_path.starts_with(nix.store().string() + "/"));
    CHECK(out_path.ends_with("-" + c.name));
    const bool same_bytes = test::read_file(out_path) == c.data;  // no MiB dump on failure
    CHECK(same_bytes);
    // builtin:fetchurl always asks for /<algo>/<base16> (nix.md §1.1).
    const std::string target =
        "target=/" + std::string(content::algo_name(c.algo)) + "/" + hex(c.algo, c.data);
    CHECK(serve.wait_for(target, std::chrono::seconds(5)));
    CHECK_THAT(serve.drain(), Catch::Matchers::Contains(target + " status=200"));
  }
  serve.stop();
  CHECK_THAT(serve.log(), Catch::Matchers::Contains("srcgate serve: stopped"));
}
