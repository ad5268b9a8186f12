// `srcgate prefetch` (issue 6 item 3). Unit level: the text helpers against
// hand-written strings, and the Prefetcher in-process over a memory store fed
// by a loopback hashed mirror (counts, reasons, bytes, stop() midway, resume).
// End to end: the srcgate binary over 200 indexed sources on a loopback
// origin, some failing (404, wrong bytes, reset): the summary line, the
// failure lines, the exit status, a re-run that fetches nothing; then runs
// stopped midway (SIGINT, then SIGKILL) and a re-run that fetches only what is
// missing (origin requests counted), with `srcgate verify` passing throughout.
#include "server/prefetch_command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "content/digest.hpp"
#include "content/nix_hash.hpp"
#include "storage/memory_store.hpp"
#include "tests/support/test_support.hpp"
#include "tests/support/test_upstream.hpp"

using namespace srcgate;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using content::Bytes;
using content::HashAlgo;
using server::PrefetchOutcome;
using server::PrefetchSummary;
using test::UpstreamConnection;
using test::UpstreamRequest;

namespace {

using namespace std::chrono_literals;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string read_text(const std::filesystem::path& path) {
  const Bytes b = test::read_file(path);
  return std::string(b.begin(), b.end());
}

std::string sha256_name(content::ByteView bytes) {
  return "sha256:" + content::to_hex(content::digest_of(HashAlgo::sha256, bytes));
}

server::HttpClientOptions quick_client() {
  server::HttpClientOptions c;
  c.connect_timeout = 2s;
  c.first_byte_timeout = 3s;
  c.stall_timeout = 1s;
  return c;
}

// ---- the origin -----------------------------------------------------------

enum class Kind { good, not_found, wrong_bytes, reset };

struct Source {
  std::string target;  // "/src/17.tar.gz"
  Bytes bytes;         // what the hash is of
  Kind kind = Kind::good;
};

// `count` sources; sizes from 1 KiB to 1 MiB; the failing ones at fixed
// indices: 404 (7, 77), wrong bytes (13, 113), reset (21, 121).
std::vector<Source> make_sources(std::size_t count, const std::string& seed) {
  std::vector<Source> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Source s;
    s.target = "/src/" + std::to_string(i) + ".tar.gz";
    const std::size_t size = i % 50 == 0 ? (1u << 20) : 1024 + (i * 977) % (48 * 1024);
    s.bytes = test::deterministic_bytes(seed + "-" + std::to_string(i), size);
    if (i == 7 || i == 77) s.kind = Kind::not_found;
    if (i == 13 || i == 113) s.kind = Kind::wrong_bytes;
    if (i == 21 || i == 121) s.kind = Kind::reset;
    out.push_back(std::move(s));
  }
  return out;
}

// Serves `sources` at their targets and, as a hashed mirror, at
// /sha256/<hex>. While `slow` is set, each answer waits `delay` first.
class Origin {
 public:
  explicit Origin(const std::vector<Source>& sources) {
    for (const Source& s : sources) {
      by_target_[s.target] = &s;
      by_target_["/sha256/" + content::to_hex(content::digest_of(HashAlgo::sha256, s.bytes))] = &s;
    }
    server_ = std::make_unique<test::TestUpstream>(
        [this](const UpstreamRequest& req, UpstreamConnection& c) { handle(req, c); });
  }

  test::TestUpstream& server() { return *server_; }
  std::string url() const { return server_->url(); }
  std::atomic<bool> slow{false};
  std::chrono::milliseconds delay{100};

 private:
  void handle(const UpstreamRequest& req, UpstreamConnection& c) {
    if (slow.load()) {
      for (auto waited = 0ms; waited < delay && !c.stopping(); waited += 10ms) {
        std::this_thread::sleep_for(10ms);
      }
    }
    auto it = by_target_.find(req.target);
    if (it == by_target_.end()) {
      c.respond(404, std::string_view("no such file\n"));
      return;
    }
    const Source& s = *it->second;
    switch (s.kind) {
      case Kind::good:
        c.respond(200, s.bytes);
        return;
      case Kind::not_found:
        c.respond(404, std::string_view("no such file\n"));
        return;
      case Kind::wrong_bytes: {
        Bytes wrong = s.bytes;
        wrong[wrong.size() / 2] ^= 0x01;
        c.respond(200, wrong);
        return;
      }
      case Kind::reset:
        c.reset();
        return;
    }
  }

  std::map<std::string, const Source*, std::less<>> by_target_;
  std::unique_ptr<test::TestUpstream> server_;
};

// Origin requests for the targets of `sources` that are good (or not).
std::uint64_t requests_for(test::TestUpstream& origin, const std::vector<Source>& sources,
                           bool good) {
  std::uint64_t n = 0;
  for (const Source& s : sources) {
    if ((s.kind == Kind::good) == good) n += origin.requests(s.target);
  }
  return n;
}

// ---- running the binary asynchronously -------------------------------------

// srcgate with stdout and stderr going to files, so that it can be signalled
// midway. Killed (SIGKILL) on destruction if still running.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& dir) {
    out_ = dir / "stdout";
    err_ = dir / "stderr";
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int o = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || o < 0 || e < 0) ::_exit(127);
      ::dup2(in, 0);
      ::dup2(o, 1);
      ::dup2(e, 2);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }

  void signal(int sig) { REQUIRE(::kill(pid_, sig) == 0); }

  // The exit status (128 + signal when killed); fails the test after `bound`.
  int wait(std::chrono::milliseconds bound = 20s) {
    const auto until = std::chrono::steady_clock::now() + bound;
    while (!status_) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      REQUIRE(r >= 0);
      if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() > until) FAIL("srcgate did not end in time");
      std::this_thread::sleep_for(10ms);
    }
    return *status_;
  }
  std::string out() const { return read_text(out_); }
  std::string err() const { return read_text(err_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path out_, err_;
};

// The find-tarballs JSON of `sources` at `base`.
std::string sources_json(const std::vector<Source>& sources, const std::string& base) {
  std::string json = "[";
  for (const Source& s : sources) {
    if (json.size() > 1) json += ",\n";
    json += "{\"hash\": \"" + content::to_hex(content::digest_of(HashAlgo::sha256, s.bytes)) +
            "\", \"type\": \"sha256\", \"name\": \"" + s.target.substr(5) + "\", \"urls\": [\"" +
            base + s.target + "\"]}";
  }
  return json + "]\n";
}

// The value of "key":N in a JSON line of numbers.
std::uint64_t json_number(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const auto at = line.find(k);
  INFO(line << " has no " << key);
  REQUIRE(at != std::string::npos);
  return std::stoull(line.substr(at + k.size()));
}

}  // namespace

// ---- unit level -------------------------------------------------------------

TEST_CASE("prefetch text: byte counts, the progress line and the summary JSON", "[prefetch]") {
  CHECK(server::format_bytes(0) == "0 B");
  CHECK(server::format_bytes(1023) == "1023 B");
  CHECK(server::format_bytes(1024) == "1.00 KiB");
  CHECK(server::format_bytes(1536) == "1.50 KiB");
  CHECK(server::format_bytes(10 * 1024) == "10.0 KiB");
  CHECK(server::format_bytes(1048575) == "1.00 MiB");
  CHECK(server::format_bytes(150ull << 20) == "150 MiB");
  CHECK(server::format_bytes(3ull << 29) == "1.50 GiB");

  PrefetchSummary s;
  s.total = 200;
  s.fetched = 50;
  s.already_stored = 4;
  s.failed = 3;
  s.bytes = 12ull << 20;
  s.seconds = 4;
  CHECK(server::progress_line(s) == "57/200 done, 3 failed, 12.0 MiB, 3.00 MiB/s");
  s.interrupted = true;
  CHECK(server::prefetch_summary_json(s) ==
        "{\"total\":200,\"fetched\":50,\"already_stored\":4,\"failed\":3,\"not_done\":143,"
        "\"bytes\":12582912,\"seconds\":4.000,\"interrupted\":true}");
  CHECK_FALSE(s.all_ok());
  auto d = content::digest_of(HashAlgo::sha256, content::as_bytes(std::string_view("abc")));
  CHECK(server::digest_name(d) ==
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("the Prefetcher fetches what the store lacks through a hashed mirror", "[prefetch]") {
  const auto sources = make_sources(30, "unit");
  Origin origin(sources);
  auto store = storage::make_memory_store({});
  REQUIRE(store);
  test::TempDir tmp;

  std::vector<content::Digest> digests;
  for (const Source& s : sources) digests.push_back(content::digest_of(HashAlgo::sha256, s.bytes));
  // One is stored beforehand; one digest is listed twice.
  {
    auto imp = (*store)->begin_import(content::ImportProfile::v1_2025);
    REQUIRE(imp->write(sources[3].bytes));
    REQUIRE(imp->finish());
    REQUIRE(imp->commit());
  }
  digests.push_back(digests[5]);

  server::PrefetchOptions o;
  o.jobs = 3;
  o.client = quick_client();
  o.miss.mirrors = {origin.url()};
  o.miss.negative_ttl = 0ms;
  o.miss.spool_dir = tmp / "spool";
  server::Prefetcher prefetcher(**store, o);
  std::vector<server::PrefetchEvent> events;
  std::uint64_t last_done = 0;
  bool ordered = true;
  const PrefetchSummary sum =
      prefetcher.run(digests, [&](const server::PrefetchEvent& e, const PrefetchSummary& so_far) {
        events.push_back(e);
        ordered = ordered && so_far.done() == last_done + 1;
        last_done = so_far.done();
      });
  CHECK(ordered);
  CHECK(sum.total == 31);
  CHECK(sum.fetched == 26);        // 30 - 3 failing - 1 stored before
  CHECK(sum.already_stored == 2);  // stored before, and the repeat of digests[5]
  CHECK(sum.failed == 3);
  CHECK_FALSE(sum.interrupted);
  CHECK_FALSE(sum.all_ok());
  CHECK(events.size() == 31);
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].kind == Kind::good && i != 3) bytes += sources[i].bytes.size();
  }
  CHECK(sum.bytes == bytes);

  // Every failure names its digest and says what the mirror answered.
  std::map<std::string, std::string> reasons;
  for (const auto& f : sum.failures) reasons[server::digest_name(f.digest)] = f.reason;
  REQUIRE(reasons.size() == 3);
  const std::string mirror = origin.url() + "/sha256/";
  for (std::size_t i : {7, 13, 21}) {
    const std::string name = sha256_name(sources[i].bytes);
    INFO(i << ": " << reasons[name]);
    REQUIRE(reasons.count(name) == 1);
    CHECK_THAT(reasons[name], Contains(mirror + name.substr(7)));
  }
  CHECK_THAT(reasons[sha256_name(sources[7].bytes)], Contains("not_found"));
  CHECK_THAT(reasons[sha256_name(sources[13].bytes)], Contains("mismatch"));
  CHECK_THAT(reasons[sha256_name(sources[21].bytes)], Contains("reset"));

  // The store holds the exact bytes of every good source, and nothing else.
  for (std::size_t i = 0; i < sources.size(); ++i) {
    auto entry = (*store)->lookup(content::digest_of(HashAlgo::sha256, sources[i].bytes));
    REQUIRE(entry);
    INFO(i);
    REQUIRE(entry->has_value() == (sources[i].kind == Kind::good));
    if (!*entry) continue;
    Bytes back;
    REQUIRE((*store)->read_file((*entry)->root, 0, ~0ull, [&](content::ByteView b) {
      content::append(back, b);
      return storage::Result<void>{};
    }));
    CHECK(back == sources[i].bytes);
  }
  auto st = (*store)->stats();
  REQUIRE(st);
  CHECK(st->files == 27);
  // Each digest was asked once, the stored one never. (HttpClient sends a
  // request again, once, when a reused keep-alive connection dies before
  // answering, which the reset source may cause.)
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const std::uint64_t n = origin.server().requests(
        "/sha256/" + content::to_hex(content::digest_of(HashAlgo::sha256, sources[i].bytes)));
    INFO(i);
    if (i == 3) {
      CHECK(n == 0);
    } else if (sources[i].kind == Kind::reset) {
      CHECK((n == 1 || n == 2));
    } else {
      CHECK(n == 1);
    }
  }
}

TEST_CASE("a stopped Prefetcher abandons its fetches; a second run fetches the rest",
          "[prefetch]") {
  std::vector<Source> sources = make_sources(40, "stop");
  for (Source& s : sources) s.kind = Kind::good;
  Origin origin(sources);
  origin.slow = true;
  origin.delay = 50ms;
  auto store = storage::make_memory_store({});
  REQUIRE(store);
  test::TempDir tmp;
  std::vector<content::Digest> digests;
  for (const Source& s : sources) digests.push_back(content::digest_of(HashAlgo::sha256, s.bytes));

  server::PrefetchOptions o;
  o.jobs = 4;
  o.client = quick_client();
  o.miss.mirrors = {origin.url()};
  o.miss.spool_dir = tmp / "spool";
  PrefetchSummary first;
  {
    server::Prefetcher prefetcher(**store, o);
    first = prefetcher.run(digests, [&](const server::PrefetchEvent&, const PrefetchSummary& s) {
      if (s.done() == 10) prefetcher.stop();
    });
  }
  CHECK(first.interrupted);
  CHECK(first.fetched >= 10);
  CHECK(first.fetched < 40);
  CHECK(first.failed == 0);
  auto st = (*store)->stats();
  REQUIRE(st);
  // A fetch may have committed after stop() but before its worker counted it.
  CHECK(st->files >= first.fetched);
  CHECK(st->files <= first.fetched + o.jobs);
  const std::uint64_t kept = st->files;
  auto verified = (*store)->verify({});
  REQUIRE(verified);
  CHECK(verified->ok());
  CHECK(verified->unreferenced_blocks == 0);  // abandoned imports left nothing behind

  // Requests per object before the second run. (A request sent just before
  // stop() may be counted by the origin a little later: it is for an object
  // that was not stored.)
  const auto asked = [&](std::size_t i) {
    return origin.server().requests("/sha256/" + content::to_hex(digests[i]));
  };
  std::vector<std::uint64_t> before(sources.size());
  std::vector<bool> had(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) {
    before[i] = asked(i);
    auto entry = (*store)->lookup(digests[i]);
    REQUIRE(entry);
    had[i] = entry->has_value();
  }
  origin.slow = false;
  server::Prefetcher again(**store, o);
  const PrefetchSummary second = again.run(digests, {});
  CHECK_FALSE(second.interrupted);
  CHECK(second.all_ok());
  CHECK(second.already_stored == kept);
  CHECK(second.fetched == 40 - kept);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    INFO(i << " stored before: " << had[i]);
    if (had[i]) {
      CHECK(asked(i) == before[i]);
    } else {
      CHECK(asked(i) > before[i]);
    }
  }
  st = (*store)->stats();
  REQUIRE(st);
  CHECK(st->files == 40);
}

// ---- the binary ---------------------------------------------------------------

TEST_CASE("srcgate prefetch: help and usage errors", "[prefetch][cli]") {
  const std::string bin = test::srcgate_binary().string();
  test::TempDir tmp;
  const auto help = test::run_command({bin, "prefetch", "--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, StartsWith("Usage: srcgate prefetch"));
  CHECK_THAT(help.out, Contains("--jobs"));
  CHECK_THAT(help.out, Contains("--allow-private-upstreams"));
  const auto top = test::run_command({bin, "--help"});
  CHECK_THAT(top.out, Contains("  prefetch "));
  const std::string data = (tmp / "data").string();
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--jobs", "0"},
                                               {"--jobs", "x"},
                                               {"not-a-hash"},
                                               {"--bogus"},
                                               {"--mirror", "ftp://x/"}}) {
    std::vector<std::string> argv = {bin, "prefetch", "--data", data};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = test::run_command(argv);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, StartsWith("srcgate prefetch: "));
  }
  // No store and nothing named: a clear message, status 1.
  const auto none = test::run_command({bin, "prefetch", "--data", data, "--no-default-upstreams"});
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.err, Contains("there is no store at " + data));
}

TEST_CASE("srcgate prefetch over 200 indexed sources on a loopback origin", "[prefetch][cli]") {
  const std::string bin = test::srcgate_binary().string();
  const auto sources = make_sources(200, "prefetch");
  Origin origin(sources);
  test::TempDir tmp;
  const std::string data = (tmp / "data").string();
  test::write_file(tmp / "sources.json", content::as_bytes(sources_json(sources, origin.url())));
  const auto imported = test::run_command(
      {bin, "sources", "import", "--data", data, (tmp / "sources.json").string()});
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);

  std::uint64_t good_bytes = 0;
  for (const Source& s : sources) {
    if (s.kind == Kind::good) good_bytes += s.bytes.size();
  }
  const std::vector<std::string> prefetch = {
      bin,      "prefetch", "--data", data, "--no-default-upstreams", "--allow-private-upstreams",
      "--jobs", "8"};
  const auto first = test::run_command(prefetch);
  INFO(first.err);
  CHECK(first.exit_code == 1);
  CHECK_THAT(first.out, StartsWith("{\"total\":200,\"fetched\":194,\"already_stored\":0,"
                                   "\"failed\":6,\"not_done\":0,\"bytes\":" +
                                   std::to_string(good_bytes) + ",\"seconds\":"));
  CHECK_THAT(first.out, Contains(",\"interrupted\":false}\n"));
  // Not a terminal: one line per fetched or failed hash, then the summary and
  // the failures with their reasons.
  const auto err = lines(first.err);
  std::size_t fetched_lines = 0;
  std::set<std::string> failed_lines;
  std::map<std::string, std::string> listed;  // digest name -> reason in the final list
  for (const std::string& line : err) {
    if (line.find("] fetched sha256:") != std::string::npos) ++fetched_lines;
    if (const auto at = line.find("] failed sha256:"); at != std::string::npos) {
      failed_lines.insert(line.substr(at + 9, 71));
    }
    if (line.starts_with("  sha256:")) listed[line.substr(2, 71)] = line.substr(75);
  }
  CHECK(fetched_lines == 194);
  CHECK(failed_lines.size() == 6);
  CHECK_THAT(first.err,
             Contains("srcgate prefetch: 194 fetched (" + server::format_bytes(good_bytes) +
                      "), 0 already stored, 6 failed, of 200 in "));
  CHECK_THAT(first.err, Contains("srcgate prefetch: 6 failure(s):\n"));
  REQUIRE(listed.size() == 6);
  const std::map<std::size_t, std::string> expected = {
      {7, "404"}, {77, "404"}, {13, "mismatch"}, {113, "mismatch"}, {21, "reset"}, {121, "reset"}};
  for (const auto& [i, word] : expected) {
    const std::string name = sha256_name(sources[i].bytes);
    INFO(i << " " << name);
    REQUIRE(listed.count(name) == 1);
    CHECK(failed_lines.count(name) == 1);
    CHECK_THAT(listed[name], Contains(origin.url() + sources[i].target));
    CHECK_THAT(listed[name], Contains(word));
  }
  // Each source URL was asked once. (HttpClient sends a request again, once,
  // when a reused keep-alive connection dies before answering: the reset
  // sources may be asked twice.)
  for (const Source& s : sources) {
    INFO(s.target);
    const std::uint64_t n = origin.server().requests(s.target);
    if (s.kind == Kind::reset) {
      CHECK((n == 1 || n == 2));
    } else {
      CHECK(n == 1);
    }
  }

  // A re-run fetches nothing new; the failing ones are asked again.
  const std::uint64_t good_before = requests_for(origin.server(), sources, true);
  const std::uint64_t bad_before = requests_for(origin.server(), sources, false);
  const auto second = test::run_command(prefetch);
  INFO(second.err);
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.out, StartsWith("{\"total\":200,\"fetched\":0,\"already_stored\":194,"
                                    "\"failed\":6,\"not_done\":0,\"bytes\":0,"));
  CHECK(requests_for(origin.server(), sources, true) == good_before);
  const std::uint64_t bad_asked = requests_for(origin.server(), sources, false) - bad_before;
  CHECK(bad_asked >= 6);
  CHECK(bad_asked <= 8);

  // Named hashes: a stored one is done at once (status 0).
  const auto named =
      test::run_command({bin, "prefetch", "--data", data, "--no-default-upstreams",
                         "--allow-private-upstreams", sha256_name(sources[0].bytes)});
  INFO(named.err);
  CHECK(named.exit_code == 0);
  CHECK_THAT(named.out,
             StartsWith("{\"total\":1,\"fetched\":0,\"already_stored\":1,\"failed\":0,"));

  const auto verify = test::run_command({bin, "verify", "--data", data});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
}

TEST_CASE("srcgate prefetch stopped midway (SIGINT, SIGKILL) resumes with what is missing",
          "[prefetch][cli]") {
  const std::string bin = test::srcgate_binary().string();
  const auto sources = make_sources(200, "resume");
  Origin origin(sources);
  origin.slow = true;
  origin.delay = 60ms;
  test::TempDir tmp;
  const std::string data = (tmp / "data").string();
  test::write_file(tmp / "sources.json", content::as_bytes(sources_json(sources, origin.url())));
  REQUIRE(
      test::run_command({bin, "sources", "import", "--data", data, (tmp / "sources.json").string()})
          .exit_code == 0);
  const std::vector<std::string> prefetch = {
      bin,      "prefetch", "--data", data, "--no-default-upstreams", "--allow-private-upstreams",
      "--jobs", "4"};
  const auto stored_files = [&] {
    const auto stats = test::run_command({bin, "stats", "--data", data});
    INFO(stats.err);
    REQUIRE(stats.exit_code == 0);
    return json_number(stats.out, "files");
  };
  const auto verify_passes = [&] {
    const auto verify = test::run_command({bin, "verify", "--data", data});
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
  };

  // SIGINT after 20 origin requests: the summary, status 1.
  {
    test::TempDir run_dir;
    Child child(prefetch, run_dir.path());
    REQUIRE(origin.server().wait_for_requests(20, 15s));
    child.signal(SIGINT);
    const int status = child.wait();
    INFO(child.err());
    CHECK(status == 1);
    const std::string out = child.out();
    CHECK_THAT(out, StartsWith("{\"total\":200,"));
    CHECK_THAT(out, Contains("\"interrupted\":true}"));
    CHECK(json_number(out, "fetched") >= 5);
    CHECK(json_number(out, "not_done") > 0);
    CHECK_THAT(child.err(), Contains("interrupted with "));
    // A fetch may have committed after the signal but before it was counted.
    const std::uint64_t files = stored_files();
    CHECK(files >= json_number(out, "fetched"));
    CHECK(files <= json_number(out, "fetched") + 4);
  }
  verify_passes();

  // SIGKILL after 20 more: nothing half-stored either.
  {
    test::TempDir run_dir;
    const std::uint64_t at = origin.server().requests();
    Child child(prefetch, run_dir.path());
    REQUIRE(origin.server().wait_for_requests(at + 20, 15s));
    child.signal(SIGKILL);
    CHECK(child.wait() == 128 + SIGKILL);
  }
  verify_passes();
  const std::uint64_t stored = stored_files();
  CHECK(stored >= 20);
  CHECK(stored < 194);

  // The re-run fetches exactly the missing good sources (and asks the failing
  // ones again). A request the killed run had just sent may reach the origin's
  // count a little later: let it settle first.
  origin.slow = false;
  std::this_thread::sleep_for(300ms);
  const std::uint64_t good_before = requests_for(origin.server(), sources, true);
  const std::uint64_t bad_before = requests_for(origin.server(), sources, false);
  const auto last = test::run_command(prefetch);
  INFO(last.err);
  CHECK(last.exit_code == 1);
  CHECK_THAT(last.out, StartsWith("{\"total\":200,\"fetched\":" + std::to_string(194 - stored) +
                                  ",\"already_stored\":" + std::to_string(stored) +
                                  ",\"failed\":6,\"not_done\":0,"));
  CHECK(requests_for(origin.server(), sources, true) - good_before == 194 - stored);
  const std::uint64_t bad_asked = requests_for(origin.server(), sources, false) - bad_before;
  CHECK(bad_asked >= 6);
  CHECK(bad_asked <= 8);
  CHECK(stored_files() == 194);
  verify_passes();
}

TEST_CASE("srcgate prefetch --server has a running srcgate fetch its indexed sources",
          "[prefetch][cli][server]") {
  const std::string bin = test::srcgate_binary().string();
  const auto sources = make_sources(40, "server");  // 7: 404, 13: wrong bytes, 21: reset
  Origin origin(sources);
  test::TempDir tmp;
  const std::string data = (tmp / "data").string();
  test::write_file(tmp / "sources.json", content::as_bytes(sources_json(sources, origin.url())));
  REQUIRE(
      test::run_command({bin, "sources", "import", "--data", data, (tmp / "sources.json").string()})
          .exit_code == 0);
  const std::string token = "SRCGATE_ADMIN_TOKEN=prefetch-test-token";
  test::TempDir server_dir;
  Child serve(
      {"/usr/bin/env", token, bin, "serve", "--data", data, "--listen", "127.0.0.1:0", "--threads",
       "2", "--no-default-upstreams", "--allow-private-upstreams", "--negative-cache-ttl", "0"},
      server_dir.path());
  // The port, from "srcgate serve: listening on 127.0.0.1:PORT with ...".
  std::string port;
  for (int i = 0; i < 1000 && port.empty(); ++i) {
    const std::string log =
        std::filesystem::exists(server_dir / "stderr") ? read_text(server_dir / "stderr") : "";
    const std::string marker = "listening on 127.0.0.1:";
    if (const auto at = log.find(marker); at != std::string::npos) {
      const auto end = log.find(' ', at + marker.size());
      if (end != std::string::npos) port = log.substr(at + marker.size(), end - at - marker.size());
    }
    if (port.empty()) std::this_thread::sleep_for(10ms);
  }
  INFO((std::filesystem::exists(server_dir / "stderr") ? read_text(server_dir / "stderr") : ""));
  REQUIRE_FALSE(port.empty());
  const std::string url = "http://127.0.0.1:" + port;

  // The store is the server's: a local prefetch says so and points at --server.
  const auto busy = test::run_command({bin, "prefetch", "--data", data, "--no-default-upstreams"});
  CHECK(busy.exit_code == 1);
  CHECK_THAT(busy.err, Contains("is in use by another process"));
  CHECK_THAT(busy.err, Contains("srcgate prefetch --server http://HOST:PORT"));
  CHECK(test::run_command({bin, "prefetch", "--server", url, "--data", data}).exit_code == 2);

  const std::vector<std::string> prefetch = {"/usr/bin/env", token, bin,      "prefetch",
                                             "--server",     url,   "--jobs", "4"};
  const auto first = test::run_command(prefetch);
  INFO(first.err);
  CHECK(first.exit_code == 1);
  CHECK_THAT(first.out, StartsWith("{\"total\":40,\"fetched\":37,\"already_stored\":0,"
                                   "\"failed\":3,\"not_done\":0,"));
  std::map<std::string, std::string> listed;  // digest name -> reason in the final list
  for (const std::string& line : lines(first.err)) {
    if (line.starts_with("  sha256:")) listed[line.substr(2, 71)] = line.substr(75);
  }
  REQUIRE(listed.size() == 3);
  for (std::size_t i : {7, 13, 21}) {
    const std::string name = sha256_name(sources[i].bytes);
    INFO(i << ": " << listed[name]);
    CHECK_THAT(listed[name], StartsWith(url + "/sha256/" + name.substr(7) + ": "));
  }
  // The server's 404 says what the origin answered.
  CHECK_THAT(listed[sha256_name(sources[7].bytes)],
             Contains("404: ") && Contains(origin.url() + sources[7].target));
  CHECK_THAT(listed[sha256_name(sources[21].bytes)], Contains(origin.url() + sources[21].target));
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].kind != Kind::good) continue;
    INFO(i);
    CHECK(origin.server().requests(sources[i].target) == 1);
  }

  // Again: everything good is already there (HEAD only-if-cached), no origin request.
  const std::uint64_t good_before = requests_for(origin.server(), sources, true);
  const auto second = test::run_command(prefetch);
  INFO(second.err);
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.out, StartsWith("{\"total\":40,\"fetched\":0,\"already_stored\":37,"
                                    "\"failed\":3,\"not_done\":0,\"bytes\":0,"));
  CHECK(requests_for(origin.server(), sources, true) == good_before);
  // Named hashes need no token.
  const auto named =
      test::run_command({bin, "prefetch", "--server", url, sha256_name(sources[0].bytes)});
  INFO(named.err);
  CHECK(named.exit_code == 0);
  CHECK_THAT(named.out,
             StartsWith("{\"total\":1,\"fetched\":0,\"already_stored\":1,\"failed\":0,"));

  serve.signal(SIGTERM);
  CHECK(serve.wait() == 0);
  const auto verify = test::run_command({bin, "verify", "--data", data});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
  const auto stats = test::run_command({bin, "stats", "--data", data});
  CHECK(json_number(stats.out, "files") == 37);
}
