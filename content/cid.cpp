#include "content/cid.hpp"
