#include "content/multibase.hpp"
