#include "server/source_list.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>

#include "content/cid.hpp"
#include "content/nix_hash.hpp"
#include "server/url.hpp"

namespace srcgate::server {
namespace {

namespace json = boost::json;
using content::Errc;
using content::make_error;

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

constexpr std::string_view kIpfsScheme = "ipfs://";

// Collects one element's URLs and problems.
class EntryBuilder {
 public:
  EntryBuilder(SourceList& list, const MirrorTable& mirrors, std::size_t index, std::string name)
      : list_(list), mirrors_(mirrors), index_(index), name_(std::move(name)) {}

  void problem(SourceProblemKind kind, std::string reason) {
    list_.problems.push_back(SourceProblem{index_, kind, name_, std::move(reason)});
  }

  // Adds `raw` (a mirror:// URL is expanded first), or reports why not.
  void add_url(std::string_view raw) {
    ++seen_;
    if (raw.starts_with(kIpfsScheme)) {
      auto cid = content::Cid::parse(raw.substr(kIpfsScheme.size()));
      if (!cid) {
        problem(SourceProblemKind::unsupported_url,
                in_quotes(raw) + ": not ipfs://<cid>: " + cid.error().message + "; URL skipped");
        return;
      }
      keep(std::string(kIpfsScheme) + cid->to_string());
      return;
    }
    if (!is_mirror_url(raw)) {
      auto url = parse_url(raw);
      if (!url) {
        problem(SourceProblemKind::unsupported_url, url.error().message + "; URL skipped");
        return;
      }
      keep(url->to_string());
      return;
    }
    auto expanded = mirrors_.expand(raw);
    if (!expanded) {
      problem(expanded.error().code == Errc::not_found ? SourceProblemKind::unknown_mirror_site
                                                       : SourceProblemKind::unsupported_url,
              expanded.error().message + "; URL skipped");
      return;
    }
    // The table's bases are valid URLs, so a failure here is the path's: one
    // problem for the mirror:// URL rather than one per base.
    for (const std::string& candidate : *expanded) {
      auto url = parse_url(candidate);
      if (!url) {
        problem(SourceProblemKind::unsupported_url,
                in_quotes(raw) + " expands to a bad URL: " + url.error().message + "; URL skipped");
        return;
      }
      keep(url->to_string());
    }
  }

  // Ends the element: an entry when some URL was kept.
  void finish(const content::Digest& digest) {
    if (urls_.empty()) {
      problem(SourceProblemKind::no_usable_url,
              "none of its " + std::to_string(seen_) + " URL(s) can be fetched; entry skipped");
      return;
    }
    list_.entries.push_back(SourceEntry{index_, digest, std::move(urls_), std::move(name_)});
  }

 private:
  void keep(std::string url) {
    if (std::find(urls_.begin(), urls_.end(), url) == urls_.end()) urls_.push_back(std::move(url));
  }

  SourceList& list_;
  const MirrorTable& mirrors_;
  std::size_t index_;
  std::string name_;
  std::vector<std::string> urls_;
  std::size_t seen_ = 0;
};

void malformed(SourceList& list, std::size_t index, std::string name, std::string reason) {
  list.problems.push_back(SourceProblem{index, SourceProblemKind::malformed, std::move(name),
                                        std::move(reason) + "; entry skipped"});
}

void parse_element(const json::value& value, std::size_t index, const MirrorTable& mirrors,
                   SourceList& list) {
  const json::object* obj = value.if_object();
  if (obj == nullptr) return malformed(list, index, "", "is not a JSON object");

  std::string name;
  if (const json::value* v = obj->if_contains("name"); v != nullptr && !v->is_null()) {
    if (!v->is_string()) return malformed(list, index, "", "'name' is not a string");
    name = std::string(v->get_string());
  }
  if (const json::value* v = obj->if_contains("isPatch"); v != nullptr && !v->is_null()) {
    if (!v->is_bool()) return malformed(list, index, name, "'isPatch' is not a boolean");
    if (v->get_bool()) {
      ++list.patches;
      return;
    }
  }

  std::optional<content::HashAlgo> algo;
  if (const json::value* v = obj->if_contains("type"); v != nullptr && !v->is_null()) {
    if (!v->is_string()) return malformed(list, index, name, "'type' is not a string or null");
    const std::string_view type = v->get_string();
    if (!type.empty()) {
      algo = content::algo_from_name(type);
      if (!algo) {
        return malformed(list, index, name,
                         "'type' " + in_quotes(type) + " is not md5, sha1, sha256 or sha512");
      }
    }
  }
  const json::value* hash = obj->if_contains("hash");
  if (hash == nullptr || hash->is_null()) return malformed(list, index, name, "has no 'hash'");
  if (!hash->is_string()) return malformed(list, index, name, "'hash' is not a string");
  auto parsed = content::parse_nix_hash(hash->get_string(), algo);
  if (!parsed) return malformed(list, index, name, "'hash': " + parsed.error().message);

  std::vector<std::string_view> raw_urls;
  if (const json::value* v = obj->if_contains("urls"); v != nullptr && !v->is_null()) {
    const json::array* array = v->if_array();
    if (array == nullptr) return malformed(list, index, name, "'urls' is not an array");
    raw_urls.reserve(array->size() + 1);
    for (std::size_t i = 0; i < array->size(); ++i) {
      if (!(*array)[i].is_string()) {
        return malformed(list, index, name,
                         "'urls' element " + std::to_string(i) + " is not a string");
      }
      raw_urls.push_back((*array)[i].get_string());
    }
  }
  if (const json::value* v = obj->if_contains("url"); v != nullptr && !v->is_null()) {
    if (!v->is_string()) return malformed(list, index, name, "'url' is not a string");
    raw_urls.push_back(v->get_string());
  }
  if (raw_urls.empty()) return malformed(list, index, name, "has no URL ('urls' or 'url')");

  EntryBuilder entry(list, mirrors, index, std::move(name));
  for (std::string_view raw : raw_urls) entry.add_url(raw);
  entry.finish(parsed->digest);
}

void count(SourceImportSummary& s, const SourceProblem& p) {
  switch (p.kind) {
    case SourceProblemKind::malformed:
      ++s.skipped_malformed;
      break;
    case SourceProblemKind::unknown_mirror_site:
      ++s.skipped_unknown_mirror_sites;
      break;
    case SourceProblemKind::unsupported_url:
      ++s.skipped_unsupported_urls;
      break;
    case SourceProblemKind::no_usable_url:
      ++s.skipped_without_url;
      break;
  }
}

}  // namespace

std::string_view problem_kind_name(SourceProblemKind kind) {
  switch (kind) {
    case SourceProblemKind::malformed:
      return "malformed";
    case SourceProblemKind::unknown_mirror_site:
      return "unknown_mirror_site";
    case SourceProblemKind::unsupported_url:
      return "unsupported_url";
    case SourceProblemKind::no_usable_url:
      return "no_usable_url";
  }
  return "malformed";
}

std::string describe(const SourceProblem& problem) {
  std::string text = "entry " + std::to_string(problem.index);
  if (!problem.name.empty()) text += " (" + problem.name + ")";
  text += ": ";
  text += problem.reason;
  return text;
}

content::Result<SourceList> parse_source_list(std::string_view text, const MirrorTable& mirrors) {
  boost::system::error_code ec;
  json::monotonic_resource arena;
  const json::value doc = json::parse(text, ec, &arena);
  if (ec) {
    return make_error(Errc::malformed, "not a JSON document: " + ec.message());
  }
  const json::array* array = doc.if_array();
  if (array == nullptr) {
    return make_error(Errc::malformed,
                      "expected a JSON array of {\"hash\", \"type\", \"urls\", \"name\"} objects "
                      "(the output of find-tarballs.nix)");
  }
  SourceList list;
  list.elements = array->size();
  list.entries.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) parse_element((*array)[i], i, mirrors, list);
  return list;
}

SourceList make_source_list(const content::Digest& digest, const std::vector<std::string>& urls,
                            const MirrorTable& mirrors) {
  SourceList list;
  list.elements = 1;
  EntryBuilder entry(list, mirrors, 0, "");
  for (const std::string& raw : urls) entry.add_url(raw);
  entry.finish(digest);
  return list;
}

content::Result<content::Digest> parse_hash_argument(std::string_view text) {
  const bool has_prefix = text.find_first_of(":-") != std::string_view::npos;
  if (!has_prefix) {
    std::optional<content::HashAlgo> algo;
    for (const content::HashAlgo a : content::kAllHashAlgos) {
      if (text.size() == 2 * content::digest_size(a)) algo = a;
    }
    if (!algo) {
      return make_error(Errc::malformed,
                        "hash " + in_quotes(text) +
                            " does not name its algorithm: give 'algo:<hash>', SRI "
                            "'algo-<base64>', or hex of 32, 40, 64 or 128 digits");
    }
    auto parsed = content::parse_nix_hash(text, algo);
    if (!parsed) return parsed.error();
    return parsed->digest;
  }
  auto parsed = content::parse_nix_hash(text, std::nullopt);
  if (!parsed) return parsed.error();
  return parsed->digest;
}

SourceImportSummary summarize(const SourceList& list) {
  SourceImportSummary s;
  s.entries = list.elements;
  s.indexed = list.entries.size();
  s.skipped_patches = list.patches;
  for (const SourceProblem& p : list.problems) count(s, p);
  return s;
}

std::string summary_json(const SourceImportSummary& s, std::string_view file,
                         const std::vector<SourceProblem>* problems, std::size_t max_problems) {
  json::object obj;
  if (!file.empty()) obj.emplace("file", file);
  obj.emplace("entries", s.entries);
  obj.emplace("indexed", s.indexed);
  obj.emplace("sources_added", s.sources_added);
  obj.emplace("duplicates", s.duplicates);
  obj.emplace("skipped_malformed", s.skipped_malformed);
  obj.emplace("skipped_unknown_mirror_sites", s.skipped_unknown_mirror_sites);
  obj.emplace("skipped_unsupported_urls", s.skipped_unsupported_urls);
  obj.emplace("skipped_without_url", s.skipped_without_url);
  obj.emplace("skipped_patches", s.skipped_patches);
  if (problems != nullptr) {
    json::array array;
    const std::size_t shown = std::min(max_problems, problems->size());
    array.reserve(shown);
    for (std::size_t i = 0; i < shown; ++i) {
      const SourceProblem& p = (*problems)[i];
      json::object o;
      o.emplace("index", p.index);
      o.emplace("kind", problem_kind_name(p.kind));
      if (!p.name.empty()) o.emplace("name", p.name);
      o.emplace("reason", p.reason);
      array.push_back(std::move(o));
    }
    obj.emplace("problems", std::move(array));
    if (shown < problems->size()) obj.emplace("problems_left_out", problems->size() - shown);
  }
  return json::serialize(obj);
}

}  // namespace srcgate::server
