// `srcgate serve`: loads the configuration (flags > SRCGATE_* env > TOML file >
// defaults, config/config.hpp), builds the server's pieces from it and runs the
// HTTP gateway until SIGINT or SIGTERM, then stops gracefully. This is the
// composition root of the gateway: the only place that turns the Config into
// the ServerOptions and handler the server library takes.
// Content requests are answered by GatewayHandler from the RocksDB store in
// the configured data directory, which the server holds open while it runs.
// Thread-safety: called once, on the main thread.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace srcgate::server {

// The `serve` entry of the command table: `args` are the arguments after
// "serve". Returns kExitOk after a graceful stop, kExitUsage for a bad flag or
// configuration value (one line on `err`); a port that cannot be bound throws
// std::system_error, which dispatch() reports as one line.
int run_serve_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The same as a main()-style function: argv[0] is "serve" (or the program
// name) and is skipped; errors, including bind errors, are reported on stderr.
int run_serve(int argc, char** argv);

}  // namespace srcgate::server
