// FileBody: the BodySource of a hit, bytes [begin, end) of a UnixFS file (or a
// single block) streamed from the store one block's slice per next(), never
// the whole file in memory (a content::FileCursor keeps one block per tree
// level). BlockBody: the bytes of one block already in memory (raw blocks,
// dag-cbor/json documents, symlink targets).
//
// The cursor opens lazily, on the first next(), so that HEAD and 304 answers
// and the headers of a GET cost no block read beyond what the handler did;
// prime() opens it and pulls the first piece early when the handler needs the
// first bytes (content-type sniffing) or wants errors before the status line.
// Thread-safety: one session at a time (BodySource contract); the store must
// outlive the body.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "content/cid.hpp"
#include "content/unixfs_reader.hpp"
#include "server/handler.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

class FileBody final : public BodySource {
 public:
  // REQUIRES: begin <= end <= the file's size (the handler evaluated the Range
  // against it); the body then produces exactly end - begin bytes.
  FileBody(storage::BlockStore& store, content::Cid root, std::uint64_t begin, std::uint64_t end);

  // Opens the cursor now and reads the first piece, which next() returns
  // first. The view stays valid until next() has returned it and been called
  // again.
  content::Result<content::ByteView> prime();

  Awaitable<content::Result<content::ByteView>> next() override;

 private:
  content::Result<content::ByteView> pull();

  storage::StoreBlockSource source_;
  content::Cid root_;
  std::uint64_t begin_;
  std::uint64_t end_;
  std::optional<content::FileCursor> cursor_;
  std::optional<content::ByteView> primed_;
  std::uint64_t produced_ = 0;
};

class BlockBody final : public BodySource {
 public:
  // Sends bytes [begin, end) of `block`.
  BlockBody(content::Bytes block, std::size_t begin, std::size_t end)
      : block_(std::move(block)), begin_(begin), end_(end) {}
  Awaitable<content::Result<content::ByteView>> next() override;

 private:
  content::Bytes block_;
  std::size_t begin_;
  std::size_t end_;
  bool done_ = false;
};

// Completes `response` (status 200, representation headers already added)
// for a representation of `size` bytes named by `etag` (the full header
// value): 304 without body when If-None-Match matches; when `ranges` is true,
// Accept-Ranges: bytes and a single Range honoured (206 with Content-Range, or
// 416 with "bytes */size"), unless If-Range names another entity; otherwise
// 200 with the whole representation. `body(begin, end)` makes the stream of
// bytes [begin, end); it is not called for empty bodies or 304/416.
using BodyFactory = std::function<std::unique_ptr<BodySource>(std::uint64_t, std::uint64_t)>;
void serve_bytes(Response& response, const Request& request, std::string_view etag,
                 std::uint64_t size, bool ranges, const BodyFactory& body);

}  // namespace srcgate::server
