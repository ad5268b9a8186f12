#include "server/ipfs_handler.hpp"

#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "content/unixfs_reader.hpp"
#include "server/car_response.hpp"
#include "server/dir_listing.hpp"
#include "server/file_body.hpp"
#include "server/http_policy.hpp"
#include "server/media_type.hpp"

namespace srcgate::server {

using content::Cid;
using content::Codec;

namespace {

constexpr std::uint64_t code(Codec c) { return static_cast<std::uint64_t>(c); }

std::string codec_hex(std::uint64_t codec) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, codec, 16);
  return "0x" + std::string(buf, r.ptr);
}

// The format whose codec a block has, for the formats that serve blocks as is.
std::optional<ResponseFormat> format_of_codec(std::uint64_t codec) {
  if (codec == code(Codec::dag_json)) return ResponseFormat::dag_json;
  if (codec == code(Codec::dag_cbor)) return ResponseFormat::dag_cbor;
  if (codec == code(Codec::json)) return ResponseFormat::json;
  if (codec == code(Codec::cbor)) return ResponseFormat::cbor;
  return std::nullopt;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// Everything the responses of one request share.
struct Context {
  const Request& request;
  const IpfsRequest& ipfs;
  std::string content_path;
  bool only_if_cached = false;
};

Response precondition_failed() {
  Response r;
  r.status = 412;
  r.cache = CacheStatus::miss;
  return r;
}

// The answer to a failed store or DAG read before any byte was sent.
Response read_failure(const Context& ctx, const content::Error& e) {
  switch (e.code) {
    case content::Errc::not_found: {
      if (ctx.only_if_cached) return precondition_failed();
      Response r = Response::text(404, e.message);
      r.cache = CacheStatus::miss;
      return r;
    }
    case content::Errc::unsupported:
      return Response::text(501, e.message);
    default:
      return Response::text(500, e.message);
  }
}

void add_path_headers(Response& r, const Context& ctx, const std::vector<Cid>& roots) {
  r.header("X-Ipfs-Path", ctx.content_path);
  std::string joined;
  for (const Cid& c : roots) {
    if (!joined.empty()) joined += ',';
    joined += c.to_string();
  }
  r.header("X-Ipfs-Roots", std::move(joined));
}

void add_content_location(Response& r, const Context& ctx, const Negotiation& n) {
  if (!n.from_accept || !n.format) return;
  r.header("Content-Location", std::string(path_of(ctx.request.target)) +
                                   "?format=" + std::string(format_name(*n.format)));
}

}  // namespace

std::string content_path_of(std::string_view target, std::string_view base_path) {
  std::string_view path = path_of(target);
  const std::size_t first = path.find_first_not_of('/');
  path = first == std::string_view::npos ? std::string_view("/") : path.substr(first - 1);
  if (!base_path.empty() && path.starts_with(base_path) &&
      (path.size() == base_path.size() || path[base_path.size()] == '/')) {
    path.remove_prefix(base_path.size());
    const std::size_t again = path.find_first_not_of('/');
    path = again == std::string_view::npos ? std::string_view("/") : path.substr(again - 1);
  }
  return std::string(path);
}

Response IpfsHandler::serve(const Request& request, const IpfsRequest& ipfs,
                            std::shared_ptr<const BlockFill> fill) const {
  const Negotiation n = negotiate_format(ipfs.query, request.header("Accept"));
  if (!n.error.empty()) return Response::text(400, n.error);
  Context ctx{request, ipfs, content_path_of(request.target, base_path_),
              has_only_if_cached(request.header("Cache-Control"))};

  if (request.header("Service-Worker") == "script" && ipfs.path.empty() && !ipfs.trailing_slash) {
    return Response::text(400, "a service worker cannot be registered on an /ipfs/ root");
  }

  if (!ipfs.cid.is_identity()) {
    auto has = store_.has_block(ipfs.cid);
    if (!has) return Response::text(500, "storage: " + has.error().message);
    if (!*has) {
      return read_failure(ctx, content::make_error(content::Errc::not_found,
                                                   ipfs.cid.to_string() + " is not in the store"));
    }
  }

  storage::StoreBlockSource source(store_);
  content::UnixfsReader reader(source);
  auto resolved = reader.resolve(ipfs.cid, ipfs.path);
  if (!resolved) return read_failure(ctx, resolved.error());
  store_.touch(ipfs.cid);
  const Cid& cid = resolved->cid;
  const std::string cid_text = cid.to_string();

  Response r;
  r.cache = CacheStatus::hit;
  add_path_headers(r, ctx, resolved->roots);
  add_content_location(r, ctx, n);

  // ---- explicit formats -------------------------------------------------------
  if (n.format == ResponseFormat::raw) {
    auto block = store_.get_block(cid);
    if (!block) return Response::text(500, "storage: " + block.error().message);
    if (!*block) {
      return read_failure(ctx, content::make_error(content::Errc::not_found,
                                                   "block " + cid_text + " is not in the store"));
    }
    const std::uint64_t size = (*block)->size();
    r.header("Content-Type", std::string(format_media_type(ResponseFormat::raw)));
    r.header("Content-Disposition",
             content_disposition(true, ipfs.query.filename.value_or(cid_text + ".bin")));
    r.header("X-Content-Type-Options", "nosniff");
    r.header("Cache-Control", std::string(kImmutableCacheControl));
    auto bytes = std::make_shared<content::Bytes>(std::move(**block));
    serve_bytes(r, request, make_etag(cid_text + ".raw"), size, true,
                [&](std::uint64_t begin, std::uint64_t end) -> std::unique_ptr<BodySource> {
                  return std::make_unique<BlockBody>(std::move(*bytes), begin, end);
                });
    return r;
  }

  if (n.format == ResponseFormat::car) {
    CarPlan plan{cid, resolved->visited, ipfs.query.dag_scope.value_or(DagScope::all), std::nullopt,
                 n.car_dups};
    if (ipfs.query.entity_bytes) {
      plan.scope = DagScope::entity;
      auto info = reader.stat(cid);
      if (!info) return read_failure(ctx, info.error());
      if (info->kind == content::EntryKind::file || info->kind == content::EntryKind::raw_block) {
        plan.entity_range = resolve_entity_bytes(*ipfs.query.entity_bytes, info->size);
        if (!plan.entity_range && info->size > 0) {
          return Response::text(400, "entity-bytes selects no byte of " + cid_text +
                                         ", a file of " + std::to_string(info->size) + " bytes");
        }
      }
    } else if (!cid.is_identity()) {
      // The terminal block must be here before a 200 goes out.
      auto has = store_.has_block(cid);
      if (!has) return Response::text(500, "storage: " + has.error().message);
      if (!*has) {
        return read_failure(ctx, content::make_error(content::Errc::not_found,
                                                     "block " + cid_text + " is not in the store"));
      }
    }
    const std::string etag = car_etag(cid, ctx.content_path, plan, n.car_order);
    r.header("Etag", etag);
    r.header("Content-Type", car_content_type(CarOrder::dfs, plan.dups));
    r.header("Content-Disposition",
             content_disposition(true, ipfs.query.filename.value_or(cid_text + ".car")));
    r.header("X-Content-Type-Options", "nosniff");
    r.header("Accept-Ranges", "none");
    r.header("Cache-Control", std::string(kImmutableCacheControl));
    if (if_none_match(request.header("If-None-Match"), etag)) {
      r.status = 304;
      return r;
    }
    r.stream = std::make_unique<CarBody>(store_, std::move(plan));
    return r;
  }

  const std::optional<ResponseFormat> block_format = format_of_codec(cid.codec());
  const bool unixfs_codec = cid.codec() == code(Codec::dag_pb) || cid.codec() == code(Codec::raw);
  if (n.format == ResponseFormat::tar && unixfs_codec) {
    return Response::text(501, "format=tar is not implemented by this gateway; use ?format=car");
  }
  if (n.format) {
    if (!block_format || *block_format != *n.format) {
      return Response::text(406, "cannot serve " + cid_text + " (codec " + codec_hex(cid.codec()) +
                                     ") as " + std::string(format_name(*n.format)) +
                                     ": the gateway converts no codec; use ?format=raw or "
                                     "?format=car");
    }
  }

  // ---- blocks served as they are (dag-json, dag-cbor, json, cbor) --------------
  if (block_format) {
    auto block = store_.get_block(cid);
    if (!block) return Response::text(500, "storage: " + block.error().message);
    if (!*block) {
      return read_failure(ctx, content::make_error(content::Errc::not_found,
                                                   "block " + cid_text + " is not in the store"));
    }
    const std::uint64_t size = (*block)->size();
    r.header("Content-Type", std::string(format_media_type(*block_format)));
    r.header("Cache-Control", std::string(kImmutableCacheControl));
    if (ipfs.query.filename || ipfs.query.download) {
      r.header("Content-Disposition",
               content_disposition(ipfs.query.download, ipfs.query.filename.value_or("")));
    }
    const std::string etag = n.format
                                 ? make_etag(cid_text + "." + std::string(format_name(*n.format)))
                                 : make_etag(cid_text);
    auto bytes = std::make_shared<content::Bytes>(std::move(**block));
    serve_bytes(r, request, etag, size, true,
                [&](std::uint64_t begin, std::uint64_t end) -> std::unique_ptr<BodySource> {
                  return std::make_unique<BlockBody>(std::move(*bytes), begin, end);
                });
    return r;
  }

  if (cid.codec() != code(Codec::dag_pb) && cid.codec() != code(Codec::raw)) {
    return Response::text(501, "no deserialized response for " + cid_text + " (codec " +
                                   codec_hex(cid.codec()) + "); use ?format=raw or ?format=car");
  }

  // ---- UnixFS -------------------------------------------------------------------
  auto info = reader.stat(cid);
  if (!info) return read_failure(ctx, info.error());

  // Serves file `file` of `size` bytes named `name` with entity tag `etag`.
  const auto serve_file = [&](const Cid& file, std::uint64_t size, std::string_view name,
                              const std::string& etag) -> Response {
    r.header("Cache-Control", std::string(kImmutableCacheControl));
    if (ipfs.query.download) {
      r.header("Content-Disposition", content_disposition(true, name));
    } else if (ipfs.query.filename) {
      r.header("Content-Disposition", content_disposition(false, name));
    }
    std::optional<std::string> type = media_type_from_name(name);
    std::optional<content::Error> failure;
    serve_bytes(r, request, etag, size, true,
                [&](std::uint64_t begin, std::uint64_t end) -> std::unique_ptr<BodySource> {
                  auto body = std::make_unique<FileBody>(store_, file, begin, end, fill);
                  if (type) return body;
                  // The first piece is read now: it shows a missing block before the
                  // status line, and when the body starts the file it gives the type.
                  auto first = body->prime();
                  if (!first) {
                    failure = first.error();
                  } else if (begin == 0) {
                    type = sniff_media_type(*first);
                  }
                  return body;
                });
    if (failure) return read_failure(ctx, *failure);
    if (!type && (r.status == 200 || r.status == 206)) {
      // The type of the whole file, from its first bytes, also for a range
      // that starts later; a missing first block must not fail the range.
      if (size == 0) {
        type = sniff_media_type({});
      } else {
        FileBody head(store_, file, 0, std::min<std::uint64_t>(size, 512));
        auto first = head.prime();
        type = first ? sniff_media_type(*first) : std::string("application/octet-stream");
      }
    }
    if (type) r.header("Content-Type", *type);
    return std::move(r);
  };

  const std::string_view last_segment =
      ipfs.path.empty() ? std::string_view() : std::string_view(ipfs.path.back());
  const std::string_view name =
      ipfs.query.filename ? std::string_view(*ipfs.query.filename) : last_segment;

  switch (info->kind) {
    case content::EntryKind::file:
    case content::EntryKind::raw_block:
      return serve_file(cid, info->size, name, make_etag(cid_text));

    case content::EntryKind::symlink: {
      auto target = reader.symlink_target(cid);
      if (!target) return read_failure(ctx, target.error());
      r.header("Content-Type", "text/plain; charset=utf-8");
      r.header("Cache-Control", std::string(kImmutableCacheControl));
      auto bytes = std::make_shared<content::Bytes>(target->begin(), target->end());
      serve_bytes(r, request, make_etag(cid_text), bytes->size(), true,
                  [&](std::uint64_t begin, std::uint64_t end) -> std::unique_ptr<BodySource> {
                    return std::make_unique<BlockBody>(std::move(*bytes), begin, end);
                  });
      return r;
    }

    case content::EntryKind::directory: {
      if (!ipfs.trailing_slash) {
        const std::string_view target = request.target;
        const std::size_t q = target.find('?');
        std::string location(target.substr(0, q));
        location += '/';
        if (q != std::string_view::npos) location += target.substr(q);
        Response moved = Response::text(301, "moved to " + location);
        moved.header("Location", std::move(location));
        add_path_headers(moved, ctx, resolved->roots);
        moved.cache = CacheStatus::hit;
        return moved;
      }
      auto index = reader.resolve(cid, {"index.html"});
      if (index) {
        auto index_info = reader.stat(index->cid);
        if (!index_info) return read_failure(ctx, index_info.error());
        if (index_info->kind == content::EntryKind::file ||
            index_info->kind == content::EntryKind::raw_block) {
          return serve_file(index->cid, index_info->size, "index.html", make_etag(cid_text));
        }
      } else if (index.error().code != content::Errc::not_found) {
        return read_failure(ctx, index.error());
      }
      auto entries = reader.list(cid);
      if (!entries) return read_failure(ctx, entries.error());
      // No Cache-Control: the conformance suite accepts none on listings (ipfs-gateway.md §1.4),
      // and a listing's HTML may change with the next srcgate version.
      const std::string etag = dir_listing_etag(cid);
      r.header("Etag", etag);
      r.header("Content-Type", "text/html; charset=utf-8");
      const std::string_view inm = request.header("If-None-Match");
      if (if_none_match(inm, etag) || if_none_match(inm, make_etag(cid_text))) {
        r.status = 304;
        return r;
      }
      r.body = render_dir_listing(ctx.content_path, cid, *entries, !ipfs.path.empty());
      return r;
    }

    case content::EntryKind::other:
      break;
  }
  return Response::text(501, cid_text +
                                 " is a dag-pb node that is not a UnixFS file, directory or "
                                 "symlink; use ?format=raw or ?format=car");
}

}  // namespace srcgate::server
