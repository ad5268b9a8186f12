// The srcgate binary: the table of commands and nothing else. Each command
// lives in its own file pair under server/ (see cli_command.hpp).
#include <array>
#include <iostream>

#include "server/cli_command.hpp"
#include "server/hash_command.hpp"

namespace {

constexpr std::array kCommands = {
    srcgate::server::Command{
        "hash", "print the size, root CID and md5/sha1/sha256/sha512 of files (JSON lines)",
        &srcgate::server::run_hash_command},
};

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return srcgate::server::dispatch(kCommands, argc, argv, std::cout, std::cerr);
}
