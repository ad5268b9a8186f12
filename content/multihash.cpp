#include "content/multihash.hpp"
