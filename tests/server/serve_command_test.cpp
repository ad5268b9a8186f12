// `srcgate serve` end to end: the binary, its flags and configuration layers,
// curl as the client (the nixpkgs forms, HEAD then GET), SIGTERM, and the
// upstream settings (a loopback mirror started by the test; nothing here
// reaches the internet: every other server runs --offline).
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "tests/nix/nix_support.hpp"
#include "tests/support/test_support.hpp"
#include "tests/support/test_upstream.hpp"

using srcgate::test::run_command;
using srcgate::test::srcgate_binary;
using srcgate::test::TempDir;

TEST_CASE("serve --help describes every flag", "[serve]") {
  const auto r = run_command({srcgate_binary().string(), "serve", "--help"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  for (const char* flag : {"--listen",
                           "--data",
                           "--threads",
                           "--config",
                           "--base-path",
                           "--max-connections",
                           "--max-header-bytes",
                           "--idle-timeout",
                           "--read-timeout",
                           "--write-timeout",
                           "--shutdown-grace",
                           "--max-size",
                           "--log-format",
                           "--access-log",
                           "--access-log-buffer",
                           "--hit-cache-size",
                           "--print-config",
                           "SRCGATE_ADMIN_TOKEN",
                           "0.0.0.0:8080",
                           "--mirror",
                           "--no-default-upstreams",
                           "--offline",
                           "--ca-file",
                           "--connect-timeout",
                           "--first-byte-timeout",
                           "--stall-timeout",
                           "--miss-deadline",
                           "--negative-cache-ttl",
                           "--spool-dir",
                           "--allow-private-upstreams",
                           "--ipfs-gateway",
                           "https://trustless-gateway.link",
                           "https://tarballs.nixos.org",
                           "http_proxy",
                           "no_proxy",
                           "SRCGATE_MIRRORS"}) {
    CHECK_THAT(r.out, Catch::Matchers::Contains(flag));
  }
  const auto top = run_command({srcgate_binary().string(), "--help"});
  CHECK_THAT(top.out, Catch::Matchers::Contains("serve"));
}

TEST_CASE("serve: a bad value is one line naming the key, exit 2", "[serve]") {
  auto r = run_command({srcgate_binary().string(), "serve", "--listen", "abc"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "srcgate serve: config: listen: expected HOST:PORT, got 'abc' (from --listen)\n");
  r = run_command({"env", "SRCGATE_THREADS=lots", srcgate_binary().string(), "serve"});
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "srcgate serve: config: threads: expected a whole number, got 'lots' (from "
        "SRCGATE_THREADS)\n");
  r = run_command({srcgate_binary().string(), "serve", "--no-such-flag"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Matchers::StartsWith("srcgate serve: "));
}

TEST_CASE("serve: bad upstream settings are one line naming the key, exit 2",
          "[serve][upstreams]") {
  const std::string bin = srcgate_binary().string();
  TempDir dir;
  const std::string data = (dir / "data").string();
  // The configuration's own check.
  auto r = run_command({bin, "serve", "--data", data, "--mirror", "http://127.0.0.1:9", "--mirror",
                        "ftp://mirror.example"});
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "srcgate serve: config: mirrors: expected an http:// or https:// URL, got "
        "'ftp://mirror.example' (from --mirror)\n");
  r = run_command({"env", "SRCGATE_OFFLINE=perhaps", bin, "serve", "--data", data});
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "srcgate serve: config: offline: expected true or false, got 'perhaps' (from "
        "SRCGATE_OFFLINE)\n");
  // The server's full URL parse (userinfo is refused), before the store opens.
  r = run_command({bin, "serve", "--data", data, "--no-default-upstreams", "--mirror",
                   "http://user@127.0.0.1:9"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Matchers::StartsWith("srcgate serve: config: mirrors: "));
  CHECK_THAT(r.err, Catch::Matchers::Contains("http://user@127.0.0.1:9"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  // An unreadable CA file.
  r = run_command({bin, "serve", "--data", data, "--no-default-upstreams", "--mirror",
                   "http://127.0.0.1:9", "--ca-file", (dir / "missing.pem").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "srcgate serve: config: ca_file: cannot read '" + (dir / "missing.pem").string() +
                     "': No such file or directory\n");
  // A CA file that is not PEM: the client refuses it at start-up.
  const auto not_pem = dir / "not-a-ca.pem";
  srcgate::test::write_file(not_pem, srcgate::content::as_bytes("not a certificate\n"));
  r = run_command({bin, "serve", "--data", data, "--listen", "127.0.0.1:0",
                   "--no-default-upstreams", "--mirror", "http://127.0.0.1:9", "--ca-file",
                   not_pem.string()});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Matchers::StartsWith("srcgate serve: config: ca_file: "));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  std::filesystem::remove_all(dir / "data");  // this one got as far as opening the store
  // A proxy variable that is not a URL.
  r = run_command({"env", "http_proxy=ftp://proxy.example:21", bin, "serve", "--data", data,
                   "--no-default-upstreams", "--mirror", "http://mirror.example"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Matchers::StartsWith("srcgate serve: proxy: "));
  CHECK_THAT(r.err, Catch::Matchers::Contains("http_proxy"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  // None of these opened (and so created) the store.
  CHECK_FALSE(std::filesystem::exists(dir / "data"));
}

TEST_CASE("serve --print-config: the upstream keys and the effective list", "[serve][upstreams]") {
  const std::string bin = srcgate_binary().string();
  auto r = run_command({"env", "SRCGATE_MIRRORS=http://env-1.example, http://env-2.example", bin,
                        "serve", "--print-config", "--data", "/d", "--stall-timeout", "2500ms",
                        "--negative-cache-ttl", "0"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Matchers::Contains(
                        "mirrors = [\"http://env-1.example\", \"http://env-2.example\"]\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("stall_timeout = \"2500ms\"\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("negative_cache_ttl = \"0s\"\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("spool_dir = \"/d/spool\"\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains(
                        "# upstreams asked on a miss: http://env-1.example, http://env-2.example, "
                        "https://tarballs.nixos.org\n"));

  // --mirror flags replace the environment's list; --no-default-upstreams drops the default.
  r = run_command({"env", "SRCGATE_MIRRORS=http://env-1.example", bin, "serve", "--print-config",
                   "--mirror", "http://flag-1.example/", "--mirror", "https://flag-2.example/c",
                   "--no-default-upstreams"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Matchers::Contains(
                        "mirrors = [\"http://flag-1.example\", \"https://flag-2.example/c\"]\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("no_default_upstreams = true\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("# upstreams asked on a miss: http://flag-1.example, "
                                              "https://flag-2.example/c\n"));

  r = run_command(
      {bin, "serve", "--print-config", "--mirror", "http://flag-1.example", "--offline"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Matchers::Contains("offline = true\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("# upstreams asked on a miss: none\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("# IPFS gateways asked on an /ipfs/ miss: none\n"));
  CHECK_THAT(r.out, !Catch::Matchers::Contains("source index"));
}

TEST_CASE("serve --print-config: IPFS gateways and the private-destination guard",
          "[serve][upstreams]") {
  const std::string bin = srcgate_binary().string();
  auto r = run_command({bin, "serve", "--print-config", "--data", "/d"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Matchers::Contains("allow_private_upstreams = false\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("ipfs_gateways = []\n"));
  CHECK_THAT(r.out,
             Catch::Matchers::Contains(
                 "# then the source index's original URLs (private destinations refused)\n"));
  CHECK_THAT(r.out,
             Catch::Matchers::Contains(
                 "# IPFS gateways asked on an /ipfs/ miss: https://trustless-gateway.link\n"));

  r = run_command({"env", "SRCGATE_IPFS_GATEWAYS=http://env-gw.example", bin, "serve",
                   "--print-config", "--data", "/d", "--ipfs-gateway", "http://gw-1.example/",
                   "--ipfs-gateway", "https://gw-2.example/x", "--allow-private-upstreams"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Matchers::Contains("allow_private_upstreams = true\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains(
                        "ipfs_gateways = [\"http://gw-1.example\", \"https://gw-2.example/x\"]\n"));
  CHECK_THAT(r.out,
             Catch::Matchers::Contains(
                 "# then the source index's original URLs (private destinations allowed)\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("# IPFS gateways asked on an /ipfs/ miss: "
                                              "http://gw-1.example, https://gw-2.example/x, "
                                              "https://trustless-gateway.link\n"));

  r = run_command({"env", "SRCGATE_IPFS_GATEWAYS=http://env-gw.example", bin, "serve",
                   "--print-config", "--data", "/d", "--no-default-upstreams"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Matchers::Contains("ipfs_gateways = [\"http://env-gw.example\"]\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains(
                        "# IPFS gateways asked on an /ipfs/ miss: http://env-gw.example\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("# upstreams asked on a miss: none\n"));

  r = run_command({bin, "serve", "--print-config", "--ipfs-gateway", "ftp://gw.example"});
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "srcgate serve: config: ipfs_gateways: expected an http:// or https:// URL, got "
        "'ftp://gw.example' (from --ipfs-gateway)\n");
}

TEST_CASE("serve --print-config: flags over environment over file", "[serve]") {
  TempDir dir;
  const auto file = dir / "srcgate.toml";
  srcgate::test::write_file(
      file, srcgate::content::as_bytes("threads = 5\nlisten = \"127.0.0.1:1\"\n"
                                       "log_format = \"json\"\nbase_path = \"/file\"\n"));
  const auto r = run_command({"env", "SRCGATE_CONFIG=" + file.string(), "SRCGATE_THREADS=3",
                              "SRCGATE_BASE_PATH=/env", srcgate_binary().string(), "serve",
                              "--print-config", "--base-path", "/flag/", "--data", "/d"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Matchers::Contains("listen = \"127.0.0.1:1\"\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("threads = 3\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("base_path = \"/flag\"\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("data_dir = \"/d\"\n"));
  CHECK_THAT(r.out, Catch::Matchers::Contains("log_format = \"json\"\n"));
}

TEST_CASE("serve answers the nixpkgs URL forms and stops on SIGTERM", "[serve][curl]") {
  TempDir dir;
  // The server writes its port in its first line on stderr; the script waits
  // for it (bounded), runs curl, then sends SIGTERM and reports the exit code.
  const std::string script = R"(
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
bin="$1"; err="$2/err"
"$bin" serve --listen 127.0.0.1:0 --threads 2 --base-path /cache --data "$2/data" --offline 2>"$err" &
)" + std::string(srcgate::test::kShAwaitServe) +
                             R"(c() { curl -sS --max-time 10 --path-as-is "$@"; echo; }
c -o /dev/null -w '%{http_code}' "$m/healthz"
c -I -o /dev/null -w '%{http_code}' "$m/sha256/0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
c -w '%{http_code}' "$m/sha256/0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
c -w '%{http_code}' "$m/sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
c -w '%{http_code}' "$m//sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
c -w '%{http_code}' "$m/cache//sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
c -w '%{http_code}' "$m/sha256/abc"
c -o /dev/null -w '%{http_code}' "$m/api/v1/stats"
)" + std::string(srcgate::test::kShStopServe);
  const auto r =
      run_command({"sh", "-c", script, "sh", srcgate_binary().string(), dir.path().string()});
  INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
  const std::string not_in_store =
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 is not in the "
      "store\n404\n";
  CHECK(r.out ==
        "200\n"               // /healthz
        "404\n"               // HEAD /sha256/<nix32>
            + not_in_store +  // GET /sha256/<nix32>
            not_in_store +    // GET /sha256/<base64 with '/' and '+'>
            not_in_store +    // GET //sha256-<base64>
            not_in_store +    // GET <base path>//sha256-<base64>
            "sha256 hash 'abc' has 3 characters; sha256 needs 64 (hex), 52 (nix32) or 44 "
            "(base64)\n400\n"
            "403\n"  // admin API without a configured token
            "exit=0\n");
  CHECK_THAT(r.err, Catch::Matchers::Contains("srcgate serve: stopped"));
  CHECK_THAT(r.err, Catch::Matchers::Contains("method=HEAD target=/sha256/"));
  CHECK_THAT(r.err, Catch::Matchers::Contains("srcgate serve: upstreams: offline\n"));
  CHECK_THAT(r.err, Catch::Matchers::Contains(
                        "srcgate serve: IPFS gateways: none: an /ipfs/ miss is a 404\n"));
}

TEST_CASE("serve --mirror fetches a miss from a loopback mirror, once",
          "[serve][upstreams][curl]") {
  using srcgate::content::HashAlgo;
  const srcgate::content::Bytes data = srcgate::test::deterministic_bytes("serve-mirror", 300'001);
  const std::string hex =
      srcgate::content::hex_encode(srcgate::content::digest_of(HashAlgo::sha256, data).bytes());
  srcgate::test::TestUpstream upstream(srcgate::test::good_mirror({{"/sha256/" + hex, data}}));
  TempDir dir;
  // The second GET must come from the store: the upstream counts its requests.
  const std::string script =
      R"(
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
bin="$1"; err="$2/err"
"$bin" serve --listen 127.0.0.1:0 --threads 2 --data "$2/data" --no-default-upstreams \
  --mirror "$3/" --spool-dir "$2/spool" 2>"$err" &
)" + std::string(srcgate::test::kShAwaitServe) +
      R"(curl -sS --max-time 20 -o "$2/first" -w '%{http_code}\n' "$m/sha256/$4"
curl -sS --max-time 20 -o "$2/second" -w '%{http_code}\n' "$m/sha256/$4"
curl -sS --max-time 20 -o /dev/null -w '%{http_code}\n' "$m/sha256/$5"
)" + std::string(srcgate::test::kShStopServe);
  const std::string unknown(64, 'c');
  const auto r = run_command({"sh", "-c", script, "sh", srcgate_binary().string(),
                              dir.path().string(), upstream.url(), hex, unknown});
  INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
  CHECK(r.out == "200\n200\n404\nexit=0\n");
  const bool first_ok = srcgate::test::read_file(dir / "first") == data;
  const bool second_ok = srcgate::test::read_file(dir / "second") == data;
  CHECK(first_ok);
  CHECK(second_ok);
  CHECK(upstream.requests("/sha256/" + hex) == 1);
  CHECK(upstream.requests("/sha256/" + unknown) == 1);
  CHECK_THAT(r.err,
             Catch::Matchers::Contains("srcgate serve: upstreams: " + upstream.url() + "\n"));
  // --no-default-upstreams drops the default trustless gateway too.
  CHECK_THAT(r.err, Catch::Matchers::Contains(
                        "srcgate serve: IPFS gateways: none: an /ipfs/ miss is a 404\n"));
}

TEST_CASE("serve: buffered access lines are out by the time it says it stopped; off means none",
          "[serve]") {
  const std::string bin = srcgate_binary().string();
  TempDir dir;
  for (const bool off : {false, true}) {
    INFO((off ? "--access-log off" : "buffered"));
    srcgate::test::ServeProcess serve({bin, "serve", "--listen", "127.0.0.1:0", "--threads", "1",
                                       "--offline", "--data", (dir / "data").string(),
                                       "--access-log-buffer", "1MiB", "--access-log",
                                       off ? "off" : "stderr"});
    const std::string port = serve.wait_for_port();
    const auto r = run_command({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                                "%{http_code}", "http://127.0.0.1:" + port + "/healthz"});
    REQUIRE(r.out == "200");
    serve.stop();  // SIGTERM, then reads stderr to its end
    const std::string& log = serve.log();
    const std::size_t line = log.find("method=GET target=/healthz status=200");
    const std::size_t stopped = log.find("srcgate serve: stopped");
    REQUIRE(stopped != std::string::npos);
    if (off) {
      CHECK(line == std::string::npos);
    } else {
      CHECK(line < stopped);
    }
  }
}
