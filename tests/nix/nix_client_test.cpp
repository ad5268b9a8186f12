// A real Nix client against the real gateway (issue 4 acceptance, nix.md
// §3.2): files are stored with `srcgate import --data DIR`, `srcgate serve`
// serves that store on 127.0.0.1 port 0, and Debian's nix-bin (daemonless, an
// isolated store in a TempDir) builds
//   import <nix/fetchurl.nix> { url = "http://127.0.0.1:9/unreachable"; ... }
// with hashed-mirrors pointing at the gateway, for files named by sha256 in
// nix32, hex and SRI, by sha512 and by sha1. The original URL is unreachable,
// so a build can only succeed from srcgate; the test also checks the
// gateway's access log for each GET /<algo>/<hex> and the fetched bytes.
// Without nix-build the test fails when $CI is set and is skipped otherwise.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using content::HashAlgo;

namespace {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string p(path);
  for (std::size_t start = 0; start <= p.size();) {
    const std::size_t colon = p.find(':', start);
    const std::string dir = p.substr(start, colon == std::string::npos ? colon : colon - start);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return false;
}

// `srcgate serve` as a child process whose stderr (start-up line, access log)
// the test reads through a pipe.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& argv) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    fd_ = fds[0];
    REQUIRE(rc == 0);
  }
  ~ServeProcess() { stop(); }

  // Reads stderr until it contains `needle` or `timeout` passes.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (log_.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return false;
    }
    return true;
  }
  // Reads whatever stderr holds now.
  const std::string& drain() {
    while (read_some(0)) {
    }
    return log_;
  }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (fd_ >= 0) {
      drain();
      ::close(fd_);
      fd_ = -1;
    }
  }
  const std::string& log() const { return log_; }

 private:
  // One poll+read; false on timeout or end of stream.
  bool read_some(int timeout_ms) {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    log_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string log_;
};

std::string hex(HashAlgo algo, const content::Bytes& data) {
  return content::hex_encode(content::digest_of(algo, data).bytes());
}

}  // namespace

TEST_CASE("nix-build fetches <nix/fetchurl.nix> files from srcgate as a hashed mirror",
          "[nix][slow]") {
  if (!on_path("nix-build")) {
    if (std::getenv("CI") != nullptr) {
      FAIL(
          "nix-build is not installed but $CI is set: install Debian's nix-bin "
          "(scripts/install-deps --test)");
    }
    WARN("nix-build is not installed (Debian package nix-bin): skipping the Nix client test");
    return;
  }
  test::TempDir t;
  const auto data_dir = t / "data";

  struct Case {
    std::string name;  // the derivation name, so that each build is a new store path
    std::string attr;  // the Nix attribute that names the hash
    HashAlgo algo;     // the algorithm Nix asks the mirror for
    content::Bytes data;
    std::string hash_text;
  };
  std::vector<Case> cases = {
      {"by-sha256-nix32", "sha256", HashAlgo::sha256, {}, {}},
      {"by-sha256-hex", "sha256", HashAlgo::sha256, {}, {}},
      {"by-sha256-sri", "hash", HashAlgo::sha256, {}, {}},
      {"by-sha512", "sha512", HashAlgo::sha512, {}, {}},
      {"by-sha1", "sha1", HashAlgo::sha1, {}, {}},
  };
  std::vector<std::string> import_argv = {test::srcgate_binary().string(), "import", "--data",
                                          data_dir.string()};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    Case& c = cases[i];
    // Distinct contents (one multi-block), so no case can be satisfied by another's output.
    const std::size_t size = i == 0 ? (2u << 20) + 123 : 10'000 + i;
    c.data = test::deterministic_bytes("nix-client-" + c.name, size);
    const auto digest = content::digest_of(c.algo, c.data);
    if (c.name == "by-sha256-nix32" || c.name == "by-sha512" || c.name == "by-sha1") {
      c.hash_text = content::nix32_encode(digest.bytes());
    } else if (c.name == "by-sha256-hex") {
      c.hash_text = content::hex_encode(digest.bytes());
    } else {
      c.hash_text = "sha256-" + content::base64_encode(digest.bytes());
    }
    const auto file = t / (c.name + ".bin");
    test::write_file(file, c.data);
    import_argv.push_back(file.string());
  }
  const auto imported = test::run_command(import_argv);
  INFO("srcgate import: " << imported.err);
  REQUIRE(imported.exit_code == 0);
  for (const Case& c : cases) {
    CHECK_THAT(imported.out,
               Catch::Matchers::Contains("\"sha256\":\"" + hex(HashAlgo::sha256, c.data) + "\""));
  }

  ServeProcess serve({test::srcgate_binary().string(), "serve", "--listen", "127.0.0.1:0",
                      "--threads", "2", "--data", data_dir.string()});
  REQUIRE(serve.wait_for("listening on 127.0.0.1:", std::chrono::seconds(30)));
  REQUIRE(serve.wait_for("\n", std::chrono::seconds(5)));
  const std::string& log = serve.log();
  const std::size_t at = log.find("listening on 127.0.0.1:") + 23;
  const std::string port = log.substr(at, log.find_first_not_of("0123456789", at) - at);
  REQUIRE_FALSE(port.empty());

  // nix.md §3.2: an isolated, daemonless store.
  const auto etc = t / "nix-etc";
  std::filesystem::create_directories(etc);
  const std::string conf =
      "build-users-group =\n"
      "sandbox = false\n"
      "substituters =\n"
      "hashed-mirrors = http://127.0.0.1:" +
      port +
      "/\n"
      "connect-timeout = 5\n"
      "stalled-download-timeout = 10\n"
      "download-attempts = 1\n";
  test::write_file(etc / "nix.conf", content::as_bytes(conf));
  const std::vector<std::string> env = {
      "env",
      "NIX_CONF_DIR=" + etc.string(),
      "NIX_STORE_DIR=" + (t / "store").string(),
      "NIX_STATE_DIR=" + (t / "var").string(),
      "NIX_LOG_DIR=" + (t / "var/log").string(),
      "HOME=" + t.path().string(),
  };

  for (const Case& c : cases) {
    INFO(c.name << ": " << c.attr << " = \"" << c.hash_text << "\"");
    const std::string expr =
        "import <nix/fetchurl.nix> { url = \"http://127.0.0.1:9/unreachable\"; "
        "name = \"" +
        c.name + "\"; " + c.attr + " = \"" + c.hash_text + "\"; }";
    std::vector<std::string> argv = env;
    argv.insert(argv.end(), {"nix-build", "--no-out-link", "-E", expr, "--option", "hashed-mirrors",
                             "http://127.0.0.1:" + port + "/", "--option", "substituters", ""});
    const auto built = test::run_command(argv);
    INFO("nix-build stderr:\n" << built.err);
    REQUIRE(built.exit_code == 0);
    std::string out_path = built.out;
    while (!out_path.empty() && (out_path.back() == '\n' || out_path.back() == '\r')) {
      out_path.pop_back();
    }
    REQUIRE(out_path.starts_with((t / "store").string() + "/"));
    CHECK(out_path.ends_with("-" + c.name));
    const bool same_bytes = test::read_file(out_path) == c.data;  // no MiB dump on failure
    CHECK(same_bytes);
    // builtin:fetchurl always asks for /<algo>/<base16> (nix.md §1.1).
    const std::string target =
        "target=/" + std::string(content::algo_name(c.algo)) + "/" + hex(c.algo, c.data);
    CHECK(serve.wait_for(target, std::chrono::seconds(5)));
    CHECK_THAT(serve.drain(), Catch::Matchers::Contains(target + " status=200"));
  }
  serve.stop();
  CHECK_THAT(serve.log(), Catch::Matchers::Contains("srcgate serve: stopped"));
}
