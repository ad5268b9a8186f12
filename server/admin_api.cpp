#include "server/admin_api.hpp"

// GCC 12 reports asio's awaitable-frame operator new/delete pair, once both
// are inlined into a coroutine's ramp, as mismatched (a false positive, GCC
// bug 109224); the pair is asio's own and matches.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <boost/json.hpp>
#include <cctype>

#include "content/encoding.hpp"
#include "content/nix_hash.hpp"
#include "server/cli_command.hpp"
#include "server/hash_command.hpp"
#include "server/source_list.hpp"
#include "server/sources_command.hpp"

namespace srcgate::server {
namespace {

Response json(unsigned status, const boost::json::value& v) {
  Response r;
  r.status = status;
  r.body = boost::json::serialize(v);
  r.body += '\n';
  r.header("Content-Type", "application/json");
  r.header("Cache-Control", "no-store");
  return r;
}

Response storage_failure(const storage::Error& e) {
  unsigned status = 500;
  switch (e.code) {
    case storage::Errc::not_found:
      status = 404;
      break;
    case storage::Errc::invalid_input:
      status = 400;
      break;
    case storage::Errc::no_space:
      status = 507;
      break;
    default:
      break;
  }
  return Response::text(status, e.message);
}

}  // namespace

Awaitable<Response> AdminApi::handle(const Request& request, const ApiRequest& api) const {
  if (auto refused = check_admin(request, options_.token)) co_return std::move(*refused);
  const std::string_view path = api.path;
  if (path == "stats") {
    if (request.method != Method::get && request.method != Method::head) {
      co_return std::move(Response::text(405, "method not allowed").header("Allow", "GET, HEAD"));
    }
    co_return stats();
  }
  if (path.starts_with("pins/") && path.size() > 5) {
    if (request.method != Method::post && request.method != Method::delete_) {
      co_return std::move(
          Response::text(405, "method not allowed").header("Allow", "POST, DELETE"));
    }
    auto decoded = percent_decode(path.substr(5));
    if (!decoded)
      co_return Response::text(400, "bad percent-escape in '" + std::string(path) + "'");
    co_return pin(request, *decoded);
  }
  if (path == "sources" && (request.method == Method::get || request.method == Method::head)) {
    co_return get_sources();
  }
  if (path == "files" || path == "car" || path == "sources") {
    if (request.method != Method::put) {
      if (path == "sources") {
        co_return std::move(
            Response::text(405, "method not allowed").header("Allow", "GET, HEAD, PUT"));
      }
      co_return std::move(Response::text(405, "method not allowed").header("Allow", "PUT"));
    }
    if (path == "files") co_return co_await put_file(request, api);
    if (path == "sources") co_return co_await put_sources(request);
    co_return co_await put_car(request);
  }
  co_return Response::text(404, "admin API: no endpoint /api/v1/" + std::string(path));
}

Response AdminApi::stats() const {
  auto st = store_.stats();
  if (!st) return storage_failure(st.error());
  boost::json::object obj;
  obj.emplace("store", store_.describe());
  obj.emplace("files", st->files);
  obj.emplace("blocks", st->blocks);
  obj.emplace("logical_bytes", st->logical_bytes);
  obj.emplace("disk_bytes", st->disk_bytes);
  obj.emplace("pinned_bytes", st->pinned_bytes);
  obj.emplace("max_size", st->max_size);
  return json(200, obj);
}

Response AdminApi::pin(const Request& request, std::string_view target) const {
  auto root = storage::resolve_root(store_, target);
  if (!root) return storage_failure(root.error());
  const bool pinning = request.method == Method::post;
  auto r = pinning ? store_.pin(*root) : store_.unpin(*root);
  if (!r) return storage_failure(r.error());
  boost::json::object obj;
  obj.emplace("root", root->to_string());
  obj.emplace("pinned", pinning);
  return json(200, obj);
}

namespace {

// The value of `key` in a raw query string ("a=1&b=2"), percent-decoded with
// '+' as space; nullopt when absent or badly escaped.
std::optional<std::string> query_value(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// Feeds the request body to `write` piece by piece. Returns the response to
// send on failure (400 for a broken upload, the storage error otherwise).
template <class Import>
Awaitable<std::optional<Response>> feed_body(const Request& request, Import& import) {
  if (request.body == nullptr) co_return std::nullopt;  // Content-Length: 0
  // Each read returns a piece or ends; the server bounds the body's size and
  // each read's duration, so the loop ends.
  for (;;) {
    auto piece = co_await request.body->read();
    if (!piece) co_return Response::text(400, "upload failed: " + piece.error().message);
    if (piece->empty()) co_return std::nullopt;
    if (auto w = import.write(*piece); !w) co_return storage_failure(w.error());
  }
}

}  // namespace

Awaitable<Response> AdminApi::put_file(const Request& request, const ApiRequest& api) const {
  const std::string name = query_value(api.query, "name").value_or("-");
  content::ImportProfile profile = options_.profile;
  if (auto p = query_value(api.query, "profile")) {
    auto named = content::ImportProfile::by_name(*p);
    if (!named) co_return Response::text(400, "unknown import profile '" + *p + "'");
    profile = *named;
  }
  auto import = store_.begin_import(profile);
  if (auto failed = co_await feed_body(request, *import)) {
    import->abort();
    co_return std::move(*failed);
  }
  auto summary = import->finish();
  if (!summary) {
    import->abort();
    co_return storage_failure(summary.error());
  }
  auto committed = import->commit();
  if (!committed) {
    import->abort();
    co_return storage_failure(committed.error());
  }
  Response r;
  r.status = 200;
  r.body = hash_json_line(name, committed->summary, profile.name);
  r.body += '\n';
  r.header("Content-Type", "application/json");
  r.header("Cache-Control", "no-store");
  co_return r;
}

Awaitable<Response> AdminApi::put_car(const Request& request) const {
  auto import = store_.begin_car_import();
  if (auto failed = co_await feed_body(request, *import)) {
    import->abort();
    co_return std::move(*failed);
  }
  auto committed = import->commit();
  if (!committed) {
    import->abort();
    co_return storage_failure(committed.error());
  }
  Response r;
  r.status = 200;
  for (const auto& root : committed->roots) {
    boost::json::object obj;
    obj.emplace("root", root.root.to_string());
    obj.emplace("present", root.present);
    obj.emplace("complete_file", root.complete_file);
    obj.emplace("blocks", root.block_count);
    if (root.complete_file && root.digests) {
      obj.emplace("size", root.size);
      obj.emplace("md5", content::to_hex(root.digests->md5));
      obj.emplace("sha1", content::to_hex(root.digests->sha1));
      obj.emplace("sha256", content::to_hex(root.digests->sha256));
      obj.emplace("sha512", content::to_hex(root.digests->sha512));
    }
    r.body += boost::json::serialize(obj);
    r.body += '\n';
  }
  r.header("Content-Type", "application/json");
  r.header("Cache-Control", "no-store");
  co_return r;
}

// The source list is parsed whole (it is JSON); this bounds the memory one
// upload can take.
constexpr std::size_t kMaxSourceListBytes = std::size_t{128} << 20;

Awaitable<Response> AdminApi::put_sources(const Request& request) const {
  std::string text;
  if (request.body != nullptr) {
    if (auto length = request.body->length()) {
      if (*length > kMaxSourceListBytes) {
        co_return Response::text(
            413, "source list larger than " + std::to_string(kMaxSourceListBytes) + " bytes");
      }
      text.reserve(static_cast<std::size_t>(*length));
    }
    // Each read returns a piece or ends; the size check bounds the loop.
    for (;;) {
      auto piece = co_await request.body->read();
      if (!piece) co_return Response::text(400, "upload failed: " + piece.error().message);
      if (piece->empty()) break;
      if (text.size() + piece->size() > kMaxSourceListBytes) {
        co_return Response::text(
            413, "source list larger than " + std::to_string(kMaxSourceListBytes) + " bytes");
      }
      text.append(reinterpret_cast<const char*>(piece->data()), piece->size());
    }
  }
  auto list = parse_source_list(text, options_.mirrors);
  if (!list) co_return Response::text(400, list.error().message + "; nothing indexed");
  SourceImportSummary summary = summarize(*list);
  if (auto indexed = index_sources(store_, *list, summary); !indexed) {
    storage::Error e = indexed.error();
    e.message =
        "stopped after " + std::to_string(summary.sources_added) + " new source(s): " + e.message;
    co_return storage_failure(e);
  }
  Response r;
  r.status = 200;
  r.body = summary_json(summary, {}, &list->problems);
  r.body += '\n';
  r.header("Content-Type", "application/json");
  r.header("Cache-Control", "no-store");
  co_return r;
}

Response AdminApi::get_sources() const {
  boost::json::array list;
  auto walked = store_.for_each_source(
      [&](const content::Digest& digest, const std::vector<std::string>& urls) {
        boost::json::array u;
        u.reserve(urls.size());
        for (const std::string& url : urls) u.emplace_back(to_valid_utf8(url));
        boost::json::object entry;
        entry.emplace("hash", content::to_hex(digest));
        entry.emplace("type", content::algo_name(digest.algo));
        entry.emplace("urls", std::move(u));
        list.emplace_back(std::move(entry));
        return true;
      });
  if (!walked) return storage_failure(walked.error());
  return json(200, list);
}

}  // namespace srcgate::server
