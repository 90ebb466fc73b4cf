/* test_ingest_page.c: coin-ingest's filter of an exchange page
 * (services/ingest/page.c, what sync.c's on_page keeps): closed rows in
 * order, the still-open candle, rows before the expected open time (outside
 * the range, repeats), each rule of an invalid candle, and the holes a kept
 * row leaves behind (marked invalid when a rejected row lay there), in
 * minutes and in calendar months. */
#include "coin/error.h"
#include "ingest_int.h"
#include "test.h"

#define MIN INT64_C(60000)
#define T0 INT64_C(1700000040000) /* 2023-11-14 22:14 UTC, a minute */
#define MAX_ROWS 16

/* Minute k after T0, a valid candle. */
static struct coin_candle minute(int k) {
  double p = 50 + k;
  return (struct coin_candle){.open_ms = T0 + k * MIN,
                              .open = p,
                              .high = p + 1,
                              .low = p - 1,
                              .close = p + 0.5,
                              .volume = k};
}

/* One page through the filter, as on_page runs it. */
struct run {
  int64_t expect_ms;
  enum page_verdict v[MAX_ROWS];
  struct page_hole holes[MAX_ROWS];
  size_t n_holes;
  int64_t kept[MAX_ROWS];
  size_t n_kept;
};

static void filter(struct run *r, const struct coin_candle *rows,
                   const int64_t *close_ms, size_t n, enum coin_tf tf,
                   int64_t last_closed_ms) {
  int64_t none[MAX_ROWS];
  for (size_t i = 0; i < MAX_ROWS; i++)
    none[i] = -1;
  r->n_holes = r->n_kept = 0;
  for (size_t i = 0; i < n && i < MAX_ROWS; i++) {
    struct page_hole h;
    r->v[i] =
        page_filter_row(&h, &r->expect_ms, rows, close_ms ? close_ms : none, i,
                        tf, last_closed_ms);
    if (r->v[i] != PAGE_KEEP)
      continue;
    if (h.found)
      r->holes[r->n_holes++] = h;
    r->kept[r->n_kept++] = rows[i].open_ms;
  }
}

/* Minutes ks[0..n) through the filter (close times from the exchange), the
 * range expecting minute expect, minute last_closed the newest closed. */
static void filter_minutes(struct run *r, const int *ks, size_t n, int expect,
                           int last_closed) {
  struct coin_candle rows[MAX_ROWS];
  int64_t close_ms[MAX_ROWS];
  for (size_t i = 0; i < n && i < MAX_ROWS; i++) {
    rows[i] = minute(ks[i]);
    close_ms[i] = rows[i].open_ms + MIN - 1;
  }
  r->expect_ms = T0 + expect * MIN;
  filter(r, rows, close_ms, n, COIN_TF_1M, T0 + last_closed * MIN);
}

static void assert_verdicts(const struct run *r, const enum page_verdict *want,
                            size_t n) {
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ_INT(r->v[i], want[i]);
}

static void assert_hole(const struct page_hole *h, int64_t from_ms,
                        int64_t to_ms, bool invalid) {
  ASSERT_TRUE(h->found);
  ASSERT_EQ_INT(h->from_ms, from_ms);
  ASSERT_EQ_INT(h->to_ms, to_ms);
  ASSERT_EQ_INT(h->invalid, invalid);
}

static void closed_rows_kept_in_order(void) {
  struct run r;
  filter_minutes(&r, (int[]){0, 1, 2}, 3, 0, 5);
  assert_verdicts(&r, (enum page_verdict[]){PAGE_KEEP, PAGE_KEEP, PAGE_KEEP},
                  3);
  ASSERT_EQ_INT(r.n_kept, 3);
  ASSERT_EQ_INT(r.kept[2], T0 + 2 * MIN);
  ASSERT_EQ_INT(r.n_holes, 0);
  ASSERT_EQ_INT(r.expect_ms, T0 + 3 * MIN); /* the next page goes on here */
  /* without close times (an API that has none) */
  struct coin_candle rows[] = {minute(3), minute(4)};
  filter(&r, rows, NULL, 2, COIN_TF_1M, T0 + 5 * MIN);
  assert_verdicts(&r, (enum page_verdict[]){PAGE_KEEP, PAGE_KEEP}, 2);
  ASSERT_EQ_INT(r.expect_ms, T0 + 5 * MIN);
}

static void still_open_candle_dropped(void) {
  struct run r;
  /* the newest closed is minute 1, the exchange sends minute 2 too */
  filter_minutes(&r, (int[]){0, 1, 2}, 3, 0, 1);
  assert_verdicts(&r, (enum page_verdict[]){PAGE_KEEP, PAGE_KEEP, PAGE_OPEN},
                  3);
  ASSERT_EQ_INT(r.n_kept, 2);
  ASSERT_EQ_INT(r.expect_ms, T0 + 2 * MIN);
  /* open comes first: an open candle is not judged (it may still change) */
  struct coin_candle bad = minute(2);
  bad.high = bad.low - 1;
  r.expect_ms = T0 + 2 * MIN;
  filter(&r, &bad, NULL, 1, COIN_TF_1M, T0 + MIN);
  ASSERT_EQ_INT(r.v[0], PAGE_OPEN);
  ASSERT_EQ_INT(r.expect_ms, T0 + 2 * MIN);
}

static void rows_before_the_range_dropped(void) {
  struct run r;
  filter_minutes(&r, (int[]){0, 1, 2, 3}, 4, 2, 9);
  assert_verdicts(
      &r, (enum page_verdict[]){PAGE_BEFORE, PAGE_BEFORE, PAGE_KEEP, PAGE_KEEP},
      4);
  ASSERT_EQ_INT(r.n_kept, 2);
  ASSERT_EQ_INT(r.kept[0], T0 + 2 * MIN);
  ASSERT_EQ_INT(r.n_holes, 0); /* rows before the range leave no hole */
}

static void repeats_dropped(void) {
  struct run r;
  /* in one page, and a page that repeats the end of the one before */
  filter_minutes(&r, (int[]){0, 1, 1, 2}, 4, 0, 9);
  assert_verdicts(
      &r, (enum page_verdict[]){PAGE_KEEP, PAGE_KEEP, PAGE_BEFORE, PAGE_KEEP},
      4);
  struct coin_candle next[] = {minute(1), minute(2), minute(3)};
  next[1].close += 0.25; /* even with other values: the first one stays */
  filter(&r, next, NULL, 3, COIN_TF_1M, T0 + 9 * MIN);
  assert_verdicts(
      &r, (enum page_verdict[]){PAGE_BEFORE, PAGE_BEFORE, PAGE_KEEP}, 3);
  ASSERT_EQ_INT(r.n_kept, 1);
  ASSERT_EQ_INT(r.expect_ms, T0 + 4 * MIN);
}

static void invalid_candles_dropped(void) {
  static const char *rules[] = {
      "rule: open time aligned", "rule: finite numbers",
      "rule: prices > 0",        "rule: low <= high",
      "rule: low <= open",       "rule: low <= close",
      "rule: volume >= 0",       "rule: close time = open + length - 1"};
  for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
    struct coin_candle c = minute(1);
    int64_t close_ms = c.open_ms + MIN - 1;
    switch (k) {
    case 0: c.open_ms += 1000; break;
    case 1: c.volume = NAN; break;
    case 2: c.low = 0; break;
    case 3: c.high = c.low - 1; break;
    case 4: c.open = c.high + 1; break;
    case 5: c.close = c.low - 0.5; break;
    case 6: c.volume = -1; break;
    default: close_ms += MIN; break;
    }
    struct run r = {.expect_ms = T0 + MIN};
    filter(&r, &c, &close_ms, 1, COIN_TF_1M, T0 + 9 * MIN);
    ASSERT_EQ_INT(r.v[0], PAGE_INVALID);
    ASSERT_CONTAINS(coin_error_last(), rules[k]);
    ASSERT_EQ_INT(r.expect_ms, T0 + MIN); /* still expected */
    ASSERT_EQ_INT(r.n_kept, 0);
  }
}

static void holes_in_front_of_kept_rows(void) {
  struct run r;
  filter_minutes(&r, (int[]){2, 3, 6}, 3, 0, 9);
  ASSERT_EQ_INT(r.n_kept, 3);
  ASSERT_EQ_INT(r.n_holes, 2);
  assert_hole(&r.holes[0], T0, T0 + MIN, false);
  assert_hole(&r.holes[1], T0 + 4 * MIN, T0 + 5 * MIN, false);
  ASSERT_EQ_INT(r.expect_ms, T0 + 7 * MIN);
}

static void hole_left_by_a_rejected_row(void) {
  struct coin_candle rows[] = {minute(0), minute(1), minute(2), minute(4),
                               minute(6)};
  rows[1].low = -1;                   /* rejected: minute 1 becomes a hole */
  rows[3].open_ms = T0 + 4 * MIN + 1; /* unaligned: so are 3..5 */
  struct run r = {.expect_ms = T0};
  filter(&r, rows, NULL, 5, COIN_TF_1M, T0 + 9 * MIN);
  assert_verdicts(&r,
                  (enum page_verdict[]){PAGE_KEEP, PAGE_INVALID, PAGE_KEEP,
                                        PAGE_INVALID, PAGE_KEEP},
                  5);
  ASSERT_EQ_INT(r.n_holes, 2);
  assert_hole(&r.holes[0], T0 + MIN, T0 + MIN, true);
  assert_hole(&r.holes[1], T0 + 3 * MIN, T0 + 5 * MIN, true);
}

static void calendar_months(void) {
  struct coin_candle rows[] = {minute(0), minute(0)};
  int64_t jan = coin_tf_from_civil(2024, 1, 1);
  int64_t feb = coin_tf_from_civil(2024, 2, 1);
  int64_t mar = coin_tf_from_civil(2024, 3, 1);
  int64_t apr = coin_tf_from_civil(2024, 4, 1);
  rows[0].open_ms = jan;
  rows[1].open_ms = apr;
  int64_t close_ms[] = {feb - 1, coin_tf_from_civil(2024, 5, 1) - 1};
  struct run r = {.expect_ms = jan};
  filter(&r, rows, close_ms, 2, COIN_TF_1MO, apr);
  assert_verdicts(&r, (enum page_verdict[]){PAGE_KEEP, PAGE_KEEP}, 2);
  ASSERT_EQ_INT(r.n_holes, 1);
  assert_hole(&r.holes[0], feb, mar, false);
  ASSERT_EQ_INT(r.expect_ms, coin_tf_from_civil(2024, 5, 1));
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  RUN_TEST(closed_rows_kept_in_order);
  RUN_TEST(still_open_candle_dropped);
  RUN_TEST(rows_before_the_range_dropped);
  RUN_TEST(repeats_dropped);
  RUN_TEST(invalid_candles_dropped);
  RUN_TEST(holes_in_front_of_kept_rows);
  RUN_TEST(hole_left_by_a_rejected_row);
  RUN_TEST(calendar_months);
  return coin_test_summary();
}
