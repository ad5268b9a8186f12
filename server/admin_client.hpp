// The store commands' way to a running server (`--server URL`): while
// `srcgate serve` holds the store, `import`, `import-car`, `pin`, `unpin` and
// `stats` send their work to the server's admin API instead (admin_api.hpp),
// with the bearer token from $SRCGATE_ADMIN_TOKEN, and print what the local
// command would print. A small blocking HTTP/1.1 client, one connection per
// request; uploads stream the file from disk (standard input is read whole).
// Thread-safety: free functions; each call owns its connection.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "content/error.hpp"

namespace srcgate::server {

struct AdminEndpoint {
  std::string host;
  std::string port = "80";
  std::string base_path;  // "" or "/cache"
  std::string token;
};

// Parses "http://host[:port][/base/path]" (IPv6 hosts in brackets). Only plain
// http: the admin API is meant for the local network of the server.
content::Result<AdminEndpoint> parse_admin_url(std::string_view url, std::string token);

struct AdminReply {
  unsigned status = 0;
  std::string body;
};

// Sends `method` `/api/v1/<path_and_query>` with the file at `body_file` as the
// body ("" for none, "-" for standard input). Errors: cannot connect, write or
// read (the message says which and the server's address).
content::Result<AdminReply> admin_request(const AdminEndpoint& endpoint, std::string_view method,
                                          std::string_view path_and_query,
                                          const std::string& body_file);

// The commands' --server paths. `args` are the operands; return the exit
// status (kExitOk, kExitFailure).
int import_via_server(const AdminEndpoint& endpoint, const std::vector<std::string>& files,
                      std::string_view profile, std::ostream& out, std::ostream& err);
int import_car_via_server(const AdminEndpoint& endpoint, const std::vector<std::string>& files,
                          std::ostream& out, std::ostream& err);
int pin_via_server(const AdminEndpoint& endpoint, const std::vector<std::string>& targets, bool pin,
                   std::ostream& out, std::ostream& err);
int stats_via_server(const AdminEndpoint& endpoint, std::ostream& out, std::ostream& err);

}  // namespace srcgate::server
