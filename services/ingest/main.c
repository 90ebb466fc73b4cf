/* main.c: coin-ingest entry point (placeholder until the service lands). */
#include <stdio.h>

int main(void) {
  fputs("coin-ingest: not built yet\n", stderr);
  return 2;
}
