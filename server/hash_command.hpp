// `srcgate hash`: prints, for each file, its size, the root CID that an import
// with an IPIP-0499 profile gives, and its md5, sha1, sha256 and sha512, as one
// JSON object per line. Nothing is stored. The pieces are exposed for other
// commands that read files the same way (`import`).
// Thread-safety: free functions; each call owns everything it touches, apart
// from the caller's streams.
#pragma once

#include <boost/system/error_code.hpp>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "content/bytes.hpp"
#include "content/file_hasher.hpp"

namespace srcgate::server {

// Size of the slices in which files are read and handed on.
inline constexpr std::size_t kFileReadSlice = std::size_t{1} << 20;

// Reads the file at `path` ("-" is standard input, which is not closed) from
// start to end and hands it to `consume` in slices of kFileReadSlice bytes (the
// last one shorter). Returns the errno of the open, fstat or read that failed
// (system_category, so message() is strerror's text), EISDIR for a directory,
// or success. `buffer` is scratch space, resized on first use and reusable.
boost::system::error_code read_file_slices(const std::string& path, content::Bytes& buffer,
                                           const std::function<void(content::ByteView)>& consume);

// One line of `srcgate hash` output, without the newline: a JSON object with
// the keys file, size, cid, md5, sha1, sha256, sha512, profile in that order.
// `file` goes through to_valid_utf8 (invalid bytes become U+FFFD).
std::string hash_json_line(std::string_view file, const content::FileSummary& summary,
                           std::string_view profile);

// The `hash` command (see its --help). Returns kExitOk, kExitFailure when some
// file could not be read (the others are still printed), or kExitUsage.
int run_hash_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace srcgate::server
