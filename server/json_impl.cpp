// The compiled part of Boost.JSON, built once here because Debian's Boost 1.81
// ships no libboost_json. Every target that uses boost::json links the library
// that holds this file (srcgate_server).
#include <boost/json/src.hpp>
