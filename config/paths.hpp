// Where srcgate keeps its state by default. `serve` and every store command
// use the same rule, so a plain `srcgate import` feeds the store that a plain
// `srcgate serve` serves. Pure functions of their inputs; the overload without
// arguments reads the process environment and uid.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace srcgate::config {

// The inputs of the rule, so that tests can state them.
struct PathEnvironment {
  std::optional<std::string> srcgate_data_dir;  // $SRCGATE_DATA_DIR
  std::optional<std::string> xdg_data_home;     // $XDG_DATA_HOME
  std::optional<std::string> home;              // $HOME
  bool root = false;                            // effective uid 0
};

// The default data directory:
//   1. $SRCGATE_DATA_DIR when set and not empty;
//   2. /var/lib/srcgate when running as root;
//   3. $XDG_DATA_HOME/srcgate when set, not empty and absolute (XDG Base
//      Directory spec: relative values are ignored);
//   4. $HOME/.local/share/srcgate when $HOME is set and not empty;
//   5. ./srcgate-data as a last resort (no home directory at all).
std::filesystem::path default_data_dir(const PathEnvironment& env);
std::filesystem::path default_data_dir();

// The current process's PathEnvironment.
PathEnvironment current_path_environment();

}  // namespace srcgate::config
