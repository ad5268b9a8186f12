// The configuration of `srcgate serve`: one struct, loaded once at start-up
// from, in increasing precedence, built-in defaults, a TOML file, SRCGATE_*
// environment variables and command-line flags, then validated as a whole.
// Every problem is a ConfigError whose what() is one line naming the key, the
// problem and where the value came from:
//   config: listen: expected HOST:PORT, got 'abc' (from SRCGATE_LISTEN)
//
// Keys (TOML name = env SRCGATE_<NAME uppercased> = flag of `serve`):
//   listen            "HOST:PORT", "[V6]:PORT" or ":PORT"; default 0.0.0.0:8080 (a LAN
//                     service: all interfaces; use 127.0.0.1:8080 for a local-only cache)
//   data_dir          store directory (--data); default config::default_data_dir()
//   threads           I/O threads, 1..1024; default std::thread::hardware_concurrency()
//   base_path         URL prefix such as "/cache"; default "" (none)
//   max_connections   open client connections, 1..1000000; default 4096
//   max_header_bytes  request line + headers, 1 KiB..1 MiB; default 16 KiB
//   idle_timeout      keep-alive wait for the next request; default 60s
//   read_timeout      to receive a request's headers; default 30s
//   write_timeout     for each write of a response to make progress; default 30s
//   shutdown_grace    how long running responses may go on after SIGTERM; default 10s
//   admin_token       bearer token of /api/v1/; default "" (admin API disabled)
//   max_size          store size limit; default 0 (no limit)
//   log_format        access log lines: "text" (logfmt) or "json"; default "text"
//   access_log        where access lines go: "stderr" or "off"; default "stderr"
//   access_log_buffer access lines are written together once they pass this size,
//                     and at least once a second and at shutdown; 0 writes each line
//                     at once; at most 16 MiB; default 64KiB
//   hit_cache_size    memory for hashed-mirror hits kept out of the store (their names,
//                     and the bytes of files up to 64 KiB); 0 turns the cache off;
//                     default 32MiB
// Upstreams (the miss path of the hashed-mirror routes):
//   mirrors           hashed mirrors tried in order, as http:// or https:// base URLs
//                     (trailing '/' dropped); TOML: an array of strings (or one string);
//                     env: separated by commas or whitespace; flag: --mirror URL, repeatable
//                     (flags replace the environment's or the file's list); default []
//   no_default_upstreams  bool: do not append the default upstream
//                     https://tarballs.nixos.org after `mirrors`, nor the default IPFS
//                     gateway after `ipfs_gateways`; default false
//   offline           bool: no upstream I/O at all (a miss is a 404 at once); default false
//   allow_private_upstreams  bool: let source-index URLs (original URLs, tried after
//                     the mirrors) reach loopback, link-local, private and other
//                     non-public addresses; default false (such a source is refused)
//   ipfs_gateways     trustless IPFS gateways for /ipfs/ misses, tried in order, as
//                     http:// or https:// base URLs; same syntax as `mirrors`; flag
//                     --ipfs-gateway URL, repeatable; default [] plus
//                     https://trustless-gateway.link appended unless
//                     no_default_upstreams (see effective_ipfs_gateways)
//   ca_file           PEM file of CAs trusted besides the system's; default "" (none)
//   connect_timeout   DNS + TCP + TLS (+ proxy CONNECT) to an upstream; default 5s
//   first_byte_timeout  request sent -> response headers; default 15s
//   stall_timeout     longest gap between body bytes of an upstream; default 15s
//   miss_deadline     a miss's request -> its answer (streaming, or 404); default 30s
//   negative_cache_ttl  how long "no upstream has it" is remembered; 0 disables;
//                     default 60s
//   spool_dir         where arriving upstream bodies spill (unlinked files); default
//                     <data_dir>/spool
//   [mirror_sites]    file only: a table of site = ["https://base/", ...] that
//                     overrides nixpkgs' mirror:// sites for PUT /api/v1/sources (the
//                     format of `srcgate sources --mirror-table`); default none
// Booleans are TOML booleans; in the environment true/false, 1/0, yes/no, on/off;
// as flags, present means true. effective_mirrors() gives the list the miss path
// uses, effective_ipfs_gateways() the IPFS path's. Plus `config` (env SRCGATE_CONFIG, flag
// --config): the TOML file to read; none by default. Sizes are integers (bytes) or strings with a
// unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB or K/M/G/T (powers of 1024). Durations are
// integers (seconds) or strings with a unit: ms, s, m, h ("30s", "500ms").
// Unknown keys in the file are errors; unknown SRCGATE_* variables are ignored;
// an empty environment variable counts as unset.
//
// Thread-safety: pure functions over values, apart from load_config's reading
// of the file it is told to read.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace srcgate::config {

enum class LogFormat { text, json };

// The upstream appended to `mirrors` unless no_default_upstreams.
inline constexpr std::string_view kDefaultUpstream = "https://tarballs.nixos.org";
// The gateway appended to `ipfs_gateways` unless no_default_upstreams.
inline constexpr std::string_view kDefaultIpfsGateway = "https://trustless-gateway.link";

struct ListenAddress {
  std::string host = "0.0.0.0";  // a literal address or a host name; IPv6 without brackets
  std::uint16_t port = 8080;     // 0: any free port (tests)
  // "0.0.0.0:8080", "[::1]:8080".
  std::string to_string() const;
  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

struct Config {
  ListenAddress listen;
  std::filesystem::path data_dir;
  unsigned threads = 1;
  std::string base_path;  // "" or "/a/b": leading '/', no trailing '/'
  std::size_t max_connections = 4096;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds shutdown_grace{10'000};
  std::string admin_token;
  std::uint64_t max_size = 0;
  LogFormat log_format = LogFormat::text;
  bool access_log = true;  // "stderr" (true) or "off" (false)
  std::uint64_t access_log_buffer = 64 * 1024;
  std::uint64_t hit_cache_size = std::uint64_t{32} << 20;
  // Upstreams; see the key list above.
  std::vector<std::string> mirrors;
  bool no_default_upstreams = false;
  bool offline = false;
  bool allow_private_upstreams = false;    // source URLs may reach non-public addresses
  std::vector<std::string> ipfs_gateways;  // before the default one
  std::filesystem::path ca_file;           // empty: the system CAs only
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds first_byte_timeout{15'000};
  std::chrono::milliseconds stall_timeout{15'000};
  std::chrono::milliseconds miss_deadline{30'000};
  std::chrono::milliseconds negative_cache_ttl{60'000};  // 0: no negative cache
  std::filesystem::path spool_dir;                       // default data_dir / "spool"
  // [mirror_sites] of the file, site -> base URLs, as written (the server
  // validates them against its mirror table).
  std::map<std::string, std::vector<std::string>> mirror_sites;
  std::optional<std::filesystem::path> config_file;  // the file that was read, if any
  friend bool operator==(const Config&, const Config&) = default;
};

// A start-up error in the configuration. what() is the whole one-line message.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, const std::string& message)
      : std::runtime_error(message), key_(std::move(key)) {}
  const std::string& key() const { return key_; }  // "listen", or "config" for the file

 private:
  std::string key_;
};

// Everything load_config reads, so that tests can state it.
struct ConfigSources {
  // Command-line values by TOML key name ("listen", "data_dir", "config", ...),
  // as text. The serve command maps its flags (--data, --base-path) to keys;
  // a list (mirrors, ipfs_gateways) is one text separated by commas or
  // whitespace, as in the environment (repeated --mirror or --ipfs-gateway
  // flags joined by spaces); a bool switch is "true".
  std::map<std::string, std::string> flags;
  // Environment variables by name; only SRCGATE_* and, for the default data
  // directory, XDG_DATA_HOME and HOME are read.
  std::map<std::string, std::string> env;
  // Effective uid is 0 (default data directory /var/lib/srcgate).
  bool root = false;
  // When set, used as the TOML file's contents instead of reading the file
  // named by `config` (which then only names it in messages; "<inline>" if
  // none). For tests.
  std::optional<std::string> file_text;
  // std::thread::hardware_concurrency() unless a test states it.
  unsigned hardware_threads = 0;
};

// The defaults, for the given environment (data_dir) and thread count.
Config default_config(const ConfigSources& sources);

// Builds the configuration from `sources` (defaults < file < env < flags) and
// validates it. Throws ConfigError for the first problem found.
Config load_config(const ConfigSources& sources);

// The hashed mirrors the miss path asks, in order: `mirrors`, then
// kDefaultUpstream unless no_default_upstreams (or already listed); none when
// offline.
std::vector<std::string> effective_mirrors(const Config& config);

// The trustless IPFS gateways an /ipfs/ miss asks, in order: `ipfs_gateways`
// (duplicates dropped), then kDefaultIpfsGateway unless no_default_upstreams
// (or already listed); none when offline.
std::vector<std::string> effective_ipfs_gateways(const Config& config);

// The process environment as a map (for ConfigSources::env).
std::map<std::string, std::string> environment_map();

// Parsers of the value syntaxes, exposed for tests and flags. Each returns
// nullopt when `text` does not fit the syntax.
std::optional<ListenAddress> parse_listen_address(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The effective configuration as TOML, for logging and `serve --print-config`:
// load_config reads it back to the same Config, except that a set admin_token
// is shown as "<set>", never in clear.
std::string to_toml(const Config& config);

}  // namespace srcgate::config
