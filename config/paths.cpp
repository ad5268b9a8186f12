#include "config/paths.hpp"

#include <unistd.h>

#include <cstdlib>

namespace srcgate::config {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

bool set(const std::optional<std::string>& v) { return v && !v->empty(); }

}  // namespace

std::filesystem::path default_data_dir(const PathEnvironment& e) {
  if (set(e.srcgate_data_dir)) return *e.srcgate_data_dir;
  if (e.root) return "/var/lib/srcgate";
  if (set(e.xdg_data_home) && std::filesystem::path(*e.xdg_data_home).is_absolute()) {
    return std::filesystem::path(*e.xdg_data_home) / "srcgate";
  }
  if (set(e.home)) return std::filesystem::path(*e.home) / ".local" / "share" / "srcgate";
  return "srcgate-data";
}

PathEnvironment current_path_environment() {
  return PathEnvironment{env("SRCGATE_DATA_DIR"), env("XDG_DATA_HOME"), env("HOME"),
                         ::geteuid() == 0};
}

std::filesystem::path default_data_dir() { return default_data_dir(current_path_environment()); }

}  // namespace srcgate::config
