#include "server/sources_command.hpp"

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <unordered_set>

#include "config/paths.hpp"
#include "content/nix_hash.hpp"
#include "server/admin_client.hpp"
#include "server/cli_command.hpp"
#include "server/mirror_table.hpp"
#include "storage/rocksdb_store.hpp"

namespace srcgate::server {

namespace po = boost::program_options;

namespace {

// How many URLs of one hash are read back to tell new pairs from duplicates;
// far above what any source list gives one hash (a mirror:// URL of the
// largest default site expands to 19).
constexpr std::size_t kKnownSourcesLimit = std::size_t{1} << 16;

constexpr std::string_view kSourcesHelp =
    "Usage: srcgate sources import [--data DIR] [--mirror-table FILE.toml] FILE.json...\n"
    "       srcgate sources import --server URL FILE.json...\n"
    "       srcgate sources add [--data DIR] [--mirror-table FILE.toml] --hash H URL...\n"
    "       srcgate sources list [--data DIR] H\n"
    "\n"
    "The source index maps a hash to the URLs its file may be fetched from (the\n"
    "miss path tries them after the hashed mirrors). Run 'srcgate sources\n"
    "<subcommand> --help' for each subcommand's options.\n";

constexpr std::string_view kImportHelp =
    "Usage: srcgate sources import [--data DIR] [--mirror-table FILE.toml] FILE.json...\n"
    "       srcgate sources import --server URL FILE.json...\n"
    "\n"
    "Indexes the sources listed by nixpkgs' maintainers/scripts/find-tarballs.nix\n"
    "('-' reads standard input):\n"
    "  nix-instantiate --eval --json --strict maintainers/scripts/find-tarballs.nix \\\n"
    "    --arg expr '(import ./. {}).hello' > hello.json\n"
    "Each element {\"hash\", \"type\", \"urls\" (or \"url\"), \"name\"} maps its hash (hex,\n"
    "nix32 or base64 of the algorithm that \"type\" names, or SRI with \"type\" null)\n"
    "to its URLs. mirror://SITE/PATH URLs are expanded through the mirror table:\n"
    "nixpkgs' mirrors.nix sites (http and https mirrors only), overridden by the\n"
    "[mirror_sites] table of --mirror-table FILE.toml:\n"
    "  [mirror_sites]\n"
    "  gnu = [\"https://ftp.example.org/gnu/\"]   # replaces the gnu list; [] drops it\n"
    "Only http://, https:// and ipfs://CID URLs are indexed. Elements with\n"
    "\"isPatch\": true are\n"
    "left out: their hash is of the normalised patch, not of the file at the URL.\n"
    "\n"
    "Prints one JSON line per file:\n"
    "  {\"file\":...,\"entries\":N,\"indexed\":N,\"sources_added\":N,\"duplicates\":N,\n"
    "   \"skipped_malformed\":N,\"skipped_unknown_mirror_sites\":N,\n"
    "   \"skipped_unsupported_urls\":N,\"skipped_without_url\":N,\"skipped_patches\":N}\n"
    "and one line per problem on standard error, naming the element by its 0-based\n"
    "index in the array (jq's .[N]): a malformed element is skipped, as is a URL\n"
    "of an unknown mirror site or of another scheme (ftp://); the rest is indexed.\n"
    "With --server the server's admin API (PUT /api/v1/sources) does the work,\n"
    "with the server's mirror table.\n"
    "\n"
    "Exit status: 0 when everything was indexed; 1 when some element or URL was\n"
    "skipped or a file could not be read; 2 on a usage error.\n";

constexpr std::string_view kAddHelp =
    "Usage: srcgate sources add [--data DIR] [--mirror-table FILE.toml] --hash H URL...\n"
    "\n"
    "Indexes URLs for one hash. H is algo:hash (hex, nix32 or base64), SRI\n"
    "(sha256-...), or bare hex of 32/40/64/128 digits (md5, sha1, sha256, sha512).\n"
    "URLs follow the rules of `srcgate sources import` (mirror:// expanded; http,\n"
    "https and ipfs://CID, which a miss asks the IPFS gateways for). Prints the\n"
    "summary line of `import` without \"file\".\n"
    "\n"
    "Exit status: 0 when every URL was indexed; 1 when some was skipped; 2 on a\n"
    "usage error.\n";

constexpr std::string_view kListHelp =
    "Usage: srcgate sources list [--data DIR] H\n"
    "\n"
    "Prints the URLs indexed for the hash H (as for `srcgate sources add`), one per\n"
    "line, in byte order.\n"
    "\n"
    "Exit status: 0 when some URL is indexed; 1 when none is; 2 on a usage error.\n";

constexpr std::string_view kDataHelp =
    "The store lives in the data directory given by --data DIR; without it,\n"
    "$SRCGATE_DATA_DIR, else /var/lib/srcgate for root, else\n"
    "${XDG_DATA_HOME:-~/.local/share}/srcgate (the directory `srcgate serve` uses).\n"
    "While `srcgate serve` holds the store it cannot be opened here; use the\n"
    "server's admin API instead (`srcgate sources import --server URL`).\n";

// One subcommand's command line.
struct Cli {
  std::string name;  // "sources import", ...
  po::options_description visible{"Options"};
  po::options_description hidden;
  po::positional_options_description positional;
  po::variables_map vm;
  std::string data;
  std::string mirror_table;
  std::vector<std::string> operands;

  explicit Cli(std::string command) : name(std::move(command)) {
    visible.add_options()("help,h", "print this help")(
        "data,d", po::value<std::string>(&data)->value_name("DIR"),
        "the store's data directory (see above for the default)");
    hidden.add_options()("operand", po::value<std::vector<std::string>>(&operands));
    positional.add("operand", -1);
  }

  void with_mirror_table() {
    visible.add_options()(
        "mirror-table", po::value<std::string>(&mirror_table)->value_name("FILE.toml"),
        "a TOML file whose [mirror_sites] table (site = [\"https://...\", ...]) overrides "
        "nixpkgs' mirror sites");
  }

  // An exit status when the command is done (help or usage error).
  std::optional<int> parse(const std::vector<std::string>& args, std::string_view help,
                           std::ostream& out, std::ostream& err) {
    po::options_description all;
    all.add(visible).add(hidden);
    const std::string full_help = std::string(help) + '\n' + std::string(kDataHelp);
    if (auto done =
            parse_command_line(args, name, all, &positional, vm, full_help, visible, out, err)) {
      return done;
    }
    return std::nullopt;
  }

  int usage(std::ostream& err, const std::string& message) const {
    return usage_error(err, name, message);
  }

  std::filesystem::path data_dir() const {
    return data.empty() ? config::default_data_dir() : std::filesystem::path(data);
  }

  // The defaults, or the defaults with --mirror-table applied; nullopt after
  // a message.
  std::optional<MirrorTable> mirrors(std::ostream& err) const {
    if (mirror_table.empty()) return MirrorTable::nixpkgs_defaults();
    auto table = load_mirror_table(mirror_table);
    if (!table) {
      err << "srcgate " << name << ": --mirror-table: " << table.error().message << '\n';
      return std::nullopt;
    }
    return std::move(*table);
  }
};

// Opens the store; prints why not and returns nullptr on failure.
std::unique_ptr<storage::BlockStore> open_store(const Cli& cli, bool create, std::ostream& err) {
  storage::RocksDbOptions o;
  o.dir = cli.data_dir();
  o.create_if_missing = create;
  auto store = storage::open_rocksdb_store(o);
  if (store) return std::move(*store);
  print_store_open_error(
      err, cli.name, o.dir, store.error(),
      "use the server's admin API instead (`srcgate sources import --server http://HOST:PORT`)",
      "import something first, or pass --data DIR");
  return nullptr;
}

int finish_output(const Cli& cli, std::ostream& out, std::ostream& err, int status) {
  out.flush();
  if (!out) {
    err << "srcgate " << cli.name << ": cannot write to standard output\n";
    return kExitFailure;
  }
  return status;
}

// The whole of `path` ('-': standard input); nullopt after a message.
std::optional<std::string> read_whole(const Cli& cli, const std::string& path, std::ostream& err) {
  if (path == "-") {
    std::string text(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>{});
    return text;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    err << "srcgate " << cli.name << ": " << path << ": cannot read the file\n";
    return std::nullopt;
  }
  return std::move(text).str();
}

void print_problems(const Cli& cli, std::string_view file, const SourceList& list,
                    std::ostream& err) {
  for (const SourceProblem& p : list.problems) {
    err << "srcgate " << cli.name << ": ";
    if (!file.empty()) err << file << ": ";
    err << describe(p) << '\n';
  }
}

// Indexes `list` into `store` and prints its problems and summary line.
// Returns the file's exit status.
int index_and_report(const Cli& cli, storage::BlockStore& store, std::string_view file,
                     const SourceList& list, std::ostream& out, std::ostream& err) {
  out.flush();
  print_problems(cli, file, list, err);
  SourceImportSummary summary = summarize(list);
  auto indexed = index_sources(store, list, summary);
  if (!indexed) {
    err << "srcgate " << cli.name << ": ";
    if (!file.empty()) err << file << ": ";
    err << "stopped after " << summary.sources_added
        << " new source(s): " << indexed.error().message << '\n';
  }
  out << summary_json(summary, file.empty() ? std::string() : to_valid_utf8(file)) << '\n';
  return indexed && !summary.anything_skipped() ? kExitOk : kExitFailure;
}

// The counts of a summary object from the server; nullopt when it is not one.
std::optional<SourceImportSummary> summary_from_json(const boost::json::object& obj) {
  SourceImportSummary s;
  const std::pair<const char*, std::size_t*> fields[] = {
      {"entries", &s.entries},
      {"indexed", &s.indexed},
      {"sources_added", &s.sources_added},
      {"duplicates", &s.duplicates},
      {"skipped_malformed", &s.skipped_malformed},
      {"skipped_unknown_mirror_sites", &s.skipped_unknown_mirror_sites},
      {"skipped_unsupported_urls", &s.skipped_unsupported_urls},
      {"skipped_without_url", &s.skipped_without_url},
      {"skipped_patches", &s.skipped_patches},
  };
  for (const auto& [key, field] : fields) {
    const boost::json::value* v = obj.if_contains(key);
    if (v == nullptr || !v->is_number()) return std::nullopt;
    boost::system::error_code ec;
    *field = v->to_number<std::size_t>(ec);
    if (ec) return std::nullopt;
  }
  return s;
}

int import_through_server(const Cli& cli, const AdminEndpoint& endpoint, std::ostream& out,
                          std::ostream& err) {
  int status = kExitOk;
  for (const std::string& file : cli.operands) {
    auto reply = admin_request(endpoint, "PUT", "sources", file);
    if (!reply || reply->status != 200) {
      std::string body = reply ? reply->body : std::string();
      while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
      err << "srcgate " << cli.name << ": " << file << ": "
          << (reply ? "server answered " + std::to_string(reply->status) + ": " + body
                    : reply.error().message)
          << '\n';
      status = kExitFailure;
      continue;
    }
    boost::system::error_code ec;
    const boost::json::value parsed = boost::json::parse(reply->body, ec);
    const boost::json::object* obj = ec ? nullptr : parsed.if_object();
    std::optional<SourceImportSummary> summary;
    if (obj != nullptr) summary = summary_from_json(*obj);
    if (!summary) {
      err << "srcgate " << cli.name << ": " << file
          << ": the server's answer is not a summary: " << reply->body.substr(0, 200) << '\n';
      status = kExitFailure;
      continue;
    }
    SourceList problems;
    if (const auto* array = obj->if_contains("problems"); array && array->is_array()) {
      for (const auto& p : array->get_array()) {
        const auto* po = p.if_object();
        if (po == nullptr) continue;
        SourceProblem problem;
        boost::system::error_code num_ec;
        if (const auto* i = po->if_contains("index"); i && i->is_number()) {
          problem.index = i->to_number<std::size_t>(num_ec);
        }
        if (const auto* n = po->if_contains("name"); n && n->is_string()) {
          problem.name = std::string(n->get_string());
        }
        if (const auto* r = po->if_contains("reason"); r && r->is_string()) {
          problem.reason = std::string(r->get_string());
        }
        problems.problems.push_back(std::move(problem));
      }
    }
    out.flush();
    print_problems(cli, file, problems, err);
    if (const auto* left = obj->if_contains("problems_left_out"); left && left->is_number()) {
      err << "srcgate " << cli.name << ": " << file << ": " << boost::json::serialize(*left)
          << " more problem(s) not shown by the server\n";
    }
    out << summary_json(*summary, to_valid_utf8(file)) << '\n';
    if (summary->anything_skipped()) status = kExitFailure;
  }
  return status;
}

int run_import(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Cli cli("sources import");
  cli.with_mirror_table();
  std::string server;
  cli.visible.add_options()(
      "server", po::value<std::string>(&server)->value_name("URL"),
      "send each file to the admin API of the `srcgate serve` at URL (http://host:port[/base]) "
      "instead of opening the store; the token comes from $SRCGATE_ADMIN_TOKEN");
  if (auto done = cli.parse(args, kImportHelp, out, err)) return *done;
  if (cli.operands.empty()) return cli.usage(err, "no FILE.json given ('-' reads standard input)");
  if (!server.empty()) {
    if (!cli.mirror_table.empty()) {
      return cli.usage(err,
                       "--mirror-table applies to a local store; with --server the server's "
                       "mirror table is used");
    }
    if (!cli.data.empty()) return cli.usage(err, "give --data DIR or --server URL, not both");
    const char* token = std::getenv("SRCGATE_ADMIN_TOKEN");
    auto ep = parse_admin_url(server, token ? token : "");
    if (!ep) {
      err << "srcgate " << cli.name << ": " << ep.error().message << '\n';
      return kExitUsage;
    }
    return finish_output(cli, out, err, import_through_server(cli, *ep, out, err));
  }
  auto mirrors = cli.mirrors(err);
  if (!mirrors) return kExitUsage;
  auto store = open_store(cli, true, err);
  if (!store) return kExitFailure;
  int status = kExitOk;
  for (const std::string& file : cli.operands) {
    auto text = read_whole(cli, file, err);
    if (!text) {
      status = kExitFailure;
      continue;
    }
    auto list = parse_source_list(*text, *mirrors);
    if (!list) {
      err << "srcgate " << cli.name << ": " << file << ": " << list.error().message
          << "; nothing indexed\n";
      status = kExitFailure;
      continue;
    }
    if (index_and_report(cli, *store, file, *list, out, err) != kExitOk) status = kExitFailure;
  }
  return finish_output(cli, out, err, status);
}

int run_add(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Cli cli("sources add");
  cli.with_mirror_table();
  std::string hash;
  cli.visible.add_options()("hash", po::value<std::string>(&hash)->value_name("H"),
                            "the hash of the file at the URLs (required)");
  if (auto done = cli.parse(args, kAddHelp, out, err)) return *done;
  if (hash.empty()) return cli.usage(err, "--hash H is required");
  if (cli.operands.empty()) return cli.usage(err, "no URL given");
  auto digest = parse_hash_argument(hash);
  if (!digest) return cli.usage(err, "--hash: " + digest.error().message);
  auto mirrors = cli.mirrors(err);
  if (!mirrors) return kExitUsage;
  auto store = open_store(cli, true, err);
  if (!store) return kExitFailure;
  const SourceList list = make_source_list(*digest, cli.operands, *mirrors);
  return finish_output(cli, out, err, index_and_report(cli, *store, "", list, out, err));
}

int run_list(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Cli cli("sources list");
  if (auto done = cli.parse(args, kListHelp, out, err)) return *done;
  if (cli.operands.size() != 1) return cli.usage(err, "give exactly one hash");
  auto digest = parse_hash_argument(cli.operands[0]);
  if (!digest) return cli.usage(err, digest.error().message);
  auto store = open_store(cli, false, err);
  if (!store) return kExitFailure;
  auto urls = store->sources(*digest, kKnownSourcesLimit);
  if (!urls) {
    err << "srcgate " << cli.name << ": " << urls.error().message << '\n';
    return kExitFailure;
  }
  for (const std::string& url : *urls) out << url << '\n';
  if (urls->empty()) {
    err << "srcgate " << cli.name << ": no sources indexed for " << content::to_sri(*digest)
        << '\n';
    return finish_output(cli, out, err, kExitFailure);
  }
  return finish_output(cli, out, err, kExitOk);
}

}  // namespace

storage::Result<void> index_sources(storage::BlockStore& store, const SourceList& list,
                                    SourceImportSummary& summary) {
  std::unordered_set<std::string> known;
  for (const SourceEntry& entry : list.entries) {
    auto existing = store.sources(entry.digest, kKnownSourcesLimit);
    if (!existing) return existing.error();
    known.clear();
    for (std::string& url : *existing) known.insert(std::move(url));
    for (const std::string& url : entry.urls) {
      if (known.contains(url)) {
        ++summary.duplicates;
        continue;
      }
      if (auto added = store.add_source(entry.digest, url); !added) return added.error();
      known.insert(url);
      ++summary.sources_added;
    }
  }
  return {};
}

int run_sources_command(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  if (args.empty()) {
    err << "srcgate sources: no subcommand given (import, add or list)\n"
        << "Try 'srcgate sources --help'.\n";
    return kExitUsage;
  }
  const std::string& sub = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "--help" || sub == "-h" || sub == "help") {
    out << kSourcesHelp;
    return kExitOk;
  }
  if (sub == "import") return run_import(rest, out, err);
  if (sub == "add") return run_add(rest, out, err);
  if (sub == "list") return run_list(rest, out, err);
  err << "srcgate sources: unknown subcommand '" << sub << "' (expected import, add or list)\n"
      << "Try 'srcgate sources --help'.\n";
  return kExitUsage;
}

}  // namespace srcgate::server
