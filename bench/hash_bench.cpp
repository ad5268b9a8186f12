// Hashing throughput benchmark: reads one file into memory, then times passes
// over it in 1 MiB slices (the slice size srcgate reads files in) and prints
// one line per pass:
//   pass=<name> mb_per_s=<10^6 bytes per wall second> seconds=<wall>
//        cpu_seconds=<process CPU time, all threads>
//        main_cpu_seconds=<CPU time of the calling thread> check=<result prefix>
// The figures are those of the fastest of --repeat runs. At most two threads
// are busy in any pass, so max(main, cpu - main) is the time the pass would take
// with each thread on its own idle core: the figure to read on a loaded machine.
// Passes:
//   sha256           one Digester(sha256)
//   multidigest      MultiDigester (md5, sha1, sha256, sha512) on one thread
//   import           FileImporter(unixfs-v1-2025), blocks discarded
//   sha256+chunking  FileImporter on this thread and a Digester(sha256) on a
//                    second thread fed the same slices through a bounded queue
//                    (the shape FileHasher has)
//   file-hasher      FileHasher(unixfs-v1-2025): four digests and the DAG
// bench/hash-throughput.sh runs it and compares with `openssl speed`.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "content/file_hasher.hpp"
#include "content/importer.hpp"

namespace {

using srcgate::content::Bytes;
using srcgate::content::ByteView;
namespace content = srcgate::content;

constexpr std::size_t kSlice = std::size_t{1} << 20;

bool read_whole_file(const char* path, Bytes& out) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
    ::close(fd);
    return false;
  }
  out.resize(static_cast<std::size_t>(size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, std::min(out.size() - done, kSlice * 16));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return done == out.size();
}

template <class F>
void for_each_slice(ByteView data, F&& f) {
  for (std::size_t off = 0; off < data.size(); off += kSlice) {
    f(data.subspan(off, std::min(kSlice, data.size() - off)));
  }
}

// A bounded single-producer, single-consumer queue of slice views; an empty
// view marks the end.
class SliceQueue {
 public:
  void push(ByteView v) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return q_.size() < kCapacity; });
    q_.push_back(v);
    not_empty_.notify_one();
  }
  ByteView pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !q_.empty(); });
    ByteView v = q_.front();
    q_.pop_front();
    not_full_.notify_one();
    return v;
  }

 private:
  static constexpr std::size_t kCapacity = 8;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<ByteView> q_;
};

struct Pass {
  std::string_view name;
  std::function<std::string(ByteView)> run;  // returns a check value
};

double cpu_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string short_hex(ByteView b) {
  return content::hex_encode(b.first(std::min<std::size_t>(8, b.size())));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr, "usage: %s FILE [--repeat N] [--only PASS]\n", argv[0]);
    return 2;
  }
  int repeat = 3;
  std::string only;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--only") == 0) only = argv[i + 1];
  }
  Bytes data;
  if (!read_whole_file(argv[1], data)) {
    std::fprintf(stderr, "%s: cannot read %s: %s\n", argv[0], argv[1], std::strerror(errno));
    return 1;
  }
  const ByteView all(data);
  const auto& profile = content::ImportProfile::v1_2025;

  const Pass passes[] = {
      {"sha256",
       [](ByteView d) {
         content::Digester sha(content::HashAlgo::sha256);
         for_each_slice(d, [&](ByteView s) { sha.update(s); });
         return short_hex(sha.finish().bytes());
       }},
      {"multidigest",
       [](ByteView d) {
         content::MultiDigester md;
         for_each_slice(d, [&](ByteView s) { md.update(s); });
         return short_hex(md.finish().sha256.bytes());
       }},
      {"import",
       [&](ByteView d) {
         content::FileImporter importer(profile, content::FileImporter::BlockSink{});
         for_each_slice(d, [&](ByteView s) { importer.write(s); });
         return importer.finish().root.to_string();
       }},
      {"sha256+chunking",
       [&](ByteView d) {
         SliceQueue queue;
         content::Digest digest;
         std::thread digest_thread([&] {
           content::Digester sha(content::HashAlgo::sha256);
           for (;;) {
             const ByteView s = queue.pop();
             if (s.empty()) break;
             sha.update(s);
           }
           digest = sha.finish();
         });
         content::FileImporter importer(profile, content::FileImporter::BlockSink{});
         for_each_slice(d, [&](ByteView s) {
           queue.push(s);
           importer.write(s);
         });
         queue.push(ByteView{});
         const auto root = importer.finish().root.to_string();
         digest_thread.join();
         return root + "/" + short_hex(digest.bytes());
       }},
      {"file-hasher",
       [&](ByteView d) {
         content::FileHasher hasher(profile, content::FileImporter::BlockSink{});
         for_each_slice(d, [&](ByteView s) { hasher.write(s); });
         const auto summary = hasher.finish();
         return summary.dag.root.to_string() + "/" + short_hex(summary.digests.sha256.bytes());
       }},
  };

  std::printf("file=%s bytes=%zu slice=%zu repeat=%d\n", argv[1], data.size(), kSlice, repeat);
  for (const auto& pass : passes) {
    if (!only.empty() && only != pass.name) continue;
    double best = 1e300;
    double best_cpu = 0;
    double best_main_cpu = 0;
    std::string check;
    for (int r = 0; r < repeat; ++r) {
      const double cpu0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
      const double main0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
      const auto t0 = std::chrono::steady_clock::now();
      check = pass.run(all);
      const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
      const double main_cpu = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - main0;
      const double cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
      if (dt.count() < best) {
        best = dt.count();
        best_cpu = cpu;
        best_main_cpu = main_cpu;
      }
    }
    std::printf(
        "pass=%s mb_per_s=%.1f seconds=%.3f cpu_seconds=%.3f main_cpu_seconds=%.3f check=%s\n",
        std::string(pass.name).c_str(), static_cast<double>(data.size()) / 1e6 / best, best,
        best_cpu, best_main_cpu, check.c_str());
    std::fflush(stdout);
  }
  return 0;
}
