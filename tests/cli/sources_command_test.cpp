// `srcgate sources import|add|list` end to end (issue 6 item 1): the binary on
// a temporary data directory. A find-tarballs-style list with the hash
// vectors of nix.md §2.3 (hex, nix32, SRI), mirror:// URLs, an ftp URL, a
// duplicate and malformed elements: the exact summary line, one stderr line
// per problem naming the element, exit statuses 0/1/2, and `sources list`
// answering for hashes given in any encoding. Also --mirror-table overrides,
// `sources add`, and the help and usage errors.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "content/bytes.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using test::run_command;

namespace {

const std::string kEmpty256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kAbc256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const std::string kEmptySha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  test::write_file(path, content::as_bytes(text));
}

}  // namespace

TEST_CASE("srcgate sources import, then list, on a data directory", "[sources][cli]") {
  const std::string bin = test::srcgate_binary().string();
  test::TempDir tmp;
  const std::string data = (tmp / "data").string();
  const auto list_file = tmp / "tarballs.json";
  // Elements 0..7; 5, 6 and 7 are malformed, 4 repeats 0.
  write_text(list_file, R"([
  {"hash": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "isPatch": false,
   "name": "empty.tar.gz", "type": null,
   "urls": ["mirror://gnu/empty/empty.tar.gz", "https://example.org/empty.tar.gz"]},
  {"hash": "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "type": "sha256",
   "name": "abc.tar.gz", "url": "ftp://ftp.example.org/abc.tar.gz"},
  {"hash": ")" + kEmptySha1 +
                            R"(", "type": "sha1", "name": "e.zip",
   "urls": ["mirror://nosuchsite/e.zip", "http://example.org/e.zip"]},
  {"hash": "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "type": null,
   "name": "abc-2.tar.gz", "urls": ["https://example.org/abc-2.tar.gz"]},
  {"hash": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "type": null,
   "urls": ["https://example.org/empty.tar.gz"]},
  {"hash": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "type": null, "urls": ["https://x/"]},
  {"type": "sha256", "urls": ["https://x/"]},
  "not an object"
]
)");
  const auto imported = run_command({bin, "sources", "import", "--data", data, list_file.string()});
  INFO(imported.err);
  CHECK(imported.exit_code == 1);
  CHECK(imported.out ==
        "{\"file\":\"" + list_file.string() +
            "\",\"entries\":8,\"indexed\":4,\"sources_added\":10,\"duplicates\":1,"
            "\"skipped_malformed\":3,\"skipped_unknown_mirror_sites\":1,"
            "\"skipped_unsupported_urls\":1,\"skipped_without_url\":1,\"skipped_patches\":0}\n");
  const auto err = lines(imported.err);
  const std::string prefix = "srcgate sources import: " + list_file.string() + ": ";
  REQUIRE(err.size() == 6);
  CHECK(err[0] == prefix +
                      "entry 1 (abc.tar.gz): URL \"ftp://ftp.example.org/abc.tar.gz\": scheme "
                      "\"ftp\" is not supported (only http and https); URL skipped");
  CHECK(err[1] ==
        prefix + "entry 1 (abc.tar.gz): none of its 1 URL(s) can be fetched; entry skipped");
  CHECK(err[2] == prefix +
                      "entry 2 (e.zip): unknown mirror site 'nosuchsite' in "
                      "'mirror://nosuchsite/e.zip'; URL skipped");
  CHECK_THAT(err[3], StartsWith(prefix + "entry 5: 'hash': SRI sha256 hash"));
  CHECK(err[4] == prefix + "entry 6: has no 'hash'; entry skipped");
  CHECK(err[5] == prefix + "entry 7: is not a JSON object; entry skipped");

  // The empty file's URLs: nixpkgs' seven https gnu mirrors and the direct one,
  // in byte order, whichever encoding names the hash.
  const std::string empty_urls =
      "https://example.org/empty.tar.gz\n"
      "https://ftp.gnu.org/pub/gnu/empty/empty.tar.gz\n"
      "https://ftp.nluug.nl/pub/gnu/empty/empty.tar.gz\n"
      "https://ftpmirror.gnu.org/empty/empty.tar.gz\n"
      "https://mirror.dogado.de/gnu/empty/empty.tar.gz\n"
      "https://mirror.ibcp.fr/pub/gnu/empty/empty.tar.gz\n"
      "https://mirror.tochlab.net/pub/gnu/empty/empty.tar.gz\n"
      "https://mirrors.kernel.org/gnu/empty/empty.tar.gz\n";
  for (const std::string& h : std::vector<std::string>{
           kEmpty256, "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
           "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}) {
    INFO(h);
    const auto listed = run_command({bin, "sources", "list", "--data", data, h});
    INFO(listed.err);
    CHECK(listed.exit_code == 0);
    CHECK(listed.out == empty_urls);
  }
  const auto abc = run_command({bin, "sources", "list", "--data", data, kAbc256});
  CHECK(abc.exit_code == 0);
  CHECK(abc.out == "https://example.org/abc-2.tar.gz\n");
  const auto sha1 = run_command({bin, "sources", "list", "-d", data, "sha1:" + kEmptySha1});
  CHECK(sha1.exit_code == 0);
  CHECK(sha1.out == "http://example.org/e.zip\n");
  const auto none = run_command({bin, "sources", "list", "--data", data, std::string(64, '7')});
  CHECK(none.exit_code == 1);
  CHECK(none.out.empty());
  CHECK_THAT(none.err, Contains("no sources indexed for sha256-"));

  // A clean list: exit 0; importing it twice adds nothing the second time.
  const auto clean = tmp / "clean.json";
  write_text(clean,
             "[{\"hash\":\"" + kAbc256 +
                 "\",\"type\":\"sha256\",\"urls\":[\"mirror://pypi/a/abc/abc-1.0.tar.gz\"]}]");
  const auto first = run_command({bin, "sources", "import", "--data", data, clean.string()});
  INFO(first.err);
  CHECK(first.exit_code == 0);
  CHECK(first.err.empty());
  CHECK_THAT(first.out,
             Contains("\"entries\":1,\"indexed\":1,\"sources_added\":2,\"duplicates\":0"));
  const auto second = run_command({bin, "sources", "import", "--data", data, clean.string()});
  CHECK(second.exit_code == 0);
  CHECK_THAT(second.out, Contains("\"sources_added\":0,\"duplicates\":2"));
  const auto abc2 = run_command({bin, "sources", "list", "--data", data, kAbc256});
  CHECK(abc2.out ==
        "https://example.org/abc-2.tar.gz\n"
        "https://files.pythonhosted.org/packages/source/a/abc/abc-1.0.tar.gz\n"
        "https://pypi.io/packages/source/a/abc/abc-1.0.tar.gz\n");

  // A file that is not a JSON array, and one that does not exist: named, exit 1.
  const auto not_json = tmp / "bad.json";
  write_text(not_json, "{\"hash\": 1}");
  const auto bad = run_command({bin, "sources", "import", "--data", data, not_json.string(),
                                (tmp / "missing.json").string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.out.empty());
  CHECK_THAT(bad.err, Contains(not_json.string() + ": expected a JSON array"));
  CHECK_THAT(bad.err, Contains("missing.json: cannot read the file"));
}

TEST_CASE("srcgate sources add, and a --mirror-table override", "[sources][cli]") {
  const std::string bin = test::srcgate_binary().string();
  test::TempDir tmp;
  const std::string data = (tmp / "data").string();
  const auto table = tmp / "mirrors.toml";
  write_text(table,
             "[mirror_sites]\ngnu = [\"http://127.0.0.1:8081/gnu\"]\nlocal = "
             "[\"https://files.example.com/local/\"]\n");
  const auto added = run_command(
      {bin, "sources", "add", "--data", data, "--mirror-table", table.string(), "--hash",
       "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "mirror://gnu/abc/abc.tar.gz",
       "mirror://local/abc.tgz", "https://example.org/abc.tar.gz"});
  INFO(added.err);
  CHECK(added.exit_code == 0);
  CHECK(added.out ==
        "{\"entries\":1,\"indexed\":1,\"sources_added\":3,\"duplicates\":0,"
        "\"skipped_malformed\":0,\"skipped_unknown_mirror_sites\":0,"
        "\"skipped_unsupported_urls\":0,\"skipped_without_url\":0,\"skipped_patches\":0}\n");
  const auto listed = run_command({bin, "sources", "list", "--data", data, kAbc256});
  CHECK(listed.exit_code == 0);
  CHECK(listed.out ==
        "http://127.0.0.1:8081/gnu/abc/abc.tar.gz\n"
        "https://example.org/abc.tar.gz\n"
        "https://files.example.com/local/abc.tgz\n");
  // ipfs://<cid> is indexed in canonical form (a CIDv0 stays v0); a CID with
  // a path, or a bad CID, is reported and skipped.
  const auto with_cid = run_command(
      {bin, "sources", "add", "--data", data, "--hash", kAbc256,
       "ipfs://QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn",
       "ipfs://bafkreiga2lvcm3wibzmxa2ygmepvn35swivjpodvtipdm3ezztkdypy6ay/x", "ipfs://not-a-cid"});
  CHECK(with_cid.exit_code == 1);
  CHECK_THAT(with_cid.out, Contains("\"sources_added\":1,"));
  CHECK_THAT(with_cid.err, Contains("'ipfs://not-a-cid': not ipfs://<cid>"));
  CHECK_THAT(with_cid.err, Contains("/x': not ipfs://<cid>"));
  const auto listed2 = run_command({bin, "sources", "list", "--data", data, kAbc256});
  CHECK_THAT(listed2.out, Contains("ipfs://QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn\n"));
  // Without the table, mirror://local is unknown: reported, skipped, exit 1.
  const auto unknown = run_command({bin, "sources", "add", "--data", data, "--hash", kAbc256,
                                    "mirror://local/abc.tgz", "https://example.org/abc.tar.gz"});
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.out, Contains("\"sources_added\":0,\"duplicates\":1"));
  CHECK(unknown.err ==
        "srcgate sources add: entry 0: unknown mirror site 'local' in 'mirror://local/abc.tgz'; "
        "URL skipped\n");
  // A bad table is a usage error that names the key.
  const auto bad_table = tmp / "bad.toml";
  write_text(bad_table, "[mirror_sites]\ngnu = [\"ftp://ftp.gnu.org/\"]\n");
  const auto refused = run_command({bin, "sources", "add", "--data", data, "--mirror-table",
                                    bad_table.string(), "--hash", kAbc256, "https://a/b"});
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err,
             Contains("--mirror-table: " + bad_table.string() + ": mirror_sites.gnu:"));
}

TEST_CASE("srcgate sources: help and usage errors", "[sources][cli]") {
  const std::string bin = test::srcgate_binary().string();
  test::TempDir tmp;
  const std::string data = (tmp / "data").string();
  const auto top = run_command({bin, "--help"});
  CHECK_THAT(top.out, Contains("sources"));
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"sources", "--help"},
                                             {"sources", "import", "--help"},
                                             {"sources", "add", "--help"},
                                             {"sources", "list", "--help"}}) {
    std::vector<std::string> argv{bin};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run_command(argv);
    INFO(args[args.size() - 1]);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, StartsWith("Usage: srcgate sources"));
  }
  struct Usage {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Usage> usages = {
      {{"sources"}, "no subcommand given"},
      {{"sources", "remove"}, "unknown subcommand 'remove'"},
      {{"sources", "import", "--data", data}, "no FILE.json given"},
      {{"sources", "import", "--bogus", "x.json"}, "unrecognised option '--bogus'"},
      {{"sources", "import", "--server", "http://127.0.0.1:9", "--mirror-table", "m.toml", "x"},
       "--mirror-table applies to a local store"},
      {{"sources", "import", "--server", "ftp://x", "x.json"}, "must start with http://"},
      {{"sources", "add", "--data", data, "https://a/b"}, "--hash H is required"},
      {{"sources", "add", "--data", data, "--hash", kAbc256}, "no URL given"},
      {{"sources", "add", "--data", data, "--hash", "abc", "https://a/b"},
       "does not name its algorithm"},
      {{"sources", "list", "--data", data}, "give exactly one hash"},
      {{"sources", "list", "--data", data, kAbc256, kAbc256}, "give exactly one hash"},
  };
  for (const Usage& u : usages) {
    std::vector<std::string> argv{bin};
    argv.insert(argv.end(), u.args.begin(), u.args.end());
    const auto r = run_command(argv);
    INFO(u.message << "\n" << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Contains(u.message));
  }
  // No store yet: `list` does not create one.
  const auto no_store = run_command({bin, "sources", "list", "--data", data, kAbc256});
  CHECK(no_store.exit_code == 1);
  CHECK_THAT(no_store.err, Contains("there is no store at " + data));
}
