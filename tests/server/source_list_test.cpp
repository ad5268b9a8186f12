// The source list front end (issue 6 item 1): nixpkgs' mirror sites and the
// expansion of mirror:// URLs (checked against the lists of nixpkgs'
// pkgs/build-support/fetchurl/mirrors.nix), [mirror_sites] overrides, the
// find-tarballs JSON parser on the hash vectors of nix.md §2.3, and the
// acceptance case: a generated find-tarballs list of 292 elements whose
// hashes (hex, nix32, base64 and SRI of sha256, sha512, sha1 and md5) come
// from nix-hash and `nix hash file` (Debian's nix-bin), with mirror://
// URLs, ftp URLs, duplicates and malformed elements, checked for exact
// counts, problems and store lookups. Without nix-hash that case fails when
// CI is set and is skipped with a warning otherwise.
#include "server/source_list.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "content/encoding.hpp"
#include "content/nix_hash.hpp"
#include "server/mirror_table.hpp"
#include "server/sources_command.hpp"
#include "storage/memory_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using server::MirrorTable;
using server::SourceProblemKind;

namespace {

// What nixpkgs' mirrors.nix lists for gnu, http(s) entries in its order.
const std::vector<std::string> kGnu = {
    "https://ftpmirror.gnu.org/",      "https://ftp.nluug.nl/pub/gnu/",
    "https://mirrors.kernel.org/gnu/", "https://mirror.ibcp.fr/pub/gnu/",
    "https://mirror.dogado.de/gnu/",   "https://mirror.tochlab.net/pub/gnu/",
    "https://ftp.gnu.org/pub/gnu/",
};
const std::vector<std::string> kSourceforge = {
    "https://downloads.sourceforge.net/",
    "https://prdownloads.sourceforge.net/",
    "https://netcologne.dl.sourceforge.net/sourceforge/",
    "https://versaweb.dl.sourceforge.net/sourceforge/",
    "https://freefr.dl.sourceforge.net/sourceforge/",
    "https://osdn.dl.sourceforge.net/sourceforge/",
};

std::vector<std::string> with_path(const std::vector<std::string>& bases, const std::string& path) {
  std::vector<std::string> out;
  for (const auto& b : bases) out.push_back(b + path);
  return out;
}

content::Digest digest_from_hex(content::HashAlgo algo, const std::string& hex) {
  auto bytes = content::hex_decode(hex);
  REQUIRE(bytes);
  REQUIRE(bytes->size() == content::digest_size(algo));
  return content::Digest(algo, *bytes);
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::error_code ec;
    if (!dir.empty() && std::filesystem::is_regular_file(std::filesystem::path(dir) / program, ec))
      return true;
  }
  return false;
}

// One output line per file of `argv` + files.
std::vector<std::string> lines_of(std::vector<std::string> argv,
                                  const std::vector<std::string>& files) {
  argv.insert(argv.end(), files.begin(), files.end());
  const auto r = test::run_command(argv);
  INFO(argv[0] << ' ' << argv[1] << ": " << r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == files.size());
  return lines;
}

std::string q(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

TEST_CASE("the default mirror table is nixpkgs' mirrors.nix without ftp", "[sources]") {
  const MirrorTable& t = MirrorTable::nixpkgs_defaults();
  CHECK(t.size() == 40);
  for (const char* site : {"gnu", "savannah", "sourceforge", "kernel", "gnome", "apache", "debian",
                           "ubuntu", "cpan", "pypi", "hackage", "xorg", "mozilla"}) {
    INFO(site);
    REQUIRE(t.find(site) != nullptr);
    for (const auto& url : *t.find(site)) {
      INFO(url);
      CHECK((url.starts_with("https://") || url.starts_with("http://")));
    }
  }
  CHECK(t.find("github") == nullptr);  // not a mirrors.nix site
  REQUIRE(t.find("gnu") != nullptr);
  CHECK(*t.find("gnu") == kGnu);
  CHECK(*t.find("hackage") == std::vector<std::string>{"https://hackage.haskell.org/package/"});
  CHECK(*t.find("pypi") ==
        std::vector<std::string>{"https://files.pythonhosted.org/packages/source/",
                                 "https://pypi.io/packages/source/"});
  CHECK(*t.find("kernel") ==
        std::vector<std::string>{"https://cdn.kernel.org/pub/", "http://linux-kernel.uio.no/pub/"});
  CHECK(t.find("savannah")->size() == 16);  // 26 entries, 10 of them ftp://

  auto gnu = t.expand("mirror://gnu/hello/hello-2.12.1.tar.gz");
  INFO((gnu ? "" : gnu.error().message));
  REQUIRE(gnu);
  CHECK(*gnu == with_path(kGnu, "hello/hello-2.12.1.tar.gz"));
  // A base without a trailing '/' still gets exactly one.
  auto savannah = t.expand("mirror://savannah/acl/acl-2.3.1.tar.gz");
  REQUIRE(savannah);
  REQUIRE(savannah->size() == 16);
  CHECK((*savannah)[5] == "https://mirror6.layerjet.com/nongnu/acl/acl-2.3.1.tar.gz");

  auto unknown = t.expand("mirror://nosuchsite/a/b");
  REQUIRE(!unknown);
  CHECK(unknown.error().code == content::Errc::not_found);
  CHECK(unknown.error().message == "unknown mirror site 'nosuchsite' in 'mirror://nosuchsite/a/b'");
  for (const char* bad : {"mirror://gnu", "mirror://gnu/", "mirror:///x", "https://x/y"}) {
    INFO(bad);
    auto r = t.expand(bad);
    REQUIRE(!r);
    CHECK(r.error().code == content::Errc::malformed);
  }
}

TEST_CASE("a TOML mirror_sites table overrides, adds and drops sites", "[sources]") {
  MirrorTable t = MirrorTable::nixpkgs_defaults();
  auto ok = t.apply_toml(R"(
listen = "ignored:1"
[mirror_sites]
gnu = ["http://127.0.0.1:8081/gnu/", "https://gnu.example.org/pub"]
local = ["http://10.0.0.5/mirror/"]
kde = []
)",
                         "mirrors.toml");
  INFO((ok ? "" : ok.error().message));
  REQUIRE(ok);
  CHECK(t.size() == 40);  // one added, one dropped
  auto gnu = t.expand("mirror://gnu/make/make-4.4.tar.gz");
  REQUIRE(gnu);
  CHECK(*gnu == std::vector<std::string>{"http://127.0.0.1:8081/gnu/make/make-4.4.tar.gz",
                                         "https://gnu.example.org/pub/make/make-4.4.tar.gz"});
  auto local = t.expand("mirror://local/x.tgz");
  REQUIRE(local);
  CHECK(*local == std::vector<std::string>{"http://10.0.0.5/mirror/x.tgz"});
  CHECK(t.find("kde") == nullptr);
  CHECK(*t.find("pypi") == *MirrorTable::nixpkgs_defaults().find("pypi"));

  struct Bad {
    std::string toml;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {"[mirror_sites\n", "m.toml:1:"},
      {"listen = 1\n", "m.toml: no [mirror_sites] table"},
      {"mirror_sites = 3\n", "m.toml: mirror_sites must be a table (site = [URLs])"},
      {"[mirror_sites]\ngnu = \"https://a/\"\n",
       "m.toml: mirror_sites.gnu: expected an array of URL strings"},
      {"[mirror_sites]\ngnu = [1]\n", "m.toml: mirror_sites.gnu: expected an array of URL strings"},
      {"[mirror_sites]\ngnu = [\"ftp://ftp.gnu.org/gnu/\"]\n",
       "m.toml: mirror_sites.gnu: mirror site 'gnu': URL \"ftp://ftp.gnu.org/gnu/\": scheme "
       "\"ftp\" is not supported (only http and https)"},
      {"[mirror_sites]\n\"a b\" = [\"https://a/\"]\n",
       "m.toml: mirror_sites.a b: mirror site name 'a b' is not made of letters, digits, '_' and "
       "'-'"},
  };
  for (const Bad& b : bad) {
    INFO(b.toml);
    MirrorTable copy = t;
    auto r = copy.apply_toml(b.toml, "m.toml");
    REQUIRE(!r);
    CHECK_THAT(r.error().message, Catch::Matchers::StartsWith(b.message));
    CHECK(copy == t);  // unchanged on error
  }

  test::TempDir dir;
  const auto file = dir / "mirrors.toml";
  const std::string text = "[mirror_sites]\nhackage = [\"http://127.0.0.1:9/hackage\"]\n";
  test::write_file(file, content::as_bytes(text));
  auto loaded = server::load_mirror_table(file);
  REQUIRE(loaded);
  CHECK(*loaded->find("hackage") == std::vector<std::string>{"http://127.0.0.1:9/hackage"});
  CHECK(*loaded->find("gnu") == kGnu);
  auto missing = server::load_mirror_table(dir / "none.toml");
  REQUIRE(!missing);
  CHECK_THAT(missing.error().message, Catch::Matchers::StartsWith("cannot read '"));
}

TEST_CASE("find-tarballs hashes in every encoding of nix.md 2.3 give the right digests",
          "[sources]") {
  using content::HashAlgo;
  struct Vector {
    std::string hash;
    std::string type;  // "null" or a quoted name
    HashAlgo algo;
    std::string hex;
  };
  const std::string e256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const std::string abc256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const std::string e512 =
      "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877e"
      "ec"
      "2f63b931bd47417a81a538327af927da3e";
  const std::string abc512 =
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3fe"
      "eb"
      "bd454d4423643ce80e2a9ac94fa54ca49f";
  const std::vector<Vector> vectors = {
      {e256, "\"sha256\"", HashAlgo::sha256, e256},
      {"0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", "\"sha256\"", HashAlgo::sha256,
       e256},
      {"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "null", HashAlgo::sha256, e256},
      {"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "\"sha256\"", HashAlgo::sha256, e256},
      {"1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "\"sha256\"", HashAlgo::sha256,
       abc256},
      {"sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "\"\"", HashAlgo::sha256, abc256},
      {"sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "null", HashAlgo::sha256,
       abc256},
      {"143xibwh31h9bvxzalr0sjvbbvpa6ffs", "\"sha1\"", HashAlgo::sha1,
       "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
      {"sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "null", HashAlgo::sha1,
       "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
      {"3y8bwfr609h3lh9ch0izcqq7fl", "\"md5\"", HashAlgo::md5, "d41d8cd98f00b204e9800998ecf8427e"},
      {"md5-1B2M2Y8AsgTpgAmY7PhCfg==", "null", HashAlgo::md5, "d41d8cd98f00b204e9800998ecf8427e"},
      {"0zdl9zrg8r3i9c1g90lgg9ip5ijzv3yhz91i0zzn3r8ap9ws784gkp9dk9j3aglhgf1amqb0pj21mh7h1nxcl18akqv"
       "v"
       "f7ggqsy30yg",
       "\"sha512\"", HashAlgo::sha512, e512},
      {"sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/"
       "BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==",
       "null", HashAlgo::sha512, abc512},
      {"2gs8k559z4rlahfx0y688s49m2vvszylcikrfinm30ly9rak69236nkam5ydvly1ai7xac99vxfc4ii84hawjbk876b"
       "l"
       "yk1jfhkbbyx",
       "\"sha512\"", HashAlgo::sha512, abc512},
  };
  std::string json = "[";
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    if (i > 0) json += ",";
    json += "{\"hash\":" + q(vectors[i].hash) + ",\"type\":" + vectors[i].type +
            ",\"isPatch\":false,\"name\":\"v" + std::to_string(i) +
            "\",\"urls\":[\"https://example.org/v" + std::to_string(i) + "\"]}";
  }
  json += "]";
  auto list = server::parse_source_list(json, MirrorTable());
  INFO((list ? "" : list.error().message));
  REQUIRE(list);
  for (const auto& p : list->problems) INFO(server::describe(p));
  CHECK(list->problems.empty());
  REQUIRE(list->entries.size() == vectors.size());
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    INFO(vectors[i].hash);
    const auto& e = list->entries[i];
    CHECK(e.index == i);
    CHECK(e.name == "v" + std::to_string(i));
    CHECK(e.digest == digest_from_hex(vectors[i].algo, vectors[i].hex));
    CHECK(e.urls == std::vector<std::string>{"https://example.org/v" + std::to_string(i)});
  }

  // Command-line hashes: algo:, SRI, bare hex by length; anything else says why.
  auto bare = server::parse_hash_argument(e256);
  REQUIRE(bare);
  CHECK(*bare == digest_from_hex(HashAlgo::sha256, e256));
  auto md5 = server::parse_hash_argument("d41d8cd98f00b204e9800998ecf8427e");
  REQUIRE(md5);
  CHECK(md5->algo == HashAlgo::md5);
  auto nix32 =
      server::parse_hash_argument("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
  REQUIRE(nix32);
  CHECK(*nix32 == digest_from_hex(HashAlgo::sha256, e256));
  auto sri = server::parse_hash_argument("sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
  REQUIRE(sri);
  CHECK(*sri == digest_from_hex(HashAlgo::sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
  auto nameless =
      server::parse_hash_argument("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
  REQUIRE(!nameless);
  CHECK_THAT(nameless.error().message, Catch::Matchers::Contains("does not name its algorithm"));
}

TEST_CASE("a generated find-tarballs list: exact counts, problems and lookups", "[sources]") {
  using content::HashAlgo;
  if (!on_path("nix-hash") || !on_path("nix")) {
    if (std::getenv("CI") != nullptr) FAIL("nix-hash and nix (Debian package nix-bin) are needed");
    WARN("nix-hash or nix not found (Debian package nix-bin): skipping");
    return;
  }
  // 240 small files; their hashes come from Nix, not from srcgate.
  constexpr int kFiles = 240;
  test::TempDir dir;
  std::vector<std::string> files;
  for (int i = 0; i < kFiles; ++i) {
    const auto path = dir / ("f" + std::to_string(i));
    test::write_file(path, test::deterministic_bytes("source-list-" + std::to_string(i),
                                                     static_cast<std::size_t>(100 + i * 7)));
    files.push_back(path.string());
  }
  const std::vector<std::string> nix_file = {"nix", "--extra-experimental-features", "nix-command",
                                             "hash", "file"};
  auto with = [](std::vector<std::string> v, std::initializer_list<std::string> more) {
    v.insert(v.end(), more);
    return v;
  };
  const auto hex256 = lines_of({"nix-hash", "--flat", "--type", "sha256"}, files);
  const auto nix32_256 = lines_of({"nix-hash", "--flat", "--type", "sha256", "--base32"}, files);
  const auto sri256 = lines_of(with(nix_file, {"--sri", "--type", "sha256"}), files);
  const auto b64_256 = lines_of(with(nix_file, {"--base64", "--type", "sha256"}), files);
  const auto hex512 = lines_of({"nix-hash", "--flat", "--type", "sha512"}, files);
  const auto nix32_512 = lines_of({"nix-hash", "--flat", "--type", "sha512", "--base32"}, files);
  const auto hex1 = lines_of({"nix-hash", "--flat", "--type", "sha1"}, files);
  const auto hexmd5 = lines_of({"nix-hash", "--flat", "--type", "md5"}, files);

  // The plan, element by element; every count below follows from it.
  std::vector<std::string> elements;
  struct Expected {
    HashAlgo algo;
    std::string hex;
    std::vector<std::string> urls;
  };
  std::map<std::size_t, Expected> expected;  // by element index
  std::vector<std::pair<std::size_t, SourceProblemKind>> problems;
  auto element = [&](std::string body) { elements.push_back("{" + body + "}"); };
  auto add = [&](const std::string& hash, const std::string& type, const std::string& urls_json,
                 HashAlgo algo, const std::string& hex, std::vector<std::string> urls,
                 const std::string& name) {
    expected[elements.size()] = Expected{algo, hex, std::move(urls)};
    element("\"hash\":" + q(hash) + ",\"type\":" + type + "," + urls_json + ",\"name\":" + q(name) +
            ",\"isPatch\":false");
  };
  for (int i = 0; i < kFiles; ++i) {
    const std::string n = std::to_string(i);
    const std::string name = "f" + n + ".tar.gz";
    if (i < 80) {  // hex sha256
      add(hex256[i], q("sha256"), "\"urls\":[" + q("https://example.org/src/" + name) + "]",
          HashAlgo::sha256, hex256[i], {"https://example.org/src/" + name}, name);
    } else if (i < 140) {  // nix32 sha256, mirror://gnu plus a URL that normalises
      auto urls = with_path(kGnu, "f" + n + "/" + name);
      urls.push_back("http://example.org/alt/" + name);
      add(nix32_256[i], q("sha256"),
          "\"urls\":[" + q("mirror://gnu/f" + n + "/" + name) + "," +
              q("HTTP://Example.ORG:80/alt/" + name + "#frag") + "]",
          HashAlgo::sha256, hex256[i], urls, name);
    } else if (i < 200) {  // SRI with type null, old single "url"
      add(sri256[i], "null", "\"url\":" + q("https://example.net/" + name), HashAlgo::sha256,
          hex256[i], {"https://example.net/" + name}, name);
    } else if (i < 210) {  // nix32 sha512
      add(nix32_512[i], q("sha512"), "\"urls\":[" + q("https://example.org/512/" + name) + "]",
          HashAlgo::sha512, hex512[i], {"https://example.org/512/" + name}, name);
    } else if (i < 220) {  // hex sha1
      add(hex1[i], q("sha1"), "\"urls\":[" + q("https://example.org/1/" + name) + "]",
          HashAlgo::sha1, hex1[i], {"https://example.org/1/" + name}, name);
    } else if (i < 225) {  // hex md5
      add(hexmd5[i], q("md5"), "\"urls\":[" + q("https://example.org/md5/" + name) + "]",
          HashAlgo::md5, hexmd5[i], {"https://example.org/md5/" + name}, name);
    } else if (i < 232) {  // plain base64 sha256; its ftp URL is skipped
      problems.emplace_back(elements.size(), SourceProblemKind::unsupported_url);
      add(b64_256[i], q("sha256"),
          "\"urls\":[" + q("ftp://ftp.example.org/" + name) + "," +
              q("https://example.org/b64/" + name) + "]",
          HashAlgo::sha256, hex256[i], {"https://example.org/b64/" + name}, name);
    } else if (i < 236) {  // an unknown mirror site, then sourceforge
      problems.emplace_back(elements.size(), SourceProblemKind::unknown_mirror_site);
      add(hex256[i], q("sha256"),
          "\"urls\":[" + q("mirror://nosuchsite/" + name) + "," +
              q("mirror://sourceforge/proj/" + name) + "]",
          HashAlgo::sha256, hex256[i], with_path(kSourceforge, "proj/" + name), name);
    } else if (i < 238) {  // only an unknown mirror site: nothing left
      problems.emplace_back(elements.size(), SourceProblemKind::unknown_mirror_site);
      problems.emplace_back(elements.size(), SourceProblemKind::no_usable_url);
      element("\"hash\":" + q(hex256[i]) + ",\"type\":\"sha256\",\"urls\":[" +
              q("mirror://nosuchsite/" + name) + "]");
    } else {  // fetchpatch outputs: left out, not a problem
      element("\"hash\":" + q(hex256[i]) + ",\"type\":\"sha256\",\"isPatch\":true,\"urls\":[" +
              q("https://example.org/p/" + name) + "]");
    }
  }
  // 30 exact duplicates of elements 0..29; 10 new URLs for the hashes of 0..9 (as SRI).
  for (int i = 0; i < 30; ++i) {
    const std::string name = "f" + std::to_string(i) + ".tar.gz";
    add(hex256[i], q("sha256"), "\"urls\":[" + q("https://example.org/src/" + name) + "]",
        HashAlgo::sha256, hex256[i], {"https://example.org/src/" + name}, name);
  }
  for (int i = 0; i < 10; ++i) {
    const std::string url = "https://mirror.example.com/f" + std::to_string(i);
    add(sri256[i], "null", "\"urls\":[" + q(url) + "]", HashAlgo::sha256, hex256[i], {url},
        "again" + std::to_string(i));
  }
  // Malformed elements, one problem each.
  std::string bad_char = hex256[0];
  bad_char.back() = 'g';
  const std::vector<std::string> malformed = {
      "42",
      "{\"type\":\"sha256\",\"urls\":[\"https://x/y\"]}",
      "{\"hash\":" + q(bad_char) + ",\"type\":\"sha256\",\"urls\":[\"https://x/y\"]}",
      "{\"hash\":" + q(hex256[1].substr(1)) + ",\"type\":\"sha256\",\"urls\":[\"https://x/y\"]}",
      "{\"hash\":" + q(hex256[1]) + ",\"type\":\"sha3\",\"urls\":[\"https://x/y\"]}",
      "{\"hash\":" + q(sri256[2]) + ",\"type\":\"sha512\",\"urls\":[\"https://x/y\"]}",
      "{\"hash\":" + q(hex256[3]) + ",\"type\":\"sha256\",\"urls\":\"https://x/y\"}",
      "{\"hash\":" + q(hex256[3]) + ",\"type\":\"sha256\",\"urls\":[1]}",
      "{\"hash\":" + q(hex256[3]) + ",\"type\":\"sha256\"}",
      "{\"hash\":" + q(hex256[3]) + ",\"type\":\"sha256\",\"name\":5,\"urls\":[\"https://x/y\"]}",
      "{\"hash\":" + q(hex256[3]) +
          ",\"type\":\"sha256\",\"isPatch\":\"no\",\"urls\":[\"https://x/y\"]}",
      "{\"hash\":null,\"type\":\"sha256\",\"urls\":[\"https://x/y\"]}",
  };
  for (const auto& m : malformed) {
    problems.emplace_back(elements.size(), SourceProblemKind::malformed);
    elements.push_back(m);
  }
  REQUIRE(elements.size() == 292);
  std::string json = "[\n";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    json += (i > 0 ? ",\n" : "") + elements[i];
  }
  json += "\n]\n";

  auto list = server::parse_source_list(json, MirrorTable::nixpkgs_defaults());
  INFO((list ? "" : list.error().message));
  REQUIRE(list);
  CHECK(list->elements == 292);
  CHECK(list->patches == 2);
  // Problems: exactly the planned ones, in element order.
  std::vector<std::pair<std::size_t, SourceProblemKind>> got;
  for (const auto& p : list->problems) got.emplace_back(p.index, p.kind);
  std::stable_sort(problems.begin(), problems.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CHECK(got == problems);
  // Reasons name what is wrong.
  std::map<std::size_t, std::string> reasons;
  for (const auto& p : list->problems) reasons[p.index] += server::describe(p) + "\n";
  CHECK(reasons[225] ==
        "entry 225 (f225.tar.gz): URL \"ftp://ftp.example.org/f225.tar.gz\": scheme \"ftp\" is "
        "not supported (only http and https); URL skipped\n");
  CHECK(reasons[236] ==
        "entry 236: unknown mirror site 'nosuchsite' in 'mirror://nosuchsite/f236.tar.gz'; URL "
        "skipped\nentry 236: none of its 1 URL(s) can be fetched; entry skipped\n");
  CHECK(reasons[280] == "entry 280: is not a JSON object; entry skipped\n");
  CHECK(reasons[281] == "entry 281: has no 'hash'; entry skipped\n");
  CHECK_THAT(reasons[282],
             Catch::Matchers::Contains("'hash': ") && Catch::Matchers::Contains("offset 63"));
  CHECK_THAT(reasons[284], Catch::Matchers::Contains("'type' 'sha3' is not md5"));
  CHECK_THAT(reasons[285], Catch::Matchers::Contains("is sha256 but sha512 was expected"));
  CHECK(reasons[289] == "entry 289: 'name' is not a string; entry skipped\n");

  const auto summary = server::summarize(*list);
  CHECK(summary.entries == 292);
  CHECK(summary.indexed == 276);  // 240 - 2 without URL - 2 patches + 30 + 10
  CHECK(summary.skipped_malformed == 12);
  CHECK(summary.skipped_unknown_mirror_sites == 6);
  CHECK(summary.skipped_unsupported_urls == 7);
  CHECK(summary.skipped_without_url == 2);
  CHECK(summary.skipped_patches == 2);
  CHECK(summary.anything_skipped());

  // Every entry: the digest Nix computed, the planned URLs.
  REQUIRE(list->entries.size() == expected.size());
  for (const auto& e : list->entries) {
    INFO("entry " << e.index);
    auto it = expected.find(e.index);
    REQUIRE(it != expected.end());
    CHECK(e.digest == digest_from_hex(it->second.algo, it->second.hex));
    CHECK(e.urls == it->second.urls);
  }

  // Into a store: 686 new pairs (80 + 60*8 + 60 + 25 + 7 + 4*6 + 10), 30 duplicates.
  auto store = storage::make_memory_store();
  REQUIRE(store);
  auto counted = summary;
  auto indexed = server::index_sources(**store, *list, counted);
  INFO((indexed ? "" : indexed.error().message));
  REQUIRE(indexed);
  CHECK(counted.sources_added == 686);
  CHECK(counted.duplicates == 30);
  CHECK(server::summary_json(counted) ==
        "{\"entries\":292,\"indexed\":276,\"sources_added\":686,\"duplicates\":30,"
        "\"skipped_malformed\":12,\"skipped_unknown_mirror_sites\":6,"
        "\"skipped_unsupported_urls\":7,\"skipped_without_url\":2,\"skipped_patches\":2}");

  auto lookup = [&](HashAlgo algo, const std::string& hex) {
    auto urls = (*store)->sources(digest_from_hex(algo, hex), 1000);
    REQUIRE(urls);
    return *urls;
  };
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(lookup(HashAlgo::sha256, hex256[5]) ==
        std::vector<std::string>{"https://example.org/src/f5.tar.gz",
                                 "https://mirror.example.com/f5"});
  CHECK(lookup(HashAlgo::sha256, hex256[50]) ==
        std::vector<std::string>{"https://example.org/src/f50.tar.gz"});
  auto gnu = with_path(kGnu, "f100/f100.tar.gz");
  gnu.push_back("http://example.org/alt/f100.tar.gz");
  CHECK(lookup(HashAlgo::sha256, hex256[100]) == sorted(gnu));
  CHECK(lookup(HashAlgo::sha256, hex256[150]) ==
        std::vector<std::string>{"https://example.net/f150.tar.gz"});
  CHECK(lookup(HashAlgo::sha512, hex512[205]) ==
        std::vector<std::string>{"https://example.org/512/f205.tar.gz"});
  CHECK(lookup(HashAlgo::sha1, hex1[215]) ==
        std::vector<std::string>{"https://example.org/1/f215.tar.gz"});
  CHECK(lookup(HashAlgo::md5, hexmd5[222]) ==
        std::vector<std::string>{"https://example.org/md5/f222.tar.gz"});
  CHECK(lookup(HashAlgo::sha256, hex256[230]) ==
        std::vector<std::string>{"https://example.org/b64/f230.tar.gz"});
  CHECK(lookup(HashAlgo::sha256, hex256[233]) ==
        sorted(with_path(kSourceforge, "proj/f233.tar.gz")));
  CHECK(lookup(HashAlgo::sha256, hex256[237]).empty());  // no usable URL
  CHECK(lookup(HashAlgo::sha256, hex256[239]).empty());  // a patch
  CHECK(lookup(HashAlgo::sha512, hex512[5]).empty());    // indexed by sha256 only

  // Importing the same list again adds nothing: every pair is a duplicate.
  auto again = server::summarize(*list);
  REQUIRE(server::index_sources(**store, *list, again));
  CHECK(again.sources_added == 0);
  CHECK(again.duplicates == 716);
}

TEST_CASE("a source list that is not a JSON array is rejected whole", "[sources]") {
  const MirrorTable& t = MirrorTable::nixpkgs_defaults();
  for (const char* doc : {"", "{\"hash\":1}", "[{\"hash\":", "\"text\"", "[1,]"}) {
    INFO(doc);
    auto r = server::parse_source_list(doc, t);
    REQUIRE(!r);
    CHECK(r.error().code == content::Errc::malformed);
  }
  auto empty = server::parse_source_list("[]", t);
  REQUIRE(empty);
  CHECK(empty->elements == 0);
  CHECK(server::summary_json(server::summarize(*empty), "x.json") ==
        "{\"file\":\"x.json\",\"entries\":0,\"indexed\":0,\"sources_added\":0,\"duplicates\":0,"
        "\"skipped_malformed\":0,\"skipped_unknown_mirror_sites\":0,"
        "\"skipped_unsupported_urls\":0,\"skipped_without_url\":0,\"skipped_patches\":0}");

  // `sources add`: the same URL rules for one hash.
  const content::Digest d = content::digest_of(content::HashAlgo::sha256, content::ByteView{});
  auto one = server::make_source_list(
      d, {"mirror://xorg/individual/lib/libX11-1.8.tar.xz", "ftp://x/y", "https://a.example/b"}, t);
  REQUIRE(one.entries.size() == 1);
  CHECK(one.entries[0].urls ==
        std::vector<std::string>{
            "https://xorg.freedesktop.org/releases/individual/lib/libX11-1.8.tar.xz",
            "https://ftp.x.org/archive/individual/lib/libX11-1.8.tar.xz", "https://a.example/b"});
  REQUIRE(one.problems.size() == 1);
  CHECK(one.problems[0].kind == SourceProblemKind::unsupported_url);
}
