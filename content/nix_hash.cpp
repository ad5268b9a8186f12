#include "content/nix_hash.hpp"
