// The Asio and Beast names that srcgate's network code uses, and its single
// completion token. This is the only header that spells these types out; other
// headers say `net::`, `Awaitable<T>`, `TcpStream` and so on.
//
// Every asynchronous operation on the request path completes through
// `kUseTuple` (as_tuple(use_awaitable)): `auto [ec, n] = co_await op(...)`, so
// errors arrive as values and nothing throws. The `*Stream`/`*Acceptor`/`*Timer`
// aliases have that token as their default, so `co_await s.async_read_some(b)`
// needs no token at all.
//
// Asio and Beast are compiled once, in server/boost_impl.cpp
// (BOOST_ASIO_SEPARATE_COMPILATION, BOOST_BEAST_SEPARATE_COMPILATION are public
// compile definitions of srcgate_server). This header includes only Beast's
// core stream, never the HTTP parser or serializer, so that including it costs
// about a second, not the 10-15 s of a Beast HTTP translation unit.
// Thread-safety: declarations only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/error_code.hpp>

namespace srcgate::server {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using ErrorCode = boost::system::error_code;

// A coroutine that runs on an Asio executor and is awaited with co_await.
template <class T = void>
using Awaitable = net::awaitable<T>;

// The completion token of every operation on the request path.
using TupleToken = net::as_tuple_t<net::use_awaitable_t<>>;
inline constexpr TupleToken kUseTuple{};

// I/O objects whose default completion token is kUseTuple.
using TcpStream = TupleToken::as_default_on_t<beast::tcp_stream>;
using TcpSocket = TupleToken::as_default_on_t<tcp::socket>;
using TcpAcceptor = TupleToken::as_default_on_t<tcp::acceptor>;
using SteadyTimer = TupleToken::as_default_on_t<net::steady_timer>;

}  // namespace srcgate::server
