#include "content/encoding.hpp"
