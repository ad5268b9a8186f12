// The Nix hashed-mirror routes on a hit (nix.md §1.3, issue 4 item 2):
// GET/HEAD /{md5,sha1,sha256,sha512}/<hash> and the SRI forms, answered from
// the store's name index. 200 with the file's bytes streamed block by block,
// Content-Length, Content-Type application/octet-stream, the strong ETag
// "<root cid>", Cache-Control public, max-age=29030400, immutable,
// Accept-Ranges: bytes with single ranges (206/416), If-None-Match (304) and
// X-Ipfs-Path /ipfs/<root cid>. An unknown hash is a fast 404 (Nix falls back
// at once); a store failure is 500.
// Thread-safety: a free function; as thread-safe as the store.
#pragma once

#include "server/handler.hpp"
#include "server/router.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

// REQUIRES: request.method is GET or HEAD.
Response serve_hash(storage::BlockStore& store, const Request& request, const HashRequest& hash);

}  // namespace srcgate::server
