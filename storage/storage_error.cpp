#include "storage/storage_error.hpp"

#include <stdexcept>

namespace srcgate::storage {

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::io_error:
      return "io_error";
    case Errc::no_space:
      return "no_space";
    case Errc::busy:
      return "busy";
    case Errc::corruption:
      return "corruption";
    case Errc::not_found:
      return "not_found";
    case Errc::invalid_input:
      return "invalid_input";
    case Errc::failed:
      return "failed";
  }
  return "unknown";
}

Error from_content(const content::Error& e) { return Error{Errc::invalid_input, e.message}; }

content::Error to_content(const Error& e) {
  content::Errc code = content::Errc::truncated;
  if (e.code == Errc::not_found) code = content::Errc::not_found;
  if (e.code == Errc::corruption) code = content::Errc::mismatch;
  return content::make_error(code, "storage: " + e.message);
}

}  // namespace srcgate::storage
