#include "content/file_hasher.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

// Design: the driving thread runs the FileImporter (its chunk copy, the
// leaves' sha256 and the block sink) and copies the file's bytes into a ring
// of kSlots hand-off buffers of kSlotSize bytes. Each published buffer is
// hashed by four lanes, one per file digest (md5, sha1, sha256, sha512); a
// lane hashes the buffers in file order and at most one thread runs a lane at
// a time, but any thread may run any lane. Two worker threads take the next
// unit (one buffer of one lane) from the lane that is furthest behind, so the
// digest work spreads over the cores whatever the speed of each algorithm and
// whatever else the machine runs; the driving thread, instead of sleeping
// when the ring is full (backpressure) or at finish(), runs units too. A
// buffer returns to the ring when its four lanes have hashed it; every
// buffer is read in place by the lanes, never copied again.
//
// Memory is bounded by kSlots * kSlotSize (allocated as the ring fills).
// Workers start with the first full buffer, so a file no larger than one
// buffer is hashed on the driving thread alone, with no thread started. If a
// thread cannot be started the driving thread does all the work.

namespace srcgate::content {

namespace {

constexpr std::size_t kSlotSize = 256 * 1024;  // four passes over it stay in L2
constexpr std::size_t kSlots = 16;             // 4 MiB of look-ahead at most
constexpr std::size_t kWorkers = 2;
constexpr std::size_t kLanes = 4;
// Lanes in the order ties are broken: the slowest digests first, so that the
// last units of a file are the short ones.
constexpr std::array<HashAlgo, kLanes> kLaneAlgos = {HashAlgo::md5, HashAlgo::sha512,
                                                     HashAlgo::sha256, HashAlgo::sha1};
constexpr std::size_t kNoLane = kLanes;

}  // namespace

struct FileHasher::Impl {
  Impl(const ImportProfile& profile, FileImporter::BlockSink sink)
      : importer(profile, std::move(sink)),
        digesters{Digester(kLaneAlgos[0]), Digester(kLaneAlgos[1]), Digester(kLaneAlgos[2]),
                  Digester(kLaneAlgos[3])} {}

  ~Impl() { stop_workers(); }

  // --- units of work (called with `lock` held on mu) ---

  // The lane with work ready and nobody running it that is furthest behind,
  // or kNoLane.
  std::size_t pick_lane() const {
    std::size_t best = kNoLane;
    for (std::size_t l = 0; l < kLanes; ++l) {
      if (busy[l] || next[l] >= published) continue;
      if (best == kNoLane || next[l] < next[best]) best = l;
    }
    return best;
  }

  // Hashes buffer next[l] in lane l with mu released.
  void run_unit(std::size_t l, std::unique_lock<std::mutex>& lock) {
    busy[l] = true;
    const std::size_t slot = next[l] % kSlots;
    lock.unlock();
    digesters[l].update(slots[slot]);
    lock.lock();
    busy[l] = false;
    ++next[l];
    --pending[slot];
    // The driving thread may wait for this slot, for the lanes to catch up,
    // or for a lane to help with.
    progress_cv.notify_one();
  }

  bool all_hashed() const {
    return std::all_of(next.begin(), next.end(),
                       [this](std::uint64_t n) { return n == published; });
  }

  // --- worker threads ---

  void run_worker() {
    std::unique_lock lock(mu);
    for (;;) {
      if (stopping) return;
      std::size_t l = pick_lane();
      if (l == kNoLane) {
        work_cv.wait(lock);
        continue;
      }
      run_unit(l, lock);
    }
  }

  void start_workers() {
    started = true;
    for (std::size_t i = 0; i < kWorkers; ++i) {
      try {
        workers[i] = std::thread([this] { run_worker(); });
      } catch (const std::system_error&) {
        break;  // the driving thread does the work of the missing workers
      }
    }
  }

  // Tells the workers to leave after their current unit and joins them.
  // Idempotent.
  void stop_workers() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    work_cv.notify_all();
    for (std::thread& t : workers) {
      if (t.joinable()) t.join();
    }
  }

  // --- the driving thread ---

  // Makes slots[produced % kSlots] free to fill, running units while it is
  // still being hashed.
  void acquire_slot() {
    const std::size_t slot = produced % kSlots;
    {
      std::unique_lock lock(mu);
      while (pending[slot] != 0) {
        std::size_t l = pick_lane();
        if (l == kNoLane) {
          progress_cv.wait(lock);
        } else {
          run_unit(l, lock);
        }
      }
    }
    Bytes& buf = slots[slot];
    buf.clear();
    if (buf.capacity() < kSlotSize) buf.reserve(kSlotSize);
    filling = true;
  }

  // Hands the slot being filled to the lanes.
  void publish() {
    const std::size_t slot = produced % kSlots;
    filling = false;
    ++produced;
    {
      std::lock_guard lock(mu);
      pending[slot] = kLanes;
      published = produced;
    }
    work_cv.notify_all();
  }

  void write(ByteView data) {
    while (!data.empty()) {
      if (!filling) acquire_slot();
      Bytes& buf = slots[produced % kSlots];
      const std::size_t n = std::min(kSlotSize - buf.size(), data.size());
      const ByteView piece = data.first(n);
      // The importer takes the same piece, so both copies read it from cache.
      importer.write(piece);
      buf.insert(buf.end(), piece.begin(), piece.end());  // within capacity: a memcpy
      data = data.subspan(n);
      if (buf.size() == kSlotSize) {
        publish();
        if (!started) start_workers();
      }
    }
  }

  // Publishes the last partial buffer, if any.
  void publish_tail() {
    if (!filling) return;
    if (slots[produced % kSlots].empty()) {
      filling = false;
    } else {
      publish();
    }
  }

  // Runs units until every lane has hashed every published buffer.
  void drain() {
    std::unique_lock lock(mu);
    while (!all_hashed()) {
      std::size_t l = pick_lane();
      if (l == kNoLane) {
        progress_cv.wait(lock);
      } else {
        run_unit(l, lock);
      }
    }
  }

  Digest digest(HashAlgo algo) {
    for (std::size_t l = 0; l < kLanes; ++l) {
      if (kLaneAlgos[l] == algo) return digesters[l].finish();
    }
    return Digest();  // unreachable: every algorithm has a lane
  }

  FileImporter importer;  // driving thread only
  // Lane l's digester; used only by the thread that holds busy[l] (or, once
  // all lanes are drained, by the driving thread).
  std::array<Digester, kLanes> digesters;
  // slots[s % kSlots] holds buffer s. The driving thread writes a slot only
  // while its pending count is 0 and its buffer is unpublished; lanes read
  // it only between publish and their decrement of pending.
  std::array<Bytes, kSlots> slots;
  std::uint64_t produced = 0;  // driving thread only: buffers published so far
  bool filling = false;        // driving thread only: slots[produced % kSlots] is being filled
  bool started = false;        // driving thread only: start_workers() ran
  std::array<std::thread, kWorkers> workers;

  std::mutex mu;
  std::condition_variable work_cv;             // a unit became ready, or stopping
  std::condition_variable progress_cv;         // a unit completed (driving thread waits)
  std::array<std::uint8_t, kSlots> pending{};  // guarded by mu: lanes yet to hash the slot
  std::array<std::uint64_t, kLanes> next{};    // guarded by mu: next buffer of each lane
  std::array<bool, kLanes> busy{};             // guarded by mu: a thread runs the lane
  std::uint64_t published = 0;                 // guarded by mu: buffers < published are ready
  bool stopping = false;                       // guarded by mu
};

FileHasher::FileHasher(const ImportProfile& profile, FileImporter::BlockSink sink)
    : impl_(std::make_unique<Impl>(profile, std::move(sink))) {}

FileHasher::~FileHasher() = default;

void FileHasher::write(ByteView data) { impl_->write(data); }

FileSummary FileHasher::finish() {
  // Finish the DAG (the last leaf and the nodes above it) while the workers
  // hash the published buffers, then help them drain the lanes.
  impl_->publish_tail();
  ImportResult dag = impl_->importer.finish();
  impl_->drain();
  impl_->stop_workers();
  FileDigests digests{impl_->digest(HashAlgo::md5), impl_->digest(HashAlgo::sha1),
                      impl_->digest(HashAlgo::sha256), impl_->digest(HashAlgo::sha512)};
  return FileSummary{std::move(dag), digests};
}

}  // namespace srcgate::content
