#include "config/config.hpp"

#include <catch2/catch.hpp>

#include "tests/support/test_support.hpp"

using namespace srcgate::config;
using namespace std::chrono_literals;

namespace {

// A user with a home directory on a 4-thread machine, nothing else set.
ConfigSources base_sources() {
  ConfigSources s;
  s.env = {{"HOME", "/home/ci"}, {"PATH", "/usr/bin"}};
  s.hardware_threads = 4;
  return s;
}

// The defaults for base_sources(), written out field by field.
Config expected_defaults() {
  Config c;
  c.listen = ListenAddress{"0.0.0.0", 8080};
  c.data_dir = "/home/ci/.local/share/srcgate";
  c.threads = 4;
  c.base_path = "";
  c.max_connections = 4096;
  c.max_header_bytes = 16384;
  c.idle_timeout = 60s;
  c.read_timeout = 30s;
  c.write_timeout = 30s;
  c.shutdown_grace = 10s;
  c.admin_token = "";
  c.max_size = 0;
  c.log_format = LogFormat::text;
  c.access_log = true;
  c.access_log_buffer = 65536;
  c.hit_cache_size = 33554432;
  c.mirrors = {};
  c.no_default_upstreams = false;
  c.offline = false;
  c.allow_private_upstreams = false;
  c.ipfs_gateways = {};
  c.ca_file = "";
  c.connect_timeout = 5s;
  c.first_byte_timeout = 15s;
  c.stall_timeout = 15s;
  c.miss_deadline = 30s;
  c.negative_cache_ttl = 60s;
  c.spool_dir = "/home/ci/.local/share/srcgate/spool";
  c.config_file = std::nullopt;
  return c;
}

std::string error_of(const ConfigSources& s) {
  try {
    load_config(s);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("load_config accepted the sources");
  return {};
}

const char* kFullFile = R"(# every key
listen = "127.0.0.1:9090"
data_dir = "/srv/srcgate"
threads = 8
base_path = "/cache/"
max_connections = 100
max_header_bytes = "32KiB"
idle_timeout = 5
read_timeout = "1500ms"
write_timeout = "2m"
shutdown_grace = "0s"
admin_token = "s3cret-token"
max_size = "10GB"
log_format = "json"
mirrors = ["http://srcgate-2.lan:8080/cache/", "HTTPS://Mirror.example"]
no_default_upstreams = true
offline = false
allow_private_upstreams = true
ipfs_gateways = ["http://srcgate-2.lan:8080/", "https://ipfs.example/gw"]
ca_file = "/etc/ssl/lan-ca.pem"
connect_timeout = "2s"
first_byte_timeout = 20
stall_timeout = "750ms"
miss_deadline = "1m"
negative_cache_ttl = 0
spool_dir = "/var/tmp/spool"
)";

Config expected_full_file() {
  Config c = expected_defaults();
  c.listen = ListenAddress{"127.0.0.1", 9090};
  c.data_dir = "/srv/srcgate";
  c.threads = 8;
  c.base_path = "/cache";
  c.max_connections = 100;
  c.max_header_bytes = 32768;
  c.idle_timeout = 5s;
  c.read_timeout = 1500ms;
  c.write_timeout = 120s;
  c.shutdown_grace = 0s;
  c.admin_token = "s3cret-token";
  c.max_size = 10'000'000'000;
  c.log_format = LogFormat::json;
  c.mirrors = {"http://srcgate-2.lan:8080/cache", "HTTPS://Mirror.example"};
  c.no_default_upstreams = true;
  c.offline = false;
  c.allow_private_upstreams = true;
  c.ipfs_gateways = {"http://srcgate-2.lan:8080", "https://ipfs.example/gw"};
  c.ca_file = "/etc/ssl/lan-ca.pem";
  c.connect_timeout = 2s;
  c.first_byte_timeout = 20s;
  c.stall_timeout = 750ms;
  c.miss_deadline = 60s;
  c.negative_cache_ttl = 0s;
  c.spool_dir = "/var/tmp/spool";
  c.config_file = "/etc/srcgate.toml";
  return c;
}

}  // namespace

TEST_CASE("with nothing set, the defaults", "[config]") {
  CHECK(load_config(base_sources()) == expected_defaults());
  CHECK(default_config(base_sources()) == expected_defaults());
}

TEST_CASE("the default data directory follows config/paths.hpp", "[config]") {
  ConfigSources root = base_sources();
  root.root = true;
  CHECK(load_config(root).data_dir == "/var/lib/srcgate");
  ConfigSources xdg = base_sources();
  xdg.env["XDG_DATA_HOME"] = "/xdg";
  CHECK(load_config(xdg).data_dir == "/xdg/srcgate");
}

TEST_CASE("a file that sets every key", "[config]") {
  ConfigSources s = base_sources();
  s.flags["config"] = "/etc/srcgate.toml";
  s.file_text = kFullFile;
  CHECK(load_config(s) == expected_full_file());
}

TEST_CASE("environment variables override the file", "[config]") {
  ConfigSources s = base_sources();
  s.env["SRCGATE_CONFIG"] = "/etc/srcgate.toml";
  s.file_text = kFullFile;
  s.env["SRCGATE_LISTEN"] = ":8081";
  s.env["SRCGATE_DATA_DIR"] = "/data";
  s.env["SRCGATE_THREADS"] = "2";
  s.env["SRCGATE_WRITE_TIMEOUT"] = "250ms";
  s.env["SRCGATE_ADMIN_TOKEN"] = "from-env";
  s.env["SRCGATE_MAX_SIZE"] = "1GiB";
  s.env["SRCGATE_LOG_FORMAT"] = "";  // empty: unset
  s.env["SRCGATE_UNRELATED"] = "ignored";
  Config expected = expected_full_file();
  expected.listen = ListenAddress{"0.0.0.0", 8081};
  expected.data_dir = "/data";
  expected.threads = 2;
  expected.write_timeout = 250ms;
  expected.admin_token = "from-env";
  expected.max_size = 1024ull * 1024 * 1024;
  CHECK(load_config(s) == expected);
}

TEST_CASE("flags override the environment and the file", "[config]") {
  ConfigSources s = base_sources();
  s.flags["config"] = "/etc/srcgate.toml";
  s.file_text = kFullFile;
  s.env["SRCGATE_LISTEN"] = ":8081";
  s.env["SRCGATE_BASE_PATH"] = "/env";
  s.flags["listen"] = "[::1]:7000";
  s.flags["data_dir"] = "/flag-data";
  s.flags["threads"] = "3";
  s.flags["base_path"] = "/";
  s.flags["max_connections"] = "10";
  s.flags["max_header_bytes"] = "8K";
  s.flags["idle_timeout"] = "1h";
  s.flags["read_timeout"] = "7";
  s.flags["shutdown_grace"] = "30s";
  s.flags["max_size"] = "0";
  s.flags["log_format"] = "text";
  Config expected = expected_full_file();
  expected.listen = ListenAddress{"::1", 7000};
  expected.data_dir = "/flag-data";
  expected.threads = 3;
  expected.base_path = "";
  expected.max_connections = 10;
  expected.max_header_bytes = 8192;
  expected.idle_timeout = 3600s;
  expected.read_timeout = 7s;
  expected.shutdown_grace = 30s;
  expected.max_size = 0;
  expected.log_format = LogFormat::text;
  CHECK(load_config(s) == expected);
}

TEST_CASE("a real file named by SRCGATE_CONFIG is read", "[config]") {
  srcgate::test::TempDir dir;
  const auto path = dir / "srcgate.toml";
  srcgate::test::write_file(path, srcgate::content::as_bytes("listen = \"127.0.0.1:1\"\n"));
  ConfigSources s = base_sources();
  s.env["SRCGATE_CONFIG"] = path.string();
  Config expected = expected_defaults();
  expected.listen = ListenAddress{"127.0.0.1", 1};
  expected.config_file = path;
  CHECK(load_config(s) == expected);
}

TEST_CASE("every error is one line naming the key and the source", "[config]") {
  ConfigSources s = base_sources();
  s.env["SRCGATE_LISTEN"] = "abc";
  CHECK(error_of(s) == "config: listen: expected HOST:PORT, got 'abc' (from SRCGATE_LISTEN)");

  s = base_sources();
  s.flags["threads"] = "0";
  CHECK(error_of(s) == "config: threads: must be between 1 and 1024, got 0 (from --threads)");

  s = base_sources();
  s.flags["threads"] = "four";
  CHECK(error_of(s) == "config: threads: expected a whole number, got 'four' (from --threads)");

  s = base_sources();
  s.flags["mirrors"] = "ftp://tarballs.example";
  CHECK(error_of(s) ==
        "config: mirrors: expected an http:// or https:// URL, got 'ftp://tarballs.example' (from "
        "--mirror)");

  s = base_sources();
  s.env["SRCGATE_MIRRORS"] = "http://ok.example,tarballs.nixos.org";
  CHECK(error_of(s) ==
        "config: mirrors: expected an http:// or https:// URL, got 'tarballs.nixos.org' (from "
        "SRCGATE_MIRRORS)");

  s = base_sources();
  s.flags["mirrors"] = "http:///sha256";
  CHECK(error_of(s) == "config: mirrors: has no host, got 'http:///sha256' (from --mirror)");

  s = base_sources();
  s.flags["mirrors"] = "https://";
  CHECK(error_of(s) == "config: mirrors: has no host, got 'https://' (from --mirror)");

  s = base_sources();
  s.flags["mirrors"] = "http://m.example/?x=1";
  CHECK(error_of(s) ==
        "config: mirrors: is a base URL and must not have a query or fragment, got "
        "'http://m.example/?x=1' (from --mirror)");

  s = base_sources();
  s.env["SRCGATE_OFFLINE"] = "maybe";
  CHECK(error_of(s) ==
        "config: offline: expected true or false, got 'maybe' (from SRCGATE_OFFLINE)");

  s = base_sources();
  s.env["SRCGATE_NO_DEFAULT_UPSTREAMS"] = "2";
  CHECK(error_of(s) ==
        "config: no_default_upstreams: expected true or false, got '2' (from "
        "SRCGATE_NO_DEFAULT_UPSTREAMS)");

  s = base_sources();
  s.flags["connect_timeout"] = "0";
  CHECK(error_of(s) == "config: connect_timeout: must be more than 0 (from --connect-timeout)");

  s = base_sources();
  s.env["SRCGATE_STALL_TIMEOUT"] = "forever";
  CHECK(error_of(s) ==
        "config: stall_timeout: expected a duration such as 30s or 500ms, got 'forever' (from "
        "SRCGATE_STALL_TIMEOUT)");

  s = base_sources();
  s.flags["miss_deadline"] = "0ms";
  CHECK(error_of(s) == "config: miss_deadline: must be more than 0 (from --miss-deadline)");

  s = base_sources();
  s.flags["first_byte_timeout"] = "0s";
  CHECK(error_of(s) ==
        "config: first_byte_timeout: must be more than 0 (from --first-byte-timeout)");

  s = base_sources();
  s.flags["negative_cache_ttl"] = "-1s";
  CHECK(error_of(s) ==
        "config: negative_cache_ttl: expected a duration such as 30s or 500ms, got '-1s' (from "
        "--negative-cache-ttl)");

  s = base_sources();
  s.flags["spool_dir"] = "";
  CHECK(error_of(s) == "config: spool_dir: must not be empty (from --spool-dir)");

  s = base_sources();
  s.flags["data_dir"] = "";
  CHECK(error_of(s) == "config: data_dir: must not be empty (from --data)");

  s = base_sources();
  s.env["SRCGATE_MAX_HEADER_BYTES"] = "512";
  CHECK(error_of(s) ==
        "config: max_header_bytes: must be between 1KiB and 1MiB, got 512 (from "
        "SRCGATE_MAX_HEADER_BYTES)");

  s = base_sources();
  s.env["SRCGATE_MAX_SIZE"] = "10 parsecs";
  CHECK(error_of(s) ==
        "config: max_size: expected a size such as 16KiB or 10GB, got '10 parsecs' (from "
        "SRCGATE_MAX_SIZE)");

  s = base_sources();
  s.env["SRCGATE_IDLE_TIMEOUT"] = "soon";
  CHECK(error_of(s) ==
        "config: idle_timeout: expected a duration such as 30s or 500ms, got 'soon' (from "
        "SRCGATE_IDLE_TIMEOUT)");

  s = base_sources();
  s.flags["write_timeout"] = "0s";
  CHECK(error_of(s) == "config: write_timeout: must be more than 0 (from --write-timeout)");

  s = base_sources();
  s.flags["log_format"] = "xml";
  CHECK(error_of(s) == "config: log_format: expected text or json, got 'xml' (from --log-format)");

  s = base_sources();
  s.env["SRCGATE_ADMIN_TOKEN"] = "two words";
  CHECK(error_of(s) ==
        "config: admin_token: must not contain spaces or control characters (from "
        "SRCGATE_ADMIN_TOKEN)");

  s = base_sources();
  s.flags["max_connections"] = "0";
  CHECK(error_of(s) ==
        "config: max_connections: must be between 1 and 1000000, got 0 (from --max-connections)");

  s = base_sources();
  s.flags["colour"] = "blue";
  CHECK(error_of(s) == "config: colour: unknown setting (from --colour)");
}

TEST_CASE("file errors name the key, or the line and column", "[config]") {
  ConfigSources s = base_sources();
  s.flags["config"] = "/etc/srcgate.toml";
  s.file_text = "listen = \"127.0.0.1:80\"\nlisen = \"x\"\n";
  CHECK(error_of(s) == "config: lisen: unknown key (from /etc/srcgate.toml)");

  s.file_text = "threads = \"many\"\n";
  CHECK(error_of(s) ==
        "config: threads: expected a whole number, got 'many' (from /etc/srcgate.toml)");

  s.file_text = "threads = -2\n";
  CHECK(error_of(s) == "config: threads: expected a whole number, got -2 (from /etc/srcgate.toml)");

  s.file_text = "listen = 8080\n";
  CHECK(error_of(s) == "config: listen: expected a string, got 8080 (from /etc/srcgate.toml)");

  s.file_text = "threads = 1.5\n";
  CHECK(error_of(s) ==
        "config: threads: expected a string, an integer, a boolean or an array, got a TOML "
        "floating-point (from /etc/srcgate.toml)");

  s.file_text = "threads = true\n";
  CHECK(error_of(s) ==
        "config: threads: expected a whole number, got true (from /etc/srcgate.toml)");

  s.file_text = "listen = [\"a\"]\n";
  CHECK(error_of(s) == "config: listen: expected a string, got an array (from /etc/srcgate.toml)");

  s.file_text = "mirrors = [\"http://a.example\", 3]\n";
  CHECK(error_of(s) ==
        "config: mirrors: expected an array of strings, got an array holding a TOML integer "
        "(from /etc/srcgate.toml)");

  s.file_text = "mirrors = 3\n";
  CHECK(error_of(s) == "config: mirrors: expected a list of URLs, got 3 (from /etc/srcgate.toml)");

  s.file_text = "mirrors = [\"http://a.example/x y\"]\n";
  CHECK(error_of(s) ==
        "config: mirrors: must not contain spaces or control characters, got "
        "'http://a.example/x y' (from /etc/srcgate.toml)");

  s.file_text = "mirrors = [\"\"]\n";
  CHECK(error_of(s) ==
        "config: mirrors: expected an http:// or https:// URL, got '' (from /etc/srcgate.toml)");

  s.file_text = "offline = 1\n";
  CHECK(error_of(s) == "config: offline: expected true or false, got 1 (from /etc/srcgate.toml)");

  s.file_text = "offline = \"true\"\nno_default_upstreams = \"sometimes\"\n";
  CHECK(error_of(s) ==
        "config: no_default_upstreams: expected true or false, got 'sometimes' (from "
        "/etc/srcgate.toml)");

  s.file_text = "listen = \n";
  const std::string syntax = error_of(s);
  CHECK_THAT(syntax, Catch::Matchers::StartsWith("config: /etc/srcgate.toml:1:"));
  CHECK(syntax.find('\n') == std::string::npos);
}

TEST_CASE("a missing config file is an error naming it", "[config]") {
  ConfigSources s = base_sources();
  s.flags["config"] = "/nonexistent/srcgate.toml";
  CHECK(error_of(s) ==
        "config: config: cannot read '/nonexistent/srcgate.toml': No such file or directory "
        "(from --config)");
}

TEST_CASE("base_path is normalised or refused", "[config]") {
  const auto base_path = [](std::string value) {
    ConfigSources s = base_sources();
    s.flags["base_path"] = std::move(value);
    return load_config(s).base_path;
  };
  CHECK(base_path("/cache") == "/cache");
  CHECK(base_path("/cache/") == "/cache");
  CHECK(base_path("/a/b-c_d.e~f//") == "/a/b-c_d.e~f");
  CHECK(base_path("/") == "");
  CHECK(base_path("") == "");
  ConfigSources s = base_sources();
  s.flags["base_path"] = "cache";
  CHECK(error_of(s) == "config: base_path: must start with '/', got 'cache' (from --base-path)");
  s.flags["base_path"] = "/a//b";
  CHECK_THAT(error_of(s), Catch::Matchers::Contains("empty segment"));
  s.flags["base_path"] = "/a/../b";
  CHECK_THAT(error_of(s), Catch::Matchers::Contains("'..'"));
  s.flags["base_path"] = "/a b";
  CHECK_THAT(error_of(s), Catch::Matchers::Contains("only letters"));
  s.flags["base_path"] = "/a?x=1";
  CHECK_THAT(error_of(s), Catch::Matchers::Contains("only letters"));
}

TEST_CASE("listen addresses", "[config]") {
  CHECK(parse_listen_address("127.0.0.1:8080") == ListenAddress{"127.0.0.1", 8080});
  CHECK(parse_listen_address(":80") == ListenAddress{"0.0.0.0", 80});
  CHECK(parse_listen_address("localhost:0") == ListenAddress{"localhost", 0});
  CHECK(parse_listen_address("[::]:8080") == ListenAddress{"::", 8080});
  CHECK(parse_listen_address("[fe80::1%eth0]:1") == ListenAddress{"fe80::1%eth0", 1});
  CHECK(parse_listen_address("0.0.0.0:65535") == ListenAddress{"0.0.0.0", 65535});
  CHECK_FALSE(parse_listen_address("abc"));
  CHECK_FALSE(parse_listen_address("8080"));
  CHECK_FALSE(parse_listen_address("host:"));
  CHECK_FALSE(parse_listen_address("host:65536"));
  CHECK_FALSE(parse_listen_address("host:-1"));
  CHECK_FALSE(parse_listen_address("host:000080"));
  CHECK_FALSE(parse_listen_address("::1:8080"));
  CHECK_FALSE(parse_listen_address("[::1]8080"));
  CHECK_FALSE(parse_listen_address("[]:80"));
  CHECK_FALSE(parse_listen_address("a b:80"));
  CHECK_FALSE(parse_listen_address("http://h:80"));
  CHECK(ListenAddress{"::1", 80}.to_string() == "[::1]:80");
  CHECK(ListenAddress{"0.0.0.0", 8080}.to_string() == "0.0.0.0:8080");
}

TEST_CASE("sizes", "[config]") {
  CHECK(parse_size("0") == 0u);
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("512B") == 512u);
  CHECK(parse_size("16KiB") == 16384u);
  CHECK(parse_size("16k") == 16384u);
  CHECK(parse_size("16 KB") == 16000u);
  CHECK(parse_size("3MB") == 3'000'000u);
  CHECK(parse_size("3MiB") == 3u * 1024 * 1024);
  CHECK(parse_size("10GB") == 10'000'000'000u);
  CHECK(parse_size("2gib") == 2ull * 1024 * 1024 * 1024);
  CHECK(parse_size("1T") == 1ull << 40);
  CHECK(parse_size("1TB") == 1'000'000'000'000u);
  CHECK_FALSE(parse_size(""));
  CHECK_FALSE(parse_size("KiB"));
  CHECK_FALSE(parse_size("1.5GiB"));
  CHECK_FALSE(parse_size("-1"));
  CHECK_FALSE(parse_size("10 parsecs"));
  CHECK_FALSE(parse_size("99999999999TiB"));
}

TEST_CASE("durations", "[config]") {
  CHECK(parse_duration("30") == 30s);
  CHECK(parse_duration("30s") == 30s);
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("2m") == 120s);
  CHECK(parse_duration("1h") == 3600s);
  CHECK(parse_duration(" 5 s ") == 5s);
  CHECK_FALSE(parse_duration("1d"));
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-1s"));
}

TEST_CASE("to_toml reads back to the same configuration", "[config]") {
  ConfigSources s = base_sources();
  s.file_text = kFullFile;
  Config c = load_config(s);
  c.admin_token.clear();
  c.config_file.reset();
  ConfigSources again = base_sources();
  again.file_text = to_toml(c);
  CHECK(load_config(again) == c);

  Config with_token = c;
  with_token.admin_token = "s3cret";
  CHECK(to_toml(with_token).find("s3cret") == std::string::npos);
}

TEST_CASE("mirrors: environment lists, flags replace them, trailing slashes go",
          "[config][upstreams]") {
  ConfigSources s = base_sources();
  s.flags["config"] = "/etc/srcgate.toml";
  s.file_text = "mirrors = [\"http://file.example\"]\n";
  CHECK(load_config(s).mirrors == std::vector<std::string>{"http://file.example"});

  s.env["SRCGATE_MIRRORS"] = " http://a.example:81/, https://b.example/x//\n\thttp://[::1]:9/,,";
  CHECK(load_config(s).mirrors ==
        std::vector<std::string>{"http://a.example:81", "https://b.example/x", "http://[::1]:9"});

  // Repeated --mirror flags arrive joined by spaces; they replace the list.
  s.flags["mirrors"] = "http://flag-1.example http://flag-2.example/";
  CHECK(load_config(s).mirrors ==
        std::vector<std::string>{"http://flag-1.example", "http://flag-2.example"});

  // A TOML string is a list too.
  ConfigSources one = base_sources();
  one.file_text = "mirrors = \"http://x.example, http://y.example\"\n";
  CHECK(load_config(one).mirrors ==
        std::vector<std::string>{"http://x.example", "http://y.example"});
  one.file_text = "mirrors = []\n";
  CHECK(load_config(one).mirrors.empty());
}

TEST_CASE("booleans from the file, the environment and flags", "[config][upstreams]") {
  ConfigSources s = base_sources();
  s.file_text = "offline = true\nno_default_upstreams = false\n";
  Config c = load_config(s);
  CHECK(c.offline);
  CHECK_FALSE(c.no_default_upstreams);
  for (const auto& [text, value] : std::vector<std::pair<std::string, bool>>{{"true", true},
                                                                             {"1", true},
                                                                             {"YES", true},
                                                                             {"on", true},
                                                                             {"false", false},
                                                                             {"0", false},
                                                                             {"No", false},
                                                                             {" off ", false}}) {
    INFO(text);
    s.env["SRCGATE_OFFLINE"] = text;
    CHECK(load_config(s).offline == value);
  }
  s.env["SRCGATE_OFFLINE"] = "false";
  s.flags["offline"] = "true";  // what `serve --offline` passes
  s.flags["no_default_upstreams"] = "true";
  c = load_config(s);
  CHECK(c.offline);
  CHECK(c.no_default_upstreams);
}

TEST_CASE("spool_dir follows the final data_dir unless set", "[config][upstreams]") {
  ConfigSources s = base_sources();
  s.file_text = "data_dir = \"/file-data\"\n";
  CHECK(load_config(s).spool_dir == "/file-data/spool");
  s.env["SRCGATE_DATA_DIR"] = "/env-data";
  CHECK(load_config(s).spool_dir == "/env-data/spool");
  s.flags["data_dir"] = "/flag-data";
  CHECK(load_config(s).spool_dir == "/flag-data/spool");
  s.env["SRCGATE_SPOOL_DIR"] = "/fast/spool";
  CHECK(load_config(s).spool_dir == "/fast/spool");
  CHECK(load_config(s).data_dir == "/flag-data");
}

TEST_CASE("effective mirrors: configured ones, then the default, none offline",
          "[config][upstreams]") {
  Config c = expected_defaults();
  CHECK(effective_mirrors(c) == std::vector<std::string>{"https://tarballs.nixos.org"});
  c.mirrors = {"http://lan-1:8080", "http://lan-2:8080/cache", "http://lan-1:8080"};
  CHECK(effective_mirrors(c) == std::vector<std::string>{"http://lan-1:8080",
                                                         "http://lan-2:8080/cache",
                                                         "https://tarballs.nixos.org"});
  c.mirrors = {"https://tarballs.nixos.org", "http://lan-1:8080"};
  CHECK(effective_mirrors(c) ==
        std::vector<std::string>{"https://tarballs.nixos.org", "http://lan-1:8080"});
  c.no_default_upstreams = true;
  c.mirrors = {"http://lan-1:8080"};
  CHECK(effective_mirrors(c) == std::vector<std::string>{"http://lan-1:8080"});
  c.mirrors.clear();
  CHECK(effective_mirrors(c).empty());
  c.mirrors = {"http://lan-1:8080"};
  c.no_default_upstreams = false;
  c.offline = true;
  CHECK(effective_mirrors(c).empty());
}

TEST_CASE("to_toml writes the upstream keys and reads them back", "[config][upstreams]") {
  Config c = expected_defaults();
  const std::string defaults = to_toml(c);
  CHECK_THAT(defaults, Catch::Matchers::Contains("mirrors = []\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("no_default_upstreams = false\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("offline = false\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("allow_private_upstreams = false\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("ipfs_gateways = []\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("ca_file = \"\"\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("connect_timeout = \"5s\"\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("first_byte_timeout = \"15s\"\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("stall_timeout = \"15s\"\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("miss_deadline = \"30s\"\n"));
  CHECK_THAT(defaults, Catch::Matchers::Contains("negative_cache_ttl = \"60s\"\n"));
  CHECK_THAT(defaults,
             Catch::Matchers::Contains("spool_dir = \"/home/ci/.local/share/srcgate/spool\"\n"));

  c.mirrors = {"http://a.example", "https://b.example/x"};
  c.ipfs_gateways = {"http://gw.example:8080"};
  c.allow_private_upstreams = true;
  c.offline = true;
  c.no_default_upstreams = true;
  c.ca_file = "/ca.pem";
  c.stall_timeout = 1500ms;
  c.negative_cache_ttl = 0ms;
  c.spool_dir = "/s";
  const std::string text = to_toml(c);
  CHECK_THAT(text, Catch::Matchers::Contains(
                       "mirrors = [\"http://a.example\", \"https://b.example/x\"]\n"));
  CHECK_THAT(text, Catch::Matchers::Contains("ipfs_gateways = [\"http://gw.example:8080\"]\n"));
  CHECK_THAT(text, Catch::Matchers::Contains("allow_private_upstreams = true\n"));
  CHECK_THAT(text, Catch::Matchers::Contains("stall_timeout = \"1500ms\"\n"));
  CHECK_THAT(text, Catch::Matchers::Contains("negative_cache_ttl = \"0s\"\n"));
  ConfigSources again = base_sources();
  again.file_text = text;
  CHECK(load_config(again) == c);
}

TEST_CASE("ipfs_gateways: a URL list like mirrors, from file, environment and flags",
          "[config][upstreams]") {
  ConfigSources s = base_sources();
  s.flags["config"] = "/etc/srcgate.toml";
  s.file_text = "ipfs_gateways = [\"http://file.example/\"]\n";
  CHECK(load_config(s).ipfs_gateways == std::vector<std::string>{"http://file.example"});
  s.env["SRCGATE_IPFS_GATEWAYS"] = "http://a.example:81/ https://b.example/x,";
  CHECK(load_config(s).ipfs_gateways ==
        std::vector<std::string>{"http://a.example:81", "https://b.example/x"});
  // Repeated --ipfs-gateway flags arrive joined by spaces; they replace the list.
  s.flags["ipfs_gateways"] = "http://flag.example";
  CHECK(load_config(s).ipfs_gateways == std::vector<std::string>{"http://flag.example"});
  // mirrors is untouched by the gateways.
  CHECK(load_config(s).mirrors.empty());

  s.flags["ipfs_gateways"] = "ipfs://bafy";
  CHECK(error_of(s) ==
        "config: ipfs_gateways: expected an http:// or https:// URL, got 'ipfs://bafy' (from "
        "--ipfs-gateway)");
  s.flags.erase("ipfs_gateways");
  s.env["SRCGATE_IPFS_GATEWAYS"] = "https://";
  CHECK(error_of(s) ==
        "config: ipfs_gateways: has no host, got 'https://' (from SRCGATE_IPFS_GATEWAYS)");
  s.env.erase("SRCGATE_IPFS_GATEWAYS");
  s.file_text = "ipfs_gateways = 7\n";
  CHECK(error_of(s) ==
        "config: ipfs_gateways: expected a list of URLs, got 7 (from /etc/srcgate.toml)");
}

TEST_CASE("allow_private_upstreams: a boolean from file, environment and flag",
          "[config][upstreams]") {
  ConfigSources s = base_sources();
  CHECK_FALSE(load_config(s).allow_private_upstreams);
  s.file_text = "allow_private_upstreams = true\n";
  CHECK(load_config(s).allow_private_upstreams);
  s.env["SRCGATE_ALLOW_PRIVATE_UPSTREAMS"] = "no";
  CHECK_FALSE(load_config(s).allow_private_upstreams);
  s.flags["allow_private_upstreams"] = "true";  // what `serve --allow-private-upstreams` passes
  const Config c = load_config(s);
  CHECK(c.allow_private_upstreams);
  CHECK_FALSE(c.offline);
  CHECK_FALSE(c.no_default_upstreams);
  s.flags.clear();
  s.env["SRCGATE_ALLOW_PRIVATE_UPSTREAMS"] = "sometimes";
  CHECK(error_of(s) ==
        "config: allow_private_upstreams: expected true or false, got 'sometimes' (from "
        "SRCGATE_ALLOW_PRIVATE_UPSTREAMS)");
}

TEST_CASE("effective IPFS gateways: configured ones, then the default, none offline",
          "[config][upstreams]") {
  Config c = expected_defaults();
  CHECK(effective_ipfs_gateways(c) == std::vector<std::string>{"https://trustless-gateway.link"});
  c.ipfs_gateways = {"http://lan-1:8080", "http://lan-2:8080/gw", "http://lan-1:8080"};
  CHECK(effective_ipfs_gateways(c) == std::vector<std::string>{"http://lan-1:8080",
                                                               "http://lan-2:8080/gw",
                                                               "https://trustless-gateway.link"});
  c.ipfs_gateways = {"https://trustless-gateway.link", "http://lan-1:8080"};
  CHECK(effective_ipfs_gateways(c) ==
        std::vector<std::string>{"https://trustless-gateway.link", "http://lan-1:8080"});
  c.no_default_upstreams = true;
  c.ipfs_gateways = {"http://lan-1:8080"};
  CHECK(effective_ipfs_gateways(c) == std::vector<std::string>{"http://lan-1:8080"});
  // The mirrors do not leak into the gateways, nor the other way round.
  c.mirrors = {"http://mirror:8080"};
  CHECK(effective_mirrors(c) == std::vector<std::string>{"http://mirror:8080"});
  c.ipfs_gateways.clear();
  CHECK(effective_ipfs_gateways(c).empty());
  c.ipfs_gateways = {"http://lan-1:8080"};
  c.no_default_upstreams = false;
  c.offline = true;
  CHECK(effective_ipfs_gateways(c).empty());
}

TEST_CASE("[mirror_sites]: a file-only table of site = [URLs], printed and read back",
          "[config][upstreams]") {
  ConfigSources s = base_sources();
  s.file_text =
      "listen = \"127.0.0.1:8080\"\n"
      "[mirror_sites]\n"
      "gnu = [\"https://ftp.example.org/gnu/\", \"http://mirror.lan/gnu\"]\n"
      "sourceforge = []\n";
  const Config c = load_config(s);
  REQUIRE(c.mirror_sites.size() == 2);
  CHECK(c.mirror_sites.at("gnu") ==
        std::vector<std::string>{"https://ftp.example.org/gnu/", "http://mirror.lan/gnu"});
  CHECK(c.mirror_sites.at("sourceforge").empty());
  const std::string toml = to_toml(c);
  CHECK(toml.find("[mirror_sites]\n\"gnu\" = [\"https://ftp.example.org/gnu/\", "
                  "\"http://mirror.lan/gnu\"]\n\"sourceforge\" = []\n") != std::string::npos);
  ConfigSources again = base_sources();
  again.file_text = toml;
  Config back = load_config(again);
  back.config_file = c.config_file;
  CHECK(back == c);

  ConfigSources bad = base_sources();
  bad.file_text = "[mirror_sites]\ngnu = \"https://ftp.example.org/gnu/\"\n";
  CHECK_THROWS_WITH(load_config(bad),
                    Catch::Contains("mirror_sites.gnu: expected an array of URL strings"));
  bad.file_text = "mirror_sites = 3\n";
  CHECK_THROWS_WITH(load_config(bad), Catch::Contains("mirror_sites: expected a table"));
}

TEST_CASE("the access log and hit cache keys, from the file, the environment and flags",
          "[config]") {
  ConfigSources s = base_sources();
  s.flags["config"] = "/etc/srcgate.toml";
  s.file_text = "access_log = \"off\"\naccess_log_buffer = \"1MiB\"\nhit_cache_size = 0\n";
  Config c = load_config(s);
  CHECK_FALSE(c.access_log);
  CHECK(c.access_log_buffer == 1048576);
  CHECK(c.hit_cache_size == 0);
  c.config_file.reset();
  ConfigSources again = base_sources();
  again.file_text = to_toml(c);
  CHECK(load_config(again) == c);

  s = base_sources();
  s.env["SRCGATE_ACCESS_LOG"] = "off";
  s.env["SRCGATE_ACCESS_LOG_BUFFER"] = "0";
  s.env["SRCGATE_HIT_CACHE_SIZE"] = "128MiB";
  c = load_config(s);
  CHECK_FALSE(c.access_log);
  CHECK(c.access_log_buffer == 0);
  CHECK(c.hit_cache_size == 128ull << 20);
  s.flags["access_log"] = "stderr";
  s.flags["hit_cache_size"] = "1M";
  c = load_config(s);
  CHECK(c.access_log);
  CHECK(c.hit_cache_size == 1ull << 20);

  s = base_sources();
  s.flags["access_log"] = "/var/log/srcgate.log";
  CHECK(error_of(s) ==
        "config: access_log: expected stderr or off, got '/var/log/srcgate.log' (from "
        "--access-log)");
  s = base_sources();
  s.env["SRCGATE_ACCESS_LOG_BUFFER"] = "1GiB";
  CHECK(error_of(s) ==
        "config: access_log_buffer: must be at most 16MiB, got 1073741824 (from "
        "SRCGATE_ACCESS_LOG_BUFFER)");
}
