#include "content/hamt.hpp"
