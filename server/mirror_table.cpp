#include "server/mirror_table.hpp"

// toml++ as Debian ships it: a compiled shared library (libtomlplusplus.so,
// linked through srcgate_config), whose CMake target sets these two macros.
// srcgate_server does not link that target for compile flags, so they are
// stated here; they must match the library's build.
#ifndef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 0
#endif
#ifndef TOML_SHARED_LIB
#define TOML_SHARED_LIB 1
#endif
#include <toml++/toml.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "server/url.hpp"

namespace srcgate::server {
namespace {

using content::Errc;
using content::make_error;

struct DefaultSite {
  std::string_view name;
  std::initializer_list<std::string_view> urls;
};

// The http:// and https:// entries of nixpkgs'
// pkgs/build-support/fetchurl/mirrors.nix (NixOS/nixpkgs, the alphabetical
// layout of 2023-2025: "apache" starts with https://dlcdn.apache.org/), in
// that file's order. Its ftp:// entries are left out: the miss path fetches
// http and https only. Sites and URLs are data; no list is edited by hand
// beyond that filter.
const std::array<DefaultSite, 40> kDefaultSites = {{
    {"alsa",
     {"https://www.alsa-project.org/files/pub/", "http://alsa.cybermirror.org/",
      "http://www.mirrorservice.org/sites/ftp.alsa-project.org/pub/"}},
    {"apache",
     {"https://dlcdn.apache.org/", "https://www-eu.apache.org/dist/",
      "https://ftp.wayne.edu/apache/", "https://www.apache.org/dist/",
      "https://archive.apache.org/dist/", "https://apache.cs.uu.nl/", "https://apache.cs.utah.edu/",
      "http://ftp.tudelft.nl/apache/"}},
    {"bioc",
     {"https://bioconductor.statistik.tu-dortmund.de/packages/",
      "https://mirrors.ustc.edu.cn/bioc/", "http://bioconductor.jp/packages/"}},
    {"cran", {"https://cran.r-project.org/src/contrib/"}},
    {"bitlbee",
     {"https://get.bitlbee.org/", "https://ftp.snt.utwente.nl/pub/software/bitlbee/",
      "http://bitlbee.intergenia.de/"}},
    {"gcc", {"https://mirror.koddos.net/gcc/", "https://bigsearcher.com/mirrors/gcc/"}},
    {"gnome",
     {"https://download.gnome.org/", "https://fr2.rpmfind.net/linux/gnome.org/",
      "https://ftp.acc.umu.se/pub/GNOME/", "https://ftp.belnet.be/mirror/ftp.gnome.org/"}},
    {"gnu",
     {"https://ftpmirror.gnu.org/", "https://ftp.nluug.nl/pub/gnu/",
      "https://mirrors.kernel.org/gnu/", "https://mirror.ibcp.fr/pub/gnu/",
      "https://mirror.dogado.de/gnu/", "https://mirror.tochlab.net/pub/gnu/",
      "https://ftp.gnu.org/pub/gnu/"}},
    {"gnupg",
     {"https://gnupg.org/ftp/gcrypt/", "https://mirrors.dotsrc.org/gcrypt/",
      "https://ftp.heanet.ie/mirrors/ftp.gnupg.org/gcrypt/",
      "https://www.mirrorservice.org/sites/ftp.gnupg.org/gcrypt/",
      "http://www.ring.gr.jp/pub/net/"}},
    {"ibiblioPubLinux", {"https://www.ibiblio.org/pub/Linux/"}},
    {"imagemagick",
     {"https://www.imagemagick.org/download/", "https://mirror.checkdomain.de/imagemagick/",
      "https://ftp.nluug.nl/ImageMagick/", "https://ftp.sunet.se/mirror/imagemagick.org/ftp/"}},
    {"kde", {"https://download.kde.org/", "https://ftp.funet.fi/pub/mirrors/ftp.kde.org/pub/kde/"}},
    {"kernel", {"https://cdn.kernel.org/pub/", "http://linux-kernel.uio.no/pub/"}},
    {"mysql", {"https://cdn.mysql.com/Downloads/"}},
    {"maven", {"https://repo1.maven.org/maven2/"}},
    {"mozilla",
     {"https://download.cdn.mozilla.net/pub/mozilla.org/", "https://archive.mozilla.org/pub/"}},
    {"osdn",
     {"https://osdn.dl.osdn.jp/", "https://osdn.mirror.constant.com/",
      "https://mirrors.gigenet.com/OSDN/", "https://osdn.dl.sourceforge.jp/",
      "https://jaist.dl.sourceforge.jp/"}},
    {"postgresql", {"https://ftp.postgresql.org/pub/"}},
    {"qt", {"https://download.qt.io/"}},
    {"sageupstream",
     {"https://sagemath.mirror.ac.za/spkg/upstream/",
      "https://mirror.ufs.ac.za/sagemath/spkg/upstream/",
      "https://mirrors.mit.edu/sage/spkg/upstream/",
      "https://mirrors.xmission.com/sage/spkg/upstream/",
      "https://mirrors.tuna.tsinghua.edu.cn/sagemath/spkg/upstream/",
      "https://mirrors.ustc.edu.cn/sagemath/spkg/upstream/",
      "http://ftp.tsukuba.wide.ad.jp/software/sage/spkg/upstream/",
      "https://ftp.yz.yamagata-u.ac.jp/pub/math/sage/spkg/upstream/",
      "https://mirror.yandex.ru/mirrors/sage.math.washington.edu/spkg/upstream/",
      "https://mirror.aarnet.edu.au/pub/sage/spkg/upstream/",
      "https://sage.mirror.garr.it/mirrors/sage/spkg/upstream/",
      "https://www-ftp.lip6.fr/pub/math/sagemath/spkg/upstream/",
      "http://www.cecm.sfu.ca/sage/spkg/upstream/", "http://sagemath.c3sl.ufpr.br/spkg/upstream/",
      "http://linorg.usp.br/sage/spkg/upstream", "http://ftp.kaist.ac.kr/sage/spkg/upstream/",
      "http://ftp.riken.jp/sagemath/spkg/upstream/",
      "http://mirrors.fe.up.pt/pub/sage/spkg/upstream/",
      "http://ftp.ntua.gr/pub/sagemath/spkg/upstream/"}},
    {"samba", {"https://www.samba.org/ftp/", "http://www.samba.org/ftp/"}},
    {"savannah",
     {"https://mirror.easyname.at/nongnu/", "https://savannah.c3sl.ufpr.br/",
      "https://mirror.csclub.uwaterloo.ca/nongnu/", "https://mirror.cedia.org.ec/nongnu/",
      "https://ftp.igh.cnrs.fr/pub/nongnu/", "https://mirror6.layerjet.com/nongnu",
      "https://mirror.netcologne.de/savannah/", "https://ftp.cc.uoc.gr/mirrors/nongnu.org/",
      "https://nongnu.uib.no/", "https://ftp.acc.umu.se/mirror/gnu.org/savannah/",
      "http://mirror2.klaus-uwe.me/nongnu/", "http://mirrors.fe.up.pt/pub/nongnu/",
      "http://ftp.twaren.net/Unix/NonGNU/", "http://savannah-nongnu-org.ip-connect.vn.ua/",
      "http://www.mirrorservice.org/sites/download.savannah.gnu.org/releases/",
      "http://gnu.mirrors.pair.com/savannah/savannah/"}},
    {"sourceforge",
     {"https://downloads.sourceforge.net/", "https://prdownloads.sourceforge.net/",
      "https://netcologne.dl.sourceforge.net/sourceforge/",
      "https://versaweb.dl.sourceforge.net/sourceforge/",
      "https://freefr.dl.sourceforge.net/sourceforge/",
      "https://osdn.dl.sourceforge.net/sourceforge/"}},
    {"steamrt", {"https://repo.steampowered.com/steamrt/", "https://public.abbradar.moe/steamrt/"}},
    {"tcsh",
     {"https://astron.com/pub/tcsh/", "https://astron.com/pub/tcsh/old/",
      "http://ftp.funet.fi/pub/mirrors/ftp.astron.com/pub/tcsh/",
      "http://ftp.funet.fi/pub/mirrors/ftp.astron.com/pub/tcsh/old/"}},
    {"xfce",
     {"https://archive.xfce.org/", "https://mirror.netcologne.de/xfce/",
      "https://archive.be.xfce.org/xfce/", "https://archive.al-us.xfce.org/",
      "http://archive.se.xfce.org/xfce/", "http://mirror.perldude.de/archive.xfce.org/",
      "http://archive.be2.xfce.org/", "http://ftp.udc.es/xfce/"}},
    {"xorg", {"https://xorg.freedesktop.org/releases/", "https://ftp.x.org/archive/"}},
    {"cpan",
     {"https://cpan.metacpan.org/", "https://cpan.perl.org/", "https://mirrors.kernel.org/CPAN/",
      "https://backpan.perl.org/"}},
    {"dub", {"https://code.dlang.org/packages/", "https://codemirror.dlang.org/packages/"}},
    {"hackage", {"https://hackage.haskell.org/package/"}},
    {"luarocks",
     {"https://luarocks.org/",
      "https://raw.githubusercontent.com/rocks-moonscript-org/moonrocks-mirror/master/",
      "https://luafr.org/moonrocks/"}},
    {"pypi",
     {"https://files.pythonhosted.org/packages/source/", "https://pypi.io/packages/source/"}},
    {"testpypi", {"https://test.pypi.io/packages/source/"}},
    {"centos",
     {"https://vault.centos.org/", "https://archive.kernel.org/centos-vault/",
      "https://ftp.jaist.ac.jp/pub/Linux/CentOS-vault/", "https://mirrors.aliyun.com/centos-vault/",
      "https://mirror.chpc.utah.edu/pub/vault.centos.org/",
      "https://mirror.math.princeton.edu/pub/centos-vault/",
      "https://mirrors.tripadvisor.com/centos-vault/", "http://mirror.centos.org/centos/"}},
    {"debian",
     {"https://httpredir.debian.org/debian/", "https://ftp.debian.org/debian/",
      "https://mirrors.edge.kernel.org/debian/",
      "http://archive.debian.org/debian-archive/debian/"}},
    {"fedora",
     {"https://archives.fedoraproject.org/pub/fedora/", "https://fedora.osuosl.org/",
      "https://ftp.funet.fi/pub/mirrors/ftp.redhat.com/pub/fedora/",
      "https://ftp.linux.cz/pub/linux/fedora/",
      "https://archives.fedoraproject.org/pub/archive/fedora/",
      "http://ftp.nluug.nl/pub/os/Linux/distr/fedora/", "http://mirror.csclub.uwaterloo.ca/fedora/",
      "http://mirror.1000mbps.com/fedora/"}},
    {"gentoo",
     {"https://ftp.snt.utwente.nl/pub/os/linux/gentoo/", "https://distfiles.gentoo.org/",
      "https://mirrors.kernel.org/gentoo/"}},
    {"opensuse",
     {"https://opensuse.hro.nl/opensuse/distribution/",
      "https://ftp.funet.fi/pub/linux/mirrors/opensuse/distribution/",
      "https://ftp.opensuse.org/pub/opensuse/distribution/",
      "https://ftp5.gwdg.de/pub/opensuse/discontinued/distribution/",
      "https://mirrors.edge.kernel.org/opensuse/distribution/",
      "http://ftp.hosteurope.de/mirror/ftp.opensuse.org/discontinued/"}},
    {"ubuntu",
     {"https://nl.archive.ubuntu.com/ubuntu/", "https://old-releases.ubuntu.com/ubuntu/",
      "https://mirrors.edge.kernel.org/ubuntu/", "http://de.archive.ubuntu.com/ubuntu/",
      "http://archive.ubuntu.com/ubuntu/"}},
    {"openbsd", {"https://ftp.openbsd.org/pub/OpenBSD/"}},
}};

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

bool valid_site_name(std::string_view site) {
  if (site.empty()) return false;
  for (const char c : site) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A base URL must be an absolute http(s) URL: the miss path can fetch it.
content::Result<void> check_base_url(std::string_view site, std::string_view url) {
  auto parsed = parse_url(url);
  if (!parsed) {
    return make_error(Errc::malformed,
                      "mirror site " + in_quotes(site) + ": " + parsed.error().message);
  }
  return {};
}

}  // namespace

const MirrorTable& MirrorTable::nixpkgs_defaults() {
  static const MirrorTable table = [] {
    MirrorTable t;
    for (const DefaultSite& site : kDefaultSites) {
      std::vector<std::string> urls(site.urls.begin(), site.urls.end());
      t.sites_.emplace(std::string(site.name), std::move(urls));
    }
    return t;
  }();
  return table;
}

content::Result<void> MirrorTable::set_site(std::string_view site,
                                            std::vector<std::string> base_urls) {
  if (!valid_site_name(site)) {
    return make_error(Errc::malformed, "mirror site name " + in_quotes(site) +
                                           " is not made of letters, digits, '_' and '-'");
  }
  for (const std::string& url : base_urls) {
    if (auto ok = check_base_url(site, url); !ok) return ok.error();
  }
  if (base_urls.empty()) {
    if (auto it = sites_.find(site); it != sites_.end()) sites_.erase(it);
    return {};
  }
  sites_.insert_or_assign(std::string(site), std::move(base_urls));
  return {};
}

const std::vector<std::string>* MirrorTable::find(std::string_view site) const {
  auto it = sites_.find(site);
  return it == sites_.end() ? nullptr : &it->second;
}

std::vector<std::string> MirrorTable::site_names() const {
  std::vector<std::string> names;
  names.reserve(sites_.size());
  for (const auto& [name, urls] : sites_) names.push_back(name);
  return names;
}

content::Result<void> MirrorTable::apply_toml(std::string_view toml_text, std::string_view source) {
  const std::string where(source);
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return make_error(Errc::malformed, where + ":" + std::to_string(at.line) + ":" +
                                           std::to_string(at.column) + ": " +
                                           std::string(e.description()));
  }
  const toml::node* node = doc.get("mirror_sites");
  if (node == nullptr) return make_error(Errc::malformed, where + ": no [mirror_sites] table");
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    return make_error(Errc::malformed, where + ": mirror_sites must be a table (site = [URLs])");
  }
  MirrorTable updated = *this;
  for (const auto& [key, value] : *table) {
    const std::string site(key.str());
    const toml::array* array = value.as_array();
    if (array == nullptr) {
      return make_error(Errc::malformed,
                        where + ": mirror_sites." + site + ": expected an array of URL strings");
    }
    std::vector<std::string> urls;
    urls.reserve(array->size());
    for (const toml::node& element : *array) {
      const auto* s = element.as_string();
      if (s == nullptr) {
        return make_error(Errc::malformed,
                          where + ": mirror_sites." + site + ": expected an array of URL strings");
      }
      urls.push_back(s->get());
    }
    if (auto ok = updated.set_site(site, std::move(urls)); !ok) {
      return make_error(Errc::malformed,
                        where + ": mirror_sites." + site + ": " + ok.error().message);
    }
  }
  *this = std::move(updated);
  return {};
}

content::Result<std::vector<std::string>> MirrorTable::expand(std::string_view url) const {
  if (!is_mirror_url(url)) {
    return make_error(Errc::malformed, in_quotes(url) + " is not a mirror:// URL");
  }
  const std::string_view rest = url.substr(kMirrorScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string_view site = rest.substr(0, slash);
  if (site.empty()) return make_error(Errc::malformed, in_quotes(url) + " names no mirror site");
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return make_error(Errc::malformed, in_quotes(url) + " has no path after the mirror site");
  }
  const std::string_view path = rest.substr(slash + 1);
  const std::vector<std::string>* bases = find(site);
  if (bases == nullptr) {
    return make_error(Errc::not_found,
                      "unknown mirror site " + in_quotes(site) + " in " + in_quotes(url));
  }
  std::vector<std::string> urls;
  urls.reserve(bases->size());
  for (const std::string& base : *bases) {
    std::string joined;
    joined.reserve(base.size() + 1 + path.size());
    joined += base;
    if (!joined.ends_with('/')) joined += '/';
    joined += path;
    urls.push_back(std::move(joined));
  }
  return urls;
}

content::Result<MirrorTable> load_mirror_table(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(Errc::not_found,
                      "cannot read " + in_quotes(path.string()) + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(Errc::not_found, "cannot read " + in_quotes(path.string()));
  MirrorTable table = MirrorTable::nixpkgs_defaults();
  if (auto ok = table.apply_toml(text.str(), path.string()); !ok) return ok.error();
  return table;
}

}  // namespace srcgate::server
