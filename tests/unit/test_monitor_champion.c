/* test_monitor_champion.c: the champion watch's judgement and decisions
 * (services/monitor/champion.c, linked from the coin_monitor library) on fed
 * rows and a fake clock, without NATS or InfluxDB:
 * - per-series and pooled figures equal a hand computation (MAE, persistence
 *   MAE, ratio, paired-difference 95% CI, hit rate with its Wilson interval),
 *   unusable rows are ignored and counted, rows before the window do not
 *   count, too few rows give no verdict, max_rows truncates;
 * - the alerts: CoinChampionUnderperforming fires for the worse series and
 *   the pool only, raising again sends nothing, recovery resolves, a new
 *   champion resolves the old one's episodes and starts its own, no champion
 *   resolves all, an episode of another champion (left from before a
 *   restart) is resolved, the per-series cap keeps those already firing;
 * - the retraining request is due once per champion and episode. */
#include "monitor_int.h"

#include "coin/codec.h"
#include "coin/error.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HOUR INT64_C(3600000)
/* 2026-11-26T23:00:00Z */
#define T0 INT64_C(1795734000000)
#define WINDOW_H 168

static struct monitor_config cfg;
static struct monitor mon;

static struct coin_alert got[64];
static size_t n_got;

static void setup(void) {
  memset(&cfg, 0, sizeof(cfg));
  memset(&mon, 0, sizeof(mon));
  cfg.core.exchange = "binance";
  cfg.champ_window_hours = WINDOW_H;
  mon.cfg = &cfg;
  snprintf(mon.producer_id, sizeof(mon.producer_id), "monitor@unit");
  pthread_mutex_init(&mon.out_lock, NULL);
  pthread_cond_init(&mon.out_cond, NULL);
  pthread_mutex_init(&mon.g_lock, NULL);
}

/* The alert messages queued since the last call, decoded. */
static void drain(void) {
  n_got = 0;
  pthread_mutex_lock(&mon.out_lock);
  struct mon_job *j = mon.out_head;
  mon.out_head = mon.out_tail = NULL;
  mon.out_len = 0;
  pthread_mutex_unlock(&mon.out_lock);
  while (j) {
    struct mon_job *next = j->next;
    for (size_t i = 0; i < j->n_alerts && n_got < 64; i++)
      if (coin_codec_unpack_alert(&got[n_got], j->alerts[i].data,
                                  j->alerts[i].len) == 0)
        n_got++;
    mon_job_free(j);
    j = next;
  }
}

static const char *label(const struct coin_alert *a, const char *name) {
  for (size_t i = 0; i < a->n_labels; i++)
    if (!strcmp(a->labels[i].name, name))
      return a->labels[i].value;
  return "";
}

/* The queued message about target with status, or NULL. */
static const struct coin_alert *got_for(const char *target,
                                        enum coin_alert_status status) {
  for (size_t i = 0; i < n_got; i++)
    if (!strcmp(label(&got[i], "target"), target) && got[i].status == status)
      return &got[i];
  return NULL;
}

/* Active CoinChampionUnderperforming episode about target, or NULL. */
static const struct mon_global *active(const char *target) {
  for (size_t i = 0; i < MON_MAX_GLOBALS; i++) {
    const struct mon_global *g = &mon.globals[i];
    if (g->used && g->active && !strcmp(g->alertname, MON_CHAMP_ALERT) &&
        !strcmp(g->target, target))
      return g;
  }
  return NULL;
}

static size_t n_active(void) {
  size_t n = 0;
  for (size_t i = 0; i < MON_MAX_GLOBALS; i++)
    n += mon.globals[i].used && mon.globals[i].active;
  return n;
}

/* The realized log return of row i (some exactly 0: no direction). */
static double ret_of(int i, double scale) {
  if (i % 17 == 0)
    return 0;
  return scale * 0.01 * sin(1.3 * i + 0.4);
}

/* n hourly rows of symbol ending before T0: prediction = factor * realized
 * return (0.5: the right sign, half the move; -1: the wrong sign). */
static void feed(struct mon_champ_eval *e, const char *symbol, int n,
                 double factor, double scale) {
  for (int i = 0; i < n; i++) {
    double r = ret_of(i, scale);
    ASSERT_TRUE(champ_eval_add(e, symbol, COIN_TF_1H, T0 - (n - i) * HOUR,
                               100.0 + i, factor * r, r));
  }
}

/* The figures of a series fed with factor, by hand. */
struct hand {
  int64_t n, dn, hits;
  double mae, pmae, ratio, lo, hi, hit, hlo, hhi;
};

static void hand_add(double *sum, double *psum, double *d, double *d2,
                     int64_t *n, int64_t *dn, int64_t *hits, int count,
                     double factor, double scale) {
  for (int i = 0; i < count; i++) {
    double r = ret_of(i, scale), p = factor * r;
    double ret = log((100.0 + i) * exp(r) / (100.0 + i));
    double e = fabs(p - ret), pe = fabs(ret);
    *sum += e;
    *psum += pe;
    *d += e - pe;
    *d2 += (e - pe) * (e - pe);
    (*n)++;
    if (ret != 0) {
      (*dn)++;
      *hits += (p > 0) == (ret > 0);
    }
  }
}

static void hand_finish(struct hand *h, double sum, double psum, double d,
                        double d2) {
  double k = (double)h->n;
  h->mae = sum / k;
  h->pmae = psum / k;
  h->ratio = sum / psum;
  double mean = d / k, sd = sqrt((d2 - k * mean * mean) / (k - 1));
  h->lo = mean - 1.959963984540054 * sd / sqrt(k);
  h->hi = mean + 1.959963984540054 * sd / sqrt(k);
  double z = 1.959963984540054, dn = (double)h->dn, p = (double)h->hits / dn;
  double c = (p + z * z / (2 * dn)) / (1 + z * z / dn);
  double half =
      z * sqrt(p * (1 - p) / dn + z * z / (4 * dn * dn)) / (1 + z * z / dn);
  h->hit = p;
  h->hlo = c - half;
  h->hhi = c + half;
}

static void check(const struct coin_track_window *w, const struct hand *h) {
  ASSERT_EQ_INT(w->n, h->n);
  ASSERT_NEAR(w->mae, h->mae, 1e-12);
  ASSERT_NEAR(w->persistence_mae, h->pmae, 1e-12);
  ASSERT_NEAR(w->mae_ratio, h->ratio, 1e-9);
  ASSERT_NEAR(w->diff_lo, h->lo, 1e-12);
  ASSERT_NEAR(w->diff_hi, h->hi, 1e-12);
  ASSERT_EQ_INT(w->directional_n, h->dn);
  ASSERT_EQ_INT(w->hits, h->hits);
  ASSERT_NEAR(w->hit_rate, h->hit, 1e-12);
  ASSERT_NEAR(w->hit_lo, h->hlo, 1e-12);
  ASSERT_NEAR(w->hit_hi, h->hhi, 1e-12);
}

static const struct mon_champ_series *find(const struct mon_champ_eval *e,
                                           const char *symbol) {
  for (size_t i = 0; i < e->n_series; i++)
    if (!strcmp(e->series[i].symbol, symbol))
      return &e->series[i];
  return NULL;
}

/* A judged check of version: good and bad series of n rows each. */
static void judged(struct mon_champ_eval *e, const char *version, int n,
                   double bad_factor) {
  champ_eval_init(e, version, T0 - WINDOW_H * HOUR, T0, 200000);
  feed(e, "BTCUSDT", n, 0.5, 1);
  feed(e, "ETHUSDT", n, bad_factor, 1);
  ASSERT_OK(champ_eval_judge(e, 200, 100));
}

static void judgement_equals_hand_computation(void) {
  struct mon_champ_eval e;
  champ_eval_init(&e, "v1", T0 - WINDOW_H * HOUR, T0, 200000);
  feed(&e, "BTCUSDT", 150, 0.5, 1);
  feed(&e, "ETHUSDT", 150, -1, 1);
  /* unusable records: ignored and counted, never judged */
  ASSERT_FALSE(
      champ_eval_add(&e, "ETHUSDT", COIN_TF_1H, T0 - HOUR, 0, 0.1, 0.01));
  ASSERT_FALSE(
      champ_eval_add(&e, "ETHUSDT", COIN_TF_1H, T0 - HOUR, 100, NAN, 0.01));
  ASSERT_FALSE(champ_eval_add(&e, "", COIN_TF_1H, T0 - HOUR, 100, 0.1, 0.01));
  ASSERT_EQ_INT(e.rows_ignored, 3);
  /* a row before the window: read, not counted */
  ASSERT_TRUE(champ_eval_add(&e, "ETHUSDT", COIN_TF_1H,
                             T0 - (WINDOW_H + 1) * HOUR, 100, -0.5, 0.5));
  ASSERT_OK(champ_eval_judge(&e, 200, 100));
  ASSERT_EQ_INT(e.n_series, 2);

  struct hand g = {0}, b = {0}, p = {0};
  double s[3] = {0}, ps[3] = {0}, d[3] = {0}, d2[3] = {0};
  hand_add(&s[0], &ps[0], &d[0], &d2[0], &g.n, &g.dn, &g.hits, 150, 0.5, 1);
  hand_add(&s[1], &ps[1], &d[1], &d2[1], &b.n, &b.dn, &b.hits, 150, -1, 1);
  hand_add(&s[2], &ps[2], &d[2], &d2[2], &p.n, &p.dn, &p.hits, 150, 0.5, 1);
  hand_add(&s[2], &ps[2], &d[2], &d2[2], &p.n, &p.dn, &p.hits, 150, -1, 1);
  hand_finish(&g, s[0], ps[0], d[0], d2[0]);
  hand_finish(&b, s[1], ps[1], d[1], d2[1]);
  hand_finish(&p, s[2], ps[2], d[2], d2[2]);
  const struct mon_champ_series *bs = find(&e, "BTCUSDT");
  const struct mon_champ_series *es = find(&e, "ETHUSDT");
  ASSERT_TRUE(bs != NULL && es != NULL);
  check(&bs->w, &g);
  check(&es->w, &b);
  check(&e.pooled, &p);
  ASSERT_NEAR(g.ratio, 0.5, 1e-9); /* half the move, right sign */
  ASSERT_NEAR(b.ratio, 2.0, 1e-9); /* the wrong sign: twice the error */
  ASSERT_EQ_INT(b.hits, 0);
  ASSERT_EQ_INT(bs->verdict, COIN_TRACK_OK);
  ASSERT_EQ_INT(es->verdict, COIN_TRACK_WORSE);
  ASSERT_TRUE(p.lo > 0);
  ASSERT_EQ_INT(e.pooled_verdict, COIN_TRACK_WORSE);
  ASSERT_EQ_INT(e.series_worse, 1);
  champ_eval_clear(&e);
}

static void too_few_and_truncation(void) {
  struct mon_champ_eval e;
  champ_eval_init(&e, "v1", T0 - WINDOW_H * HOUR, T0, 200000);
  feed(&e, "BTCUSDT", 99, -1, 1);
  feed(&e, "ETHUSDT", 99, -1, 1);
  ASSERT_OK(champ_eval_judge(&e, 200, 100));
  ASSERT_EQ_INT(e.pooled.n, 198);
  ASSERT_EQ_INT(e.pooled_verdict, COIN_TRACK_TOO_FEW);
  ASSERT_EQ_INT(find(&e, "BTCUSDT")->verdict, COIN_TRACK_TOO_FEW);
  ASSERT_EQ_INT(e.series_worse, 0);
  champ_eval_clear(&e);

  champ_eval_init(&e, "v1", T0 - WINDOW_H * HOUR, T0, 100);
  for (int i = 0; i < 100; i++)
    ASSERT_TRUE(champ_eval_add(&e, "BTCUSDT", COIN_TF_1H, T0 - i * HOUR, 100,
                               0.01, 0.02));
  ASSERT_FALSE(e.truncated);
  ASSERT_FALSE(champ_eval_add(&e, "BTCUSDT", COIN_TF_1H, T0, 100, 0.01, 0.02));
  ASSERT_TRUE(e.truncated);
  ASSERT_EQ_INT(e.n_rows, 100);
  champ_eval_clear(&e);
}

static void alerts_follow_verdicts_and_champion(void) {
  setup();
  struct mon_champ_eval e;
  int64_t now = T0;
  judged(&e, "v1", 150, -1);
  champ_alerts(&mon, &e, 20, now);
  drain();
  ASSERT_EQ_INT(n_got, 2);
  const struct coin_alert *a = got_for("binance/ETHUSDT/1h", COIN_ALERT_FIRING);
  const struct coin_alert *pa = got_for("pooled", COIN_ALERT_FIRING);
  ASSERT_TRUE(a != NULL && pa != NULL);
  ASSERT_EQ_STR(a->alertname, MON_CHAMP_ALERT);
  ASSERT_EQ_INT(a->severity, COIN_SEVERITY_WARNING);
  ASSERT_CONTAINS(a->summary, "champion v1 worse than persistence on "
                              "binance/ETHUSDT/1h over 168h00m: n=150, MAE "
                              "ratio 2.000");
  ASSERT_CONTAINS(a->summary, "hit rate 0.0%");
  ASSERT_CONTAINS(pa->summary, "on pooled");
  ASSERT_CONTAINS(pa->summary, "n=300");
  ASSERT_CONTAINS(pa->summary, "1 of 2 series worse (1 alerted)");
  ASSERT_TRUE(active("binance/BTCUSDT/1h") == NULL);
  ASSERT_TRUE(find(&e, "ETHUSDT")->alerted);
  ASSERT_FALSE(find(&e, "BTCUSDT")->alerted);
  int64_t starts = active("pooled")->starts_at_ms;

  /* the same judgement again, later: the episodes continue, nothing sent */
  champ_alerts(&mon, &e, 20, now + 300000);
  drain();
  ASSERT_EQ_INT(n_got, 0);
  ASSERT_EQ_INT(active("pooled")->starts_at_ms, starts);
  champ_eval_clear(&e);

  /* recovery: resolved */
  judged(&e, "v1", 150, 0.5);
  champ_alerts(&mon, &e, 20, now + 600000);
  drain();
  ASSERT_EQ_INT(n_got, 2);
  ASSERT_TRUE(got_for("binance/ETHUSDT/1h", COIN_ALERT_RESOLVED) != NULL);
  ASSERT_CONTAINS(got_for("pooled", COIN_ALERT_RESOLVED)->summary,
                  "no longer worse than persistence on pooled (ok)");
  ASSERT_EQ_INT(n_active(), 0);
  champ_eval_clear(&e);

  /* worse again, then a new champion: the old episodes end, v2's start */
  judged(&e, "v1", 150, -1);
  champ_alerts(&mon, &e, 20, now + 900000);
  drain();
  ASSERT_EQ_INT(n_got, 2);
  champ_eval_clear(&e);
  judged(&e, "v2", 150, -1);
  champ_alerts(&mon, &e, 20, now + 1200000);
  drain();
  ASSERT_EQ_INT(n_got, 4);
  const struct coin_alert *r = got_for("pooled", COIN_ALERT_RESOLVED);
  ASSERT_TRUE(r != NULL);
  ASSERT_CONTAINS(r->summary, "champion v1: replaced by v2");
  const struct coin_alert *f = got_for("pooled", COIN_ALERT_FIRING);
  ASSERT_TRUE(f != NULL);
  ASSERT_CONTAINS(f->summary, "champion v2 worse");
  ASSERT_EQ_INT(f->starts_at_ms, now + 1200000);
  ASSERT_TRUE(strcmp(r->alert_id, f->alert_id) != 0);
  champ_eval_clear(&e);

  /* a new champion without realized rows yet: nothing fires */
  struct mon_champ_eval empty;
  champ_eval_init(&empty, "v3", T0 - WINDOW_H * HOUR, T0, 200000);
  ASSERT_OK(champ_eval_judge(&empty, 200, 100));
  champ_alerts(&mon, &empty, 20, now + 1500000);
  drain();
  ASSERT_EQ_INT(n_got, 2);
  ASSERT_EQ_INT(n_active(), 0);
  champ_eval_clear(&empty);

  /* no champion at all resolves everything too */
  judged(&e, "v3", 150, -1);
  champ_alerts(&mon, &e, 20, now + 1800000);
  drain();
  ASSERT_EQ_INT(n_active(), 2);
  champ_alerts(&mon, NULL, 20, now + 2100000);
  drain();
  ASSERT_EQ_INT(n_got, 2);
  ASSERT_CONTAINS(got_for("pooled", COIN_ALERT_RESOLVED)->summary,
                  "no champion any more");
  ASSERT_EQ_INT(n_active(), 0);
  champ_eval_clear(&e);
}

/* An episode left by a previous process about another champion (loaded
 * from KV) ends at the first judgement; one about this champion goes on. */
static void episodes_from_before_a_restart(void) {
  setup();
  mon_global_set(&mon, MON_CHAMP_ALERT, "pooled", COIN_SEVERITY_WARNING, true,
                 T0 - HOUR, "champion v0 worse than persistence on pooled");
  mon_global_set(&mon, MON_CHAMP_ALERT, "binance/ETHUSDT/1h",
                 COIN_SEVERITY_WARNING, true, T0 - HOUR,
                 "champion v1 worse than persistence on binance/ETHUSDT/1h");
  drain();
  struct mon_champ_eval e;
  judged(&e, "v1", 150, -1);
  champ_alerts(&mon, &e, 20, T0);
  drain();
  /* v0's pooled ends, v1's pooled starts, ETHUSDT's episode continues */
  ASSERT_EQ_INT(n_got, 2);
  ASSERT_CONTAINS(got_for("pooled", COIN_ALERT_RESOLVED)->summary,
                  "champion v0: replaced by v1");
  ASSERT_TRUE(got_for("pooled", COIN_ALERT_FIRING) != NULL);
  ASSERT_EQ_INT(active("binance/ETHUSDT/1h")->starts_at_ms, T0 - HOUR);
  ASSERT_CONTAINS(active("binance/ETHUSDT/1h")->summary, "n=150");
  champ_eval_clear(&e);
}

/* 25 worse series, at most 20 alerts: the most significant, and once the
 * ranking moves, those already firing keep theirs. */
static void per_series_cap(void) {
  setup();
  struct mon_champ_eval e;
  char sym[25][16];
  champ_eval_init(&e, "v1", T0 - WINDOW_H * HOUR, T0, 200000);
  for (int k = 0; k < 25; k++) {
    snprintf(sym[k], sizeof(sym[k]), "S%02dUSDT", k);
    feed(&e, sym[k], 120, -1, 1 + k); /* larger k: more significant */
  }
  ASSERT_OK(champ_eval_judge(&e, 200, 100));
  ASSERT_EQ_INT(e.series_worse, 25);
  champ_alerts(&mon, &e, 20, T0);
  drain();
  ASSERT_EQ_INT(n_got, 21);
  for (int k = 0; k < 5; k++)
    ASSERT_FALSE(find(&e, sym[k])->alerted);
  for (int k = 5; k < 25; k++)
    ASSERT_TRUE(find(&e, sym[k])->alerted);
  ASSERT_CONTAINS(got_for("pooled", COIN_ALERT_FIRING)->summary,
                  "25 of 25 series worse (20 alerted)");
  champ_eval_clear(&e);

  /* S00 becomes the most significant: the firing ones keep the slots */
  champ_eval_init(&e, "v1", T0 - WINDOW_H * HOUR, T0, 200000);
  for (int k = 0; k < 25; k++)
    feed(&e, sym[k], 120, -1, k == 0 ? 100 : 1 + k);
  ASSERT_OK(champ_eval_judge(&e, 200, 100));
  champ_alerts(&mon, &e, 20, T0 + HOUR);
  drain();
  ASSERT_EQ_INT(n_got, 0);
  ASSERT_FALSE(find(&e, sym[0])->alerted);
  champ_eval_clear(&e);

  /* one recovers: its slot goes to the most significant unalerted one */
  champ_eval_init(&e, "v1", T0 - WINDOW_H * HOUR, T0, 200000);
  for (int k = 0; k < 25; k++)
    feed(&e, sym[k], 120, k == 24 ? 0.5 : -1, k == 0 ? 100 : 1 + k);
  ASSERT_OK(champ_eval_judge(&e, 200, 100));
  champ_alerts(&mon, &e, 20, T0 + 2 * HOUR);
  drain();
  ASSERT_EQ_INT(n_got, 2);
  char t[64];
  snprintf(t, sizeof(t), "binance/%s/1h", sym[24]);
  ASSERT_TRUE(got_for(t, COIN_ALERT_RESOLVED) != NULL);
  snprintf(t, sizeof(t), "binance/%s/1h", sym[0]);
  ASSERT_TRUE(got_for(t, COIN_ALERT_FIRING) != NULL);
  champ_eval_clear(&e);
}

static void retrain_once_per_champion_and_episode(void) {
  struct mon_champ_memory mem;
  memset(&mem, 0, sizeof(mem));
  struct mon_champ_eval e;
  judged(&e, "v1", 150, -1); /* pooled worse */
  ASSERT_TRUE(champ_retrain_due(&mem, &e, 3));
  mem.requested = true; /* the caller wrote it */
  ASSERT_FALSE(champ_retrain_due(&mem, &e, 3));
  ASSERT_FALSE(champ_retrain_due(&mem, &e, 3));
  champ_eval_clear(&e);
  /* too few rows: no evidence of recovery, the episode goes on */
  champ_eval_init(&e, "v1", T0 - WINDOW_H * HOUR, T0, 200000);
  ASSERT_OK(champ_eval_judge(&e, 200, 100));
  ASSERT_FALSE(champ_retrain_due(&mem, &e, 3));
  ASSERT_TRUE(mem.requested);
  champ_eval_clear(&e);
  judged(&e, "v1", 150, -1);
  ASSERT_FALSE(champ_retrain_due(&mem, &e, 3));
  champ_eval_clear(&e);
  /* recovered (pooled ok): the episode ends; worse again is a new one */
  judged(&e, "v1", 150, 0.5);
  ASSERT_FALSE(champ_retrain_due(&mem, &e, 3));
  ASSERT_FALSE(mem.requested);
  champ_eval_clear(&e);
  judged(&e, "v1", 150, -1);
  ASSERT_TRUE(champ_retrain_due(&mem, &e, 3));
  mem.requested = true;
  champ_eval_clear(&e);
  /* a new champion starts its own episode */
  judged(&e, "v2", 150, -1);
  ASSERT_TRUE(champ_retrain_due(&mem, &e, 3));
  champ_eval_clear(&e);

  /* enough worse series with a pool that is not worse */
  memset(&mem, 0, sizeof(mem));
  champ_eval_init(&e, "v3", T0 - WINDOW_H * HOUR, T0, 200000);
  feed(&e, "AUSDT", 120, -1, 1);
  feed(&e, "BUSDT", 120, -1, 1);
  for (int k = 0; k < 12; k++) {
    char s[16];
    snprintf(s, sizeof(s), "G%02dUSDT", k);
    feed(&e, s, 120, 0.2, 1);
  }
  ASSERT_OK(champ_eval_judge(&e, 200, 100));
  ASSERT_EQ_INT(e.pooled_verdict, COIN_TRACK_OK);
  ASSERT_EQ_INT(e.series_worse, 2);
  ASSERT_FALSE(champ_retrain_due(&mem, &e, 3));
  ASSERT_TRUE(champ_retrain_due(&mem, &e, 2));
  champ_eval_clear(&e);
}

int main(int argc, char **argv) {
  coin_test_main_begin(argc, argv);
  RUN_TEST(judgement_equals_hand_computation);
  RUN_TEST(too_few_and_truncation);
  RUN_TEST(alerts_follow_verdicts_and_champion);
  RUN_TEST(episodes_from_before_a_restart);
  RUN_TEST(per_series_cap);
  RUN_TEST(retrain_once_per_champion_and_episode);
  return coin_test_summary();
}
