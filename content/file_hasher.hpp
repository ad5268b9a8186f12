// Computes everything srcgate knows a file by, in one pass over its bytes: the
// four file digests (md5, sha1, sha256, sha512) and the UnixFS DAG (root CID
// and blocks) of an import profile. The calling thread runs the importer (and
// the block sink); the four digests run over shared hand-off buffers on two
// worker threads, and on the calling thread whenever it would otherwise wait,
// so on two cores the pass costs about half the sum of the five hashes (four
// digests plus the importer's block sha256) rather than all of it. Memory is
// bounded (4 MiB of buffers) whatever the file size; a file of at most
// 256 KiB starts no thread.
// Thread-safety: one FileHasher per file, driven by one thread; the block sink
// is called on the driving thread. Destroying an unfinished FileHasher stops
// and joins its threads.
#pragma once

#include <memory>

#include "content/bytes.hpp"
#include "content/digest.hpp"
#include "content/importer.hpp"

namespace srcgate::content {

struct FileSummary {
  ImportResult dag;  // root CID, size, dag size, block count
  FileDigests digests;
};

class FileHasher {
 public:
  // `sink` receives the DAG's blocks as FileImporter emits them; pass an empty
  // function to only hash (like `ipfs add --only-hash`).
  FileHasher(const ImportProfile& profile, FileImporter::BlockSink sink);
  ~FileHasher();
  FileHasher(const FileHasher&) = delete;
  FileHasher& operator=(const FileHasher&) = delete;

  // Feeds the next slice. The bytes are copied or consumed before return.
  void write(ByteView data);
  // Waits for the digests, finishes the DAG and returns both.
  FileSummary finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace srcgate::content
