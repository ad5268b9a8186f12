#include "content/unixfs_reader.hpp"
