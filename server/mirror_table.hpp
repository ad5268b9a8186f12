// MirrorTable: the sites of nixpkgs' `mirror://<site>/<path>` URLs, each with
// its ordered list of http(s) base URLs, and the expansion of such a URL into
// one URL per base (base + path, as nixpkgs' fetchurl builder does, with one
// '/' between them). nixpkgs_defaults() is the table of nixpkgs'
// pkgs/build-support/fetchurl/mirrors.nix without its ftp:// entries (the
// miss path fetches http and https only); apply_toml() overrides sites from a
// TOML `[mirror_sites]` table (site = ["https://...", ...]), as the variables
// NIX_MIRRORS_<site> override nixpkgs' lists.
// Thread-safety: a value; const methods may be called from any thread.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "content/error.hpp"

namespace srcgate::server {

inline constexpr std::string_view kMirrorScheme = "mirror://";

// True when `url` starts with "mirror://" (case-sensitive, as nixpkgs is).
inline bool is_mirror_url(std::string_view url) { return url.starts_with(kMirrorScheme); }

class MirrorTable {
 public:
  // An empty table: every site is unknown.
  MirrorTable() = default;

  // nixpkgs' sites (alsa, apache, ..., gnu, savannah, sourceforge, kernel,
  // gnome, debian, ubuntu, cpan, pypi, hackage, xorg, mozilla, ...) with their
  // http(s) mirrors in nixpkgs' order. Built once; copies are cheap enough for
  // start-up (about 40 sites, 250 URLs).
  static const MirrorTable& nixpkgs_defaults();

  // Replaces the base URLs of `site`; an empty list removes the site (its
  // mirror:// URLs become unknown). Errc::malformed when the site name is not
  // [A-Za-z0-9_-]+ or a base URL is not an absolute http:// or https:// URL
  // (the message names the site and the URL).
  content::Result<void> set_site(std::string_view site, std::vector<std::string> base_urls);

  // The base URLs of `site`, or nullptr when the table does not know it.
  const std::vector<std::string>* find(std::string_view site) const;
  // Site names in byte order.
  std::vector<std::string> site_names() const;
  std::size_t size() const { return sites_.size(); }

  // Applies the `[mirror_sites]` table of the TOML document `toml_text` (other
  // top-level keys are ignored, so the table can sit in a larger file): each
  // key replaces that site's list, as set_site() does. `source` names the
  // document in messages ("mirrors.toml"). Errors (Errc::malformed), one line
  // naming the source and the key: not TOML (with line:column), no
  // [mirror_sites] table, a value that is not an array of strings, a bad URL.
  // On error the table is unchanged.
  content::Result<void> apply_toml(std::string_view toml_text, std::string_view source);

  // Expands "mirror://site/path" into base + path for every base of `site`,
  // in table order. Errc::not_found when the site is unknown ("unknown mirror
  // site 'kde' in 'mirror://kde/...'"); Errc::malformed when `url` is not a
  // mirror:// URL or has no site or no path.
  content::Result<std::vector<std::string>> expand(std::string_view url) const;

  friend bool operator==(const MirrorTable&, const MirrorTable&) = default;

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> sites_;
};

// The defaults with the `[mirror_sites]` of the TOML file at `path` applied.
// Errors as apply_toml(), plus Errc::not_found when the file cannot be read.
content::Result<MirrorTable> load_mirror_table(const std::filesystem::path& path);

}  // namespace srcgate::server
