#include "content/dag_pb.hpp"
