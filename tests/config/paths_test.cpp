// The default data directory rule (config/paths.hpp), case by case.
#include "config/paths.hpp"

#include <catch2/catch.hpp>

using srcgate::config::default_data_dir;
using srcgate::config::PathEnvironment;

TEST_CASE("SRCGATE_DATA_DIR wins over everything", "[config]") {
  PathEnvironment e{"/srv/cache", "/xdg", "/home/u", true};
  CHECK(default_data_dir(e) == "/srv/cache");
}

TEST_CASE("root uses /var/lib/srcgate", "[config]") {
  PathEnvironment e{std::nullopt, "/xdg", "/root", true};
  CHECK(default_data_dir(e) == "/var/lib/srcgate");
  e.srcgate_data_dir = "";  // set but empty counts as unset
  CHECK(default_data_dir(e) == "/var/lib/srcgate");
}

TEST_CASE("a user uses XDG_DATA_HOME, else ~/.local/share", "[config]") {
  PathEnvironment e{std::nullopt, "/home/u/data", "/home/u", false};
  CHECK(default_data_dir(e) == "/home/u/data/srcgate");
  e.xdg_data_home = "relative/dir";  // the XDG spec says to ignore relative paths
  CHECK(default_data_dir(e) == "/home/u/.local/share/srcgate");
  e.xdg_data_home = std::nullopt;
  CHECK(default_data_dir(e) == "/home/u/.local/share/srcgate");
  e.home = std::nullopt;
  CHECK(default_data_dir(e) == "srcgate-data");
}
