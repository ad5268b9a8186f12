// The one translation unit that compiles Asio and Beast's non-template code
// (separate compilation, see server/net.hpp). Nothing else goes here.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
