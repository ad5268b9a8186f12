// FileBody against a RocksDB store: exact bytes of ranges, and the
// process-wide budget of leaf bytes (file_body.hpp): concurrent bodies never
// hold more than the budget, a waiter gets the share a holder passes on, a
// body waits at most the patience, prime() never waits, a single body keeps
// its cursor, and a body destroyed while it waits leaves the budget as it was.
// Bodies run as coroutines on an io_context driven by the test with a bound.
#include "server/file_body.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
using namespace std::chrono_literals;
using content::ByteView;
using server::file_body_budget_use;
using server::FileBody;
using server::FileBodyBudget;
using server::set_file_body_budget;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// 5 MiB + 100 bytes: six leaves of the v1 profile (1 MiB chunks) under one
// root node, so every range below crosses block boundaries.
struct StoredFile {
  test::TestGateway gw;
  content::Bytes data = test::deterministic_bytes("file-body-budget", 5 * kMiB + 100);
  content::Cid root = gw.import(data).dag.root;

  std::string slice(std::uint64_t begin, std::uint64_t end) const {
    return std::string(data.begin() + static_cast<std::ptrdiff_t>(begin),
                       data.begin() + static_cast<std::ptrdiff_t>(end));
  }
};

// One body drained by a coroutine, a pause between pieces (a client that
// takes its time), recording what it got.
struct Drain {
  std::unique_ptr<FileBody> body;
  std::string out;
  std::optional<std::string> error;
  bool done = false;
  std::vector<std::chrono::steady_clock::time_point> piece_times;
};

server::Awaitable<void> drain(Drain& d, std::chrono::milliseconds pause) {
  // Bounded: a body of n bytes yields at most n non-empty pieces.
  for (int i = 0; i < 100000; ++i) {
    auto piece = co_await d.body->next();
    if (!piece) {
      d.error = piece.error().message;
      break;
    }
    if (piece->empty()) break;
    d.out.append(reinterpret_cast<const char*>(piece->data()), piece->size());
    d.piece_times.push_back(std::chrono::steady_clock::now());
    if (pause.count() > 0) {
      server::SteadyTimer timer(co_await server::net::this_coro::executor);
      timer.expires_after(pause);
      std::ignore = co_await timer.async_wait();
    }
  }
  d.body.reset();  // the session lets go of the source at the end
  d.done = true;
}

void spawn(server::net::io_context& ioc, Drain& d, std::chrono::milliseconds pause) {
  server::net::co_spawn(ioc, drain(d, pause), server::net::detached);
}

// Restores the default budget when a test ends.
struct BudgetScope {
  explicit BudgetScope(const FileBodyBudget& b) { set_file_body_budget(b); }
  ~BudgetScope() { set_file_body_budget(FileBodyBudget{}); }
};

}  // namespace

TEST_CASE("FileBody streams exactly the bytes of its range", "[file_body]") {
  StoredFile f;
  const BudgetScope scope(FileBodyBudget{});
  server::net::io_context ioc;
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges = {{0, f.data.size()},
                                                                       {1, f.data.size() - 1},
                                                                       {kMiB - 10, 3 * kMiB + 10},
                                                                       {5 * kMiB, 5 * kMiB + 100},
                                                                       {2 * kMiB, 2 * kMiB + 1}};
  std::vector<Drain> drains(ranges.size());
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    drains[i].body =
        std::make_unique<FileBody>(f.gw.store(), f.root, ranges[i].first, ranges[i].second);
    spawn(ioc, drains[i], 0ms);
  }
  ioc.run_for(30s);
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    INFO("range [" << ranges[i].first << ", " << ranges[i].second << ")");
    REQUIRE(drains[i].done);
    CHECK_FALSE(drains[i].error);
    CHECK(drains[i].out == f.slice(ranges[i].first, ranges[i].second));
  }
  CHECK(file_body_budget_use().held == 0);
}

TEST_CASE("concurrent FileBodies never hold more than the budget and pass it on", "[file_body]") {
  StoredFile f;
  // Room for two leaves; shares pass on at every block while others wait.
  const BudgetScope scope(FileBodyBudget{2 * kMiB, 20'000ms, 0ms});
  server::net::io_context ioc;
  std::vector<Drain> drains(8);
  for (std::size_t i = 0; i < drains.size(); ++i) {
    const std::uint64_t begin = i * 100'000;
    drains[i].body = std::make_unique<FileBody>(f.gw.store(), f.root, begin, f.data.size());
    spawn(ioc, drains[i], 5ms);
  }
  // Two threads, so that grants cross threads.
  std::thread helper([&] { ioc.run_for(60s); });
  ioc.run_for(60s);
  helper.join();
  for (std::size_t i = 0; i < drains.size(); ++i) {
    INFO("body " << i);
    REQUIRE(drains[i].done);
    CHECK_FALSE(drains[i].error);
    CHECK(drains[i].out == f.slice(i * 100'000, f.data.size()));
  }
  const auto use = file_body_budget_use();
  CHECK(use.held == 0);
  CHECK(use.waiting == 0);
  CHECK(use.peak <= 2 * kMiB);
  CHECK(use.peak > kMiB);  // two bodies did hold a leaf at once
  CHECK(use.over_budget == 0);
  CHECK(use.passed_on > 0);
}

TEST_CASE("a body that waits gets the share the holder passes on at its next block",
          "[file_body]") {
  StoredFile f;
  const BudgetScope scope(FileBodyBudget{kMiB, 20'000ms, 0ms});
  server::net::io_context ioc;
  Drain holder, waiter;
  holder.body = std::make_unique<FileBody>(f.gw.store(), f.root, 0, 2 * kMiB);
  waiter.body = std::make_unique<FileBody>(f.gw.store(), f.root, 3 * kMiB, 4 * kMiB);
  spawn(ioc, holder, 200ms);  // holds its first leaf for 200 ms
  spawn(ioc, waiter, 0ms);
  const auto start = std::chrono::steady_clock::now();
  ioc.run_for(30s);
  REQUIRE(holder.done);
  REQUIRE(waiter.done);
  CHECK(holder.out == f.slice(0, 2 * kMiB));
  CHECK(waiter.out == f.slice(3 * kMiB, 4 * kMiB));
  REQUIRE(holder.piece_times.size() == 2);
  REQUIRE(waiter.piece_times.size() == 1);
  // The waiter came after the holder's first block and before its second.
  CHECK(waiter.piece_times[0] >= holder.piece_times[0]);
  CHECK(waiter.piece_times[0] <= holder.piece_times[1]);
  CHECK(waiter.piece_times[0] - start < 10s);
  const auto use = file_body_budget_use();
  CHECK(use.peak <= kMiB);
  CHECK(use.over_budget == 0);
  CHECK(use.passed_on == 1);
  CHECK(use.held == 0);
}

TEST_CASE("a body waits at most the patience, then reads over the budget", "[file_body]") {
  StoredFile f;
  const BudgetScope scope(FileBodyBudget{kMiB, 300ms, 60'000ms});
  server::net::io_context ioc;
  // The holder takes its leaf and stops, like a session whose client does not read.
  FileBody holder(f.gw.store(), f.root, 0, f.data.size());
  auto first = holder.prime();
  REQUIRE(first);
  CHECK(first->size() == kMiB);
  CHECK(file_body_budget_use().held == kMiB);

  Drain waiter;
  waiter.body = std::make_unique<FileBody>(f.gw.store(), f.root, kMiB, 2 * kMiB);
  const auto start = std::chrono::steady_clock::now();
  spawn(ioc, waiter, 0ms);
  ioc.run_for(30s);
  REQUIRE(waiter.done);
  CHECK(waiter.out == f.slice(kMiB, 2 * kMiB));
  REQUIRE(waiter.piece_times.size() == 1);
  const auto waited = waiter.piece_times[0] - start;
  CHECK(waited >= 290ms);
  CHECK(waited < 10s);
  const auto use = file_body_budget_use();
  CHECK(use.over_budget == 1);
  CHECK(use.held == kMiB);  // the holder's leaf
}

TEST_CASE("prime() reads at once, over the budget when it is taken", "[file_body]") {
  StoredFile f;
  const BudgetScope scope(FileBodyBudget{kMiB, 20'000ms, 0ms});
  FileBody a(f.gw.store(), f.root, 0, f.data.size());
  auto pa = a.prime();
  REQUIRE(pa);
  CHECK(file_body_budget_use().over_budget == 0);
  FileBody b(f.gw.store(), f.root, 10, 20);
  auto pb = b.prime();
  REQUIRE(pb);
  CHECK(std::string(reinterpret_cast<const char*>(pb->data()), pb->size()) == f.slice(10, 20));
  auto use = file_body_budget_use();
  CHECK(use.over_budget == 1);
  CHECK(use.held == kMiB + 10);  // the charge follows the bytes read
}

TEST_CASE("a single body keeps its share and its cursor", "[file_body]") {
  StoredFile f;
  const BudgetScope scope(FileBodyBudget{kMiB, 20'000ms, 0ms});
  server::net::io_context ioc;
  Drain d;
  d.body = std::make_unique<FileBody>(f.gw.store(), f.root, 0, f.data.size());
  spawn(ioc, d, 0ms);
  ioc.run_for(30s);
  REQUIRE(d.done);
  CHECK(d.out == f.slice(0, f.data.size()));
  const auto use = file_body_budget_use();
  CHECK(use.passed_on == 0);
  CHECK(use.over_budget == 0);
  CHECK(use.peak == kMiB);
  CHECK(use.held == 0);
}

TEST_CASE("a body destroyed while it waits leaves the budget as it was", "[file_body]") {
  StoredFile f;
  const BudgetScope scope(FileBodyBudget{kMiB, 60'000ms, 60'000ms});
  auto holder = std::make_unique<FileBody>(f.gw.store(), f.root, 0, f.data.size());
  REQUIRE(holder->prime());
  {
    server::net::io_context ioc;
    Drain waiter;
    waiter.body = std::make_unique<FileBody>(f.gw.store(), f.root, 0, kMiB);
    spawn(ioc, waiter, 0ms);
    // Run until the waiter is queued (bounded), then destroy the io_context
    // with the waiting frame, as a server's shutdown does.
    for (int i = 0; i < 100 && file_body_budget_use().waiting == 0; ++i) ioc.run_for(10ms);
    REQUIRE(file_body_budget_use().waiting == 1);
    CHECK_FALSE(waiter.done);
  }
  CHECK(file_body_budget_use().waiting == 0);
  CHECK(file_body_budget_use().held == kMiB);
  holder.reset();
  CHECK(file_body_budget_use().held == 0);

  // The budget is whole again: a new body reads without waiting or going over.
  server::net::io_context ioc;
  Drain next;
  next.body = std::make_unique<FileBody>(f.gw.store(), f.root, 0, kMiB);
  spawn(ioc, next, 0ms);
  ioc.run_for(10s);
  REQUIRE(next.done);
  CHECK(next.out == f.slice(0, kMiB));
  CHECK(file_body_budget_use().over_budget == 0);
}
