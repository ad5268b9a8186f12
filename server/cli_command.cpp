#include "server/cli_command.hpp"

#include <algorithm>
#include <boost/program_options/parsers.hpp>
#include <cstdint>
#include <exception>
#include <ostream>

#ifndef SRCGATE_VERSION
#error "SRCGATE_VERSION must be defined by the build (server/CMakeLists.txt)"
#endif

namespace srcgate::server {

namespace po = boost::program_options;

namespace {

void print_help(std::span<const Command> commands, std::ostream& out) {
  out << "srcgate " SRCGATE_VERSION
         " - content-addressed source cache for Nix hashed mirrors and IPFS\n"
         "\n"
         "Usage: srcgate <command> [options] [args...]\n"
         "       srcgate --help | --version\n"
         "\n"
         "Commands:\n";
  std::size_t width = 0;
  for (const auto& c : commands) width = std::max(width, c.name.size());
  for (const auto& c : commands) {
    out << "  " << c.name << std::string(width - c.name.size() + 2, ' ') << c.summary << '\n';
  }
  out << "\nRun 'srcgate <command> --help' for the options of a command.\n";
}

}  // namespace

std::string version_line() { return "srcgate " SRCGATE_VERSION; }

int usage_error(std::ostream& err, std::string_view command, std::string_view message) {
  err << "srcgate " << command << ": " << message << "\nTry 'srcgate " << command << " --help'.\n";
  return kExitUsage;
}

std::optional<int> parse_command_line(const std::vector<std::string>& args,
                                      std::string_view command,
                                      const po::options_description& options,
                                      const po::positional_options_description* positional,
                                      po::variables_map& vm, std::string_view help,
                                      const po::options_description& visible, std::ostream& out,
                                      std::ostream& err) {
  try {
    po::command_line_parser parser(args);
    parser.options(options);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(err, command, e.what());
  }
  if (vm.count("help")) {
    out << help << '\n' << visible;
    return kExitOk;
  }
  return std::nullopt;
}

int dispatch(std::span<const Command> commands, int argc, const char* const* argv,
             std::ostream& out, std::ostream& err) {
  if (argc < 2) {
    print_help(commands, err);
    return kExitUsage;
  }
  const std::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    print_help(commands, out);
    return kExitOk;
  }
  if (first == "--version" || first == "-V") {
    out << version_line() << '\n';
    return kExitOk;
  }
  const auto it = std::find_if(commands.begin(), commands.end(),
                               [&](const Command& c) { return c.name == first; });
  if (it == commands.end()) {
    err << "srcgate: unknown command '" << first << "'; commands:";
    for (const auto& c : commands) err << ' ' << c.name;
    err << "\nRun 'srcgate --help' for usage.\n";
    return kExitUsage;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  try {
    return it->run(args, out, err);
  } catch (const std::exception& e) {
    out.flush();
    err << "srcgate " << it->name << ": " << e.what() << '\n';
    return kExitFailure;
  }
}

std::string to_valid_utf8(std::string_view bytes) {
  // Length of the well-formed sequence at `i` (Unicode 15, table 3-7), or 0.
  const auto sequence_length = [&](std::size_t i) -> std::size_t {
    const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(bytes[k]); };
    const std::size_t left = bytes.size() - i;
    const std::uint8_t b0 = byte(i);
    if (b0 < 0x80) return 1;
    const auto cont = [&](std::size_t k, std::uint8_t lo = 0x80, std::uint8_t hi = 0xBF) {
      return k < left && byte(i + k) >= lo && byte(i + k) <= hi;
    };
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (b0 == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (b0 == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (b0 >= 0xF1 && b0 <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (b0 == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
  };

  std::size_t i = 0;
  while (i < bytes.size()) {
    const std::size_t n = sequence_length(i);
    if (n == 0) break;
    i += n;
  }
  if (i == bytes.size()) return std::string(bytes);

  std::string out(bytes.substr(0, i));
  out.reserve(bytes.size() + 16);
  while (i < bytes.size()) {
    const std::size_t n = sequence_length(i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

void print_store_open_error(std::ostream& err, std::string_view command,
                            const std::filesystem::path& dir, const storage::Error& error,
                            std::string_view busy_advice, std::string_view missing_advice) {
  err << "srcgate " << command << ": ";
  if (error.code == storage::Errc::busy) {
    err << "the store at " << dir.string()
        << " is in use by another process (is `srcgate serve` running?); " << busy_advice << '\n';
  } else if (error.code == storage::Errc::not_found) {
    err << "there is no store at " << dir.string() << " (" << missing_advice << ")\n";
  } else {
    err << "cannot open the store at " << dir.string() << ": " << error.message << '\n';
  }
}

}  // namespace srcgate::server
