// Helpers of the real-Nix tests (header-only; included by tests/nix/*_test.cpp):
// `srcgate serve` as a child process whose stderr the test reads, and Debian's
// nix-bin as a daemonless client with an isolated store (nix.md §3.2).
// Both children run without the *_proxy variables (loopback must not go
// through a proxy) and srcgate without SRCGATE_* ones (the test states every
// setting on the command line).
// Thread-safety: none; each object is used by the test's thread.
#pragma once

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
#include <string_view>
#include <vector>

#include "content/bytes.hpp"
#include "tests/support/test_support.hpp"

namespace srcgate::test {

inline bool on_path(const std::string& program) {
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

// The proxy variables, which no child of these tests may see.
inline constexpr std::string_view kProxyVariables[] = {
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
    "all_proxy",  "ALL_PROXY",   "no_proxy",   "NO_PROXY",
};

// The test process's environment without the proxy and SRCGATE_* variables.
inline std::vector<std::string> child_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool drop = name.starts_with("SRCGATE_");
    for (const std::string_view v : kProxyVariables) drop = drop || name == v;
    if (!drop) out.emplace_back(entry);
  }
  return out;
}

// Skips (returns false) when nix-build is missing, or fails when $CI is set.
inline bool nix_available() {
  if (on_path("nix-build")) return true;
  if (std::getenv("CI") != nullptr) {
    FAIL(
        "nix-build is not installed but $CI is set: install Debian's nix-bin "
        "(scripts/install-deps --test)");
  }
  WARN("nix-build is not installed (Debian package nix-bin): skipping the Nix client test");
  return false;
}

// `srcgate serve` as a child process whose stderr (start-up lines, access
// log) the test reads through a pipe. The destructor stops it (SIGTERM).
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
    const std::vector<std::string> env = child_environment();
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    fd_ = fds[0];
    REQUIRE(rc == 0);
  }
  ~ServeProcess() { stop(); }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // Waits (bounded) for the start-up line and returns the port it names.
  std::string wait_for_port() {
    constexpr std::string_view kListening = "listening on 127.0.0.1:";
    REQUIRE(wait_for(std::string(kListening), std::chrono::seconds(30)));
    const std::size_t at = log_.find(kListening) + kListening.size();
    REQUIRE(wait_for_after("\n", at, std::chrono::seconds(5)));
    const std::string port = log_.substr(at, log_.find_first_not_of("0123456789", at) - at);
    REQUIRE_FALSE(port.empty());
    return port;
  }

  // Reads stderr until it contains `needle` or `timeout` passes.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    return wait_for_after(needle, 0, timeout);
  }
  // Reads whatever stderr holds now.
  const std::string& drain() {
    while (read_some(0)) {
    }
    return log_;
  }
  // How often `needle` occurs in what stderr held so far (after a drain()).
  std::size_t count(const std::string& needle) {
    drain();
    std::size_t n = 0;
    for (std::size_t at = log_.find(needle); at != std::string::npos;
         at = log_.find(needle, at + needle.size())) {
      ++n;
    }
    return n;
  }
  // Reads stderr until `needle` occurs `n` times or `timeout` passes.
  bool wait_for_count(const std::string& needle, std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count(needle) < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return false;
    }
    return true;
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
  bool wait_for_after(const std::string& needle, std::size_t from,
                      std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (log_.find(needle, from) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return false;
    }
    return true;
  }
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

// A daemonless Nix with its own store, state and configuration under `root`
// (nix.md §3.2), whose only hashed mirror is `mirror` (a base URL ending in
// '/'), with no substituters, one download attempt and short timeouts.
class NixClient {
 public:
  NixClient(const std::filesystem::path& root, const std::string& mirror)
      : root_(root), mirror_(mirror) {
    const auto etc = root / "nix-etc";
    std::filesystem::create_directories(etc);
    const std::string conf =
        "build-users-group =\n"
        "sandbox = false\n"
        "substituters =\n"
        "hashed-mirrors = " +
        mirror +
        "\n"
        "connect-timeout = 5\n"
        "stalled-download-timeout = 10\n"
        "download-attempts = 1\n";
    write_file(etc / "nix.conf", content::as_bytes(conf));
    argv_ = {"env"};
    for (const std::string_view v : kProxyVariables)
      argv_.insert(argv_.end(), {"-u", std::string(v)});
    argv_.insert(argv_.end(), {
                                  "NIX_CONF_DIR=" + etc.string(),
                                  "NIX_STORE_DIR=" + (root / "store").string(),
                                  "NIX_STATE_DIR=" + (root / "var").string(),
                                  "NIX_LOG_DIR=" + (root / "var/log").string(),
                                  "HOME=" + root.string(),
                              });
  }

  std::filesystem::path store() const { return root_ / "store"; }

  // nix-build --no-out-link -E `expr`, with the mirror also as an --option.
  CommandResult build(const std::string& expr) const {
    std::vector<std::string> argv = argv_;
    argv.insert(argv.end(), {"nix-build", "--no-out-link", "-E", expr, "--option", "hashed-mirrors",
                             mirror_, "--option", "substituters", ""});
    return run_command(argv);
  }

  // The output path that a successful build printed (its last line).
  static std::string out_path(const CommandResult& built) {
    std::string out = built.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  }

 private:
  std::filesystem::path root_;
  std::string mirror_;
  std::vector<std::string> argv_;
};

// `import <nix/fetchurl.nix> { ... }` of an unreachable original URL, so that
// only a hashed mirror can make the build succeed.
inline std::string fetchurl_expr(const std::string& name, const std::string& attr,
                                 const std::string& hash) {
  return "import <nix/fetchurl.nix> { url = \"http://127.0.0.1:9/unreachable\"; name = \"" + name +
         "\"; " + attr + " = \"" + hash + "\"; }";
}

}  // namespace srcgate::test
