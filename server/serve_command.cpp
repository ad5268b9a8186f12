#include "server/serve_command.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>

#include "config/config.hpp"
#include "server/cli_command.hpp"
#include "server/gateway_handler.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
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
    "recorded last.\n";

// Flag name -> config key, in --help order; the help text says the default.
struct Flag {
  const char* flag;
  const char* key;
  const char* value_name;
  const char* help;
};
constexpr Flag kFlags[] = {
    {"listen", "listen", "HOST:PORT",
     "address to listen on (default 0.0.0.0:8080: every interface, for a LAN; use "
     "127.0.0.1:8080 to serve this host only)"},
    {"data", "data_dir", "DIR",
     "the store's data directory (default $SRCGATE_DATA_DIR, /var/lib/srcgate for root, else "
     "${XDG_DATA_HOME:-~/.local/share}/srcgate)"},
    {"threads", "threads", "N", "I/O threads (default: the number of CPUs)"},
    {"config", "config", "FILE", "TOML file to read (default $SRCGATE_CONFIG; none)"},
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
};

int usage(std::ostream& err, const std::string& message) {
  err << "srcgate serve: " << message << "\nTry 'srcgate serve --help'.\n";
  return kExitUsage;
}

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

}  // namespace

int run_serve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  po::options_description visible("Options");
  std::map<std::string, std::string> values;
  visible.add_options()("help,h", "print this help")(
      "print-config", "print the effective configuration as TOML and exit");
  for (const Flag& f : kFlags) {
    visible.add_options()(f.flag, po::value<std::string>()->value_name(f.value_name), f.help);
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(visible).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage(err, e.what());
  }
  if (vm.count("help")) {
    out << kHelp << '\n' << visible;
    return kExitOk;
  }

  config::ConfigSources sources;
  for (const Flag& f : kFlags) {
    if (vm.count(f.flag)) sources.flags[f.key] = vm[f.flag].as<std::string>();
  }
  sources.env = config::environment_map();
  sources.root = ::geteuid() == 0;
  config::Config cfg;
  try {
    cfg = config::load_config(sources);
  } catch (const config::ConfigError& e) {
    err << "srcgate serve: " << e.what() << '\n';
    return kExitUsage;
  }
  if (vm.count("print-config")) {
    out << config::to_toml(cfg);
    return kExitOk;
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
  auto handler = std::make_shared<GatewayHandler>(
      **store, GatewayOptions{cfg.base_path, cfg.admin_token}, metrics.get());
  auto log = std::make_shared<AccessLog>(
      cfg.log_format == config::LogFormat::json ? AccessLogFormat::json : AccessLogFormat::text,
      stderr);
  HttpServer server(server_options(cfg), handler, metrics, log);
  server.start();  // throws std::system_error when the address cannot be bound
  err << "srcgate serve: listening on "
      << config::ListenAddress{cfg.listen.host, server.port()}.to_string() << " with "
      << cfg.threads << " threads"
      << (cfg.base_path.empty() ? std::string() : ", base path " + cfg.base_path)
      << (cfg.config_file ? ", config " + cfg.config_file->string() : std::string()) << "; store "
      << (*store)->describe() << std::endl;
  server.stop_on_signal_and_wait();
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
