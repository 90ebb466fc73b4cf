/* main.c: coin-train entry point (placeholder until the service lands). */
#include <stdio.h>

int main(void) {
  fputs("coin-train: not built yet\n", stderr);
  return 2;
}
