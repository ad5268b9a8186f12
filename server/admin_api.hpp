// The admin API under /api/v1/ (issue 4 item 5), refused without the
// configured bearer token (401; 403 when no token is configured):
//   GET    /api/v1/stats               the store's counts and sizes (JSON)
//   POST   /api/v1/pins/<cid|hash>     pin a stored file (JSON)
//   DELETE /api/v1/pins/<cid|hash>     unpin it
//   PUT    /api/v1/files[?name=N]      store the request body as a file; answers
//                                      the `srcgate hash` JSON line
//   PUT    /api/v1/car                 verify and store a CAR's blocks; one JSON
//                                      object per root, as `srcgate import-car`
//   PUT    /api/v1/sources             index a find-tarballs JSON (source_list.hpp)
//                                      with `mirrors`; answers the summary object
//                                      of `srcgate sources import` with its
//                                      "problems" (400 when the body is not a JSON
//                                      array, 413 above 128 MiB)
//   GET    /api/v1/sources             the source index as find-tarballs JSON, one
//                                      element per hash in the store's key order:
//                                      [{"hash":"<hex>","type":"sha256","urls":[...]}]
//                                      (what PUT accepts; `srcgate prefetch --server`
//                                      lists the hashes to fetch with it)
// A hash is "algo:<hash>", SRI "algo-<base64>" or bare hex (its length names
// md5, sha1, sha256 or sha512); it must be in the name index.
// Thread-safety: immutable after construction; handle() is safe from any
// thread, as the store is.
#pragma once

#include <string>

#include "content/importer.hpp"
#include "server/handler.hpp"
#include "server/mirror_table.hpp"
#include "server/router.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

struct AdminOptions {
  std::string token;  // "" disables the API
  content::ImportProfile profile = content::ImportProfile::v1_2025;
  // Expands the mirror:// URLs of PUT /api/v1/sources.
  MirrorTable mirrors = MirrorTable::nixpkgs_defaults();
};

class AdminApi {
 public:
  AdminApi(storage::BlockStore& store, AdminOptions options)
      : store_(store), options_(std::move(options)) {}
  Awaitable<Response> handle(const Request& request, const ApiRequest& api) const;

 private:
  Response stats() const;
  Response pin(const Request& request, std::string_view target) const;
  Awaitable<Response> put_file(const Request& request, const ApiRequest& api) const;
  Awaitable<Response> put_car(const Request& request) const;
  Awaitable<Response> put_sources(const Request& request) const;
  Response get_sources() const;

  storage::BlockStore& store_;
  AdminOptions options_;
};

}  // namespace srcgate::server
