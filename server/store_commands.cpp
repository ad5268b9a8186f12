#include "server/store_commands.hpp"

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <unordered_set>

#include "config/paths.hpp"
#include "content/car.hpp"
#include "content/dag_pb.hpp"
#include "content/importer.hpp"
#include "content/nix_hash.hpp"
#include "server/admin_client.hpp"
#include "server/cli_command.hpp"
#include "server/hash_command.hpp"
#include "storage/rocksdb_store.hpp"

namespace srcgate::server {

namespace po = boost::program_options;
using content::ByteView;
using content::Cid;
using storage::BlockStore;

namespace {

constexpr std::string_view kDataHelp =
    "The store lives in the data directory given by --data DIR; without it,\n"
    "$SRCGATE_DATA_DIR, else /var/lib/srcgate for root, else\n"
    "${XDG_DATA_HOME:-~/.local/share}/srcgate (the directory `srcgate serve` uses).\n"
    "While `srcgate serve` holds the store, these commands cannot open it; use the\n"
    "server's admin API instead.\n";

// A parsed command line: the shared options plus the command's own.
struct Cli {
  std::string name;  // "import", ...
  po::options_description visible{"Options"};
  po::options_description hidden;
  po::positional_options_description positional;
  po::variables_map vm;
  std::string data;
  std::string max_size;
  std::string server;  // --server URL: use that server's admin API (admin_client.hpp)
  bool server_capable = false;
  std::vector<std::string> operands;

  explicit Cli(std::string command, bool with_max_size) : name(std::move(command)) {
    visible.add_options()("help,h", "print this help")(
        "data,d", po::value<std::string>(&data)->value_name("DIR"),
        "the store's data directory (see above for the default)");
    if (with_max_size) {
      visible.add_options()(
          "max-size", po::value<std::string>(&max_size)->value_name("SIZE"),
          "cap the store at SIZE bytes (suffix K, M, G or T: powers of 1024); the cap is "
          "recorded in the store and stays in force for later commands and the server");
    }
    hidden.add_options()("operand", po::value<std::vector<std::string>>(&operands));
    positional.add("operand", -1);
  }

  // Adds --server URL (the commands that the admin API can do).
  void with_server() {
    server_capable = true;
    visible.add_options()(
        "server", po::value<std::string>(&server)->value_name("URL"),
        "send the work to the admin API of the `srcgate serve` at URL (http://host:port[/base]) "
        "instead of opening the store; the token comes from $SRCGATE_ADMIN_TOKEN");
  }

  // The --server endpoint; nullopt (after a message) when the URL is bad.
  std::optional<AdminEndpoint> endpoint(std::ostream& err) const {
    const char* token = std::getenv("SRCGATE_ADMIN_TOKEN");
    auto ep = parse_admin_url(server, token ? token : "");
    if (!ep) {
      err << "srcgate " << name << ": " << ep.error().message << '\n';
      return std::nullopt;
    }
    return *ep;
  }

  // Returns an exit status when the command is done (help or usage error).
  std::optional<int> parse(const std::vector<std::string>& args, std::string_view help,
                           std::ostream& out, std::ostream& err) {
    po::options_description all;
    all.add(visible).add(hidden);
    const std::string full_help = std::string(help) + '\n' + std::string(kDataHelp);
    if (auto done =
            parse_command_line(args, name, all, &positional, vm, full_help, visible, out, err)) {
      return done;
    }
    if (!max_size.empty() && !parse_size(max_size)) {
      return usage(err, "--max-size '" + max_size + "' is not a size (e.g. 10G, 512M, 1048576)");
    }
    return std::nullopt;
  }

  int usage(std::ostream& err, const std::string& message) const {
    return usage_error(err, name, message);
  }

  std::filesystem::path data_dir() const {
    return data.empty() ? config::default_data_dir() : std::filesystem::path(data);
  }
};

// Opens the store for a command; prints why not and returns nullptr on failure.
std::unique_ptr<BlockStore> open_store(const Cli& cli, bool create, std::ostream& err) {
  storage::RocksDbOptions o;
  o.dir = cli.data_dir();
  o.create_if_missing = create;
  if (!cli.max_size.empty()) o.store.max_size = parse_size(cli.max_size);
  auto store = storage::open_rocksdb_store(o);
  if (store) return std::move(*store);
  print_store_open_error(
      err, cli.name, o.dir, store.error(),
      "use the server's admin API instead" +
          (cli.server_capable ? " (`srcgate " + cli.name + " --server http://HOST:PORT`)"
                              : std::string()),
      "import something first, or pass --data DIR");
  return nullptr;
}

std::string json_line(const boost::json::object& obj) { return boost::json::serialize(obj); }

void add_digests(boost::json::object& obj, const content::FileDigests& d) {
  obj.emplace("md5", content::to_hex(d.md5));
  obj.emplace("sha1", content::to_hex(d.sha1));
  obj.emplace("sha256", content::to_hex(d.sha256));
  obj.emplace("sha512", content::to_hex(d.sha512));
}

// Reads `path` into `write` slice by slice; after the first failed write the
// rest of the file is read but not passed on. Returns a message on failure.
std::optional<std::string> feed_file(const std::string& path,
                                     const std::function<storage::Result<void>(ByteView)>& write) {
  content::Bytes buffer;
  std::optional<storage::Error> failure;
  auto ec = read_file_slices(path, buffer, [&](ByteView slice) {
    if (failure) return;
    auto w = write(slice);
    if (!w) failure = w.error();
  });
  if (ec) return ec.message();
  if (failure) return failure->message;
  return std::nullopt;
}

constexpr std::string_view kImportHelp =
    "Usage: srcgate import [--profile NAME] [--data DIR] [--max-size SIZE] FILE...\n"
    "\n"
    "Stores each FILE ('-' is standard input) as a UnixFS DAG, indexed under its\n"
    "md5, sha1, sha256 and sha512, and prints the line that `srcgate hash` prints:\n"
    "  {\"file\":...,\"size\":...,\"cid\":...,\"md5\":...,\"sha1\":...,\"sha256\":...,\n"
    "   \"sha512\":...,\"profile\":...}\n"
    "A file that is already stored costs only its hashing. When the store goes over\n"
    "95% of its cap, the least recently used unpinned files are evicted down to 85%.\n"
    "\n"
    "Exit status: 0 when every file was stored; 1 when some file failed (it is named\n"
    "on standard error, e.g. \"store is full\", and the others are still stored); 2 on a\n"
    "usage error.\n";

constexpr std::string_view kImportCarHelp =
    "Usage: srcgate import-car [--data DIR] [--max-size SIZE] FILE.car...\n"
    "\n"
    "Checks every block of each CARv1 file against its CID and stores the blocks.\n"
    "A CAR with a block that does not verify (or that is malformed) is rejected\n"
    "whole, with the byte offset of the bad section, and nothing of it is stored.\n"
    "Prints one JSON line per root:\n"
    "  {\"car\":...,\"root\":...,\"present\":true|false,\"complete_file\":true|false,\n"
    "   \"blocks\":N[,\"size\":...,\"md5\":...,\"sha1\":...,\"sha256\":...,\"sha512\":...]}\n"
    "A root that is a complete UnixFS file (every block present) is indexed under\n"
    "its digests, which the line then shows.\n"
    "\n"
    "Exit status: 0 when every CAR was stored; 1 when some CAR was rejected; 2 on a\n"
    "usage error.\n";

constexpr std::string_view kExportCarHelp =
    "Usage: srcgate export-car [--data DIR] (CID | HASH) > FILE.car\n"
    "\n"
    "Writes a CARv1 with that root and every block reachable from it through\n"
    "dag-pb links, root first, depth-first, each block once. HASH is algo:hash,\n"
    "an SRI hash (sha256-...), or bare hex of 32/40/64/128 digits (md5, sha1,\n"
    "sha256, sha512) of a stored file.\n"
    "\n"
    "Exit status: 0 on success; 1 when the target or one of its blocks is not in\n"
    "the store (the output is then incomplete); 2 on a usage error.\n";

constexpr std::string_view kPinHelp =
    "Usage: srcgate pin [--data DIR] (CID | HASH)...\n"
    "\n"
    "Pins stored files: eviction never removes a pinned file. HASH as for\n"
    "export-car. Prints \"pinned <root CID>\" per target.\n"
    "\n"
    "Exit status: 0 when every target was pinned; 1 when some is not stored; 2 on\n"
    "a usage error.\n";

constexpr std::string_view kUnpinHelp =
    "Usage: srcgate unpin [--data DIR] (CID | HASH)...\n"
    "\n"
    "Unpins stored files, which eviction may then remove in least-recently-used\n"
    "order. Prints \"unpinned <root CID>\" per target.\n"
    "\n"
    "Exit status: 0 when every target was unpinned; 1 when some is not stored; 2 on\n"
    "a usage error.\n";

constexpr std::string_view kStatsHelp =
    "Usage: srcgate stats [--data DIR]\n"
    "\n"
    "Prints one JSON line:\n"
    "  {\"data_dir\":...,\"files\":N,\"blocks\":N,\"logical_bytes\":N,\"disk_bytes\":N,\n"
    "   \"pinned_bytes\":N,\"max_size\":N}\n"
    "logical_bytes counts every stored block once; disk_bytes is the size of the\n"
    "store's files; pinned_bytes sums the blocks of pinned files; max_size 0 means\n"
    "no cap.\n";

constexpr std::string_view kGcHelp =
    "Usage: srcgate gc [--data DIR] [--max-size SIZE]\n"
    "\n"
    "Removes blocks left by imports that never finished, evicts least recently\n"
    "used unpinned files down to 85% of the cap (when there is one) and compacts\n"
    "the store so that its disk usage drops. Prints one JSON line:\n"
    "  {\"evicted_files\":N,\"evicted_blocks\":N,\"freed_bytes\":N,\"orphan_blocks\":N,\n"
    "   \"disk_bytes_before\":N,\"disk_bytes_after\":N}\n";

constexpr std::string_view kVerifyHelp =
    "Usage: srcgate verify [--data DIR]\n"
    "\n"
    "Re-hashes every stored block against its multihash and checks the index\n"
    "(references, counters, names). Prints one JSON line per problem,\n"
    "  {\"key\":...,\"problem\":...}\n"
    "then a summary line\n"
    "  {\"blocks_checked\":N,\"bytes_checked\":N,\"unreferenced_blocks\":N,\"problems\":N}\n"
    "\n"
    "Exit status: 0 when nothing is wrong; 1 when some problem was found.\n";

int finish_output(const Cli& cli, std::ostream& out, std::ostream& err, int status) {
  out.flush();
  if (!out) {
    err << "srcgate " << cli.name << ": cannot write to standard output\n";
    return kExitFailure;
  }
  return status;
}

int pin_or_unpin(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                 bool pin) {
  Cli cli(pin ? "pin" : "unpin", false);
  cli.with_server();
  if (auto done = cli.parse(args, pin ? kPinHelp : kUnpinHelp, out, err)) return *done;
  if (cli.operands.empty()) return cli.usage(err, "no CID or HASH given");
  if (!cli.server.empty()) {
    auto ep = cli.endpoint(err);
    if (!ep) return kExitUsage;
    return finish_output(cli, out, err, pin_via_server(*ep, cli.operands, pin, out, err));
  }
  auto store = open_store(cli, false, err);
  if (!store) return kExitFailure;
  int status = kExitOk;
  for (const auto& target : cli.operands) {
    auto root = storage::resolve_root(*store, target);
    storage::Result<void> r = root ? (pin ? store->pin(*root) : store->unpin(*root))
                                   : storage::Result<void>(root.error());
    if (!r) {
      err << "srcgate " << cli.name << ": " << target << ": " << r.error().message << '\n';
      status = kExitFailure;
      continue;
    }
    out << (pin ? "pinned " : "unpinned ") << root->to_string() << '\n';
  }
  return finish_output(cli, out, err, status);
}

}  // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  std::string suffix;
  for (; i < text.size(); ++i) {
    suffix.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
  }
  int shift = 0;
  if (suffix.empty() || suffix == "b") {
    shift = 0;
  } else if (suffix == "k" || suffix == "kib") {
    shift = 10;
  } else if (suffix == "m" || suffix == "mib") {
    shift = 20;
  } else if (suffix == "g" || suffix == "gib") {
    shift = 30;
  } else if (suffix == "t" || suffix == "tib") {
    shift = 40;
  } else {
    return std::nullopt;
  }
  if (shift > 0 && value > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
    return std::nullopt;
  }
  return value << shift;
}

int run_import_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Cli cli("import", true);
  std::string profile_name;
  cli.visible.add_options()(
      "profile,p",
      po::value<std::string>(&profile_name)
          ->value_name("NAME")
          ->default_value(std::string(content::ImportProfile::v1_2025.name)),
      ("UnixFS import profile: " + std::string(content::ImportProfile::v1_2025.name) + ", " +
       std::string(content::ImportProfile::v0_2015.name))
          .c_str());
  cli.with_server();
  if (auto done = cli.parse(args, kImportHelp, out, err)) return *done;
  auto profile = content::ImportProfile::by_name(profile_name);
  if (!profile) return cli.usage(err, "unknown profile '" + profile_name + "'");
  if (cli.operands.empty()) return cli.usage(err, "no FILE given ('-' reads standard input)");
  if (!cli.server.empty()) {
    auto ep = cli.endpoint(err);
    if (!ep) return kExitUsage;
    return finish_output(cli, out, err,
                         import_via_server(*ep, cli.operands, profile->name, out, err));
  }
  auto store = open_store(cli, true, err);
  if (!store) return kExitFailure;

  int status = kExitOk;
  for (const auto& file : cli.operands) {
    auto import = store->begin_import(*profile);
    auto failure = feed_file(file, [&](ByteView s) { return import->write(s); });
    std::optional<storage::ImportedFile> imported;
    if (!failure) {
      auto summary = import->finish();
      if (!summary) {
        failure = summary.error().message;
      } else {
        auto committed = import->commit();
        if (committed) {
          imported = *committed;
        } else {
          failure = committed.error().message;
        }
      }
    }
    if (!imported) {
      import->abort();
      out.flush();
      err << "srcgate import: " << file << ": " << *failure << '\n';
      status = kExitFailure;
      continue;
    }
    out << hash_json_line(file, imported->summary, profile->name) << '\n';
  }
  return finish_output(cli, out, err, status);
}

int run_import_car_command(const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err) {
  Cli cli("import-car", true);
  cli.with_server();
  if (auto done = cli.parse(args, kImportCarHelp, out, err)) return *done;
  if (cli.operands.empty()) return cli.usage(err, "no FILE.car given ('-' reads standard input)");
  if (!cli.server.empty()) {
    auto ep = cli.endpoint(err);
    if (!ep) return kExitUsage;
    return finish_output(cli, out, err, import_car_via_server(*ep, cli.operands, out, err));
  }
  auto store = open_store(cli, true, err);
  if (!store) return kExitFailure;

  int status = kExitOk;
  for (const auto& file : cli.operands) {
    auto import = store->begin_car_import();
    auto failure = feed_file(file, [&](ByteView s) { return import->write(s); });
    std::optional<storage::ImportedCar> imported;
    if (!failure) {
      auto committed = import->commit();
      if (committed) {
        imported = std::move(*committed);
      } else {
        failure = committed.error().message;
      }
    }
    if (!imported) {
      import->abort();
      out.flush();
      err << "srcgate import-car: " << file << ": rejected, nothing stored: " << *failure << '\n';
      status = kExitFailure;
      continue;
    }
    for (const auto& root : imported->roots) {
      boost::json::object obj;
      obj.emplace("car", to_valid_utf8(file));
      obj.emplace("root", root.root.to_string());
      obj.emplace("present", root.present);
      obj.emplace("complete_file", root.complete_file);
      obj.emplace("blocks", root.block_count);
      if (root.complete_file && root.digests) {
        obj.emplace("size", root.size);
        add_digests(obj, *root.digests);
      }
      out << json_line(obj) << '\n';
    }
  }
  return finish_output(cli, out, err, status);
}

int run_export_car_command(const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err) {
  Cli cli("export-car", false);
  if (auto done = cli.parse(args, kExportCarHelp, out, err)) return *done;
  if (cli.operands.size() != 1) return cli.usage(err, "give exactly one CID or HASH");
  auto store = open_store(cli, false, err);
  if (!store) return kExitFailure;
  auto root = storage::resolve_root(*store, cli.operands[0]);
  if (!root) {
    err << "srcgate export-car: " << cli.operands[0] << ": " << root.error().message << '\n';
    return kExitFailure;
  }
  auto has_root = store->has_block(*root);
  if (!has_root || !*has_root) {
    err << "srcgate export-car: " << root->to_string() << ": "
        << (has_root ? "not in the store" : has_root.error().message) << '\n';
    return kExitFailure;
  }
  store->touch(*root);

  auto header = content::encode_car_header({*root});
  out.write(reinterpret_cast<const char*>(header.data()),
            static_cast<std::streamsize>(header.size()));
  std::unordered_set<std::string> seen;
  std::vector<Cid> stack{*root};
  // Each block is pushed at most once per link and visited once: bounded by the DAG.
  while (!stack.empty()) {
    Cid cid = std::move(stack.back());
    stack.pop_back();
    if (cid.is_identity()) continue;  // inline in the CID; CAR readers need no section
    if (!seen.insert(std::string(content::as_chars(cid.multihash()))).second) continue;
    auto block = store->get_block(cid);
    if (!block || !*block) {
      out.flush();
      err << "srcgate export-car: block " << cid.to_string() << " of " << root->to_string() << ": "
          << (block ? "not in the store" : block.error().message)
          << "; the CAR written so far is incomplete\n";
      return kExitFailure;
    }
    auto prefix = content::car_section_prefix(cid, (*block)->size());
    out.write(reinterpret_cast<const char*>(prefix.data()),
              static_cast<std::streamsize>(prefix.size()));
    out.write(reinterpret_cast<const char*>((*block)->data()),
              static_cast<std::streamsize>((*block)->size()));
    if (cid.codec() != static_cast<std::uint64_t>(content::Codec::dag_pb)) continue;
    auto node = content::decode_dag_pb(**block);
    if (!node) continue;  // stored blocks were verified; a non-UnixFS dag-pb has no links to us
    for (auto it = node->links.rbegin(); it != node->links.rend(); ++it) stack.push_back(it->hash);
  }
  return finish_output(cli, out, err, kExitOk);
}

int run_pin_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return pin_or_unpin(args, out, err, true);
}

int run_unpin_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return pin_or_unpin(args, out, err, false);
}

int run_stats_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Cli cli("stats", false);
  cli.with_server();
  if (auto done = cli.parse(args, kStatsHelp, out, err)) return *done;
  if (!cli.operands.empty()) return cli.usage(err, "unexpected operand '" + cli.operands[0] + "'");
  if (!cli.server.empty()) {
    auto ep = cli.endpoint(err);
    if (!ep) return kExitUsage;
    return finish_output(cli, out, err, stats_via_server(*ep, out, err));
  }
  auto store = open_store(cli, false, err);
  if (!store) return kExitFailure;
  auto st = store->stats();
  if (!st) {
    err << "srcgate stats: " << st.error().message << '\n';
    return kExitFailure;
  }
  boost::json::object obj;
  obj.emplace("data_dir", to_valid_utf8(cli.data_dir().string()));
  obj.emplace("files", st->files);
  obj.emplace("blocks", st->blocks);
  obj.emplace("logical_bytes", st->logical_bytes);
  obj.emplace("disk_bytes", st->disk_bytes);
  obj.emplace("pinned_bytes", st->pinned_bytes);
  obj.emplace("max_size", st->max_size);
  out << json_line(obj) << '\n';
  return finish_output(cli, out, err, kExitOk);
}

int run_gc_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Cli cli("gc", true);
  if (auto done = cli.parse(args, kGcHelp, out, err)) return *done;
  if (!cli.operands.empty()) return cli.usage(err, "unexpected operand '" + cli.operands[0] + "'");
  auto store = open_store(cli, false, err);
  if (!store) return kExitFailure;
  auto before = store->stats();
  auto r = store->gc();
  auto after = store->stats();
  if (!before || !r || !after) {
    err << "srcgate gc: "
        << (!before ? before.error().message
            : !r    ? r.error().message
                    : after.error().message)
        << '\n';
    return kExitFailure;
  }
  boost::json::object obj;
  obj.emplace("evicted_files", r->files);
  obj.emplace("evicted_blocks", r->blocks);
  obj.emplace("freed_bytes", r->bytes);
  obj.emplace("orphan_blocks", r->orphan_blocks);
  obj.emplace("disk_bytes_before", before->disk_bytes);
  obj.emplace("disk_bytes_after", after->disk_bytes);
  out << json_line(obj) << '\n';
  return finish_output(cli, out, err, kExitOk);
}

int run_verify_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Cli cli("verify", false);
  if (auto done = cli.parse(args, kVerifyHelp, out, err)) return *done;
  if (!cli.operands.empty()) return cli.usage(err, "unexpected operand '" + cli.operands[0] + "'");
  auto store = open_store(cli, false, err);
  if (!store) return kExitFailure;
  auto report = store->verify([&](const storage::VerifyProblem& p) {
    boost::json::object obj;
    obj.emplace("key", p.key);
    obj.emplace("problem", p.problem);
    out << json_line(obj) << '\n';
  });
  if (!report) {
    err << "srcgate verify: " << report.error().message << '\n';
    return kExitFailure;
  }
  boost::json::object obj;
  obj.emplace("blocks_checked", report->blocks_checked);
  obj.emplace("bytes_checked", report->bytes_checked);
  obj.emplace("unreferenced_blocks", report->unreferenced_blocks);
  obj.emplace("problems", report->problems.size());
  out << json_line(obj) << '\n';
  if (!report->ok()) {
    out.flush();
    err << "srcgate verify: " << report->problems.size() << " problem(s) found\n";
  }
  return finish_output(cli, out, err, report->ok() ? kExitOk : kExitFailure);
}

}  // namespace srcgate::server
