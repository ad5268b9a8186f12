// The Content-Type of a deserialized UnixFS file (ipfs-gateway.md §1.4):
// from the file name's extension when it is a known one, else sniffed from
// the first bytes (a few magic numbers; bytes without the WHATWG "binary data
// bytes" are text/plain, as Go's http.DetectContentType says), else
// application/octet-stream.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "content/bytes.hpp"

namespace srcgate::server {

// "text/html; charset=utf-8" for "index.html"; nullopt for an unknown or
// missing extension. Case-insensitive.
std::optional<std::string> media_type_from_name(std::string_view filename);

// From at most the first 512 bytes of the file.
std::string sniff_media_type(content::ByteView head);

}  // namespace srcgate::server
