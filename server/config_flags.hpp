// The configuration flags of the commands that read srcgate's configuration
// (`srcgate serve`, `srcgate prefetch`): a table whose rows map a command-line
// flag to a configuration key (config/config.hpp), the rows both commands
// offer alike, and the steps from a parsed command line to a config::Config
// (the flags given, then the environment and the TOML file, as
// config::load_config reads them), so that a flag means the same in both.
// Thread-safety: constants and free functions over caller-owned data;
// command_config_sources() reads the process environment.
#pragma once

#include <boost/program_options.hpp>
#include <optional>
#include <ostream>
#include <span>
#include <string_view>

#include "config/config.hpp"

namespace srcgate::server {

enum class ConfigFlagKind {
  value,     // --flag VALUE
  repeated,  // --flag VALUE, any number of times; the values become one list
  on,        // --flag alone: the key is true
};

// One row: `--flag` sets the configuration key `key`.
struct ConfigFlag {
  const char* flag;
  const char* key;         // the configuration key (config.hpp)
  const char* value_name;  // shown in --help ("" for ConfigFlagKind::on)
  const char* help;        // says the default
  ConfigFlagKind kind = ConfigFlagKind::value;
};

// Rows that serve and prefetch offer with the same meaning and help.
inline constexpr ConfigFlag kConfigFileFlag{"config", "config", "FILE",
                                            "TOML file to read (default $SRCGATE_CONFIG; none)"};
inline constexpr ConfigFlag kCaFileFlag{
    "ca-file", "ca_file", "FILE",
    "PEM file of CAs to trust for upstreams besides the system's (default none)"};
inline constexpr ConfigFlag kConnectTimeoutFlag{
    "connect-timeout", "connect_timeout", "DURATION",
    "DNS, TCP, TLS and proxy CONNECT to an upstream (default 5s)"};
inline constexpr ConfigFlag kFirstByteTimeoutFlag{
    "first-byte-timeout", "first_byte_timeout", "DURATION",
    "from an upstream request to its response headers (default 15s)"};
inline constexpr ConfigFlag kStallTimeoutFlag{
    "stall-timeout", "stall_timeout", "DURATION",
    "longest wait for the next body byte of an upstream (default 15s)"};
inline constexpr ConfigFlag kSpoolDirFlag{
    "spool-dir", "spool_dir", "DIR",
    "where arriving upstream bodies spill, as unlinked files (default <data>/spool)"};

// Adds an option for each row of `flags` to `options`, in order: a
// std::string value, a std::vector<std::string> value, or a switch.
void add_config_flags(std::span<const ConfigFlag> flags,
                      boost::program_options::options_description& options);

// What config::load_config reads for a command line: the rows of `flags` that
// `vm` holds, by key (a repeated flag's values joined by spaces, as config
// reads a list; a switch "true"), the process environment, and whether the
// effective uid is 0.
config::ConfigSources command_config_sources(std::span<const ConfigFlag> flags,
                                             const boost::program_options::variables_map& vm);

// config::load_config(sources); on a config::ConfigError, writes
// "srcgate <command>: <what>" on `err` and returns nullopt (a usage error).
std::optional<config::Config> load_command_config(const config::ConfigSources& sources,
                                                  std::string_view command, std::ostream& err);

}  // namespace srcgate::server
