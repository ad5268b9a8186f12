#include "config/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <variant>

#include "config/paths.hpp"

extern char** environ;  // POSIX

namespace srcgate::config {
namespace {

using std::chrono::milliseconds;

enum class Kind {
  listen,
  path,  // a directory that must be named
  file,  // a file; "" means none
  count,
  text,
  size,
  duration,
  log_format,
  access_log,
  boolean,
  url_list,
};

struct Key {
  std::string_view name;  // TOML key; env SRCGATE_<NAME>; flag --name with '-' for '_'
  Kind kind;
  std::string_view flag;  // the flag's spelling when it is not the derived one
};

constexpr Key kKeys[] = {
    {"listen", Kind::listen, {}},
    {"data_dir", Kind::path, "--data"},
    {"threads", Kind::count, {}},
    {"base_path", Kind::text, {}},
    {"max_connections", Kind::count, {}},
    {"max_header_bytes", Kind::size, {}},
    {"idle_timeout", Kind::duration, {}},
    {"read_timeout", Kind::duration, {}},
    {"write_timeout", Kind::duration, {}},
    {"shutdown_grace", Kind::duration, {}},
    {"admin_token", Kind::text, {}},
    {"max_size", Kind::size, {}},
    {"log_format", Kind::log_format, {}},
    {"access_log", Kind::access_log, {}},
    {"access_log_buffer", Kind::size, {}},
    {"hit_cache_size", Kind::size, {}},
    {"mirrors", Kind::url_list, "--mirror"},
    {"no_default_upstreams", Kind::boolean, {}},
    {"offline", Kind::boolean, {}},
    {"allow_private_upstreams", Kind::boolean, {}},
    {"ipfs_gateways", Kind::url_list, "--ipfs-gateway"},
    {"ca_file", Kind::file, {}},
    {"connect_timeout", Kind::duration, {}},
    {"first_byte_timeout", Kind::duration, {}},
    {"stall_timeout", Kind::duration, {}},
    {"miss_deadline", Kind::duration, {}},
    {"negative_cache_ttl", Kind::duration, {}},
    {"spool_dir", Kind::path, {}},
};

const Key* find_key(std::string_view name) {
  for (const Key& k : kKeys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

std::string env_name(std::string_view key) {
  std::string out = "SRCGATE_";
  for (const char c : key) out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return out;
}

std::string flag_name(std::string_view key) {
  if (const Key* k = find_key(key); k != nullptr && !k->flag.empty()) return std::string(k->flag);
  std::string out = "--";
  for (const char c : key) out += c == '_' ? '-' : c;
  return out;
}

std::string quote_text(std::string_view text) {
  constexpr std::size_t kMax = 200;
  if (text.size() > kMax) return "'" + std::string(text.substr(0, kMax)) + "...'";
  return "'" + std::string(text) + "'";
}

[[noreturn]] void fail(std::string_view key, const std::string& problem,
                       const std::string& source) {
  std::string message = "config: " + std::string(key) + ": " + problem;
  if (!source.empty()) message += " (from " + source + ")";
  throw ConfigError(std::string(key), message);
}

// A value as it arrived: text (env, flags, TOML strings), or a TOML integer,
// boolean or array of strings.
struct Raw {
  std::variant<std::string, std::int64_t, bool, std::vector<std::string>> value;
  std::string source;  // "SRCGATE_LISTEN", "--listen", "/etc/srcgate.toml"
};

std::string describe(const Raw& raw) {
  if (const auto* s = std::get_if<std::string>(&raw.value)) return quote_text(*s);
  if (const auto* i = std::get_if<std::int64_t>(&raw.value)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&raw.value)) return *b ? "true" : "false";
  return "an array";
}

const std::string& need_text(std::string_view key, const Raw& raw) {
  if (const auto* s = std::get_if<std::string>(&raw.value)) return *s;
  fail(key, "expected a string, got " + describe(raw), raw.source);
}

std::optional<std::uint64_t> parse_digits(std::string_view s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// Splits "123unit" into the number and the unit (trimmed). nullopt without digits.
std::optional<std::pair<std::uint64_t, std::string>> number_and_unit(std::string_view text) {
  text = trim(text);
  const std::size_t end = text.find_first_not_of("0123456789");
  const auto number = parse_digits(text.substr(0, end));
  if (!number) return std::nullopt;
  return std::pair{*number, lower(trim(end == std::string_view::npos ? "" : text.substr(end)))};
}

// A hashed mirror's base URL: http:// or https://, a host, no query or
// fragment; trailing '/' removed. The full parse is the server's (url.hpp).
std::string normalise_mirror(std::string_view key, std::string_view text,
                             const std::string& source) {
  const std::string head = lower(text.substr(0, 8));
  const std::size_t scheme = head.starts_with("http://") ? 7 : head.starts_with("https://") ? 8 : 0;
  if (scheme == 0) {
    fail(key, "expected an http:// or https:// URL, got " + quote_text(text), source);
  }
  for (const char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (u <= 0x20 || u == 0x7f) {
      fail(key, "must not contain spaces or control characters, got " + quote_text(text), source);
    }
  }
  if (text.find_first_of("?#") != std::string_view::npos) {
    fail(key, "is a base URL and must not have a query or fragment, got " + quote_text(text),
         source);
  }
  std::string url(text);
  while (url.size() > scheme && url.back() == '/') url.pop_back();
  if (url.size() == scheme || url[scheme] == '/' || url[scheme] == ':' || url[scheme] == '@') {
    fail(key, "has no host, got " + quote_text(text), source);
  }
  return url;
}

// Items separated by commas or whitespace; empty items dropped.
std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find_first_of(", \t\r\n", at);
    const std::string_view item = text.substr(at, end == std::string_view::npos ? end : end - at);
    if (!item.empty()) out.emplace_back(item);
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return out;
}

std::optional<bool> parse_bool(std::string_view text) {
  const std::string t = lower(trim(text));
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  return std::nullopt;
}

struct DurationKey {
  std::string_view name;
  milliseconds Config::*field;
  bool zero_allowed;
};
constexpr DurationKey kDurations[] = {
    {"idle_timeout", &Config::idle_timeout, false},
    {"read_timeout", &Config::read_timeout, false},
    {"write_timeout", &Config::write_timeout, false},
    {"shutdown_grace", &Config::shutdown_grace, true},
    {"connect_timeout", &Config::connect_timeout, false},
    {"first_byte_timeout", &Config::first_byte_timeout, false},
    {"stall_timeout", &Config::stall_timeout, false},
    {"miss_deadline", &Config::miss_deadline, false},
    {"negative_cache_ttl", &Config::negative_cache_ttl, true},
};

std::string normalise_base_path(std::string_view key, std::string_view text,
                                const std::string& source) {
  std::string path(text);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path == "/" || path.empty()) return {};
  if (path.front() != '/') fail(key, "must start with '/', got " + quote_text(text), source);
  if (path.find("//") != std::string::npos) {
    fail(key, "must not contain an empty segment ('//'), got " + quote_text(text), source);
  }
  for (const char c : path) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("/-._~").find(c) != std::string_view::npos;
    if (!ok) {
      fail(key, "may hold only letters, digits and -._~ between slashes, got " + quote_text(text),
           source);
    }
  }
  if (path.find("/./") != std::string::npos || path.find("/../") != std::string::npos ||
      path.ends_with("/.") || path.ends_with("/..")) {
    fail(key, "must not contain '.' or '..' segments, got " + quote_text(text), source);
  }
  return path;
}

void apply(Config& c, const Key& key, const Raw& raw) {
  const std::string_view name = key.name;
  switch (key.kind) {
    case Kind::listen: {
      const std::string& text = need_text(name, raw);
      const auto addr = parse_listen_address(text);
      if (!addr) fail(name, "expected HOST:PORT, got " + quote_text(text), raw.source);
      c.listen = *addr;
      return;
    }
    case Kind::path: {
      const std::string& text = need_text(name, raw);
      if (text.empty()) fail(name, "must not be empty", raw.source);
      (name == "data_dir" ? c.data_dir : c.spool_dir) = text;
      return;
    }
    case Kind::file:  // ca_file
      c.ca_file = need_text(name, raw);
      return;
    case Kind::boolean: {
      std::optional<bool> b;
      if (const auto* v = std::get_if<bool>(&raw.value)) {
        b = *v;
      } else if (const auto* s = std::get_if<std::string>(&raw.value)) {
        b = parse_bool(*s);
      }
      if (!b) fail(name, "expected true or false, got " + describe(raw), raw.source);
      (name == "offline"                   ? c.offline
       : name == "allow_private_upstreams" ? c.allow_private_upstreams
                                           : c.no_default_upstreams) = *b;
      return;
    }
    case Kind::url_list: {  // mirrors, ipfs_gateways
      std::vector<std::string> items;
      if (const auto* list = std::get_if<std::vector<std::string>>(&raw.value)) {
        items = *list;
      } else if (const auto* s = std::get_if<std::string>(&raw.value)) {
        items = split_list(*s);
      } else {
        fail(name, "expected a list of URLs, got " + describe(raw), raw.source);
      }
      std::vector<std::string>& list = name == "mirrors" ? c.mirrors : c.ipfs_gateways;
      list.clear();
      list.reserve(items.size());
      for (const std::string& item : items) {
        list.push_back(normalise_mirror(name, item, raw.source));
      }
      return;
    }
    case Kind::count: {
      std::optional<std::uint64_t> n;
      if (const auto* i = std::get_if<std::int64_t>(&raw.value)) {
        if (*i >= 0) n = static_cast<std::uint64_t>(*i);
      } else if (const auto* s = std::get_if<std::string>(&raw.value)) {
        n = parse_digits(trim(*s));
      }
      if (!n) fail(name, "expected a whole number, got " + describe(raw), raw.source);
      if (name == "threads") {
        if (*n < 1 || *n > 1024) {
          fail(name, "must be between 1 and 1024, got " + std::to_string(*n), raw.source);
        }
        c.threads = static_cast<unsigned>(*n);
      } else {
        if (*n < 1 || *n > 1'000'000) {
          fail(name, "must be between 1 and 1000000, got " + std::to_string(*n), raw.source);
        }
        c.max_connections = static_cast<std::size_t>(*n);
      }
      return;
    }
    case Kind::text: {
      const std::string& text = need_text(name, raw);
      if (name == "base_path") {
        c.base_path = normalise_base_path(name, text, raw.source);
      } else {  // admin_token: it must fit in an Authorization header
        for (const char ch : text) {
          const auto u = static_cast<unsigned char>(ch);
          if (u <= 0x20 || u == 0x7f) {
            fail(name, "must not contain spaces or control characters", raw.source);
          }
        }
        c.admin_token = text;
      }
      return;
    }
    case Kind::size: {
      std::optional<std::uint64_t> n;
      if (const auto* i = std::get_if<std::int64_t>(&raw.value)) {
        if (*i >= 0) n = static_cast<std::uint64_t>(*i);
      } else if (const auto* s = std::get_if<std::string>(&raw.value)) {
        n = parse_size(*s);
      }
      if (!n) {
        fail(name, "expected a size such as 16KiB or 10GB, got " + describe(raw), raw.source);
      }
      if (name == "max_header_bytes") {
        if (*n < 1024 || *n > 1024 * 1024) {
          fail(name, "must be between 1KiB and 1MiB, got " + std::to_string(*n), raw.source);
        }
        c.max_header_bytes = static_cast<std::size_t>(*n);
      } else if (name == "access_log_buffer") {
        if (*n > 16 * 1024 * 1024) {
          fail(name, "must be at most 16MiB, got " + std::to_string(*n), raw.source);
        }
        c.access_log_buffer = *n;
      } else if (name == "hit_cache_size") {
        c.hit_cache_size = *n;
      } else {
        c.max_size = *n;
      }
      return;
    }
    case Kind::duration: {
      std::optional<milliseconds> d;
      if (const auto* i = std::get_if<std::int64_t>(&raw.value)) {
        if (*i >= 0 && *i <= 1'000'000'000) d = std::chrono::seconds(*i);
      } else if (const auto* s = std::get_if<std::string>(&raw.value)) {
        d = parse_duration(*s);
      }
      if (!d) {
        fail(name, "expected a duration such as 30s or 500ms, got " + describe(raw), raw.source);
      }
      const auto* duration = std::find_if(std::begin(kDurations), std::end(kDurations),
                                          [&](const DurationKey& k) { return k.name == name; });
      if (!duration->zero_allowed && d->count() == 0) {
        fail(name, "must be more than 0", raw.source);
      }
      c.*(duration->field) = *d;
      return;
    }
    case Kind::log_format: {
      const std::string& text = need_text(name, raw);
      if (text == "text") {
        c.log_format = LogFormat::text;
      } else if (text == "json") {
        c.log_format = LogFormat::json;
      } else {
        fail(name, "expected text or json, got " + quote_text(text), raw.source);
      }
      return;
    }
    case Kind::access_log: {
      const std::string& text = need_text(name, raw);
      if (text == "stderr") {
        c.access_log = true;
      } else if (text == "off") {
        c.access_log = false;
      } else {
        fail(name, "expected stderr or off, got " + quote_text(text), raw.source);
      }
      return;
    }
  }
}

std::string read_file(const std::filesystem::path& path, const std::string& source) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("config", "cannot read " + quote_text(path.string()) + ": " + std::strerror(errno),
         source);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail("config", "cannot read " + quote_text(path.string()), source);
  return std::move(text).str();
}

// [mirror_sites]: a table of arrays of strings.
void apply_mirror_sites(Config& c, const toml::node& node, const std::string& name) {
  const auto* sites = node.as_table();
  if (sites == nullptr) fail("mirror_sites", "expected a table of site = [URLs]", name);
  c.mirror_sites.clear();
  for (const auto& [site, value] : *sites) {
    const std::string key = "mirror_sites." + std::string(site.str());
    const auto* array = value.as_array();
    if (array == nullptr) fail(key, "expected an array of URL strings", name);
    std::vector<std::string> urls;
    for (const auto& element : *array) {
      const auto* url = element.as_string();
      if (url == nullptr) fail(key, "expected an array of URL strings", name);
      urls.push_back(url->get());
    }
    c.mirror_sites[std::string(site.str())] = std::move(urls);
  }
}

void apply_file(Config& c, const std::string& text, const std::string& name) {
  toml::table table;
  try {
    table = toml::parse(text, std::string_view(name));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError("config", "config: " + name + ":" + std::to_string(where.line) + ":" +
                                    std::to_string(where.column) + ": " +
                                    std::string(e.description()));
  }
  for (const auto& [k, node] : table) {
    const std::string_view key_name = k.str();
    if (key_name == "mirror_sites") {
      apply_mirror_sites(c, node, name);
      continue;
    }
    const Key* key = find_key(key_name);
    if (key == nullptr) fail(key_name, "unknown key", name);
    Raw raw{std::string{}, name};
    if (const auto* s = node.as_string()) {
      raw.value = s->get();
    } else if (const auto* i = node.as_integer()) {
      raw.value = i->get();
    } else if (const auto* b = node.as_boolean()) {
      raw.value = b->get();
    } else if (const auto* array = node.as_array()) {
      std::vector<std::string> items;
      items.reserve(array->size());
      for (const auto& element : *array) {
        const auto* s = element.as_string();
        if (s == nullptr) {
          std::ostringstream type;
          type << element.type();
          fail(key_name, "expected an array of strings, got an array holding a TOML " + type.str(),
               name);
        }
        items.push_back(s->get());
      }
      raw.value = std::move(items);
    } else {
      std::ostringstream type;
      type << node.type();
      fail(key_name,
           "expected a string, an integer, a boolean or an array, got a TOML " + type.str(), name);
    }
    apply(c, *key, raw);
  }
}

std::string duration_text(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string ListenAddress::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress addr;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    if (close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    addr.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    for (const char c : addr.host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == ':' || c == '.' || c == '%';
      if (!ok) return std::nullopt;
    }
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
    for (const char c : host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_';
      if (!ok) return std::nullopt;
    }
    if (!host.empty()) addr.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  const auto port = parse_digits(port_text);
  if (!port || port_text.size() > 5 || *port > 65535) return std::nullopt;
  addr.port = static_cast<std::uint16_t>(*port);
  return addr;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  const auto parsed = number_and_unit(text);
  if (!parsed) return std::nullopt;
  const auto& [n, unit] = *parsed;
  std::uint64_t scale = 0;
  constexpr std::uint64_t k = 1000, ki = 1024;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "kb") {
    scale = k;
  } else if (unit == "mb") {
    scale = k * k;
  } else if (unit == "gb") {
    scale = k * k * k;
  } else if (unit == "tb") {
    scale = k * k * k * k;
  } else if (unit == "k" || unit == "kib") {
    scale = ki;
  } else if (unit == "m" || unit == "mib") {
    scale = ki * ki;
  } else if (unit == "g" || unit == "gib") {
    scale = ki * ki * ki;
  } else if (unit == "t" || unit == "tib") {
    scale = ki * ki * ki * ki;
  } else {
    return std::nullopt;
  }
  if (n > std::numeric_limits<std::uint64_t>::max() / scale) return std::nullopt;
  return n * scale;
}

std::optional<milliseconds> parse_duration(std::string_view text) {
  const auto parsed = number_and_unit(text);
  if (!parsed) return std::nullopt;
  const auto& [n, unit] = *parsed;
  std::uint64_t ms_per_unit = 0;
  if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "m") {
    ms_per_unit = 60'000;
  } else if (unit == "h") {
    ms_per_unit = 3'600'000;
  } else {
    return std::nullopt;
  }
  constexpr std::uint64_t kMaxMs = 1'000'000'000'000;  // ~31 years
  if (n > kMaxMs / ms_per_unit) return std::nullopt;
  return milliseconds(static_cast<milliseconds::rep>(n * ms_per_unit));
}

Config default_config(const ConfigSources& sources) {
  const auto env = [&](const char* name) -> std::optional<std::string> {
    const auto it = sources.env.find(name);
    if (it == sources.env.end()) return std::nullopt;
    return it->second;
  };
  Config c;
  c.data_dir = default_data_dir(
      PathEnvironment{env("SRCGATE_DATA_DIR"), env("XDG_DATA_HOME"), env("HOME"), sources.root});
  c.threads = sources.hardware_threads != 0 ? sources.hardware_threads
                                            : std::max(1u, std::thread::hardware_concurrency());
  c.threads = std::min(c.threads, 1024u);
  c.spool_dir = c.data_dir / "spool";
  return c;
}

Config load_config(const ConfigSources& sources) {
  Config c = default_config(sources);
  c.spool_dir.clear();  // the default follows the final data_dir
  const auto env_value = [&](const std::string& name) -> const std::string* {
    const auto it = sources.env.find(name);
    return it == sources.env.end() || it->second.empty() ? nullptr : &it->second;
  };

  // The file: --config, else SRCGATE_CONFIG.
  std::optional<std::filesystem::path> file;
  std::string file_source;
  if (const auto it = sources.flags.find("config"); it != sources.flags.end()) {
    file = it->second;
    file_source = "--config";
  } else if (const std::string* v = env_value("SRCGATE_CONFIG")) {
    file = *v;
    file_source = "SRCGATE_CONFIG";
  }
  if (file && file->empty()) fail("config", "must not be empty", file_source);
  if (sources.file_text) {
    apply_file(c, *sources.file_text, file ? file->string() : "<inline>");
    c.config_file = file;
  } else if (file) {
    apply_file(c, read_file(*file, file_source), file->string());
    c.config_file = file;
  }

  for (const Key& key : kKeys) {
    const std::string name = env_name(key.name);
    if (const std::string* v = env_value(name)) apply(c, key, Raw{*v, name});
  }
  for (const auto& [name, value] : sources.flags) {
    if (name == "config") continue;
    const Key* key = find_key(name);
    if (key == nullptr) fail(name, "unknown setting", flag_name(name));
    apply(c, *key, Raw{value, flag_name(name)});
  }
  if (c.spool_dir.empty()) c.spool_dir = c.data_dir / "spool";
  return c;
}

namespace {

// `configured` without duplicates, then `fallback` unless no_default_upstreams
// (or listed); none when offline.
std::vector<std::string> effective_list(const Config& c, const std::vector<std::string>& configured,
                                        std::string_view fallback) {
  std::vector<std::string> out;
  if (c.offline) return out;
  out.reserve(configured.size() + 1);
  for (const std::string& m : configured) {
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  if (!c.no_default_upstreams && std::find(out.begin(), out.end(), fallback) == out.end()) {
    out.emplace_back(fallback);
  }
  return out;
}

}  // namespace

std::vector<std::string> effective_mirrors(const Config& c) {
  return effective_list(c, c.mirrors, kDefaultUpstream);
}

std::vector<std::string> effective_ipfs_gateways(const Config& c) {
  return effective_list(c, c.ipfs_gateways, kDefaultIpfsGateway);
}

std::map<std::string, std::string> environment_map() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

std::string to_toml(const Config& c) {
  std::string out;
  out += "listen = " + toml_string(c.listen.to_string()) + "\n";
  out += "data_dir = " + toml_string(c.data_dir.string()) + "\n";
  out += "threads = " + std::to_string(c.threads) + "\n";
  out += "base_path = " + toml_string(c.base_path) + "\n";
  out += "max_connections = " + std::to_string(c.max_connections) + "\n";
  out += "max_header_bytes = " + std::to_string(c.max_header_bytes) + "\n";
  out += "idle_timeout = \"" + duration_text(c.idle_timeout) + "\"\n";
  out += "read_timeout = \"" + duration_text(c.read_timeout) + "\"\n";
  out += "write_timeout = \"" + duration_text(c.write_timeout) + "\"\n";
  out += "shutdown_grace = \"" + duration_text(c.shutdown_grace) + "\"\n";
  out += std::string("admin_token = \"") + (c.admin_token.empty() ? "" : "<set>") + "\"\n";
  out += "max_size = " + std::to_string(c.max_size) + "\n";
  out +=
      std::string("log_format = \"") + (c.log_format == LogFormat::json ? "json" : "text") + "\"\n";
  out += std::string("access_log = \"") + (c.access_log ? "stderr" : "off") + "\"\n";
  out += "access_log_buffer = " + std::to_string(c.access_log_buffer) + "\n";
  out += "hit_cache_size = " + std::to_string(c.hit_cache_size) + "\n";
  out += "mirrors = [";
  for (std::size_t i = 0; i < c.mirrors.size(); ++i) {
    out += (i == 0 ? "" : ", ") + toml_string(c.mirrors[i]);
  }
  out += "]\n";
  out +=
      std::string("no_default_upstreams = ") + (c.no_default_upstreams ? "true" : "false") + "\n";
  out += std::string("offline = ") + (c.offline ? "true" : "false") + "\n";
  out += std::string("allow_private_upstreams = ") +
         (c.allow_private_upstreams ? "true" : "false") + "\n";
  out += "ipfs_gateways = [";
  for (std::size_t i = 0; i < c.ipfs_gateways.size(); ++i) {
    out += (i == 0 ? "" : ", ") + toml_string(c.ipfs_gateways[i]);
  }
  out += "]\n";
  out += "ca_file = " + toml_string(c.ca_file.string()) + "\n";
  out += "connect_timeout = \"" + duration_text(c.connect_timeout) + "\"\n";
  out += "first_byte_timeout = \"" + duration_text(c.first_byte_timeout) + "\"\n";
  out += "stall_timeout = \"" + duration_text(c.stall_timeout) + "\"\n";
  out += "miss_deadline = \"" + duration_text(c.miss_deadline) + "\"\n";
  out += "negative_cache_ttl = \"" + duration_text(c.negative_cache_ttl) + "\"\n";
  out += "spool_dir = " + toml_string(c.spool_dir.string()) + "\n";
  if (!c.mirror_sites.empty()) {
    out += "\n[mirror_sites]\n";
    for (const auto& [site, urls] : c.mirror_sites) {
      out += toml_string(site) + " = [";
      for (std::size_t i = 0; i < urls.size(); ++i)
        out += (i == 0 ? "" : ", ") + toml_string(urls[i]);
      out += "]\n";
    }
  }
  return out;
}

}  // namespace srcgate::config
