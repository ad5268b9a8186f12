#include <cstdio>

int main() {
  std::puts("srcgate");
  return 0;
}
