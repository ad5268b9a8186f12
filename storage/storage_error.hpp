// Error values of the storage layer. storage defines its own codes rather than
// reusing content::Errc because callers must tell apart conditions that content
// addressing never has: the disk is full (the server answers 507 and keeps
// serving reads), another process holds the store (the CLI names the server's
// admin API), or the backend failed. content errors that reach the store (a
// CAR block that does not verify) become Errc::invalid_input with the original
// message kept. Errors are values: every fallible function returns Result<T>;
// nothing in storage/ throws on bad input or on I/O failure.
// Thread-safety: plain values.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>

#include "content/error.hpp"

namespace srcgate::storage {

enum class Errc {
  io_error,       // the backend could not read or write; the message has its text
  no_space,       // the disk is full: writes fail, reads keep working
  busy,           // another process holds the store open
  corruption,     // stored bytes or index entries are inconsistent
  not_found,      // the CID or hash an operation needs is not in the store
  invalid_input,  // the caller's data is bad (a CAR block that does not verify)
  failed,         // a precondition of the call does not hold (commit before finish)
};

struct Error {
  Errc code;
  std::string message;
};

// Called by Result<T>::value() on an error: throws std::runtime_error(message).
// Only start-up code and tests call value().
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

// "io_error", "no_space", ...
std::string_view errc_name(Errc code);

// A content error as a storage error: Errc::invalid_input, message kept.
Error from_content(const content::Error& e);

// A storage error for content::BlockSource callers, which only know content
// codes: not_found -> not_found, corruption -> mismatch, every other code ->
// truncated ("could not read the whole block"). The message is kept and starts
// with "storage: ".
content::Error to_content(const Error& e);

}  // namespace srcgate::storage
