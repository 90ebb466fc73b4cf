/* main.c: coinctl entry point (placeholder until the service lands). */
#include <stdio.h>

int main(void) {
  fputs("coinctl: not built yet\n", stderr);
  return 2;
}
