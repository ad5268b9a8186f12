// FileBody: the BodySource of a hit (and of an /ipfs/ file whose fetch still
// runs, see below), bytes [begin, end) of a UnixFS file (or a single block)
// streamed from the store one block's slice per next(), never the whole file
// in memory (a content::FileCursor keeps one block per tree level).
// BlockBody: the bytes of one block already in memory (raw blocks,
// dag-cbor/json documents, symlink targets).
//
// The cursor opens lazily, on the first next(), so that HEAD and 304 answers
// and the headers of a GET cost no block read beyond what the handler did;
// prime() opens it and pulls the first piece early when the handler needs the
// first bytes (content-type sniffing) or wants errors before the status line.
//
// Memory bound: a FileBody streaming a file holds the leaf block it is
// sending (up to 1 MiB) plus the internal nodes on its cursor's path (about
// 240 KiB for a 1 GiB file), so without a bound 200 downloads of a 1 GiB
// file hold about 250 MiB (bench/gateway-rss.sh) and 4096 about 5 GiB. The leaf bytes of all
// FileBodies of the process are counted against one budget (FileBodyBudget):
// - before it reads a block, a body that holds no share queues for one, first
//   come first served, until the block fits;
// - at a block boundary, a body that holds a share passes it on (closing its
//   cursor, which it reopens at its position after its next wait) when others
//   wait and it has held the share for a quantum, or the first in the queue
//   has waited for one; otherwise it keeps the share and its cursor, so that
//   without contention the budget costs two uncontended mutex locks a block;
// - a body waits at most the patience (a holder whose client does not read
//   keeps its share for up to the server's write timeout) and then reads over
//   the budget, so the bound never stalls a download for longer than that;
// - prime() never waits: it reads over the budget when it must.
//
// Streaming a file that a fetch is still storing (IpfsFetcher's streamed file
// stage): a FileBody given a BlockFill does not fail on a missing block while
// the fill runs. It gives its budget share back, waits (2 ms, doubling up to
// 50 ms between looks) and reopens its cursor at the same position, so bytes
// go out as the fetch stores verified blocks. It fails (and the session cuts
// the connection before the Content-Length is reached) when the fill has
// ended and the block is still absent, or when no block it needs has arrived
// for the fill's patience. Every byte it sends was read from the store, so it
// is right even if the fetch that stored it is aborted later. The fill never
// refers to the body: the session may destroy the body at any time.
//
// Thread-safety: one session at a time (BodySource contract); the store must
// outlive the body. The budget functions and BlockFill are safe from any
// thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
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

// A fetch that stores the blocks of a file while bodies stream it (see
// above). Its owner sets `ended` once the fetch has stored all it will store
// (complete, failed or aborted).
struct BlockFill {
  explicit BlockFill(std::chrono::milliseconds p) : patience(p) {}
  std::atomic<bool> ended{false};
  // The longest a body waits for a missing block while the fill runs.
  const std::chrono::milliseconds patience;
  // While it runs, waiters look at the store again after first_look, each
  // interval twice the last, up to longest_look.
  static constexpr std::chrono::milliseconds first_look{2};
  static constexpr std::chrono::milliseconds longest_look{50};
  static std::chrono::milliseconds next_look(std::chrono::milliseconds look) {
    return std::min(look * 2, longest_look);
  }
};

class FileBody final : public BodySource {
 public:
  // REQUIRES: begin <= end <= the file's size (the handler evaluated the Range
  // against it); the body then produces exactly end - begin bytes. With a
  // `fill`, a missing block is waited for while the fill runs (see above).
  FileBody(storage::BlockStore& store, content::Cid root, std::uint64_t begin, std::uint64_t end,
           std::shared_ptr<const BlockFill> fill = nullptr);

  // Opens the cursor now and reads the first piece, which next() returns
  // first. The view stays valid until next() has returned it and been called
  // again.
  content::Result<content::ByteView> prime();

  Awaitable<content::Result<content::ByteView>> next() override;
  // Leaves that the store keeps in block files (and a root that is one) come
  // as file pieces, sent without a copy and without a share of the budget.
  Awaitable<content::Result<BodyPiece>> next_piece() override;

  // Spans of at least this many bytes of a raw block are sent from its file.
  static constexpr std::uint64_t kMinFileSpan = std::uint64_t{64} << 10;

  ~FileBody() override;
  FileBody(const FileBody&) = delete;
  FileBody& operator=(const FileBody&) = delete;

 private:
  Awaitable<content::Result<BodyPiece>> advance(bool files);
  content::Result<BodyPiece> pull(bool files);
  // The file piece for [offset, offset + length) of raw block `cid` (`size`
  // bytes by its parent, when known); nullopt when the store keeps the block
  // otherwise.
  content::Result<std::optional<BodyPiece>> file_piece(const content::Cid& cid,
                                                       std::optional<std::uint64_t> size,
                                                       std::uint64_t offset, std::uint64_t length);
  // The same from a raw leaf of `size` bytes, read whole when it is not in a
  // file.
  content::Result<BodyPiece> raw_span(const content::Cid& cid, std::uint64_t size,
                                      std::uint64_t offset, std::uint64_t length);
  // Gives the budget back, closing the cursor (the caller reopens it at
  // begin_ + produced_).
  void give_back();

  storage::BlockStore& store_;
  storage::StoreBlockSource source_;
  std::optional<storage::BlockFile> file_;  // the file of the last file piece
  content::Bytes leaf_;                     // a raw leaf read whole for a bytes piece
  bool root_tried_ = false;                 // raw root: asked the store for its file
  bool last_was_file_ = false;
  std::shared_ptr<const BlockFill> fill_;
  content::Cid root_;
  std::uint64_t begin_;
  std::uint64_t end_;
  std::optional<content::FileCursor> cursor_;
  std::optional<content::ByteView> primed_;
  std::uint64_t produced_ = 0;
  std::uint64_t charged_ = 0;                            // bytes of the budget this body holds
  std::chrono::steady_clock::time_point charged_since_;  // when it got them
};

// The process-wide budget of leaf bytes that FileBodies hold (see above).
struct FileBodyBudget {
  std::uint64_t bytes = std::uint64_t{128} << 20;  // at once; 0: no bound
  // The longest a body waits for its share before it reads over the budget;
  // the server's default write timeout.
  std::chrono::milliseconds patience{30'000};
  // How long a body keeps its share while others wait. A reopened cursor
  // reads and decodes the file's internal nodes again (for a 1 GiB file 45 KiB
  // and 1024 links: about 0.23 ms of CPU, measured, near a third of what
  // sending the 1 MiB block costs), so shares do not pass at every block.
  std::chrono::milliseconds quantum{2'000};
};
// Takes effect for waits and shares that begin later.
void set_file_body_budget(const FileBodyBudget& budget);

// The budget's state now, and the most bytes held at once since the last
// set_file_body_budget() (for tests and diagnostics).
struct FileBodyBudgetUse {
  std::uint64_t held = 0;
  std::uint64_t peak = 0;
  std::uint64_t waiting = 0;      // bodies queued now
  std::uint64_t passed_on = 0;    // shares passed on to waiters (cursor reopens)
  std::uint64_t over_budget = 0;  // reads over the budget (patience ran out, or prime())
};
FileBodyBudgetUse file_body_budget_use();

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

// Bytes [begin, end) of a representation.
struct ByteSpan {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// The conditional and range rules of serve_bytes, without its headers and
// body: sets 304 when If-None-Match matches `etag`, or (when `ranges`) 206
// with Content-Range or 416 with "bytes */size" for a single Range that
// If-Range allows; returns the bytes to send, or nullopt when no body
// follows (304, 416).
std::optional<ByteSpan> select_bytes(Response& response, const Request& request,
                                     std::string_view etag, std::uint64_t size, bool ranges);

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
