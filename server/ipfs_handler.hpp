// The IPFS path and trustless gateway on a hit (ipfs-gateway.md §1, issue 4
// item 3): GET/HEAD /ipfs/<cid>[/<path>] answered from the store.
//
// Order of decisions: format negotiation (?format= wins over Accept; a bad
// CAR parameter is 400) -> root block present? (no: 412 with
// `Cache-Control: only-if-cached`, else 404) -> path resolution through plain
// and HAMT directories (a missing segment is 404 naming it) -> the response:
// - ?format=raw: the terminal block (Range honoured), Etag "<cid>.raw";
// - ?format=car: a CAR stream (car_response.hpp), weak Etag, Accept-Ranges: none;
// - ?format=dag-json|dag-cbor|json|cbor: the block as is when its codec is
//   that format, else 406 (no conversion, IPIP-0524); ipns-record and tar of
//   a non-UnixFS block: 406; tar of UnixFS: 501 (not implemented);
// - no format: a UnixFS file streamed with Range, a directory redirected to
//   its trailing-slash URL (301), then its index.html or a generated listing,
//   a symlink's target text (never followed); json/cbor/dag-json/dag-cbor
//   blocks as they are.
// Every answer carries X-Ipfs-Path (the requested path) and X-Ipfs-Roots (one
// CID per path segment); immutable answers carry
// Cache-Control: public, max-age=29030400, immutable; If-None-Match gives 304.
// serve() reads the store only. On a miss, when IPFS gateways are configured,
// GatewayHandler has first awaited IpfsFetcher::ensure() (ipfs_fetcher.hpp),
// which stores the verified blocks this answer needs (path, the Range's
// blocks, a listing's shards, a CAR's scope); what is still missing then is
// answered as above (412 / 404, or a CAR cut where the block is missing).
// When ensure() streams the file's bytes, serve() is given the fetch's
// BlockFill: the file's FileBody waits for the blocks still arriving (the
// headers and bytes are those of a hit; a fill that ends without a block
// makes the session cut the connection before its Content-Length).
// Thread-safety: const after construction; serve() is safe from any thread.
#pragma once

#include <memory>
#include <string>

#include "server/file_body.hpp"
#include "server/handler.hpp"
#include "server/router.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

class IpfsHandler {
 public:
  // `base_path` as in ServerOptions ("" or "/cache"): stripped from targets
  // to form X-Ipfs-Path.
  IpfsHandler(storage::BlockStore& store, std::string base_path)
      : store_(store), base_path_(std::move(base_path)) {}

  // REQUIRES: request.method is GET or HEAD. `fill`: the fetch still storing
  // the blocks of the file this request names (IpfsFetcher::Outcome::fill).
  Response serve(const Request& request, const IpfsRequest& ipfs,
                 std::shared_ptr<const BlockFill> fill = nullptr) const;

 private:
  storage::BlockStore& store_;
  std::string base_path_;
};

// The content path of a target: the path without query, without the base
// path, with runs of leading slashes collapsed ("//cache/ipfs/x/?a" with base
// "/cache" -> "/ipfs/x/"). Percent-escapes are kept as sent.
std::string content_path_of(std::string_view target, std::string_view base_path);

}  // namespace srcgate::server
