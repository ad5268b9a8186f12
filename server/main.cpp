// The srcgate binary: the table of commands and nothing else. Each command
// lives in its own file pair under server/ (see cli_command.hpp).
#include <array>
#include <iostream>

#include "server/cli_command.hpp"
#include "server/hash_command.hpp"
#include "server/prefetch_command.hpp"
#include "server/serve_command.hpp"
#include "server/sources_command.hpp"
#include "server/store_commands.hpp"

namespace {

constexpr std::array kCommands = {
    srcgate::server::Command{"serve", "run the HTTP gateway (hashed mirror, IPFS gateway, metrics)",
                             &srcgate::server::run_serve_command},
    srcgate::server::Command{
        "hash", "print the size, root CID and md5/sha1/sha256/sha512 of files (JSON lines)",
        &srcgate::server::run_hash_command},
    srcgate::server::Command{"import", "store files and print their hash lines",
                             &srcgate::server::run_import_command},
    srcgate::server::Command{"import-car", "verify and store the blocks of CAR files",
                             &srcgate::server::run_import_car_command},
    srcgate::server::Command{"export-car", "write the CAR of a stored DAG to standard output",
                             &srcgate::server::run_export_car_command},
    srcgate::server::Command{"pin", "protect stored files from eviction",
                             &srcgate::server::run_pin_command},
    srcgate::server::Command{"unpin", "let eviction remove files again",
                             &srcgate::server::run_unpin_command},
    srcgate::server::Command{"stats", "print the store's size and counts (JSON)",
                             &srcgate::server::run_stats_command},
    srcgate::server::Command{"gc", "evict to the low watermark and reclaim disk space now",
                             &srcgate::server::run_gc_command},
    srcgate::server::Command{"verify", "re-hash every stored block and check the index",
                             &srcgate::server::run_verify_command},
    srcgate::server::Command{
        "sources", "index the URLs that sources are fetched from (find-tarballs JSON, add, list)",
        &srcgate::server::run_sources_command},
    srcgate::server::Command{"prefetch",
                             "fetch the indexed sources the store lacks (resumable, N at a time)",
                             &srcgate::server::run_prefetch_command},
};

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return srcgate::server::dispatch(kCommands, argc, argv, std::cout, std::cerr);
}
