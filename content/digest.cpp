#include "content/digest.hpp"
