// `srcgate sources`: the source index's command line (issue 6 item 1).
//   srcgate sources import [--data DIR] [--mirror-table FILE.toml] FILE.json...
//   srcgate sources import --server URL FILE.json...
//   srcgate sources add [--data DIR] [--mirror-table FILE.toml] --hash H URL...
//   srcgate sources list [--data DIR] H
// `import` reads find-tarballs JSON (source_list.hpp) and adds every (hash,
// URL) pair to the store's source index; `add` adds URLs for one hash; `list`
// prints the URLs indexed for a hash. The store is opened as the store
// commands open it (--data, or the default data directory; "in use by another
// process" when `srcgate serve` holds it); `import --server` sends each file
// to the server's PUT /api/v1/sources instead, whose mirror table is the
// server's own. Output: one JSON summary line per file on `out`, one line per
// problem on `err`; exit status 0 when everything was indexed, 1 when some
// entry or URL was skipped (or a file failed), 2 on a usage error.
// Thread-safety: free functions; each call owns the store it opens.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "server/source_list.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

int run_sources_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Adds every entry of `list` to `store`'s source index and counts, in
// `summary`, the pairs that were new (sources_added) and those already
// indexed before or earlier in `list` (duplicates). Stops at the first store
// error (disk full, ...), with the counts so far.
storage::Result<void> index_sources(storage::BlockStore& store, const SourceList& list,
                                    SourceImportSummary& summary);

}  // namespace srcgate::server
