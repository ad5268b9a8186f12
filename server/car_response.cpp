#include "server/car_response.hpp"

#include <algorithm>
#include <string>

#include "content/car.hpp"
#include "content/dag_pb.hpp"
#include "content/unixfs.hpp"

namespace srcgate::server {

using content::ByteView;
using content::Cid;
using content::Errc;
using content::make_error;
using content::Result;

namespace {

constexpr std::uint64_t kDagPb = static_cast<std::uint64_t>(content::Codec::dag_pb);

std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// Hex digits of a HAMT bucket name for `fanout` (boxo's padLength).
std::size_t hamt_pad_length(std::uint64_t fanout) {
  std::size_t n = 0;
  for (std::uint64_t v = fanout > 0 ? fanout - 1 : 0; v != 0; v >>= 4) ++n;
  return n;
}

}  // namespace

std::optional<InclusiveRange> resolve_entity_bytes(const EntityBytes& bytes, std::uint64_t size) {
  if (size == 0) return std::nullopt;
  const auto resolve = [size](std::int64_t v) -> std::int64_t {
    if (v >= 0) return v;
    const std::int64_t from_end = static_cast<std::int64_t>(size) + v;
    return from_end < 0 ? 0 : from_end;
  };
  const std::int64_t from = resolve(bytes.from);
  std::int64_t to = bytes.to ? resolve(*bytes.to) : static_cast<std::int64_t>(size) - 1;
  if (bytes.to && *bytes.to < 0 && static_cast<std::int64_t>(size) + *bytes.to < 0) {
    return std::nullopt;  // the end lies before the file
  }
  to = std::min<std::int64_t>(to, static_cast<std::int64_t>(size) - 1);
  if (static_cast<std::uint64_t>(from) >= size || from > to) return std::nullopt;
  return InclusiveRange{static_cast<std::uint64_t>(from), static_cast<std::uint64_t>(to)};
}

std::string car_etag(const Cid& root, std::string_view content_path, const CarPlan& plan,
                     CarOrder order) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  h = fnv1a(h, content_path);
  h = fnv1a(h, plan.scope == DagScope::block    ? "|block"
               : plan.scope == DagScope::entity ? "|entity"
                                                : "|all");
  if (plan.entity_range) {
    h = fnv1a(h, "|" + std::to_string(plan.entity_range->first) + ":" +
                     std::to_string(plan.entity_range->last));
  }
  h = fnv1a(h, order == CarOrder::dfs ? "|dfs" : "|unk");
  h = fnv1a(h, plan.dups ? "|y" : "|n");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return "W/\"" + root.to_string() + ".car." + hex + "\"";
}

CarBody::CarBody(storage::BlockStore& store, CarPlan plan) : store_(store), plan_(std::move(plan)) {
  if (plan_.entity_range) plan_.scope = DagScope::entity;
}

Awaitable<Result<ByteView>> CarBody::next() { co_return step(); }

Result<void> push_walk_children(const WalkItem& item, ByteView block,
                                const std::optional<InclusiveRange>& range,
                                std::vector<WalkItem>& stack) {
  if (item.mode == WalkMode::block || item.cid.codec() != kDagPb) return {};
  auto node = content::decode_dag_pb(block);
  if (!node) {
    return make_error(node.error().code,
                      "dag-pb block " + item.cid.to_string() + ": " + node.error().message);
  }
  const auto& links = node->links;
  if (item.mode == WalkMode::all) {
    for (auto it = links.rbegin(); it != links.rend(); ++it) {
      stack.push_back(WalkItem{it->hash, WalkMode::all, 0});
    }
    return {};
  }
  // Entity scope: depends on the UnixFS type.
  if (!node->data) return {};
  auto fs = content::decode_unixfs(*node->data);
  if (!fs) return {};  // dag-pb that is not UnixFS: the block alone
  switch (fs->type) {
    case content::UnixfsType::file:
    case content::UnixfsType::raw: {
      if (fs->blocksizes.size() != links.size()) {
        return make_error(Errc::malformed, "file node " + item.cid.to_string() + " has " +
                                               std::to_string(links.size()) + " links but " +
                                               std::to_string(fs->blocksizes.size()) +
                                               " blocksizes");
      }
      std::uint64_t at = item.at + (fs->data ? fs->data->size() : 0);
      std::vector<WalkItem> covering;
      for (std::size_t i = 0; i < links.size(); ++i) {
        const std::uint64_t size = fs->blocksizes[i];
        const bool inside = !range || (size > 0 && at <= range->last && at + size > range->first);
        if (inside) covering.push_back(WalkItem{links[i].hash, WalkMode::entity, at});
        at += size;
      }
      for (auto it = covering.rbegin(); it != covering.rend(); ++it) {
        stack.push_back(std::move(*it));
      }
      return {};
    }
    case content::UnixfsType::hamt_shard: {
      const std::size_t pad = hamt_pad_length(fs->fanout.value_or(256));
      for (auto it = links.rbegin(); it != links.rend(); ++it) {
        if (it->name && it->name->size() == pad) {
          stack.push_back(WalkItem{it->hash, WalkMode::entity, 0});
        }
      }
      return {};
    }
    default:
      return {};
  }
}

Result<ByteView> CarBody::step() {
  if (pending_) {
    current_ = std::move(*pending_);
    pending_.reset();
    return ByteView(current_);
  }
  if (!header_sent_) {
    header_sent_ = true;
    current_ = content::encode_car_header({plan_.root});
    return ByteView(current_);
  }
  // Each pass consumes one path block or one stack item; the stack only grows
  // by the links of a block that was emitted (dups=n: at most once per CID).
  for (;;) {
    WalkItem item{plan_.root, WalkMode::block, 0};
    if (path_index_ < plan_.path_blocks.size()) {
      item.cid = plan_.path_blocks[path_index_++];
    } else if (!walk_started_) {
      walk_started_ = true;
      item.mode = plan_.scope == DagScope::block    ? WalkMode::block
                  : plan_.scope == DagScope::entity ? WalkMode::entity
                                                    : WalkMode::all;
    } else if (!stack_.empty()) {
      item = std::move(stack_.back());
      stack_.pop_back();
    } else {
      return ByteView{};
    }
    if (!plan_.dups && !seen_.insert(std::string(content::as_chars(item.cid.bytes()))).second) {
      continue;
    }
    auto block = store_.get_block(item.cid);
    if (!block) {
      return make_error(Errc::truncated, "storage: " + block.error().message);
    }
    if (!*block) {
      return make_error(Errc::not_found,
                        "block " + item.cid.to_string() + " of the DAG is not in the store");
    }
    if (auto r = push_walk_children(item, **block, plan_.entity_range, stack_); !r) {
      return r.error();
    }
    if (item.cid.is_identity()) continue;  // inline in the CID: never a section
    current_ = content::car_section_prefix(item.cid, (*block)->size());
    pending_ = std::move(**block);
    return ByteView(current_);
  }
}

}  // namespace srcgate::server
