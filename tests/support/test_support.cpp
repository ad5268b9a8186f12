#include "tests/support/test_support.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

#include "content/digest.hpp"

extern char** environ;

namespace srcgate::test {

namespace fs = std::filesystem;

fs::path source_dir() { return fs::path(SRCGATE_SOURCE_DIR); }

fs::path shared_dir() {
  if (const char* env = std::getenv("SRCGATE_SHARED_DIR")) return fs::path(env);
  return source_dir().parent_path() / "shared";
}

fs::path fixture(std::string_view relative) {
  return shared_dir() / "fixtures" / "gateway-conformance" / relative;
}

fs::path srcgate_binary() { return fs::path(SRCGATE_BINARY); }

content::Bytes read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return content::Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& path, content::ByteView data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/srcgate-test-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

struct DeterministicStream::Ctx {
  EVP_CIPHER_CTX* cipher = nullptr;
};

DeterministicStream::DeterministicStream(std::string_view seed) : ctx_(new Ctx) {
  auto key = content::digest_of(content::HashAlgo::sha256, content::as_bytes(seed));
  // OpenSSL's ChaCha20 IV is a 32-bit little-endian counter then the 96-bit
  // nonce; all zero gives the IETF stream with counter 0 and a zero nonce.
  std::array<std::uint8_t, 16> iv{};
  ctx_->cipher = EVP_CIPHER_CTX_new();
  if (!ctx_->cipher ||
      EVP_EncryptInit_ex(ctx_->cipher, EVP_chacha20(), nullptr, key.data.data(), iv.data()) != 1) {
    throw std::runtime_error("EVP_chacha20 init failed");
  }
}

DeterministicStream::~DeterministicStream() {
  EVP_CIPHER_CTX_free(ctx_->cipher);
  delete ctx_;
}

void DeterministicStream::fill(std::span<std::uint8_t> out) {
  static const std::array<std::uint8_t, 65536> zeros{};
  std::size_t done = 0;
  while (done < out.size()) {
    int n = static_cast<int>(std::min(out.size() - done, zeros.size()));
    int written = 0;
    if (EVP_EncryptUpdate(ctx_->cipher, out.data() + done, &written, zeros.data(), n) != 1 ||
        written != n) {
      throw std::runtime_error("EVP_EncryptUpdate failed");
    }
    done += static_cast<std::size_t>(n);
  }
}

content::Bytes deterministic_bytes(std::string_view seed, std::size_t size) {
  content::Bytes out(size);
  DeterministicStream(seed).fill(out);
  return out;
}

CommandResult run_command(const std::vector<std::string>& argv) {
  REQUIRE(!argv.empty());
  int out_pipe[2], err_pipe[2];
  REQUIRE(pipe(out_pipe) == 0);
  REQUIRE(pipe(err_pipe) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  INFO("spawning " << argv[0]);
  REQUIRE(rc == 0);
  // Read both pipes without deadlocking on a full one.
  CommandResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace srcgate::test
