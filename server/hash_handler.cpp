#include "server/hash_handler.hpp"

#include <memory>
#include <string>

#include "content/encoding.hpp"
#include "content/nix_hash.hpp"
#include "server/file_body.hpp"
#include "server/http_policy.hpp"

namespace srcgate::server {

Response serve_hash(storage::BlockStore& store, const Request& request, const HashRequest& hash) {
  auto entry = store.lookup(hash.digest);
  if (!entry) return Response::text(500, "storage: " + entry.error().message);
  if (!*entry) {
    Response r = Response::text(404, std::string(content::algo_name(hash.digest.algo)) + ":" +
                                         content::to_hex(hash.digest) + " is not in the store");
    r.cache = CacheStatus::miss;
    return r;
  }
  const content::Cid root = (*entry)->root;
  const std::uint64_t size = (*entry)->size;
  store.touch(root);

  const std::string root_text = root.to_string();
  Response r;
  r.cache = CacheStatus::hit;
  r.header("Content-Type", "application/octet-stream");
  r.header("Cache-Control", std::string(kImmutableCacheControl));
  r.header("X-Ipfs-Path", "/ipfs/" + root_text);
  serve_bytes(r, request, make_etag(root_text), size, true,
              [&](std::uint64_t begin, std::uint64_t end) -> std::unique_ptr<BodySource> {
                return std::make_unique<FileBody>(store, root, begin, end);
              });
  return r;
}

}  // namespace srcgate::server
