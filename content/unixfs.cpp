#include "content/unixfs.hpp"
