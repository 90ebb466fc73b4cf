/* test_monitor_probe_sli.c: the availability SLI arithmetic of coin-monitor's
 * site probe (services/monitor/probe_sli.c) on a fake clock: per-minute
 * buckets, windows, ring rollover past 30 days, a clock jump, burn rates
 * against the SLO and the multi-window burn rules. */
#include "monitor_int.h"

#include "test.h"

#include <stdlib.h>

#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
/* 2026-11-26T23:24:00Z, a minute boundary */
#define T0 INT64_C(1795735440000)

static struct probe_sli *sli;

static void fresh(void) {
  if (!sli)
    sli = malloc(sizeof(*sli));
  ASSERT_TRUE(sli != NULL);
  probe_sli_init(sli);
}

static void count(int64_t now, int minutes, uint64_t want_good,
                  uint64_t want_all) {
  uint64_t g, a;
  probe_sli_window(sli, now, minutes, &g, &a);
  ASSERT_EQ_INT((long long)g, (long long)want_good);
  ASSERT_EQ_INT((long long)a, (long long)want_all);
}

static void empty_window_is_zero(void) {
  fresh();
  count(T0, 60, 0, 0);
  ASSERT_EQ_DBL(probe_burn_rate(0, 0, 0.999), 0.0);
}

/* one probe every 30 s for 2 h, the second hour's first 6 minutes bad */
static void windows_and_outage(void) {
  fresh();
  int64_t t = T0;
  for (int i = 0; i < 240; i++, t += 30 * SEC) {
    bool bad = t >= T0 + HOUR && t < T0 + HOUR + 6 * MIN;
    probe_sli_record(sli, t, !bad);
  }
  int64_t now = t - 30 * SEC; /* the last probe's instant */
  count(now, 60, 120 - 12, 120);
  count(now, 120, 240 - 12, 240);
  count(now, 24 * 60, 240 - 12, 240);
  count(now, 5, 10, 10);
  /* 1h burn: 12/120 bad = 10% against 0.1% budget = 100 */
  uint64_t g, a;
  probe_sli_window(sli, now, 60, &g, &a);
  ASSERT_NEAR(probe_burn_rate(g, a, 0.999), 100.0, 1e-6);
  double lr, sr;
  /* the outage ended 54 min ago: 1h burns, 5m does not -> no page */
  ASSERT_FALSE(
      probe_burn_firing(sli, now, 0.999, &probe_burn_rules[0], &lr, &sr));
  ASSERT_NEAR(lr, 100.0, 1e-6);
  ASSERT_EQ_DBL(sr, 0.0);
}

static void page_fires_during_outage_and_clears(void) {
  fresh();
  int64_t t = T0;
  for (; t < T0 + HOUR; t += 30 * SEC)
    probe_sli_record(sli, t, true);
  for (; t < T0 + HOUR + 10 * MIN; t += 30 * SEC)
    probe_sli_record(sli, t, false);
  int64_t now = t - 30 * SEC;
  double lr, sr;
  ASSERT_TRUE(
      probe_burn_firing(sli, now, 0.999, &probe_burn_rules[0], &lr, &sr));
  ASSERT_NEAR(sr, 1000.0, 1e-6);                /* 5m all bad */
  ASSERT_NEAR(lr, 20.0 / 120.0 * 1000.0, 1e-6); /* 1h: 20 of 120 bad */
  ASSERT_TRUE(
      probe_burn_firing(sli, now, 0.999, &probe_burn_rules[1], NULL, NULL));
  /* recovery: 5 good minutes bring the short window to 0 */
  for (; t < T0 + HOUR + 16 * MIN; t += 30 * SEC)
    probe_sli_record(sli, t, true);
  now = t - 30 * SEC;
  ASSERT_FALSE(
      probe_burn_firing(sli, now, 0.999, &probe_burn_rules[0], &lr, &sr));
  ASSERT_EQ_DBL(sr, 0.0);
  ASSERT_TRUE(lr > 14.4);
}

/* a window is read at a later instant: minutes without probes are empty */
static void window_moves_with_clock(void) {
  fresh();
  probe_sli_record(sli, T0, false);
  probe_sli_record(sli, T0 + 59 * SEC, true);
  count(T0 + 59 * SEC, 1, 1, 2);
  count(T0 + MIN, 1, 0, 0); /* next minute: the bucket left the 1m window */
  count(T0 + MIN, 2, 1, 2);
  count(T0 + 60 * MIN, 60, 0, 0); /* (T0, T0+60m] excludes T0's minute */
  count(T0 + 59 * MIN, 60, 1, 2);
}

/* 31 days of one probe per minute: the 30 d window holds exactly 43200 */
static void ring_rollover(void) {
  fresh();
  int64_t t = T0;
  int n = 31 * 24 * 60;
  for (int i = 0; i < n; i++, t += MIN)
    probe_sli_record(sli, t, i % 100 != 0); /* 1% bad */
  int64_t now = t - MIN;
  uint64_t g, a;
  probe_sli_window(sli, now, PROBE_SLI_MINUTES, &g, &a);
  ASSERT_EQ_INT((long long)a, PROBE_SLI_MINUTES);
  /* bad ones in the newest 43200 of i in [n-43200, n) */
  long long bad = 0;
  for (int i = n - PROBE_SLI_MINUTES; i < n; i++)
    bad += i % 100 == 0;
  ASSERT_EQ_INT((long long)(a - g), bad);
  /* asking for more than the ring gives the ring */
  count(now, PROBE_SLI_MINUTES + 500, g, a);
  long long bad7 = 0;
  for (int i = n - 7 * 24 * 60; i < n; i++)
    bad7 += i % 100 == 0;
  count(now, 7 * 24 * 60, (uint64_t)(7 * 24 * 60 - bad7), 7 * 24 * 60);
}

/* a gap longer than the ring clears it; a clock going back counts in the
 * newest minute */
static void clock_jumps(void) {
  fresh();
  probe_sli_record(sli, T0, false);
  probe_sli_record(sli, T0 + 31 * DAY, true);
  count(T0 + 31 * DAY, PROBE_SLI_MINUTES, 1, 1);
  probe_sli_record(sli, T0 + 31 * DAY - HOUR, false);
  count(T0 + 31 * DAY, 1, 1, 2);
  /* a gap of 10 minutes clears the minutes between */
  probe_sli_record(sli, T0 + 31 * DAY + 10 * MIN, true);
  count(T0 + 31 * DAY + 10 * MIN, 11, 2, 3);
  count(T0 + 31 * DAY + 10 * MIN, 10, 1, 1);
}

static void burn_rate_math(void) {
  ASSERT_NEAR(probe_burn_rate(999, 1000, 0.999), 1.0, 1e-9);
  ASSERT_NEAR(probe_burn_rate(0, 10, 0.99), 100.0, 1e-9);
  ASSERT_EQ_DBL(probe_burn_rate(10, 10, 0.999), 0.0);
  ASSERT_EQ_DBL(probe_burn_rate(5, 10, 1.0), 0.0); /* no budget: no rate */
  ASSERT_EQ_INT(probe_burn_rules[0].long_minutes, 60);
  ASSERT_EQ_INT(probe_burn_rules[0].short_minutes, 5);
}

TEST_MAIN(RUN_TEST(empty_window_is_zero); RUN_TEST(windows_and_outage);
          RUN_TEST(page_fires_during_outage_and_clears);
          RUN_TEST(window_moves_with_clock); RUN_TEST(ring_rollover);
          RUN_TEST(clock_jumps); RUN_TEST(burn_rate_math))
