#include "content/error.hpp"

#include <stdexcept>

namespace srcgate::content {

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

}  // namespace srcgate::content
