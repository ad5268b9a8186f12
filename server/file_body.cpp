#include "server/file_body.hpp"

#include <string>
#include <utility>

#include "server/http_policy.hpp"

namespace srcgate::server {

using content::ByteView;
using content::Result;

FileBody::FileBody(storage::BlockStore& store, content::Cid root, std::uint64_t begin,
                   std::uint64_t end)
    : source_(store), root_(std::move(root)), begin_(begin), end_(end) {}

Result<ByteView> FileBody::pull() {
  if (!cursor_) {
    auto c = content::FileCursor::open(source_, root_, begin_, end_);
    if (!c) return c.error();
    if (c->end() != end_) {
      return content::make_error(content::Errc::malformed,
                                 root_.to_string() + " holds " + std::to_string(c->file_size()) +
                                     " bytes, fewer than the " + std::to_string(end_) +
                                     " the response promised");
    }
    cursor_.emplace(std::move(*c));
  }
  auto piece = cursor_->next();
  if (!piece) return piece.error();
  produced_ += piece->size();
  if (piece->empty() && produced_ != end_ - begin_) {
    return content::make_error(content::Errc::truncated,
                               root_.to_string() + " ended after " + std::to_string(produced_) +
                                   " of " + std::to_string(end_ - begin_) + " bytes");
  }
  return piece;
}

Result<ByteView> FileBody::prime() {
  if (primed_) return *primed_;
  auto piece = pull();
  if (!piece) return piece.error();
  primed_ = *piece;
  return *piece;
}

Awaitable<Result<ByteView>> FileBody::next() {
  if (primed_) {
    ByteView first = *primed_;
    primed_.reset();
    // An empty primed piece means the range was empty: the end.
    co_return first;
  }
  co_return pull();
}

Awaitable<Result<ByteView>> BlockBody::next() {
  if (done_ || begin_ >= end_) co_return ByteView{};
  done_ = true;
  co_return ByteView(block_).subspan(begin_, end_ - begin_);
}

void serve_bytes(Response& response, const Request& request, std::string_view etag,
                 std::uint64_t size, bool ranges, const BodyFactory& body) {
  response.header("Etag", std::string(etag));
  if (ranges) response.header("Accept-Ranges", "bytes");
  if (if_none_match(request.header("If-None-Match"), etag)) {
    response.status = 304;
    return;
  }
  RangeDecision range;
  const std::string_view range_header = request.header("Range");
  if (ranges && !range_header.empty() && if_range_allows(request.header("If-Range"), etag)) {
    range = evaluate_range(range_header, size);
  }
  std::uint64_t begin = 0;
  std::uint64_t end = size;
  switch (range.kind) {
    case RangeDecision::full:
      break;
    case RangeDecision::partial:
      response.status = 206;
      response.header("Content-Range", content_range(range.range, size));
      begin = range.range.first;
      end = range.range.last + 1;
      break;
    case RangeDecision::unsatisfiable:
      response.status = 416;
      response.header("Content-Range", unsatisfied_content_range(size));
      return;
  }
  if (begin == end) return;  // an empty body: Content-Length 0
  response.stream = body(begin, end);
  response.stream_length = end - begin;
}

}  // namespace srcgate::server
