/* test.c: runner for test.h (counts, optional name filter, summary line). */
#include "test.h"

#include <stdbool.h>

int coin_test_failed_flag;
int coin_test_passed;
int coin_test_failed;
static const char *filter;
static bool reached;  /* "..name": name has run */
static int n_matched; /* cases the filter chose (setup and teardown aside) */

int coin_test_main_begin(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1)
    filter = argv[1];
  return 0;
}

/* No filter: every case. "=name": that case only. "..name": the cases
 * before name and name itself (an integration file's cases build on one
 * another's servers and state). Otherwise the cases whose name contains the
 * filter. Cases named setup and teardown always run. */
static bool selected(const char *name) {
  if (!filter || !strcmp(name, "setup") || !strcmp(name, "teardown"))
    return true;
  bool chosen;
  if (filter[0] == '=') {
    chosen = strcmp(name, filter + 1) == 0;
  } else if (!strncmp(filter, "..", 2)) {
    chosen = !reached;
    reached = reached || strcmp(name, filter + 2) == 0;
  } else {
    chosen = strstr(name, filter) != NULL;
  }
  if (chosen && (strncmp(filter, "..", 2) || reached))
    n_matched++; /* "..name" counts once name is there */
  return chosen;
}

void coin_test_run(const char *name, coin_test_fn fn) {
  if (!selected(name))
    return;
  coin_test_failed_flag = 0;
  printf("-- %s\n", name);
  fn();
  if (coin_test_failed_flag) {
    coin_test_failed++;
    printf("FAIL %s\n", name);
  } else {
    coin_test_passed++;
    printf("ok   %s\n", name);
  }
}

int coin_test_summary(void) {
  printf("%d passed, %d failed\n", coin_test_passed, coin_test_failed);
  if (coin_test_passed + coin_test_failed == 0 || (filter && n_matched == 0)) {
    printf("no case matches \"%s\"\n", filter ? filter : "");
    return 1; /* a filter that matched nothing is an error, not a pass */
  }
  return coin_test_failed ? 1 : 0;
}
