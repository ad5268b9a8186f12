#include "server/admin_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <iterator>

#include "server/cli_command.hpp"
#include "server/dir_listing.hpp"

namespace srcgate::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

content::Error failure(std::string message) {
  return content::make_error(content::Errc::not_found, std::move(message));
}

// The reply's body without its trailing newline, for messages.
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

template <class Body>
content::Result<AdminReply> exchange(const AdminEndpoint& ep, http::request<Body>& req) {
  const std::string where = ep.host + ":" + ep.port;
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  const auto addresses = resolver.resolve(ep.host, ep.port, ec);
  if (ec) return failure("cannot resolve " + where + ": " + ec.message());
  tcp::socket socket(ioc);
  net::connect(socket, addresses, ec);
  if (ec) return failure("cannot connect to " + where + ": " + ec.message());
  req.set(http::field::host, ep.host);
  req.set(http::field::user_agent, "srcgate-cli");
  if (!ep.token.empty()) req.set(http::field::authorization, "Bearer " + ep.token);
  req.prepare_payload();
  http::write(socket, req, ec);
  // A server that answers early (401) may close before the whole body is sent:
  // read its answer even then.
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  boost::system::error_code read_ec;
  http::read(socket, buffer, parser, read_ec);
  if (read_ec) {
    return failure("no answer from " + where + ": " + (ec ? ec.message() : read_ec.message()));
  }
  return AdminReply{parser.get().result_int(), std::move(parser.get().body())};
}

}  // namespace

content::Result<AdminEndpoint> parse_admin_url(std::string_view url, std::string token) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return failure("--server '" + std::string(url) + "' must start with http://");
  }
  url.remove_prefix(kScheme.size());
  AdminEndpoint ep;
  ep.token = std::move(token);
  const std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view base = url.substr(slash);
    while (base.size() > 1 && base.back() == '/') base.remove_suffix(1);
    if (base != "/") ep.base_path = std::string(base);
  }
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return failure("--server: unclosed '[' in the host");
    ep.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(':')) ep.port = std::string(authority.substr(1));
  } else {
    const std::size_t colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) ep.port = std::string(authority.substr(colon + 1));
  }
  if (ep.host.empty() || ep.port.empty()) {
    return failure("--server '" + std::string(kScheme) + std::string(url) + "' names no host:port");
  }
  return ep;
}

content::Result<AdminReply> admin_request(const AdminEndpoint& endpoint, std::string_view method,
                                          std::string_view path_and_query,
                                          const std::string& body_file) {
  const std::string target = endpoint.base_path + "/api/v1/" + std::string(path_and_query);
  const http::verb verb = http::string_to_verb(method);
  if (body_file.empty() || body_file == "-") {
    http::request<http::string_body> req{verb, target, 11};
    if (body_file == "-") {
      req.body().assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    return exchange(endpoint, req);
  }
  http::request<http::file_body> req{verb, target, 11};
  boost::system::error_code ec;
  req.body().open(body_file.c_str(), beast::file_mode::scan, ec);
  if (ec) return failure("cannot open " + body_file + ": " + ec.message());
  return exchange(endpoint, req);
}

int import_via_server(const AdminEndpoint& endpoint, const std::vector<std::string>& files,
                      std::string_view profile, std::ostream& out, std::ostream& err) {
  int status = kExitOk;
  for (const auto& file : files) {
    const std::string query = "files?name=" + percent_encode_segment(file) +
                              "&profile=" + percent_encode_segment(profile);
    auto reply = admin_request(endpoint, "PUT", query, file);
    if (!reply || reply->status != 200) {
      err << "srcgate import: " << file << ": "
          << (reply
                  ? "server answered " + std::to_string(reply->status) + ": " + trimmed(reply->body)
                  : reply.error().message)
          << '\n';
      status = kExitFailure;
      continue;
    }
    out << reply->body;
  }
  return status;
}

int import_car_via_server(const AdminEndpoint& endpoint, const std::vector<std::string>& files,
                          std::ostream& out, std::ostream& err) {
  int status = kExitOk;
  for (const auto& file : files) {
    auto reply = admin_request(endpoint, "PUT", "car", file);
    if (!reply || reply->status != 200) {
      err << "srcgate import-car: " << file << ": rejected, nothing stored: "
          << (reply
                  ? "server answered " + std::to_string(reply->status) + ": " + trimmed(reply->body)
                  : reply.error().message)
          << '\n';
      status = kExitFailure;
      continue;
    }
    // The server's lines lack the "car" key of the local command: add it first.
    std::string_view body = reply->body;
    while (!body.empty()) {
      const std::size_t nl = body.find('\n');
      const std::string_view line = body.substr(0, nl);
      boost::system::error_code ec;
      auto parsed = boost::json::parse(line, ec);
      if (!ec && parsed.is_object()) {
        boost::json::object obj;
        obj.emplace("car", to_valid_utf8(file));
        for (const auto& kv : parsed.as_object()) obj.emplace(kv.key(), kv.value());
        out << boost::json::serialize(obj) << '\n';
      }
      if (nl == std::string_view::npos) break;
      body.remove_prefix(nl + 1);
    }
  }
  return status;
}

int pin_via_server(const AdminEndpoint& endpoint, const std::vector<std::string>& targets, bool pin,
                   std::ostream& out, std::ostream& err) {
  int status = kExitOk;
  for (const auto& target : targets) {
    auto reply = admin_request(endpoint, pin ? "POST" : "DELETE",
                               "pins/" + percent_encode_segment(target), "");
    boost::system::error_code ec;
    auto parsed =
        reply && reply->status == 200 ? boost::json::parse(reply->body, ec) : boost::json::value();
    if (!reply || reply->status != 200 || ec || !parsed.is_object() ||
        !parsed.as_object().contains("root")) {
      err << "srcgate " << (pin ? "pin" : "unpin") << ": " << target << ": "
          << (reply
                  ? "server answered " + std::to_string(reply->status) + ": " + trimmed(reply->body)
                  : reply.error().message)
          << '\n';
      status = kExitFailure;
      continue;
    }
    out << (pin ? "pinned " : "unpinned ") << parsed.as_object().at("root").as_string().c_str()
        << '\n';
  }
  return status;
}

int stats_via_server(const AdminEndpoint& endpoint, std::ostream& out, std::ostream& err) {
  auto reply = admin_request(endpoint, "GET", "stats", "");
  if (!reply || reply->status != 200) {
    err << "srcgate stats: "
        << (reply ? "server answered " + std::to_string(reply->status) + ": " + trimmed(reply->body)
                  : reply.error().message)
        << '\n';
    return kExitFailure;
  }
  out << reply->body;
  return kExitOk;
}

}  // namespace srcgate::server
