// The command-line front end's shared pieces: the table of subcommands
// (`srcgate <command> [args]`), the dispatcher over it, the exit codes every
// command uses, the parsing of a command's options with its usage and --help
// messages, text helpers for machine-readable output, and the message of a
// store that a command cannot open.
// Thread-safety: free functions over caller-owned data; dispatch() runs on the
// calling thread and writes only to the streams it is given.
#pragma once

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/positional_options.hpp>
#include <boost/program_options/variables_map.hpp>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/storage_error.hpp"

namespace srcgate::server {

// Exit statuses shared by every command.
inline constexpr int kExitOk = 0;       // everything asked for was done
inline constexpr int kExitFailure = 1;  // some input could not be processed
inline constexpr int kExitUsage = 2;    // bad command line (unknown option, value or command)

// A subcommand. `run` receives the arguments after the command name and writes
// its normal output to `out`, diagnostics to `err`; it returns an exit status.
// It handles its own `--help`. Start-up exceptions escape to dispatch().
struct Command {
  std::string_view name;
  std::string_view summary;  // one line, shown by `srcgate --help`
  int (*run)(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
};

// Runs `srcgate` with argv: `--help`/`-h` and `--version`/`-V` at the top
// level, else looks argv[1] up in `commands` and runs it. An unknown command or
// no command is a usage error (kExitUsage). An exception escaping a command is
// reported as one line "srcgate <command>: <what>" on `err` and gives
// kExitFailure.
int dispatch(std::span<const Command> commands, int argc, const char* const* argv,
             std::ostream& out, std::ostream& err);

// Writes "srcgate <command>: <message>" and "Try 'srcgate <command> --help'."
// on `err`; returns kExitUsage.
int usage_error(std::ostream& err, std::string_view command, std::string_view message);

// Parses `args` (what follows `srcgate <command>`) into `vm` with `options`,
// bare operands as `positional` says (when null, none is given a name).
// Returns an exit status when the command is done: kExitUsage after
// usage_error() when boost::program_options refuses the command line, kExitOk
// after writing `help`, a newline and `visible` (the options' own --help text)
// on `out` when `vm` holds "help". nullopt: the command goes on.
std::optional<int> parse_command_line(
    const std::vector<std::string>& args, std::string_view command,
    const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description* positional,
    boost::program_options::variables_map& vm, std::string_view help,
    const boost::program_options::options_description& visible, std::ostream& out,
    std::ostream& err);

// "srcgate <version>", as `srcgate --version` prints it.
std::string version_line();

// Returns `bytes` unchanged when it is well-formed UTF-8; otherwise a copy in
// which every byte that does not belong to a well-formed UTF-8 sequence is
// replaced by U+FFFD (EF BF BD). Used for file names in JSON output, which must
// be valid UTF-8 whatever the file system holds.
std::string to_valid_utf8(std::string_view bytes);

// Writes one line "srcgate <command>: ..." on `err` saying why the store at
// `dir` could not be opened (`error`, from storage::open_rocksdb_store): in use
// by another process, followed by `busy_advice` (what to do instead); not
// there, followed by `missing_advice` in parentheses; else the error's message.
void print_store_open_error(std::ostream& err, std::string_view command,
                            const std::filesystem::path& dir, const storage::Error& error,
                            std::string_view busy_advice, std::string_view missing_advice);

}  // namespace srcgate::server
