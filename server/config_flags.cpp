#include "server/config_flags.hpp"

#include <unistd.h>

#include <string>
#include <vector>

namespace srcgate::server {

namespace po = boost::program_options;

void add_config_flags(std::span<const ConfigFlag> flags, po::options_description& options) {
  for (const ConfigFlag& f : flags) {
    switch (f.kind) {
      case ConfigFlagKind::value:
        options.add_options()(f.flag, po::value<std::string>()->value_name(f.value_name), f.help);
        break;
      case ConfigFlagKind::repeated:
        options.add_options()(
            f.flag, po::value<std::vector<std::string>>()->value_name(f.value_name), f.help);
        break;
      case ConfigFlagKind::on:
        options.add_options()(f.flag, f.help);
        break;
    }
  }
}

config::ConfigSources command_config_sources(std::span<const ConfigFlag> flags,
                                             const po::variables_map& vm) {
  config::ConfigSources sources;
  for (const ConfigFlag& f : flags) {
    if (!vm.count(f.flag)) continue;
    switch (f.kind) {
      case ConfigFlagKind::value:
        sources.flags[f.key] = vm[f.flag].as<std::string>();
        break;
      case ConfigFlagKind::repeated: {  // one list, as config reads it: separated by spaces
        std::string list;
        for (const std::string& v : vm[f.flag].as<std::vector<std::string>>()) {
          list += (list.empty() ? "" : " ") + v;
        }
        sources.flags[f.key] = list;
        break;
      }
      case ConfigFlagKind::on:
        sources.flags[f.key] = "true";
        break;
    }
  }
  sources.env = config::environment_map();
  sources.root = ::geteuid() == 0;
  return sources;
}

std::optional<config::Config> load_command_config(const config::ConfigSources& sources,
                                                  std::string_view command, std::ostream& err) {
  try {
    return config::load_config(sources);
  } catch (const config::ConfigError& e) {
    err << "srcgate " << command << ": " << e.what() << '\n';
    return std::nullopt;
  }
}

}  // namespace srcgate::server
