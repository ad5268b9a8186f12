#include "content/file_hasher.hpp"
