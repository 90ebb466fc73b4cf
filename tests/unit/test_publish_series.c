/* test_publish_series.c: coin-publish's history window (services/publish/
 * series.c) driven without a bus or a database: batches merged in order,
 * duplicates that change nothing, a changed candle replacing the old row,
 * holes filled out of order, trimming at the window's size (calendar months
 * too), candles beyond the anchor left out, and the SoT's view of a range
 * replacing the window's (rows it does not hold removed). */
#include "coin/error.h"
#include "publish_int.h"
#include "test.h"

#define HOUR INT64_C(3600000)
#define T0 INT64_C(1700002800000) /* 2023-11-14 23:00 UTC, an hour */

static struct pseries *window(enum coin_tf tf, int64_t slots) {
  struct pseries *s = calloc(1, sizeof(*s));
  if (s) {
    s->tf = tf;
    s->slots = slots;
  }
  return s;
}

/* Hour k after T0, its prices derived from k and v (v: another version). */
static struct coin_candle hour(int k, double v) {
  double p = 100 + k + v;
  return (struct coin_candle){.open_ms = T0 + k * HOUR,
                              .open = p,
                              .high = p + 2,
                              .low = p - 1,
                              .close = p + 1,
                              .volume = 10 + k};
}

/* Merges hours ks[0..n) (version v) with the window anchored at hour
 * anchor. */
static int merge_hours(struct pseries *s, const int *ks, size_t n, double v,
                       int anchor, struct merge_stats *st) {
  struct coin_candle c[16];
  for (size_t i = 0; i < n; i++)
    c[i] = hour(ks[i], v);
  return series_merge(s, c, n, T0 + anchor * HOUR, st);
}

/* The window holds exactly hours ks[0..n), ascending. */
static int holds(const struct pseries *s, const int *ks, size_t n) {
  if (s->n != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (s->rows[i].c.open_ms != T0 + ks[i] * HOUR || s->rows[i].text == NULL)
      return 0;
  return 1;
}

static void assert_stats(const struct merge_stats *st, size_t added,
                         size_t replaced, size_t identical, size_t outside,
                         int64_t first_new_ms) {
  ASSERT_EQ_INT(st->added, added);
  ASSERT_EQ_INT(st->replaced, replaced);
  ASSERT_EQ_INT(st->identical, identical);
  ASSERT_EQ_INT(st->outside, outside);
  ASSERT_EQ_INT(st->first_new_ms, first_new_ms);
}

static void appends_in_order(void) {
  struct pseries *s = window(COIN_TF_1H, 10);
  struct merge_stats st;
  ASSERT_TRUE(s);
  ASSERT_OK(merge_hours(s, (int[]){0, 1, 2}, 3, 0, 2, &st));
  assert_stats(&st, 3, 0, 0, 0, T0);
  ASSERT_TRUE(holds(s, (int[]){0, 1, 2}, 3));
  ASSERT_TRUE(s->pred_stale);
  /* the cached JSON row: [open_ms,open,high,low,close,volume] */
  ASSERT_EQ_STR(s->rows[1].text, "[1700006400000,101,103,100,102,11]");
  ASSERT_EQ_INT(s->rows[1].len, strlen(s->rows[1].text));
  ASSERT_OK(merge_hours(s, (int[]){3, 4}, 2, 0, 4, &st));
  assert_stats(&st, 2, 0, 0, 0, T0 + 3 * HOUR);
  ASSERT_TRUE(holds(s, (int[]){0, 1, 2, 3, 4}, 5));
  ASSERT_EQ_INT(series_find_row(s, T0 + 3 * HOUR), 3);
  ASSERT_EQ_INT(series_find_row(s, T0 + 5 * HOUR), -1);
  ASSERT_EQ_INT(series_find_row(s, T0 + 1), -1);
  series_free(s);
}

/* A window of 10 hours holding hours 0..2, its prediction not stale. */
static struct pseries *three_hours(void) {
  struct pseries *s = window(COIN_TF_1H, 10);
  struct merge_stats st;
  if (s && merge_hours(s, (int[]){0, 1, 2}, 3, 0, 2, &st) != 0) {
    series_free(s);
    return NULL;
  }
  if (s)
    s->pred_stale = false;
  return s;
}

static void duplicates_change_nothing(void) {
  struct pseries *s = three_hours();
  struct merge_stats st;
  ASSERT_TRUE(s);
  char *text = s->rows[1].text;
  ASSERT_OK(merge_hours(s, (int[]){0, 1, 2}, 3, 0, 2, &st));
  assert_stats(&st, 0, 0, 3, 0, INT64_MAX);
  ASSERT_TRUE(holds(s, (int[]){0, 1, 2}, 3));
  ASSERT_TRUE(s->rows[1].text == text); /* not even re-rendered */
  ASSERT_FALSE(s->pred_stale);
  /* a batch repeating the newest rows and adding one */
  ASSERT_OK(merge_hours(s, (int[]){1, 2, 3}, 3, 0, 3, &st));
  assert_stats(&st, 1, 0, 2, 0, T0 + 3 * HOUR);
  ASSERT_TRUE(holds(s, (int[]){0, 1, 2, 3}, 4));
  series_free(s);
}

static void changed_candle_replaces(void) {
  struct pseries *s = three_hours();
  struct merge_stats st;
  ASSERT_TRUE(s);
  ASSERT_OK(merge_hours(s, (int[]){1}, 1, 0.5, 2, &st));
  assert_stats(&st, 0, 1, 0, 0, T0 + HOUR);
  ASSERT_TRUE(holds(s, (int[]){0, 1, 2}, 3));
  ASSERT_EQ_DBL(s->rows[1].c.close, 102.5);
  ASSERT_EQ_STR(s->rows[1].text, "[1700006400000,101.5,103.5,100.5,102.5,11]");
  ASSERT_TRUE(s->pred_stale);
  /* only the volume differs: still another candle */
  struct coin_candle c = hour(2, 0);
  c.volume += 1;
  ASSERT_OK(series_merge(s, &c, 1, T0 + 2 * HOUR, &st));
  assert_stats(&st, 0, 1, 0, 0, T0 + 2 * HOUR);
  ASSERT_EQ_DBL(s->rows[2].c.volume, 13);
  series_free(s);
}

static void holes_filled_out_of_order(void) {
  struct pseries *s = window(COIN_TF_1H, 10);
  struct merge_stats st;
  ASSERT_TRUE(s);
  ASSERT_OK(merge_hours(s, (int[]){0, 2, 5}, 3, 0, 5, &st));
  ASSERT_OK(merge_hours(s, (int[]){3}, 1, 0, 5, &st));
  assert_stats(&st, 1, 0, 0, 0, T0 + 3 * HOUR);
  ASSERT_TRUE(holds(s, (int[]){0, 2, 3, 5}, 4));
  /* below the newest row: a hole, a duplicate, another hole, a new row */
  ASSERT_OK(merge_hours(s, (int[]){1, 2, 4, 6}, 4, 0, 6, &st));
  assert_stats(&st, 3, 0, 1, 0, T0 + HOUR);
  ASSERT_TRUE(holds(s, (int[]){0, 1, 2, 3, 4, 5, 6}, 7));
  ASSERT_EQ_STR(s->rows[4].text, "[1700017200000,104,106,103,105,14]");
  series_free(s);
}

static void window_trimmed_at_its_size(void) {
  struct pseries *s = window(COIN_TF_1H, 5);
  struct merge_stats st;
  ASSERT_TRUE(s);
  ASSERT_EQ_INT(series_window_from(s, T0 + 7 * HOUR + 59 * 60000),
                T0 + 3 * HOUR);
  ASSERT_EQ_INT(series_window_from(s, -1), INT64_MIN); /* no anchor yet */
  /* rows before the window are not taken */
  ASSERT_OK(merge_hours(s, (int[]){0, 1, 2, 3, 4, 5, 6, 7}, 8, 0, 7, &st));
  assert_stats(&st, 5, 0, 0, 3, T0 + 3 * HOUR);
  ASSERT_TRUE(holds(s, (int[]){3, 4, 5, 6, 7}, 5));
  /* the anchor moves on: the oldest rows fall out */
  ASSERT_OK(merge_hours(s, (int[]){8, 9}, 2, 0, 9, &st));
  assert_stats(&st, 2, 0, 0, 0, T0 + 8 * HOUR);
  ASSERT_TRUE(holds(s, (int[]){5, 6, 7, 8, 9}, 5));
  /* a merge of nothing trims too */
  ASSERT_OK(series_merge(s, NULL, 0, T0 + 11 * HOUR, &st));
  assert_stats(&st, 0, 0, 0, 0, INT64_MAX);
  ASSERT_TRUE(holds(s, (int[]){7, 8, 9}, 3));
  series_free(s);
}

static void nothing_beyond_the_anchor(void) {
  struct pseries *s = window(COIN_TF_1H, 10);
  struct merge_stats st;
  ASSERT_TRUE(s);
  ASSERT_OK(merge_hours(s, (int[]){0, 1, 2, 3}, 4, 0, 1, &st));
  assert_stats(&st, 2, 0, 0, 0, T0);
  ASSERT_TRUE(holds(s, (int[]){0, 1}, 2));
  /* no anchor (no ingest watermark): nothing is taken */
  ASSERT_OK(series_merge(s, &(struct coin_candle){.open_ms = 0}, 1, -1, &st));
  assert_stats(&st, 0, 0, 0, 0, INT64_MAX);
  series_free(s);
}

static void month_window_in_calendar_months(void) {
  struct pseries *s = window(COIN_TF_1MO, 3);
  struct merge_stats st;
  ASSERT_TRUE(s);
  int64_t m[5];
  struct coin_candle c[5];
  for (int i = 0; i < 5; i++) { /* 2023-11 .. 2024-03: 30, 31, 31, 29 days */
    m[i] = coin_tf_from_civil(2023 + (10 + i) / 12, (10 + i) % 12 + 1, 1);
    c[i] = hour(i, 0);
    c[i].open_ms = m[i];
  }
  ASSERT_EQ_INT(series_window_from(s, m[4] + 5 * 24 * HOUR), m[2]);
  ASSERT_OK(series_merge(s, c, 5, m[4], &st));
  assert_stats(&st, 3, 0, 0, 2, m[2]);
  ASSERT_EQ_INT(s->n, 3);
  ASSERT_EQ_INT(s->rows[0].c.open_ms, m[2]);
  ASSERT_EQ_INT(s->rows[2].c.open_ms, m[4]);
  series_free(s);
}

/* series_apply_sot adds to *st: the stats start as series_read_sot sets
 * them. The view is of hours [from, to], anchored at to + 1. */
static int apply_sot(struct pseries *s, int from, int to,
                     const struct coin_candle *c, size_t n,
                     struct merge_stats *st) {
  memset(st, 0, sizeof(*st));
  st->first_new_ms = INT64_MAX;
  return series_apply_sot(s, T0 + from * HOUR, T0 + to * HOUR, c, n,
                          T0 + (to + 1) * HOUR, st);
}

static void sot_view_replaces_a_range(void) {
  struct pseries *s = window(COIN_TF_1H, 10);
  struct merge_stats st;
  ASSERT_TRUE(s);
  ASSERT_OK(merge_hours(s, (int[]){0, 1, 2, 3, 5, 6}, 6, 0, 6, &st));
  char *kept = s->rows[1].text;
  /* the SoT holds for hours 1..5: 1 as shown, 2 changed, 4 (a hole of the
   * window); not 3 (the window's row is dropped) nor 5 */
  struct coin_candle sot[] = {hour(1, 0), hour(2, 0.25), hour(4, 0)};
  s->pred_stale = false;
  ASSERT_OK(apply_sot(s, 1, 5, sot, 3, &st));
  assert_stats(&st, 1, 1, 1, 0, T0 + 2 * HOUR);
  ASSERT_EQ_INT(st.removed, 2);
  ASSERT_TRUE(holds(s, (int[]){0, 1, 2, 4, 6}, 5));
  ASSERT_TRUE(s->rows[1].text == kept); /* identical rows keep their text */
  ASSERT_EQ_DBL(s->rows[2].c.open, 102.25);
  ASSERT_TRUE(s->pred_stale);
  /* the same view again changes nothing */
  s->pred_stale = false;
  ASSERT_OK(apply_sot(s, 1, 5, sot, 3, &st));
  assert_stats(&st, 0, 0, 3, 0, INT64_MAX);
  ASSERT_EQ_INT(st.removed, 0);
  ASSERT_FALSE(s->pred_stale);
  /* an empty view empties the range; the anchor trims the window's head */
  s->slots = 4;
  ASSERT_OK(apply_sot(s, 4, 5, NULL, 0, &st));
  ASSERT_EQ_INT(st.removed, 1);
  ASSERT_TRUE(holds(s, (int[]){6}, 1));
  series_free(s);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  RUN_TEST(appends_in_order);
  RUN_TEST(duplicates_change_nothing);
  RUN_TEST(changed_candle_replaces);
  RUN_TEST(holes_filled_out_of_order);
  RUN_TEST(window_trimmed_at_its_size);
  RUN_TEST(nothing_beyond_the_anchor);
  RUN_TEST(month_window_in_calendar_months);
  RUN_TEST(sot_view_replaces_a_range);
  return coin_test_summary();
}
