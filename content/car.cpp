#include "content/car.hpp"
