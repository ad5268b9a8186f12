#include "server/file_body.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/http_policy.hpp"

namespace srcgate::server {

using content::ByteView;
using content::Result;

namespace {

using Clock = std::chrono::steady_clock;

// What a body charges before it reads a block: the largest leaf that
// srcgate's import profiles make. The charge is then set to the bytes read.
constexpr std::uint64_t kLeafEstimate = 1 << 20;

// The process-wide budget of leaf bytes (file_body.hpp). Bodies that wait are
// served in order; a grant wakes the waiter through a channel of capacity 1,
// so a grant that comes before the waiter waits is not lost.
class Budget {
 public:
  struct Waiter {
    Waiter(net::any_io_executor ex, std::uint64_t n)
        : channel(std::move(ex), 1), bytes(n), since(Clock::now()) {}
    net::experimental::concurrent_channel<void(ErrorCode)> channel;
    const std::uint64_t bytes;
    const Clock::time_point since;
    bool granted = false;  // guarded by Budget::mu_
  };

  void configure(const FileBodyBudget& b) {
    std::vector<std::shared_ptr<Waiter>> woken;
    {
      std::lock_guard lock(mu_);
      config_ = b;
      peak_ = used_;
      passed_on_ = 0;
      over_budget_ = 0;
      grant_locked(woken);
    }
    wake(woken);
  }

  FileBodyBudgetUse use() {
    std::lock_guard lock(mu_);
    return {used_, peak_, queue_.size(), passed_on_, over_budget_};
  }

  // Whether a body that has held its share since `since` passes it on now.
  bool should_pass_on(Clock::time_point since) {
    if (waiting_.load(std::memory_order_relaxed) == 0) return false;
    std::lock_guard lock(mu_);
    if (queue_.empty()) return false;
    const auto now = Clock::now();
    const bool pass =
        now - since >= config_.quantum || now - queue_.front()->since >= config_.quantum;
    if (pass) ++passed_on_;
    return pass;
  }

  // Takes `n` more bytes when they fit and nobody waits.
  bool try_take(std::uint64_t n) {
    std::lock_guard lock(mu_);
    if (!queue_.empty() || !fits_locked(n)) return false;
    add_locked(n);
    return true;
  }

  // Takes `n` bytes now, over the budget if need be (prime(), larger blocks).
  void force_take(std::uint64_t n) {
    std::lock_guard lock(mu_);
    if (!fits_locked(n)) ++over_budget_;
    add_locked(n);
  }

  // Takes `n` bytes: at once when they fit and nobody waits, else after the
  // bodies queued before, or over the budget once the patience has passed.
  Awaitable<void> take(std::uint64_t n) {
    const auto ex = co_await net::this_coro::executor;
    auto w = std::make_shared<Waiter>(ex, n);
    std::chrono::milliseconds patience{};
    {
      std::lock_guard lock(mu_);
      if (queue_.empty() && fits_locked(n)) {
        add_locked(n);
        w.reset();
      } else {
        queue_.push_back(w);
        waiting_.fetch_add(1, std::memory_order_relaxed);
        patience = config_.patience;
      }
    }
    if (!w) co_return;
    // Settles the wait however it ends, also when the session's frame is
    // destroyed while it waits (server shutdown): a grant that arrived is
    // returned, a queued waiter leaves the queue.
    struct Settle {
      Budget& budget;
      std::shared_ptr<Waiter> waiter;
      bool keep = false;
      ~Settle() { budget.settle(*waiter, keep); }
    } settle{*this, w};
    SteadyTimer timer(ex);
    timer.expires_after(patience);
    using namespace net::experimental::awaitable_operators;
    std::ignore = co_await (w->channel.async_receive(kUseTuple) || timer.async_wait(kUseTuple));
    settle.keep = true;
  }

  // Returns `n` bytes and grants waiters that now fit, in order.
  void give(std::uint64_t n) {
    if (n == 0) return;
    std::vector<std::shared_ptr<Waiter>> woken;
    {
      std::lock_guard lock(mu_);
      used_ -= std::min(n, used_);
      grant_locked(woken);
    }
    wake(woken);
  }

 private:
  // The end of a wait. keep: the body goes on with the bytes (granted, or
  // taken over the budget now); otherwise it gives up whatever it had.
  void settle(Waiter& w, bool keep) {
    std::vector<std::shared_ptr<Waiter>> woken;
    {
      std::lock_guard lock(mu_);
      if (!w.granted) {
        const auto it =
            std::find_if(queue_.begin(), queue_.end(),
                         [&](const std::shared_ptr<Waiter>& p) { return p.get() == &w; });
        if (it != queue_.end()) {
          queue_.erase(it);
          waiting_.fetch_sub(1, std::memory_order_relaxed);
        }
        if (keep) {
          ++over_budget_;
          add_locked(w.bytes);
        }
      } else if (!keep) {
        used_ -= std::min(w.bytes, used_);
      }
      // The waiter that left may have been the one the others queued behind.
      grant_locked(woken);
    }
    wake(woken);
  }

  // REQUIRES: mu_ held. A block larger than the whole budget still goes when
  // nothing else is held.
  bool fits_locked(std::uint64_t n) const {
    return config_.bytes == 0 || used_ == 0 || used_ + n <= config_.bytes;
  }
  void add_locked(std::uint64_t n) {
    used_ += n;
    peak_ = std::max(peak_, used_);
  }
  void grant_locked(std::vector<std::shared_ptr<Waiter>>& woken) {
    while (!queue_.empty() && fits_locked(queue_.front()->bytes)) {
      auto w = std::move(queue_.front());
      queue_.pop_front();
      waiting_.fetch_sub(1, std::memory_order_relaxed);
      w->granted = true;
      add_locked(w->bytes);
      woken.push_back(std::move(w));
    }
  }
  static void wake(const std::vector<std::shared_ptr<Waiter>>& woken) {
    for (const auto& w : woken) w->channel.try_send(ErrorCode{});
  }

  std::mutex mu_;
  FileBodyBudget config_;
  std::uint64_t used_ = 0;
  std::uint64_t peak_ = 0;
  std::uint64_t passed_on_ = 0;
  std::uint64_t over_budget_ = 0;
  std::deque<std::shared_ptr<Waiter>> queue_;
  std::atomic<std::size_t> waiting_{0};
};

Budget& budget() {
  static Budget b;
  return b;
}

}  // namespace

void set_file_body_budget(const FileBodyBudget& b) { budget().configure(b); }

FileBodyBudgetUse file_body_budget_use() { return budget().use(); }

FileBody::FileBody(storage::BlockStore& store, content::Cid root, std::uint64_t begin,
                   std::uint64_t end, std::shared_ptr<const BlockFill> fill)
    : store_(store),
      source_(store),
      fill_(std::move(fill)),
      root_(std::move(root)),
      begin_(begin),
      end_(end) {}

FileBody::~FileBody() { give_back(); }

void FileBody::give_back() {
  cursor_.reset();
  budget().give(charged_);
  charged_ = 0;
}

namespace {

// "<root> holds <have> bytes, fewer than the <end> the response promised".
content::Error short_file(const content::Cid& root, std::uint64_t have, std::uint64_t end) {
  return content::make_error(content::Errc::malformed,
                             root.to_string() + " holds " + std::to_string(have) +
                                 " bytes, fewer than the " + std::to_string(end) +
                                 " the response promised");
}

}  // namespace

Result<std::optional<BodyPiece>> FileBody::file_piece(const content::Cid& cid,
                                                      std::optional<std::uint64_t> size,
                                                      std::uint64_t offset, std::uint64_t length) {
  auto file = store_.open_block_file(cid);
  if (!file) return storage::to_content(file.error());
  if (!*file) return std::optional<BodyPiece>();
  if (size && (*file)->size() != *size) {
    return content::make_error(content::Errc::malformed, "block " + cid.to_string() + " holds " +
                                                             std::to_string((*file)->size()) +
                                                             " bytes, its parent says " +
                                                             std::to_string(*size));
  }
  if (offset + length > (*file)->size()) return short_file(root_, (*file)->size(), end_);
  BodyPiece piece;
  piece.file = (*file)->fd();
  piece.file_offset = offset;
  piece.file_length = length;
  file_ = std::move(**file);
  return std::optional<BodyPiece>(piece);
}

Result<BodyPiece> FileBody::raw_span(const content::Cid& cid, std::uint64_t size,
                                     std::uint64_t offset, std::uint64_t length) {
  auto from_file = file_piece(cid, size, offset, length);
  if (!from_file) return from_file.error();
  if (*from_file) return **from_file;
  auto block = source_.get(cid);
  if (!block) return block.error();
  if (!*block) {
    return content::make_error(content::Errc::not_found, "block " + cid.to_string() + " not found");
  }
  leaf_ = std::move(**block);
  if (leaf_.size() != size || offset + length > leaf_.size()) {
    return content::make_error(content::Errc::malformed, "block " + cid.to_string() + " holds " +
                                                             std::to_string(leaf_.size()) +
                                                             " bytes, its parent says " +
                                                             std::to_string(size));
  }
  BodyPiece piece;
  piece.bytes = ByteView(leaf_).subspan(offset, length);
  return piece;
}

Result<BodyPiece> FileBody::pull(bool files) {
  file_.reset();
  std::optional<Result<BodyPiece>> got;
  if (files && !cursor_ && !root_tried_ &&
      root_.codec() == static_cast<std::uint64_t>(content::Codec::raw) && !root_.is_identity() &&
      end_ - begin_ - produced_ >= kMinFileSpan) {
    // A one-block file: its whole remaining range from the block's file.
    root_tried_ = true;
    auto from_file = file_piece(root_, std::nullopt, begin_ + produced_, end_ - begin_ - produced_);
    if (!from_file) return from_file.error();
    if (*from_file) got = **from_file;
  }
  if (!got) {
    if (!cursor_) {
      auto c = content::FileCursor::open(source_, root_, begin_ + produced_, end_);
      if (!c) return c.error();
      if (c->end() != end_) return short_file(root_, c->file_size(), end_);
      cursor_.emplace(std::move(*c));
    }
    auto slice = cursor_->next_slice(files ? kMinFileSpan : 0);
    if (!slice) return slice.error();
    if (slice->leaf) {
      got = raw_span(*slice->leaf, slice->leaf_size, slice->offset, slice->length);
      if (!*got) return *got;
    } else {
      BodyPiece piece;
      piece.bytes = slice->bytes;
      got = piece;
    }
  }
  const BodyPiece piece = **got;
  produced_ += piece.size();
  if (piece.end() && produced_ != end_ - begin_) {
    return content::make_error(content::Errc::truncated,
                               root_.to_string() + " ended after " + std::to_string(produced_) +
                                   " of " + std::to_string(end_ - begin_) + " bytes");
  }
  // The charge follows what the body now holds in memory: the bytes just
  // read, nothing for a file piece.
  const std::uint64_t held = piece.is_file() ? 0 : piece.size();
  last_was_file_ = piece.is_file();
  if (charged_ == 0) charged_since_ = Clock::now();
  if (held < charged_) {
    budget().give(charged_ - held);
  } else if (held > charged_) {
    budget().force_take(held - charged_);
  }
  charged_ = held;
  return piece;
}

Result<ByteView> FileBody::prime() {
  if (primed_) return *primed_;
  auto piece = pull(false);
  if (!piece) return piece.error();
  primed_ = piece->bytes;
  return piece->bytes;
}

Awaitable<Result<ByteView>> FileBody::next() {
  auto piece = co_await advance(false);
  if (!piece) co_return piece.error();
  co_return piece->bytes;
}

Awaitable<Result<BodyPiece>> FileBody::next_piece() { return advance(true); }

Awaitable<Result<BodyPiece>> FileBody::advance(bool files) {
  if (primed_) {
    BodyPiece first;
    first.bytes = *primed_;
    primed_.reset();
    // An empty primed piece means the range was empty: the end.
    co_return first;
  }
  if (produced_ == end_ - begin_) {
    give_back();
    co_return BodyPiece{};
  }
  // Looks at the store for a block that a running fill has not stored yet.
  std::chrono::milliseconds look = BlockFill::first_look;
  std::optional<Clock::time_point> give_up;  // set by the first miss
  for (;;) {
    // What the next block may hold. The body keeps its share and its cursor
    // unless it must pass the share on (file_body.hpp) or the next block does
    // not fit; then it queues behind the others and reopens its cursor.
    // After a file piece, the next is likely one too: no share before it.
    const std::uint64_t want =
        files && last_was_file_ ? 0 : std::min(end_ - begin_ - produced_, kLeafEstimate);
    if (charged_ > 0) {
      const bool keep = !budget().should_pass_on(charged_since_) &&
                        (charged_ >= want || budget().try_take(want - charged_));
      if (!keep) {
        give_back();
      } else {
        charged_ = std::max(charged_, want);
      }
    }
    if (charged_ == 0 && want > 0) {
      co_await budget().take(want);
      charged_ = want;
      charged_since_ = Clock::now();
    }
    // A fill that had ended before this read has stored all it will store.
    const bool ended = fill_ && fill_->ended.load(std::memory_order_acquire);
    auto piece = pull(files);
    if (piece || !fill_ || piece.error().code != content::Errc::not_found) co_return piece;
    if (ended) {
      co_return content::make_error(content::Errc::not_found,
                                    piece.error().message + " (its fetch has ended)");
    }
    // Not stored yet: wait without the share and the cursor, then reopen the
    // cursor at the same position.
    give_back();
    const auto now = Clock::now();
    if (!give_up) give_up = now + fill_->patience;
    if (now >= *give_up) {
      co_return content::make_error(content::Errc::not_found,
                                    piece.error().message + " (not stored within " +
                                        std::to_string(fill_->patience.count()) + " ms)");
    }
    SteadyTimer timer(co_await net::this_coro::executor);
    timer.expires_at(std::min(now + look, *give_up));
    std::ignore = co_await timer.async_wait();
    look = BlockFill::next_look(look);
  }
}

Awaitable<Result<ByteView>> BlockBody::next() {
  if (done_ || begin_ >= end_) co_return ByteView{};
  done_ = true;
  co_return ByteView(block_).subspan(begin_, end_ - begin_);
}

std::optional<ByteSpan> select_bytes(Response& response, const Request& request,
                                     std::string_view etag, std::uint64_t size, bool ranges) {
  const std::string_view inm = request.header("If-None-Match");
  if (!inm.empty() && if_none_match(inm, etag)) {
    response.status = 304;
    return std::nullopt;
  }
  RangeDecision range;
  const std::string_view range_header = request.header("Range");
  if (ranges && !range_header.empty() && if_range_allows(request.header("If-Range"), etag)) {
    range = evaluate_range(range_header, size);
  }
  switch (range.kind) {
    case RangeDecision::full:
      return ByteSpan{0, size};
    case RangeDecision::partial:
      response.status = 206;
      response.header("Content-Range", content_range(range.range, size));
      return ByteSpan{range.range.first, range.range.last + 1};
    case RangeDecision::unsatisfiable:
      response.status = 416;
      response.header("Content-Range", unsatisfied_content_range(size));
      return std::nullopt;
  }
  return ByteSpan{0, size};
}

void serve_bytes(Response& response, const Request& request, std::string_view etag,
                 std::uint64_t size, bool ranges, const BodyFactory& body) {
  response.header("Etag", std::string(etag));
  if (ranges) response.header("Accept-Ranges", "bytes");
  const auto span = select_bytes(response, request, etag, size, ranges);
  if (!span || span->begin == span->end) return;  // no body, or an empty one: Content-Length 0
  response.stream = body(span->begin, span->end);
  response.stream_length = span->end - span->begin;
}

}  // namespace srcgate::server
