#include "server/dir_listing.hpp"

#include <cstdio>
#include <iterator>

namespace srcgate::server {
namespace {

// Bump when the HTML below changes, so that cached listings are refetched.
constexpr std::string_view kTemplateVersion = "srcgate1";

void append_html_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
}

std::string human_size(std::uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace

std::string percent_encode_segment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (char ch : segment) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string dir_listing_etag(const content::Cid& dir) {
  return "\"DirIndex-" + std::string(kTemplateVersion) + "_CID-" + dir.to_string() + "\"";
}

std::string render_dir_listing(std::string_view content_path, const content::Cid& dir,
                               const std::vector<content::DirEntry>& entries, bool below_root) {
  std::string out;
  out.reserve(512 + entries.size() * 220);
  out +=
      "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
  append_html_escaped(out, content_path);
  out +=
      "</title>\n<style>body{font-family:sans-serif;margin:2em}"
      "table{border-collapse:collapse}td{padding:.2em 1em}"
      "td.cid{font-family:monospace;font-size:small;color:#666}td.size{text-align:right}"
      "</style>\n</head>\n<body>\n<h1>Index of ";
  append_html_escaped(out, content_path);
  out += "</h1>\n<p class=\"cid\">";
  out += dir.to_string();
  out += "</p>\n<table>\n<tr><th>Name</th><th>CID</th><th>DAG size</th></tr>\n";
  if (below_root) out += "<tr><td><a href=\"..\">..</a></td><td></td><td></td></tr>\n";
  for (const content::DirEntry& e : entries) {
    const std::string cid = e.cid.to_string();
    out += "<tr><td><a href=\"./";
    append_html_escaped(out, percent_encode_segment(e.name));
    out += "\">";
    append_html_escaped(out, e.name);
    out += "</a></td><td class=\"cid\">";
    out += cid;
    out += "</td><td class=\"size\" title=\"";
    out += std::to_string(e.tsize);
    out += " bytes\">";
    out += human_size(e.tsize);
    out += "</td></tr>\n";
  }
  out += "</table>\n</body>\n</html>\n";
  return out;
}

}  // namespace srcgate::server
