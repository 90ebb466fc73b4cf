/* test_file.c: atomic writes replace content whole; reads are capped. */
#include "coin/error.h"
#include "coin/file.h"
#include "harness.h"
#include "test.h"

#include <dirent.h>

static char dir[256];

static int count_entries(const char *d) {
  int n = 0;
  DIR *h = opendir(d);
  if (!h)
    return -1;
  for (struct dirent *e; (e = readdir(h));)
    if (e->d_name[0] != '.')
      n++;
  closedir(h);
  return n;
}

static void write_creates_parents_and_replaces(void) {
  char path[512], *buf = NULL;
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/a/b/c.json", dir);
  ASSERT_OK(coin_file_write_atomic(path, "{\"v\":1}", 7));
  ASSERT_OK(coin_file_write_atomic(path, "{\"v\":22}", 8));
  ASSERT_OK(coin_file_read(&buf, &len, path, 1024));
  ASSERT_EQ_INT(len, 8);
  ASSERT_EQ_STR(buf, "{\"v\":22}");
  free(buf);
  char sub[512];
  snprintf(sub, sizeof(sub), "%s/a/b", dir);
  ASSERT_EQ_INT(count_entries(sub), 1); /* no temp file left behind */
}

static void read_missing_and_too_big(void) {
  char path[512], *buf = NULL;
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/missing.json", dir);
  ASSERT_RC(coin_file_read(&buf, &len, path, 10), COIN_ENOTFOUND);
  snprintf(path, sizeof(path), "%s/big.bin", dir);
  char data[10000];
  memset(data, 'x', sizeof(data));
  ASSERT_OK(coin_file_write_atomic(path, data, sizeof(data)));
  ASSERT_RC(coin_file_read(&buf, &len, path, 9999), COIN_ETOOBIG);
  ASSERT_CONTAINS(coin_error_last(), "larger than 9999");
  ASSERT_OK(coin_file_read(&buf, &len, path, 10000));
  ASSERT_EQ_INT(len, 10000);
  free(buf);
}

static void write_into_unwritable_place_fails_clearly(void) {
  ASSERT_RC(coin_file_write_atomic("/proc/coin-test/x.json", "x", 1), COIN_EIO);
  ASSERT_CONTAINS(coin_error_last(), "/proc/coin-test");
}

static void staged_files_appear_only_on_commit(void) {
  char sub[300], a[600], b[600], *buf = NULL;
  size_t len = 0;
  snprintf(sub, sizeof(sub), "%s/staged", dir);
  snprintf(a, sizeof(a), "%s/a.json", sub);
  snprintf(b, sizeof(b), "%s/b.json", sub);
  ASSERT_OK(coin_file_write_atomic(a, "old", 3));
  struct coin_file_staged fa = {0}, fb = {0};
  ASSERT_OK(coin_file_stage(&fa, a, "new-a", 5));
  ASSERT_OK(coin_file_stage(&fb, b, "new-b", 5));
  ASSERT_EQ_INT(count_entries(sub), 3); /* a + two temp files */
  ASSERT_OK(coin_file_read(&buf, &len, a, 64));
  ASSERT_EQ_STR(buf, "old"); /* staged is not visible */
  free(buf);
  ASSERT_OK(coin_file_commit(&fa));
  ASSERT_TRUE(fa.tmp == NULL);
  ASSERT_OK(coin_file_sync_dir_of(a));
  ASSERT_OK(coin_file_read(&buf, &len, a, 64));
  ASSERT_EQ_STR(buf, "new-a");
  free(buf);
  coin_file_staged_clear(&fa);
  coin_file_staged_clear(&fb); /* never committed: its temp file goes */
  ASSERT_RC(coin_file_read(&buf, &len, b, 64), COIN_ENOTFOUND);
  ASSERT_EQ_INT(count_entries(sub), 1);
  ASSERT_RC(coin_file_commit(&fb), COIN_EINVAL);
  char nodir[600];
  snprintf(nodir, sizeof(nodir), "%s/none/x.json", sub);
  ASSERT_RC(coin_file_stage(&fa, nodir, "x", 1), COIN_EIO);
  ASSERT_CONTAINS(coin_error_last(), "none/x.json.tmp.");
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  if (coin_test_tmpdir(dir, sizeof(dir), "file") != 0)
    return 1;
  RUN_TEST(write_creates_parents_and_replaces);
  RUN_TEST(read_missing_and_too_big);
  RUN_TEST(write_into_unwritable_place_fails_clearly);
  RUN_TEST(staged_files_appear_only_on_commit);
  coin_test_rmtree(dir);
  return coin_test_summary();
}
