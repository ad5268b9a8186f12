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

// True when `b` holds no "binary data byte" of the WHATWG MIME sniffing
// standard (C0 controls other than TAB, LF, FF, CR and ESC), as Go's
// http.DetectContentType decides text/plain.
bool looks_like_text(content::ByteView b) {
  for (const std::uint8_t c : b) {
    if (c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1a) || (c >= 0x1c && c <= 0x1f)) {
      return false;
    }
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
