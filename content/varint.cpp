#include "content/varint.hpp"
