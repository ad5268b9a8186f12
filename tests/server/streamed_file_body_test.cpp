// FileBody with a BlockFill (file_body.hpp), the body of an /ipfs/ file that a
// fetch is still storing: it waits for each block the fill has not stored
// yet, holding no budget share while it waits, and goes on with the exact
// bytes once they are stored; it fails after a true prefix when the fill ends
// without the block, or when no block arrives within the fill's patience;
// without a fill a missing block fails at once (a hit); destroying a waiting
// body leaves the budget as it was. The blocks are made here by
// content::FileImporter and stored by CarImports into a RocksDB store; the
// bodies run as coroutines on an io_context the test drives with a bound.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "content/car.hpp"
#include "content/importer.hpp"
#include "server/file_body.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using namespace std::chrono_literals;
using server::BlockFill;
using server::FileBody;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// 5 MiB + 100 bytes in the v1 profile: six raw leaves of up to 1 MiB under
// one dag-pb root. The store starts empty; store_leaves() adds blocks.
struct Rig {
  Rig() {
    storage::RocksDbOptions o;
    o.dir = dir / "store";
    auto s = storage::open_rocksdb_store(o);
    REQUIRE(s);
    store = std::move(*s);
    content::FileImporter importer(content::ImportProfile::v1_2025,
                                   [&](content::Block&& b) { blocks.push_back(std::move(b)); });
    importer.write(data);
    const content::ImportResult r = importer.finish();
    REQUIRE(blocks.size() == 7);
    REQUIRE(blocks.back().cid == r.root);
    server::set_file_body_budget({});
  }

  // Stores the root and leaves [first, last) as one committed CAR.
  void store_leaves(std::size_t first, std::size_t last) {
    content::Bytes car = content::encode_car_header({root()});
    content::append_car_section(car, root(), blocks.back().bytes);
    for (std::size_t i = first; i < last; ++i) {
      content::append_car_section(car, blocks[i].cid, blocks[i].bytes);
    }
    auto import = store->begin_car_import();
    REQUIRE(import->write(car));
    REQUIRE(import->commit());
  }

  std::string slice(std::uint64_t begin, std::uint64_t end) const {
    return std::string(data.begin() + static_cast<std::ptrdiff_t>(begin),
                       data.begin() + static_cast<std::ptrdiff_t>(end));
  }

  test::TempDir dir;
  std::unique_ptr<storage::BlockStore> store;
  const content::Bytes data = test::deterministic_bytes("streamed-file-body", 5 * kMiB + 100);
  std::vector<content::Block> blocks;  // the leaves in file order, then the root
  const content::Cid& root() const { return blocks.back().cid; }
};

// One body drained by a coroutine, recording what it got.
struct Drain {
  std::unique_ptr<FileBody> body;
  std::string out;
  std::optional<std::string> error;
  bool done = false;
  Clock::time_point ended_at;
};

server::Awaitable<void> drain(Drain& d) {
  // Bounded: a body of n bytes yields at most n non-empty pieces.
  for (int i = 0; i < 100000; ++i) {
    auto piece = co_await d.body->next();
    if (!piece) {
      d.error = piece.error().message;
      break;
    }
    if (piece->empty()) break;
    d.out.append(reinterpret_cast<const char*>(piece->data()), piece->size());
  }
  d.body.reset();
  d.ended_at = Clock::now();
  d.done = true;
}

// Runs `ioc` until `until()` holds or `bound` has passed; its last answer.
bool run_until(server::net::io_context& ioc, const std::function<bool()>& until,
               std::chrono::milliseconds bound = 10s) {
  const auto give_up = Clock::now() + bound;
  while (!until() && Clock::now() < give_up) {
    if (ioc.stopped()) ioc.restart();  // it ran out of work before
    ioc.run_for(5ms);
  }
  return until();
}

}  // namespace

TEST_CASE("a body waits for the blocks its fill stores, without a budget share, then sends them",
          "[file-body][fill]") {
  Rig rig;
  rig.store_leaves(0, 2);
  auto fill = std::make_shared<BlockFill>(10'000ms);
  const std::uint64_t begin = GENERATE(std::uint64_t{0}, kMiB / 2 + 7);
  const std::uint64_t end = rig.data.size();
  server::net::io_context ioc;
  Drain d;
  d.body = std::make_unique<FileBody>(*rig.store, rig.root(), begin, end, fill);
  server::net::co_spawn(ioc, drain(d), server::net::detached);

  // Leaves 0 and 1 go out; then the body waits for leaf 2.
  REQUIRE(run_until(ioc, [&] { return d.out.size() == 2 * kMiB - begin || d.done; }));
  ioc.run_for(200ms);
  CHECK_FALSE(d.done);
  CHECK(d.out.size() == 2 * kMiB - begin);
  CHECK(server::file_body_budget_use().held == 0);

  rig.store_leaves(2, 4);
  REQUIRE(run_until(ioc, [&] { return d.out.size() == 4 * kMiB - begin || d.done; }));
  CHECK_FALSE(d.done);
  rig.store_leaves(4, 6);
  fill->ended = true;
  REQUIRE(run_until(ioc, [&] { return d.done; }));
  INFO(d.error.value_or(""));
  CHECK_FALSE(d.error);
  CHECK(d.out.size() == end - begin);
  CHECK((d.out == rig.slice(begin, end)));
  CHECK(server::file_body_budget_use().held == 0);
}

TEST_CASE("a body fails after a true prefix when its fill ends without the block",
          "[file-body][fill]") {
  Rig rig;
  rig.store_leaves(0, 1);
  auto fill = std::make_shared<BlockFill>(10'000ms);
  server::net::io_context ioc;
  Drain d;
  d.body = std::make_unique<FileBody>(*rig.store, rig.root(), 0, rig.data.size(), fill);
  server::net::co_spawn(ioc, drain(d), server::net::detached);
  REQUIRE(run_until(ioc, [&] { return d.out.size() == kMiB || d.done; }));
  ioc.run_for(100ms);
  CHECK_FALSE(d.done);
  fill->ended = true;
  REQUIRE(run_until(
      ioc, [&] { return d.done; }, 2s));
  REQUIRE(d.error);
  CHECK_THAT(*d.error, Catch::Matchers::Contains("ended"));
  CHECK((d.out == rig.slice(0, kMiB)));
  CHECK(server::file_body_budget_use().held == 0);

  // A fill that has ended already: the first missing block fails the body.
  Drain late;
  late.body = std::make_unique<FileBody>(*rig.store, rig.root(), kMiB, 2 * kMiB, fill);
  server::net::co_spawn(ioc, drain(late), server::net::detached);
  REQUIRE(run_until(
      ioc, [&] { return late.done; }, 2s));
  CHECK(late.error);
  CHECK(late.out.empty());
}

TEST_CASE("a body waits at most its fill's patience; without a fill it does not wait",
          "[file-body][fill]") {
  Rig rig;
  rig.store_leaves(0, 1);
  server::net::io_context ioc;
  Drain patient;
  patient.body = std::make_unique<FileBody>(*rig.store, rig.root(), 0, rig.data.size(),
                                            std::make_shared<BlockFill>(300ms));
  Drain hit;
  hit.body = std::make_unique<FileBody>(*rig.store, rig.root(), 0, rig.data.size());
  const auto start = Clock::now();
  server::net::co_spawn(ioc, drain(patient), server::net::detached);
  server::net::co_spawn(ioc, drain(hit), server::net::detached);
  REQUIRE(run_until(
      ioc, [&] { return patient.done && hit.done; }, 5s));
  CHECK(hit.error);
  CHECK(hit.ended_at - start < 250ms);
  REQUIRE(patient.error);
  CHECK_THAT(*patient.error, Catch::Matchers::Contains("300 ms"));
  CHECK(patient.ended_at - start >= 300ms);
  CHECK(patient.ended_at - start < 3s);
  CHECK((patient.out == rig.slice(0, kMiB)));
  CHECK((hit.out == rig.slice(0, kMiB)));
}

TEST_CASE("destroying a body that waits for its fill leaves the budget as it was",
          "[file-body][fill]") {
  Rig rig;
  rig.store_leaves(0, 1);
  auto fill = std::make_shared<BlockFill>(10'000ms);
  Drain d;
  {
    server::net::io_context ioc;
    d.body = std::make_unique<FileBody>(*rig.store, rig.root(), 0, rig.data.size(), fill);
    server::net::co_spawn(ioc, drain(d), server::net::detached);
    REQUIRE(run_until(ioc, [&] { return d.out.size() == kMiB || d.done; }));
    ioc.run_for(50ms);
    CHECK_FALSE(d.done);
  }  // the waiting coroutine's frame goes with the io_context
  d.body.reset();
  CHECK(server::file_body_budget_use().held == 0);
  CHECK(server::file_body_budget_use().waiting == 0);
  // The fill outlives the body and knows nothing of it.
  CHECK(fill.use_count() == 1);
}
