// Crash safety of the RocksDB store: a child process imports, reads, pins and
// evicts in a loop on one store and is killed with SIGKILL at 50 random
// moments; after each kill another child reopens the store and checks that
// every name resolves to a DAG whose bytes hash to that name, that the index
// is consistent (verify()), and that its size stays under the cap.
//
// The parent process never opens RocksDB or starts a thread: it only forks,
// sleeps until the kill moment and waits, so each child starts from a
// single-threaded process (fork() and RocksDB's thread pools do not mix).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "content/digest.hpp"
#include "content/nix_hash.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using content::Bytes;
using content::ByteView;

namespace {

constexpr std::size_t kMiB = 1 << 20;
constexpr int kKills = 50;
constexpr int kMaxKillMs = 300;
constexpr std::uint64_t kCap = 12 * kMiB;

storage::RocksDbOptions options(const std::filesystem::path& dir) {
  storage::RocksDbOptions o;
  o.dir = dir;
  o.store.max_size = kCap;
  o.store.bulk_after_bytes = kMiB;  // files over 1 MiB also take the WAL-less path
  return o;
}

// Child: runs until killed (or for a bounded number of steps). Exit codes:
// 0 finished, 3 open failed, 4 an operation failed.
[[noreturn]] void churn(const std::filesystem::path& dir, unsigned seed) {
  auto store = storage::open_rocksdb_store(options(dir));
  if (!store) {
    std::fprintf(stderr, "churn: open: %s\n", store.error().message.c_str());
    std::_Exit(3);
  }
  auto& s = **store;
  std::mt19937 rng(seed);
  const Bytes shared = test::deterministic_bytes("crash-shared", kMiB);
  std::vector<content::Cid> roots;
  for (int step = 0; step < 10000; ++step) {
    int op = static_cast<int>(rng() % 10);
    if (op < 7 || roots.empty()) {
      // Import: a random size up to 3 MiB, half of the files starting with
      // the same 1 MiB chunk so that they share a block.
      std::size_t size = 1 + rng() % (3 * kMiB);
      Bytes data =
          test::deterministic_bytes(std::to_string(seed) + "/" + std::to_string(step), size);
      if (rng() % 2 == 0 && size > kMiB) std::copy(shared.begin(), shared.end(), data.begin());
      auto imp = s.begin_import(content::ImportProfile::v1_2025);
      for (std::size_t at = 0; at < data.size(); at += 256 * 1024) {
        if (!imp->write(ByteView(data).subspan(at, std::min<std::size_t>(256 * 1024, size - at)))) {
          std::_Exit(4);
        }
      }
      auto f = imp->finish();
      if (!f) std::_Exit(4);
      if (rng() % 8 == 0) {
        imp->abort();  // as the miss path does on a digest mismatch
        continue;
      }
      auto c = imp->commit();
      if (!c) {
        std::fprintf(stderr, "churn: commit: %s\n", c.error().message.c_str());
        std::_Exit(4);
      }
      roots.push_back(c->summary.dag.root);
    } else if (op == 7) {
      const auto& root = roots[rng() % roots.size()];
      // Evicted files are gone: not_found is expected.
      std::ignore =
          s.read_file(root, 0, 4096, [](ByteView) -> storage::Result<void> { return {}; });
    } else if (op == 8) {
      const auto& root = roots[rng() % roots.size()];
      std::ignore = (rng() % 2) ? s.pin(root) : s.unpin(root);
    } else {
      auto r = (rng() % 4 == 0) ? s.gc() : s.evict_to(kCap / 2);
      if (!r) {
        std::fprintf(stderr, "churn: evict: %s\n", r.error().message.c_str());
        std::_Exit(4);
      }
    }
  }
  std::_Exit(0);
}

// Child: reopens the store and checks it. Exit 0 when sound; messages on stderr.
[[noreturn]] void check(const std::filesystem::path& dir) {
  int failures = 0;
  {
    auto store = storage::open_rocksdb_store(options(dir));
    if (!store) {
      std::fprintf(stderr, "check: reopen failed: %s\n", store.error().message.c_str());
      std::_Exit(5);
    }
    auto& s = **store;
    std::vector<std::pair<content::Digest, storage::NameEntry>> names;
    auto listed = s.for_each_name([&](const content::Digest& d, const storage::NameEntry& e) {
      names.emplace_back(d, e);
      return true;
    });
    if (!listed) {
      std::fprintf(stderr, "check: listing names: %s\n", listed.error().message.c_str());
      std::_Exit(6);
    }
    for (const auto& [digest, entry] : names) {
      content::Digester hasher(digest.algo);
      std::uint64_t size = 0;
      auto r = s.read_file(entry.root, 0, ~0ull, [&](ByteView b) -> storage::Result<void> {
        hasher.update(b);
        size += b.size();
        return {};
      });
      std::string name =
          std::string(content::algo_name(digest.algo)) + ":" + content::to_hex(digest);
      if (!r) {
        std::fprintf(stderr, "check: %s -> %s: %s\n", name.c_str(), entry.root.to_string().c_str(),
                     r.error().message.c_str());
        ++failures;
      } else if (hasher.finish() != digest || size != entry.size) {
        std::fprintf(stderr, "check: %s -> %s: bytes do not hash to the name\n", name.c_str(),
                     entry.root.to_string().c_str());
        ++failures;
      }
    }
    auto v = s.verify([&](const storage::VerifyProblem& p) {
      std::fprintf(stderr, "check: verify: %s: %s\n", p.key.c_str(), p.problem.c_str());
    });
    if (!v) {
      std::fprintf(stderr, "check: verify failed: %s\n", v.error().message.c_str());
      ++failures;
    } else if (!v->ok()) {
      ++failures;
    } else if (v->unreferenced_blocks != 0) {
      // open() collects the blocks of imports that died.
      std::fprintf(stderr, "check: %llu unreferenced blocks after open\n",
                   static_cast<unsigned long long>(v->unreferenced_blocks));
      ++failures;
    }
    auto st = s.stats();
    if (!st || st->logical_bytes > kCap) {
      std::fprintf(stderr, "check: logical bytes over the cap\n");
      ++failures;
    }
    std::fprintf(stderr, "check: %zu names, %llu files, %llu logical bytes\n", names.size(),
                 st ? static_cast<unsigned long long>(st->files) : 0ull,
                 st ? static_cast<unsigned long long>(st->logical_bytes) : 0ull);
  }
  std::_Exit(failures == 0 ? 0 : 7);
}

int wait_exit(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("kill -9 at 50 random moments of imports and evictions never breaks a name",
          "[store][rocksdb][crash]") {
  test::TempDir tmp;
  const auto dir = tmp / "store";
  const unsigned seed = 20240611;  // fixed: a failure replays the same kill moments
  std::mt19937 rng(seed);
  int killed_while_running = 0;
  for (int round = 0; round < kKills; ++round) {
    INFO("round " << round << " (seed " << seed << ")");
    std::fflush(nullptr);
    pid_t worker = fork();
    REQUIRE(worker >= 0);
    if (worker == 0) churn(dir, seed + static_cast<unsigned>(round));
    auto delay = std::chrono::milliseconds(rng() % (kMaxKillMs + 1));
    std::this_thread::sleep_for(delay);  // the kill moment itself is what is random
    kill(worker, SIGKILL);
    int worker_status = wait_exit(worker);
    if (worker_status == 128 + SIGKILL) ++killed_while_running;
    INFO("worker exit status " << worker_status);
    REQUIRE((worker_status == 128 + SIGKILL || worker_status == 0));

    pid_t checker = fork();
    REQUIRE(checker >= 0);
    if (checker == 0) check(dir);
    CHECK(wait_exit(checker) == 0);
  }
  CHECK(killed_while_running >= kKills * 9 / 10);
}
