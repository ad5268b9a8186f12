#include "server/serve_command.hpp"

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include "config/config.hpp"
#include "server/cli_command.hpp"
#include "server/config_flags.hpp"
#include "server/gateway_handler.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "server/proxy_settings.hpp"
#include "server/url.hpp"
#include "storage/rocksdb_store.hpp"

namespace srcgate::server {
namespace {

namespace po = boost::program_options;

constexpr std::string_view kHelp =
    "Usage: srcgate serve [options]\n"
    "\n"
    "Runs the caching gateway: the Nix hashed-mirror routes /<algo>/<hash> and\n"
    "//<algo>-<base64>, the IPFS path and trustless gateway /ipfs/<cid>[/path],\n"
    "/metrics (Prometheus), /healthz, /readyz and the admin API /api/v1/.\n"
    "SIGINT or SIGTERM stops it gracefully: no new connections, idle ones closed,\n"
    "running responses given the shutdown grace period.\n"
    "\n"
    "Every option is also a key of the TOML file (--config, or $SRCGATE_CONFIG) and\n"
    "an environment variable SRCGATE_<KEY> (e.g. SRCGATE_LISTEN, SRCGATE_DATA_DIR);\n"
    "flags win over the environment, which wins over the file. admin_token\n"
    "(SRCGATE_ADMIN_TOKEN) has no flag, so that it does not show in `ps`; without\n"
    "it the admin API is disabled. Sizes take B, KB, MB, GB, TB (powers of 1000)\n"
    "or K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024); durations take ms, s, m, h.\n"
    "\n"
    "Content is answered from the RocksDB store in the data directory (the one the\n"
    "store commands use); the server holds it open, so while it runs, use the\n"
    "admin API instead of `srcgate import`. max_size 0 keeps the cap the store\n"
    "recorded last.\n"
    "\n"
    "A hash that the store lacks is fetched from the upstream hashed mirrors, in\n"
    "order: each --mirror (mirrors, SRCGATE_MIRRORS: separated by commas or\n"
    "spaces), then https://tarballs.nixos.org unless --no-default-upstreams. A\n"
    "mirror is asked for <mirror>/<algo>/<hex>; another srcgate is a valid mirror.\n"
    "Then the original URLs that the source index holds for the hash (`srcgate\n"
    "sources`, PUT /api/v1/sources) are tried in order; a source URL whose\n"
    "address is loopback, link-local, private or otherwise not public is refused\n"
    "(and logged) unless --allow-private-upstreams. The bytes are verified against\n"
    "the hash before they are stored or a response is completed. An /ipfs/ miss\n"
    "asks the trustless gateways: each --ipfs-gateway, then\n"
    "https://trustless-gateway.link unless --no-default-upstreams.\n"
    "The file's [mirror_sites] table (site = [\"https://base/\", ...]) overrides\n"
    "nixpkgs' mirror:// sites for PUT /api/v1/sources; [] drops a site.\n"
    "--offline: no upstream I/O at all, a miss is a 404.\n"
    "Upstream requests honour http_proxy, https_proxy and no_proxy (https\n"
    "through CONNECT); --ca-file adds a CA to the system's.\n";

// Flag name -> config key, in --help order; the help text says the default.
constexpr ConfigFlag kFlags[] = {
    {"listen", "listen", "HOST:PORT",
     "address to listen on (default 0.0.0.0:8080: every interface, for a LAN; use "
     "127.0.0.1:8080 to serve this host only)"},
    {"data", "data_dir", "DIR",
     "the store's data directory (default $SRCGATE_DATA_DIR, /var/lib/srcgate for root, else "
     "${XDG_DATA_HOME:-~/.local/share}/srcgate)"},
    {"threads", "threads", "N", "I/O threads (default: the number of CPUs)"},
    kConfigFileFlag,
    {"base-path", "base_path", "PATH",
     "serve under this URL prefix too, e.g. /cache (default none)"},
    {"max-connections", "max_connections", "N",
     "open connections at most; more get 503 (default 4096)"},
    {"max-header-bytes", "max_header_bytes", "SIZE",
     "request line and headers at most; more get 431 (default 16KiB)"},
    {"idle-timeout", "idle_timeout", "DURATION",
     "close a kept-alive connection idle this long (default 60s)"},
    {"read-timeout", "read_timeout", "DURATION",
     "a request's headers must arrive within this (default 30s)"},
    {"write-timeout", "write_timeout", "DURATION",
     "each write to a client must complete within this, so slow readers are cut off "
     "(default 30s)"},
    {"shutdown-grace", "shutdown_grace", "DURATION",
     "how long running responses may go on after SIGTERM (default 10s)"},
    {"max-size", "max_size", "SIZE", "cap the store at SIZE (default 0: no cap)"},
    {"log-format", "log_format", "text|json",
     "access log lines on stderr: logfmt text or JSON (default text)"},
    {"access-log", "access_log", "stderr|off",
     "where the access log goes: standard error, or nowhere (default stderr)"},
    {"access-log-buffer", "access_log_buffer", "SIZE",
     "write access lines together once they pass SIZE, and at least once a second; 0 writes "
     "each line at once (default 64KiB)"},
    {"hit-cache-size", "hit_cache_size", "SIZE",
     "memory for hot hashed-mirror hits, served without a store read (their names, and the "
     "bytes of files up to 64 KiB); 0 turns it off (default 32MiB)"},
    {"mirror", "mirrors", "URL",
     "an upstream hashed mirror (http:// or https://, e.g. http://srcgate-2:8080); repeat "
     "for more, asked in order; replaces the list of $SRCGATE_MIRRORS and the file",
     ConfigFlagKind::repeated},
    {"no-default-upstreams", "no_default_upstreams", "",
     "do not ask https://tarballs.nixos.org after the mirrors, nor "
     "https://trustless-gateway.link after the IPFS gateways",
     ConfigFlagKind::on},
    {"offline", "offline", "", "no upstream I/O at all: a miss is a 404 at once",
     ConfigFlagKind::on},
    {"allow-private-upstreams", "allow_private_upstreams", "",
     "let source-index URLs reach loopback, link-local and private addresses (refused by "
     "default, as a guard against SSRF; mirrors are never filtered)",
     ConfigFlagKind::on},
    {"ipfs-gateway", "ipfs_gateways", "URL",
     "a trustless IPFS gateway for /ipfs/ misses (http:// or https://, e.g. "
     "http://srcgate-2:8080); repeat for more, asked in order; replaces the list of "
     "$SRCGATE_IPFS_GATEWAYS and the file",
     ConfigFlagKind::repeated},
    kCaFileFlag,
    kConnectTimeoutFlag,
    kFirstByteTimeoutFlag,
    kStallTimeoutFlag,
    {"miss-deadline", "miss_deadline", "DURATION",
     "from a miss's request to its answer, streaming or 404 (default 30s)"},
    {"negative-cache-ttl", "negative_cache_ttl", "DURATION",
     "remember a hash that no upstream has for this long; 0 disables (default 60s)"},
    kSpoolDirFlag,
};

ServerOptions server_options(const config::Config& c) {
  ServerOptions o;
  o.host = c.listen.host;
  o.port = c.listen.port;
  o.threads = c.threads;
  o.base_path = c.base_path;
  o.max_connections = c.max_connections;
  o.max_header_bytes = c.max_header_bytes;
  o.idle_timeout = c.idle_timeout;
  o.read_timeout = c.read_timeout;
  o.write_timeout = c.write_timeout;
  o.shutdown_grace = c.shutdown_grace;
  return o;
}

// The miss-path and upstream-client options of `c`. On a problem, returns
// false with a one-line message in `error` (a configuration error).
// Upstream settings are checked only when not offline. The miss path is on
// whenever not offline, even without mirrors: source-index URLs may answer.
bool upstream_options(const config::Config& c, const std::map<std::string, std::string>& env,
                      GatewayOptions& g, std::string& error) {
  if (c.offline) return true;  // g.miss stays nullopt: a miss is a 404
  const std::vector<std::string> mirrors = config::effective_mirrors(c);
  for (const std::string& m : mirrors) {
    if (auto url = parse_url(m); !url) {
      error = "config: mirrors: " + url.error().message;
      return false;
    }
  }
  std::vector<std::string> gateways = config::effective_ipfs_gateways(c);
  for (const std::string& m : gateways) {
    if (auto url = parse_url(m); !url) {
      error = "config: ipfs_gateways: " + url.error().message;
      return false;
    }
  }
  auto proxy = ProxySettings::from_environment(env);
  if (!proxy) {
    error = "proxy: " + proxy.error().message;
    return false;
  }
  if (!c.ca_file.empty()) {
    std::ifstream in(c.ca_file);
    if (!in) {
      error = "config: ca_file: cannot read '" + c.ca_file.string() + "': " + std::strerror(errno);
      return false;
    }
    g.client.ca_file = c.ca_file;
  }
  g.client.connect_timeout = c.connect_timeout;
  g.client.first_byte_timeout = c.first_byte_timeout;
  g.client.stall_timeout = c.stall_timeout;
  g.client.proxy = std::move(*proxy);
  MissOptions miss;
  miss.mirrors = mirrors;
  miss.negative_ttl = c.negative_cache_ttl;
  miss.deadline = c.miss_deadline;
  miss.spool_dir = c.spool_dir;
  miss.profile = g.import_profile;
  miss.allow_private_sources = c.allow_private_upstreams;
  g.miss = std::move(miss);
  g.ipfs_gateways = std::move(gateways);
  return true;
}

// "https://tarballs.nixos.org, http://m2 (https through proxy http://p:3128)",
// "offline", or "none (no mirrors and no_default_upstreams)".
std::string describe_upstreams(const config::Config& c, const GatewayOptions& g) {
  if (c.offline) return "offline";
  if (!g.miss) return "none: a miss is a 404";
  std::string out;
  for (const std::string& m : g.miss->mirrors) out += (out.empty() ? "" : ", ") + m;
  if (out.empty()) out = "no mirrors (no_default_upstreams), source-index URLs only";
  const ProxySettings& p = g.client.proxy;
  std::string proxies;
  if (p.http_proxy) proxies += "http through proxy " + p.http_proxy->to_string();
  if (p.https_proxy) {
    proxies +=
        (proxies.empty() ? "" : ", ") + ("https through proxy " + p.https_proxy->to_string());
  }
  if (!proxies.empty() && !p.no_proxy.empty()) {
    std::string list;
    for (const std::string& n : p.no_proxy) list += (list.empty() ? "" : ",") + n;
    proxies += ", no_proxy " + list;
  }
  if (!proxies.empty()) out += " (" + proxies + ")";
  return out;
}

}  // namespace

int run_serve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  po::options_description visible("Options");
  std::map<std::string, std::string> values;
  visible.add_options()("help,h", "print this help")(
      "print-config", "print the effective configuration as TOML and exit");
  add_config_flags(kFlags, visible);
  po::variables_map vm;
  if (auto done =
          parse_command_line(args, "serve", visible, nullptr, vm, kHelp, visible, out, err)) {
    return *done;
  }

  const config::ConfigSources sources = command_config_sources(kFlags, vm);
  std::optional<config::Config> loaded = load_command_config(sources, "serve", err);
  if (!loaded) return kExitUsage;
  const config::Config& cfg = *loaded;
  if (vm.count("print-config")) {
    out << config::to_toml(cfg);
    std::string upstreams;
    for (const std::string& m : config::effective_mirrors(cfg)) {
      upstreams += (upstreams.empty() ? "" : ", ") + m;
    }
    out << "# upstreams asked on a miss: " << (upstreams.empty() ? "none" : upstreams) << '\n';
    if (!cfg.offline) {
      out << "# then the source index's original URLs ("
          << (cfg.allow_private_upstreams ? "private destinations allowed"
                                          : "private destinations refused")
          << ")\n";
    }
    std::string gateways;
    for (const std::string& m : config::effective_ipfs_gateways(cfg)) {
      gateways += (gateways.empty() ? "" : ", ") + m;
    }
    out << "# IPFS gateways asked on an /ipfs/ miss: " << (gateways.empty() ? "none" : gateways)
        << '\n';
    return kExitOk;
  }
  GatewayOptions gateway_options;
  gateway_options.base_path = cfg.base_path;
  gateway_options.hit_cache.capacity_bytes = cfg.hit_cache_size;
  gateway_options.admin_token = cfg.admin_token;
  for (const auto& [site, urls] : cfg.mirror_sites) {
    if (auto ok = gateway_options.mirror_table.set_site(site, urls); !ok) {
      err << "srcgate serve: config: mirror_sites." << site << ": " << ok.error().message << '\n';
      return kExitUsage;
    }
  }
  if (std::string error; !upstream_options(cfg, sources.env, gateway_options, error)) {
    err << "srcgate serve: " << error << '\n';
    return kExitUsage;
  }

  // Declared before everything that refers to it, so it closes last.
  storage::RocksDbOptions store_options;
  store_options.dir = cfg.data_dir;
  if (cfg.max_size != 0) store_options.store.max_size = cfg.max_size;
  auto store = storage::open_rocksdb_store(store_options);
  if (!store) {
    err << "srcgate serve: cannot open the store at " << cfg.data_dir.string() << ": "
        << store.error().message << '\n';
    return kExitFailure;
  }
  auto metrics = std::make_shared<MetricsRegistry>();
  std::shared_ptr<GatewayHandler> handler;
  try {
    handler = std::make_shared<GatewayHandler>(**store, gateway_options, metrics.get());
  } catch (const std::runtime_error& e) {
    if (!gateway_options.client.ca_file) throw;
    // HttpClient could not load the CA file: a configuration error.
    err << "srcgate serve: config: ca_file: " << e.what() << '\n';
    return kExitUsage;
  }
  AccessLogBuffering buffering;
  buffering.buffer_bytes = static_cast<std::size_t>(cfg.access_log_buffer);
  auto log = std::make_shared<AccessLog>(
      cfg.log_format == config::LogFormat::json ? AccessLogFormat::json : AccessLogFormat::text,
      cfg.access_log ? stderr : nullptr, buffering);
  HttpServer server(server_options(cfg), handler, metrics, log);
  server.start();  // throws std::system_error when the address cannot be bound
  err << "srcgate serve: upstreams: " << describe_upstreams(cfg, gateway_options) << '\n';
  if (gateway_options.miss) {
    err << "srcgate serve: source-index URLs: tried after the mirrors, "
        << (cfg.allow_private_upstreams ? "private destinations allowed"
                                        : "private destinations refused")
        << '\n';
  }
  std::string ipfs_gateways;
  for (const std::string& g : gateway_options.ipfs_gateways) {
    ipfs_gateways += (ipfs_gateways.empty() ? "" : ", ") + g;
  }
  err << "srcgate serve: IPFS gateways: "
      << (ipfs_gateways.empty() ? "none: an /ipfs/ miss is a 404" : ipfs_gateways) << '\n';
  err << "srcgate serve: listening on "
      << config::ListenAddress{cfg.listen.host, server.port()}.to_string() << " with "
      << cfg.threads << " threads"
      << (cfg.base_path.empty() ? std::string() : ", base path " + cfg.base_path)
      << (cfg.config_file ? ", config " + cfg.config_file->string() : std::string()) << "; store "
      << (*store)->describe() << std::endl;
  server.stop_on_signal_and_wait();
  log->flush();  // the last access lines, before the line that says it stopped
  err << "srcgate serve: stopped" << std::endl;
  return kExitOk;
}

int run_serve(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  try {
    return run_serve_command(args, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "srcgate serve: " << e.what() << '\n';
    return kExitFailure;
  }
}

}  // namespace srcgate::server
