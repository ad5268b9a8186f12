// The store commands of the srcgate CLI: import, import-car, export-car, pin,
// unpin, stats, gc and verify. Each opens the RocksDB store in the data
// directory (--data DIR; default config::default_data_dir(), the directory
// that `serve` uses), does its work and closes it. When another process (the
// server) holds the store, each says so and names the server's admin API as
// the alternative. Every command handles --help. Output: JSON lines on `out`
// (export-car: the CAR bytes), diagnostics on `err`.
// Thread-safety: free functions; each call owns the store it opens.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace srcgate::server {

int run_import_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_import_car_command(const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err);
int run_export_car_command(const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err);
int run_pin_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_unpin_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_stats_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_gc_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_verify_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Parses a size: a decimal number of bytes with an optional binary suffix
// K, M, G or T (also KiB, MiB, GiB, TiB; case-insensitive). nullopt for
// anything else or on overflow.
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace srcgate::server
