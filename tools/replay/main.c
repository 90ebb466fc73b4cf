/* main.c: coin-replay-exchange entry point (placeholder until the service
 * lands). */
#include <stdio.h>

int main(void) {
  fputs("coin-replay-exchange: not built yet\n", stderr);
  return 2;
}
