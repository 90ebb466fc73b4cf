/* probe_sli.c: the availability SLI of the site probe as pure arithmetic.
 * One ring of per-minute buckets (good, all) covers 30 days (43200 buckets
 * of two uint32, about 338 KiB); a window sums the newest N minutes ending
 * at the current minute. Buckets older than the ring are overwritten as the
 * clock advances; a clock jump of more than 30 days clears the ring. The
 * buckets live in memory only: a restart of coin-monitor starts them empty.
 *
 * Burn rate of a window = (bad / all) / (1 - SLO); 0 with no probes. The
 * multi-window rules (Google SRE workbook, chapter "Alerting on SLOs") fire
 * when both the long and the short window burn above the rule's rate:
 *   page   critical  1h  and 5m   > 14.4  (2% of a 30 d budget in 1 h)
 *   page   critical  6h  and 30m  > 6     (5% of the budget in 6 h)
 *   ticket warning   3d  and 6h   > 1     (10% of the budget in 3 d) */
#include "monitor_int.h"

#include <string.h>

const struct probe_burn_rule probe_burn_rules[PROBE_BURN_RULES] = {
    {"1h_5m", 60, 5, 14.4, COIN_SEVERITY_CRITICAL},
    {"6h_30m", 360, 30, 6.0, COIN_SEVERITY_CRITICAL},
    {"3d_6h", 4320, 360, 1.0, COIN_SEVERITY_WARNING},
};

void probe_sli_init(struct probe_sli *s) {
  memset(s, 0, sizeof(*s));
}

static size_t idx(int64_t m) {
  return (size_t)(((m % PROBE_SLI_MINUTES) + PROBE_SLI_MINUTES) %
                  PROBE_SLI_MINUTES);
}

static int64_t minute_of(int64_t now_ms) {
  return now_ms >= 0 ? now_ms / 60000 : -((-now_ms + 59999) / 60000);
}

/* Moves the ring to the minute of now_ms, clearing the buckets skipped. A
 * clock that goes backwards keeps the newest minute (the probe is counted
 * there). */
static void advance(struct probe_sli *s, int64_t now_ms) {
  int64_t min = minute_of(now_ms);
  if (!s->started) {
    memset(s->good, 0, sizeof(s->good));
    memset(s->all, 0, sizeof(s->all));
    s->newest_min = min;
    s->started = true;
    return;
  }
  if (min <= s->newest_min)
    return;
  int64_t gap = min - s->newest_min;
  if (gap >= PROBE_SLI_MINUTES) {
    memset(s->good, 0, sizeof(s->good));
    memset(s->all, 0, sizeof(s->all));
  } else {
    for (int64_t m = s->newest_min + 1; m <= min; m++) {
      size_t i = idx(m);
      s->good[i] = 0;
      s->all[i] = 0;
    }
  }
  s->newest_min = min;
}

void probe_sli_record(struct probe_sli *s, int64_t now_ms, bool good) {
  advance(s, now_ms);
  size_t i = idx(s->newest_min);
  if (s->all[i] < UINT32_MAX) {
    s->all[i]++;
    if (good)
      s->good[i]++;
  }
}

void probe_sli_window(const struct probe_sli *s, int64_t now_ms, int minutes,
                      uint64_t *good, uint64_t *all) {
  *good = 0;
  *all = 0;
  if (!s->started || minutes <= 0)
    return;
  if (minutes > PROBE_SLI_MINUTES)
    minutes = PROBE_SLI_MINUTES;
  int64_t now_min = minute_of(now_ms);
  if (now_min < s->newest_min)
    now_min = s->newest_min;
  /* the window covers minutes (now_min - minutes, now_min] */
  int64_t lo = now_min - minutes + 1;
  int64_t oldest = s->newest_min - PROBE_SLI_MINUTES + 1;
  if (lo < oldest)
    lo = oldest;
  for (int64_t m = lo; m <= s->newest_min; m++) {
    size_t i = idx(m);
    *good += s->good[i];
    *all += s->all[i];
  }
}

double probe_burn_rate(uint64_t good, uint64_t all, double slo) {
  if (all == 0 || !(slo < 1.0))
    return 0.0;
  double bad = (double)(all - good) / (double)all;
  return bad / (1.0 - slo);
}

bool probe_burn_firing(const struct probe_sli *s, int64_t now_ms, double slo,
                       const struct probe_burn_rule *r, double *long_rate,
                       double *short_rate) {
  uint64_t g, a;
  probe_sli_window(s, now_ms, r->long_minutes, &g, &a);
  double lr = probe_burn_rate(g, a, slo);
  probe_sli_window(s, now_ms, r->short_minutes, &g, &a);
  double sr = probe_burn_rate(g, a, slo);
  if (long_rate)
    *long_rate = lr;
  if (short_rate)
    *short_rate = sr;
  return lr > r->rate && sr > r->rate;
}
