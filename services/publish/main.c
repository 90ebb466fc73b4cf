/* main.c: coin-publish entry point (placeholder until the service lands). */
#include <stdio.h>

int main(void) {
  fputs("coin-publish: not built yet\n", stderr);
  return 2;
}
