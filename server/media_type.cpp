#include "server/media_type.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace srcgate::server {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 38> kByExtension = {{
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"avif", "image/avif"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tgz", "application/gzip"},
    {"bz2", "application/x-bzip2"},
    {"xz", "application/x-xz"},
    {"zst", "application/zstd"},
    {"lz", "application/x-lzip"},
    {"tar", "application/x-tar"},
    {"7z", "application/x-7z-compressed"},
    {"deb", "application/vnd.debian.binary-package"},
    {"rpm", "application/x-rpm"},
    {"iso", "application/x-iso9660-image"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
}};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with(content::ByteView head, std::string_view magic) {
  return head.size() >= magic.size() && std::memcmp(head.data(), magic.data(), magic.size()) == 0;
}

// True when `b` is valid UTF-8 (a sequence cut at the end counts as valid)
// and holds no NUL or other C0 control besides tab, LF, FF and CR.
bool looks_like_text(content::ByteView b) {
  std::size_t i = 0;
  while (i < b.size()) {
    const std::uint8_t c = b[i];
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') return false;
      if (c == 0x7f) return false;
      ++i;
      continue;
    }
    std::size_t n = 0;
    if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      n = 1;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      n = 3;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= b.size()) return true;  // cut by the 512-byte window
      if ((b[i + k] & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

std::optional<std::string> media_type_from_name(std::string_view filename) {
  const std::size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == filename.size()) return std::nullopt;
  std::string ext(filename.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), lower);
  for (const auto& [e, type] : kByExtension) {
    if (e == ext) return std::string(type);
  }
  return std::nullopt;
}

std::string sniff_media_type(content::ByteView head) {
  head = head.first(std::min<std::size_t>(head.size(), 512));
  if (starts_with(head, "\x89PNG\r\n\x1a\n")) return "image/png";
  if (starts_with(head, "\xff\xd8\xff")) return "image/jpeg";
  if (starts_with(head, "GIF87a") || starts_with(head, "GIF89a")) return "image/gif";
  if (starts_with(head, "%PDF-")) return "application/pdf";
  if (starts_with(head, std::string_view("PK\x03\x04", 4))) return "application/zip";
  if (starts_with(head, "\x1f\x8b")) return "application/gzip";
  if (starts_with(head, "BZh")) return "application/x-bzip2";
  if (starts_with(head, std::string_view("\xfd"
                                         "7zXZ\x00",
                                         6)))
    return "application/x-xz";
  if (starts_with(head, "\x28\xb5\x2f\xfd")) return "application/zstd";
  if (starts_with(head, std::string_view("\x00"
                                         "asm",
                                         4)))
    return "application/wasm";
  if (head.size() > 262 && std::memcmp(head.data() + 257, "ustar", 5) == 0) {
    return "application/x-tar";
  }
  if (head.empty() || looks_like_text(head)) {
    std::string_view text(reinterpret_cast<const char*>(head.data()), head.size());
    std::size_t i = text.find_first_not_of(" \t\r\n\f");
    if (i != std::string_view::npos) {
      std::string start(text.substr(i, 14));
      std::transform(start.begin(), start.end(), start.begin(), lower);
      if (start.starts_with("<!doctype html") || start.starts_with("<html")) {
        return "text/html; charset=utf-8";
      }
    }
    return "text/plain; charset=utf-8";
  }
  return "application/octet-stream";
}

}  // namespace srcgate::server
