// Error values for the content-addressing layer: a machine-readable code plus a
// message for humans that says exactly what is wrong ("nix32 hash has 51
// characters, sha256 needs 52"). Every fallible function returns Result<T>;
// nothing in content/ throws on bad input.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>

namespace srcgate::content {

enum class Errc {
  malformed,    // the input does not follow the format's grammar
  unsupported,  // well-formed, but names something we do not handle (algo, codec, version)
  truncated,    // the input ends in the middle of a structure
  too_large,    // a length exceeds a limit that protects memory
  mismatch,     // bytes do not hash to the identifier that names them
  not_found,    // a block, link or path segment is absent
};

struct Error {
  Errc code;
  std::string message;
};

// Called by boost::system::result<T, Error>::value() on an error; throws
// std::runtime_error(message). Only start-up code and tests call value().
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace srcgate::content
