// The source lists that feed the source index (issue 6 item 1): the JSON that
// nixpkgs' maintainers/scripts/find-tarballs.nix prints (nix.md §2.2),
//   [{"hash": "sha256-...", "type": null, "name": "hello-2.12.1.tar.gz",
//     "isPatch": false, "urls": ["mirror://gnu/hello/hello-2.12.1.tar.gz"]}, ...]
// or its older form with "url" as one string, parsed into entries (digest ->
// fetchable URLs) plus the problems met on the way. Pure functions over
// values; nothing here touches a store (sources_command.hpp does).
//
// Rules, per array element (its 0-based index names it in problems):
// - "hash" (string) in hex, nix32 or base64 of the algorithm that "type"
//   names ("md5", "sha1", "sha256", "sha512"), or self-describing SRI
//   "algo-<base64>" / "algo:<hash>" with "type" null, absent or "" (when both
//   name an algorithm they must agree). content/nix_hash.hpp parses it.
// - "urls" (array of strings) and/or "url" (string): at least one URL.
// - "name" (string or null), optional; kept for messages only.
// - "isPatch": true marks a fetchpatch output, whose hash is of the patch
//   after postFetch normalised it, not of the bytes at its URL (copy-tarballs.pl
//   skips these too): counted in `patches`, not indexed, not a problem.
// - A malformed element (not an object, a missing or bad field, a hash that
//   does not parse) is one problem and is skipped.
// - Each URL: "mirror://site/path" is expanded through the MirrorTable (an
//   unknown site is a problem; that URL is skipped); then only absolute
//   http:// and https:// URLs that server/url.hpp accepts are kept (ftp://,
//   file://, ... and broken URLs are problems; that URL is skipped). Kept URLs
//   are normalised by Url::to_string() (lower-case scheme and host, no default
//   port, no fragment) and each is kept once per entry, in order.
//   "ipfs://<cid>" (a CID alone, no path) is kept too, as ipfs://<the CID in
//   its canonical text>: a hash miss asks the IPFS gateways for that file
//   and answers only when it has the requested digest.
// - An element whose every URL was skipped is one more problem
//   (no_usable_url) and yields no entry.
// Thread-safety: pure functions over values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "content/digest.hpp"
#include "content/error.hpp"
#include "server/mirror_table.hpp"

namespace srcgate::server {

struct SourceEntry {
  std::size_t index = 0;  // position of the element in the JSON array
  content::Digest digest;
  std::vector<std::string> urls;  // http(s), expanded and normalised, each once, in order
  std::string name;               // "" when the element has none
};

enum class SourceProblemKind {
  malformed,            // the element is skipped
  unknown_mirror_site,  // one mirror:// URL is skipped
  unsupported_url,      // one URL of another scheme, or broken, is skipped
  no_usable_url,        // every URL of the element was skipped: the element is skipped
};

// "malformed", "unknown_mirror_site", "unsupported_url", "no_usable_url".
std::string_view problem_kind_name(SourceProblemKind kind);

struct SourceProblem {
  std::size_t index = 0;  // the element's 0-based position
  SourceProblemKind kind = SourceProblemKind::malformed;
  std::string name;    // the element's name, when it has one
  std::string reason;  // what is wrong, without the index
};

// "entry 17 (hello-2.12.1.tar.gz): <reason>", or "entry 17: <reason>".
std::string describe(const SourceProblem& problem);

struct SourceList {
  std::vector<SourceEntry> entries;
  std::vector<SourceProblem> problems;  // in element order
  std::size_t elements = 0;             // array elements read
  std::size_t patches = 0;              // isPatch elements left out
};

// What an import did: the parse's counts plus the store's. `unknown_mirror_sites`
// and `unsupported_urls` count URLs; the other skipped_* count elements.
struct SourceImportSummary {
  std::size_t entries = 0;        // array elements read
  std::size_t indexed = 0;        // elements that gave at least one URL
  std::size_t sources_added = 0;  // (hash, URL) pairs new to the index
  std::size_t duplicates = 0;     // pairs already indexed (before, or earlier in this list)
  std::size_t skipped_malformed = 0;
  std::size_t skipped_unknown_mirror_sites = 0;
  std::size_t skipped_unsupported_urls = 0;
  std::size_t skipped_without_url = 0;
  std::size_t skipped_patches = 0;

  // True when something other than patches was skipped (the commands then
  // exit 1).
  bool anything_skipped() const {
    return skipped_malformed + skipped_unknown_mirror_sites + skipped_unsupported_urls +
               skipped_without_url >
           0;
  }
};

// Parses a find-tarballs JSON document. Errc::malformed when the document is
// not JSON or not an array (the whole list is then rejected); every problem
// inside the array is reported in SourceList::problems instead.
content::Result<SourceList> parse_source_list(std::string_view json, const MirrorTable& mirrors);

// One entry from a digest and URLs (`srcgate sources add`): the URL rules
// above, with index 0 and no name.
SourceList make_source_list(const content::Digest& digest, const std::vector<std::string>& urls,
                            const MirrorTable& mirrors);

// A hash given on a command line: "algo:<hex|nix32|base64>", SRI
// "algo-<base64>", or bare hex whose length names the algorithm (32 md5, 40
// sha1, 64 sha256, 128 sha512). Errors as parse_nix_hash's.
content::Result<content::Digest> parse_hash_argument(std::string_view text);

// The parse's counts; sources_added and duplicates stay 0 (the store's part).
SourceImportSummary summarize(const SourceList& list);

// The summary as one JSON object: "file" first when `file` is not empty (the
// CLI's lines), then the counts in the order of SourceImportSummary:
//   {"entries":N,"indexed":N,"sources_added":N,"duplicates":N,
//    "skipped_malformed":N,"skipped_unknown_mirror_sites":N,
//    "skipped_unsupported_urls":N,"skipped_without_url":N,"skipped_patches":N}
// With `problems`, a "problems" array follows: at most `max_problems` objects
// {"index":N,"kind":"...","name":"...","reason":"..."}, and
// "problems_left_out":N when there were more.
std::string summary_json(const SourceImportSummary& summary, std::string_view file = {},
                         const std::vector<SourceProblem>* problems = nullptr,
                         std::size_t max_problems = 1000);

}  // namespace srcgate::server
