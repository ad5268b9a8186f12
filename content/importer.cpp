#include "content/importer.hpp"
