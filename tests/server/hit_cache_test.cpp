// The hit cache (hit_cache.hpp) on its own: lookups, LRU order, the byte
// bound; and through serve_hash (hash_handler.hpp) over an in-memory store:
// a cached answer is the answer without the cache (GET, HEAD, Range, 416,
// If-None-Match, If-Range), it is served without a store read, recency is
// still recorded, and a file that the store evicts, that gc removes, or whose
// name is re-pointed stops being served from the cache at the next request.
// Coroutines run on an io_context driven by the test until it has no work.
#include "server/hit_cache.hpp"

#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "content/importer.hpp"
#include "server/hash_handler.hpp"
#include "storage/memory_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using server::CachedHit;
using server::HitCache;
using server::HitCacheOptions;

namespace {

content::Digest digest_of(std::string_view seed) {
  const content::Bytes b = test::deterministic_bytes(seed, 16);
  return content::digest_of(content::HashAlgo::sha256, b);
}

std::shared_ptr<CachedHit> entry(std::string_view seed, std::size_t bytes) {
  const content::Bytes data = test::deterministic_bytes(seed, bytes);
  auto hit = std::make_shared<CachedHit>(
      digest_of(seed), content::Cid::of_block(1, content::Codec::raw, data), data.size());
  hit->bytes = data;
  return hit;
}

// What a client sees of a response: status, headers in order, body.
struct Answer {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::uint64_t> length;
  std::string body;
  server::CacheStatus cache = server::CacheStatus::none;
  friend bool operator==(const Answer&, const Answer&) = default;
};

template <class T>
T run(server::net::io_context& ioc, server::Awaitable<T> a) {
  std::optional<T> out;
  std::exception_ptr error;
  server::net::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) out = std::move(v);
  });
  ioc.restart();
  ioc.run();  // nothing here waits on a timer or socket: returns when done
  if (error) std::rethrow_exception(error);
  REQUIRE(out);
  return std::move(*out);
}

server::Awaitable<std::optional<std::string>> drain(server::BodySource& body) {
  std::string out;
  for (int i = 0; i < 100000; ++i) {  // bounded: each piece is non-empty
    auto piece = co_await body.next();
    if (!piece) co_return std::nullopt;
    if (piece->empty()) break;
    out.append(reinterpret_cast<const char*>(piece->data()), piece->size());
  }
  co_return out;
}

struct Gateway {
  server::net::io_context ioc;
  std::unique_ptr<storage::BlockStore> store;
  HitCache cache;

  explicit Gateway(HitCacheOptions o = {}, std::optional<std::uint64_t> max_size = {}) : cache(o) {
    storage::MemoryStoreOptions mo;
    mo.store.max_size = max_size;
    auto s = storage::make_memory_store(mo);
    REQUIRE(s);
    store = std::move(*s);
  }

  content::FileSummary import(const content::Bytes& data, const content::ImportProfile& profile =
                                                              content::ImportProfile::v1_2025) {
    auto imp = store->begin_import(profile);
    REQUIRE(imp->write(data));
    auto summary = imp->finish();
    REQUIRE(summary);
    REQUIRE(imp->commit());
    return *summary;
  }

  // GET (or HEAD) /sha256/<hex> with `headers`, through the cache or not.
  Answer ask(const content::FileSummary& file, bool cached,
             std::vector<std::pair<std::string_view, std::string_view>> headers = {},
             server::Method method = server::Method::get) {
    const std::string target = "/sha256/" + content::to_hex(file.digests.sha256);
    const server::Route route = server::route(target);
    const auto* hash = std::get_if<server::HashRequest>(&route);
    REQUIRE(hash != nullptr);
    server::Request req;
    req.method = method;
    req.method_name = method == server::Method::head ? "HEAD" : "GET";
    req.target = target;
    req.route = &route;
    req.headers = std::move(headers);
    server::Response r =
        run(ioc, server::serve_hash(*store, cached ? &cache : nullptr, nullptr, req, *hash));
    Answer a;
    a.status = r.status;
    // What the session sends: the preformatted lines, then `headers`.
    if (r.header_lines) {
      std::string_view lines = *r.header_lines;
      for (int i = 0; i < 100 && !lines.empty(); ++i) {  // bounded: a few lines
        const std::size_t eol = lines.find("\r\n");
        REQUIRE(eol != std::string_view::npos);
        const std::string_view line = lines.substr(0, eol);
        const std::size_t colon = line.find(": ");
        REQUIRE(colon != std::string_view::npos);
        a.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
        lines.remove_prefix(eol + 2);
      }
    }
    a.headers.insert(a.headers.end(), r.headers.begin(), r.headers.end());
    a.cache = r.cache;
    a.body = r.body;
    a.length = r.stream_length;
    if (r.stream && method != server::Method::head) {
      auto body = run(ioc, drain(*r.stream));
      REQUIRE(body);
      a.body = *body;
    }
    return a;
  }
};

std::string text(const content::Bytes& b) { return std::string(b.begin(), b.end()); }

// What a worker thread saw of one GET through the cache.
enum class Seen { right_bytes, wrong_bytes, not_found, cut, other };

// Gateway::ask for worker threads: no Catch assertions (they are not
// thread-safe), an io_context of its own.
Seen ask_quietly(storage::BlockStore& store, HitCache& cache, const content::FileSummary& file,
                 const std::string& expected) {
  const std::string target = "/sha256/" + content::to_hex(file.digests.sha256);
  const server::Route route = server::route(target);
  const auto* hash = std::get_if<server::HashRequest>(&route);
  if (hash == nullptr) return Seen::other;
  server::Request req;
  req.method_name = "GET";
  req.target = target;
  req.route = &route;
  server::net::io_context ioc;
  std::optional<server::Response> r;
  server::net::co_spawn(ioc, server::serve_hash(store, &cache, nullptr, req, *hash),
                        [&](std::exception_ptr e, server::Response v) {
                          if (!e) r = std::move(v);
                        });
  ioc.run();
  if (!r) return Seen::other;
  if (r->status == 404) return Seen::not_found;
  if (r->status != 200 || !r->stream) return Seen::other;
  std::optional<std::optional<std::string>> body;
  server::net::co_spawn(ioc, drain(*r->stream),
                        [&](std::exception_ptr e, std::optional<std::string> v) {
                          if (!e) body = std::move(v);
                        });
  ioc.restart();
  ioc.run();
  if (!body) return Seen::other;
  if (!*body) return Seen::cut;  // evicted under a read: the session cuts the connection
  return **body == expected ? Seen::right_bytes : Seen::wrong_bytes;
}

}  // namespace

TEST_CASE("the hit cache finds what it holds and forgets what it erases", "[hit_cache]") {
  HitCache cache(HitCacheOptions{1 << 20, 64 << 10, 4});
  CHECK(cache.find(digest_of("a")) == nullptr);
  REQUIRE(cache.insert(entry("a", 100)));
  REQUIRE(cache.insert(entry("b", 200)));
  auto a = cache.find(digest_of("a"));
  REQUIRE(a != nullptr);
  CHECK(a->size == 100);
  CHECK(a->etag == "\"" + a->root.to_string() + "\"");
  CHECK(a->ipfs_path == "/ipfs/" + a->root.to_string());
  CHECK(cache.use().entries == 2);
  cache.erase(digest_of("a"));
  CHECK(cache.find(digest_of("a")) == nullptr);
  CHECK(a->bytes->size() == 100);  // a holder keeps the entry it has
  CHECK(cache.use().entries == 1);
  // Replacing an entry counts it once.
  const auto before = cache.use().bytes;
  REQUIRE(cache.insert(entry("b", 200)));
  CHECK(cache.use().entries == 1);
  CHECK(cache.use().bytes == before);
}

TEST_CASE("the hit cache stays within its bytes, dropping the least recently used", "[hit_cache]") {
  const std::uint64_t one = entry("x", 1000)->charge();
  HitCache cache(HitCacheOptions{3 * one + one / 2, 64 << 10, 1});  // room for three
  REQUIRE(cache.insert(entry("1", 1000)));
  REQUIRE(cache.insert(entry("2", 1000)));
  REQUIRE(cache.insert(entry("3", 1000)));
  REQUIRE(cache.find(digest_of("1")) != nullptr);  // 2 is now the least recent
  REQUIRE(cache.insert(entry("4", 1000)));
  CHECK(cache.find(digest_of("2")) == nullptr);
  CHECK(cache.find(digest_of("1")) != nullptr);
  CHECK(cache.find(digest_of("3")) != nullptr);
  CHECK(cache.find(digest_of("4")) != nullptr);
  CHECK(cache.use().entries == 3);
  CHECK(cache.use().bytes <= cache.options().capacity_bytes);
  // An entry larger than the whole cache is not kept, and drops nothing.
  CHECK_FALSE(cache.insert(entry("big", 10000)));
  CHECK(cache.use().entries == 3);

  // Many inserts never take it over its bound.
  for (int i = 0; i < 100; ++i) {
    REQUIRE(cache.insert(entry("many" + std::to_string(i), 100 + 37 * i)));
    REQUIRE(cache.use().bytes <= cache.options().capacity_bytes);
  }
}

TEST_CASE("a hit cache of capacity 0 keeps nothing", "[hit_cache]") {
  HitCache cache(HitCacheOptions{0, 64 << 10, 8});
  CHECK_FALSE(cache.enabled());
  CHECK_FALSE(cache.insert(entry("a", 10)));
  CHECK(cache.find(digest_of("a")) == nullptr);
}

TEST_CASE("a cached hit answers exactly as the store does", "[hit_cache][hash]") {
  Gateway gw;
  const content::Bytes data = test::deterministic_bytes("cached-answers", 4096);
  const auto file = gw.import(data);
  const std::string etag = "\"" + file.dag.root.to_string() + "\"";
  using H = std::vector<std::pair<std::string_view, std::string_view>>;
  const std::vector<std::pair<H, server::Method>> shapes = {
      {{}, server::Method::get},
      {{}, server::Method::head},
      {{{"Range", "bytes=10-19"}}, server::Method::get},
      {{{"Range", "bytes=-5"}}, server::Method::get},
      {{{"Range", "bytes=4000-"}}, server::Method::head},
      {{{"Range", "bytes=5000-"}}, server::Method::get},
      {{{"If-None-Match", etag}}, server::Method::get},
      {{{"If-None-Match", "\"other\""}}, server::Method::get},
      {{{"Range", "bytes=0-3"}, {"If-Range", "\"other\""}}, server::Method::get},
      {{{"Range", "bytes=0-3"}, {"If-Range", etag}}, server::Method::get},
  };
  for (const auto& [headers, method] : shapes) {
    INFO("shape " << (&headers - &shapes.front().first));
    const Answer plain = gw.ask(file, false, headers, method);
    const Answer fill = gw.ask(file, true, headers, method);    // looks up, fills
    const Answer cached = gw.ask(file, true, headers, method);  // from the cache
    CHECK(fill == plain);
    CHECK(cached == plain);
  }
  const Answer whole = gw.ask(file, true);
  CHECK(whole.status == 200);
  CHECK(whole.body == text(data));
  CHECK(whole.cache == server::CacheStatus::hit);
  const Answer part = gw.ask(file, true, {{"Range", "bytes=10-19"}});
  CHECK(part.status == 206);
  CHECK(part.body == text(data).substr(10, 10));
  CHECK(gw.ask(file, true, {{"Range", "bytes=5000-"}}).status == 416);
  CHECK(gw.ask(file, true, {{"If-None-Match", etag}}).status == 304);
  CHECK(gw.cache.use().entries == 1);
}

TEST_CASE("a cached small hit is served without reading the store, and still touched",
          "[hit_cache][hash]") {
  Gateway gw;
  const content::Bytes data = test::deterministic_bytes("no-store-read", 5000);
  const auto file = gw.import(data);
  REQUIRE(gw.ask(file, true).body == text(data));  // fills the cache
  REQUIRE(gw.cache.use().entries == 1);
  // Bytes under the file's block that the store would now serve: the cache
  // answers with the bytes it read when they were stored.
  REQUIRE(gw.store->overwrite_block_for_testing(file.dag.root, content::Bytes(5000, 'x')));
  CHECK(gw.ask(file, false).body == std::string(5000, 'x'));
  CHECK(gw.ask(file, true).body == text(data));

  REQUIRE(gw.store->flush());
  auto before = gw.store->record(file.dag.root);
  REQUIRE(before);
  REQUIRE(*before);
  CHECK(gw.ask(file, true).status == 200);
  REQUIRE(gw.store->flush());
  auto after = gw.store->record(file.dag.root);
  REQUIRE(after);
  REQUIRE(*after);
  CHECK((*after)->last_access > (*before)->last_access);
}

TEST_CASE("a file larger than max_file_bytes is cached without its bytes", "[hit_cache][hash]") {
  Gateway gw(HitCacheOptions{1 << 20, 1000, 2});
  const content::Bytes data = test::deterministic_bytes("bigger", 3000);
  const auto file = gw.import(data);
  CHECK(gw.ask(file, true).body == text(data));
  auto hit = gw.cache.find(file.digests.sha256);
  REQUIRE(hit != nullptr);
  CHECK_FALSE(hit->bytes);
  CHECK(gw.ask(file, true).body == text(data));  // streamed from the store
  CHECK(gw.ask(file, true, {{"Range", "bytes=2990-"}}).body == text(data).substr(2990));
}

TEST_CASE("an evicted or removed file stops being served from the cache", "[hit_cache][hash]") {
  SECTION("gc / evict_to") {
    Gateway gw;
    const content::Bytes data = test::deterministic_bytes("evicted", 4096);
    const auto file = gw.import(data);
    REQUIRE(gw.ask(file, true).status == 200);
    REQUIRE(gw.ask(file, true).status == 200);
    const auto generation = gw.store->names_generation();
    auto evicted = gw.store->evict_to(0);
    REQUIRE(evicted);
    REQUIRE(evicted->files == 1);
    CHECK(gw.store->names_generation() != generation);
    const Answer a = gw.ask(file, true);
    CHECK(a.status == 404);
    CHECK(a.cache == server::CacheStatus::miss);
    CHECK(gw.cache.use().entries == 0);
    // Stored again: served again, from a fresh entry.
    gw.import(data);
    CHECK(gw.ask(file, true).body == text(data));
    CHECK(gw.ask(file, true).body == text(data));
  }
  SECTION("the size cap evicts it while other files arrive") {
    Gateway gw({}, 24'000);
    const content::Bytes a_data = test::deterministic_bytes("lru-a", 4000);
    const content::Bytes b_data = test::deterministic_bytes("lru-b", 4000);
    const auto a = gw.import(a_data);
    REQUIRE(gw.ask(a, true).status == 200);  // cached
    const auto b = gw.import(b_data);
    // Files arrive, b stays in use, until the cap evicts a, the least recent.
    bool a_gone = false;
    for (int i = 0; i < 20 && !a_gone; ++i) {
      gw.import(test::deterministic_bytes("lru-filler" + std::to_string(i), 4000));
      REQUIRE(gw.ask(b, true).body == text(b_data));
      auto found = gw.store->lookup(a.digests.sha256);
      REQUIRE(found);
      a_gone = !*found;
    }
    REQUIRE(a_gone);
    CHECK(gw.ask(a, true).status == 404);
    CHECK(gw.ask(b, true).body == text(b_data));
  }
}

TEST_CASE("a name re-pointed to another root is answered with the new root", "[hit_cache][hash]") {
  Gateway gw;
  const content::Bytes data = test::deterministic_bytes("two-profiles", 3000);
  const auto v1 = gw.import(data, content::ImportProfile::v1_2025);
  REQUIRE(gw.ask(v1, true).status == 200);
  REQUIRE(gw.ask(v1, true).status == 200);
  const auto v0 = gw.import(data, content::ImportProfile::v0_2015);
  REQUIRE(v0.dag.root != v1.dag.root);
  const Answer plain = gw.ask(v0, false);
  const Answer cached = gw.ask(v0, true);
  CHECK(cached == plain);
  CHECK(cached.headers[3].second == "\"" + v0.dag.root.to_string() + "\"");
}

TEST_CASE("hits racing evictions and new imports get the right bytes, a 404 or a cut, never others",
          "[hit_cache][hash]") {
  Gateway gw;
  std::vector<content::Bytes> data;
  std::vector<content::FileSummary> files;
  for (int i = 0; i < 16; ++i) {
    data.push_back(test::deterministic_bytes("race-" + std::to_string(i), 1000 + 100 * i));
    files.push_back(gw.import(data.back()));
  }
  std::atomic<bool> stop{false};
  std::array<std::atomic<int>, 5> seen{};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 20000 && !stop.load(); ++i) {  // bounded
        const std::size_t k = static_cast<std::size_t>(i * 7 + t) % files.size();
        ++seen[static_cast<std::size_t>(ask_quietly(*gw.store, gw.cache, files[k], text(data[k])))];
      }
    });
  }
  for (int round = 0; round < 40; ++round) {
    auto evicted = gw.store->evict_to(0);
    REQUIRE(evicted);
    for (const auto& d : data) gw.import(d);
  }
  stop = true;
  for (auto& w : workers) w.join();
  INFO("right " << seen[0] << ", wrong " << seen[1] << ", 404 " << seen[2] << ", cut " << seen[3]
                << ", other " << seen[4]);
  CHECK(seen[static_cast<std::size_t>(Seen::wrong_bytes)] == 0);
  CHECK(seen[static_cast<std::size_t>(Seen::other)] == 0);
  CHECK(seen[static_cast<std::size_t>(Seen::right_bytes)] > 0);

  // Once an eviction has returned, no request is answered from the cache.
  auto evicted = gw.store->evict_to(0);
  REQUIRE(evicted);
  for (const auto& f : files) CHECK(gw.ask(f, true).status == 404);
  CHECK(gw.cache.use().entries == 0);
}
