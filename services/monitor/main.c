/* main.c: coin-monitor entry point (placeholder until the service lands). */
#include <stdio.h>

int main(void) {
  fputs("coin-monitor: not built yet\n", stderr);
  return 2;
}
