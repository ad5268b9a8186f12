#include "server/handler.hpp"

#include <algorithm>

namespace srcgate::server {
namespace {
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

std::string_view Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return lower(a) == lower(b);
        })) {
      return v;
    }
  }
  return {};
}

Response Response::text(unsigned status, std::string_view text) {
  Response r;
  r.status = status;
  r.body.reserve(text.size() + 1);
  r.body.append(text);
  r.body += '\n';
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return r;
}

}  // namespace srcgate::server
