// Helpers shared by the test suite: where things are, scratch directories,
// deterministic data, running the srcgate binary, and how Catch prints a
// Result.
#pragma once

#include <boost/system/result.hpp>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "content/bytes.hpp"

// Lets Catch print Results (boost's operator<< for result<T, E> needs one for
// T and E): "{value}", or "{error: <message>}".
namespace Catch {
template <class T, class E>
struct StringMaker<boost::system::result<T, E>> {
  static std::string convert(const boost::system::result<T, E>& r) {
    return r ? std::string("{value}") : "{error: " + r.error().message + "}";
  }
};
}  // namespace Catch

namespace srcgate::test {

// The project's source tree, and the shared/ folder beside it (fixtures, notes).
std::filesystem::path source_dir();
std::filesystem::path shared_dir();
std::filesystem::path fixture(
    std::string_view relative);  // under shared/fixtures/gateway-conformance
// The built srcgate binary.
std::filesystem::path srcgate_binary();

content::Bytes read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, content::ByteView data);

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// kubo's deterministic test data (test/cli/testutils/random_deterministic.go):
// the ChaCha20 keystream with key sha256(seed), 96-bit zero nonce, counter 0.
// Streams `size` bytes to `sink` in slices of at most `slice` bytes.
class DeterministicStream {
 public:
  explicit DeterministicStream(std::string_view seed);
  ~DeterministicStream();
  DeterministicStream(const DeterministicStream&) = delete;
  DeterministicStream& operator=(const DeterministicStream&) = delete;
  // Fills `out` with the next out.size() keystream bytes.
  void fill(std::span<std::uint8_t> out);

 private:
  struct Ctx;
  Ctx* ctx_;
};
content::Bytes deterministic_bytes(std::string_view seed, std::size_t size);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs argv (argv[0] is looked up in PATH unless it has a '/') with no stdin,
// capturing both streams. Fails the test if the process cannot be started.
CommandResult run_command(const std::vector<std::string>& argv);

// sh lines for a script (run_command({"sh", "-c", script, ...})) that has just
// started `srcgate serve --listen 127.0.0.1:0 ... 2>"$err" &`: wait (at most
// 20 s, else print "no start" and exit 90) for its "listening on" line, then
// set $pid, $port and $m, the server's base URL.
inline constexpr std::string_view kShAwaitServe = R"(pid=$!
i=0
until grep -q 'listening on' "$err"; do
  i=$((i+1)); if [ $i -gt 400 ]; then kill -9 $pid; echo "no start"; exit 90; fi; sleep 0.05
done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$err")
m="http://127.0.0.1:$port"
)";

// sh lines that end such a script: SIGTERM to the server, "exit=<its status>"
// on stdout, and its stderr (the file $err) on stderr.
inline constexpr std::string_view kShStopServe = R"(kill -TERM $pid
wait $pid
echo "exit=$?"
cat "$err" >&2
)";

}  // namespace srcgate::test
