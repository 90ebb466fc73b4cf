/* test_monitor_eval.c: coin-monitor's per-series state machine
 * (services/monitor/eval.c, linked from the coin_monitor library) driven
 * in process with synthetic clocks: each step feeds an observation through
 * the shared freshness evaluator, runs eval_series and reads back what it
 * queued for the outbox (the packed alerts, decoded again, and the KV state
 * record, decoded by state.c into a second series that must continue the
 * same way). Covers quiet deployments (a half-filled site, publish behind
 * ingest, the fill bound, a lone no_model), corruption during the fill,
 * outages after the fill, escalation and repeats of every blocking state,
 * sane durations and the backwards compatible state record. */
#include "monitor_int.h"

#include "coin/codec.h"
#include "coin/error.h"
#include "coin/freshness.h"
#include "coin/timeframe.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define SEC 1000
#define MIN (60 * SEC)
/* 2026-11-26T23:24:00Z, a minute boundary */
#define T0 INT64_C(1795735440000)
#define BOOT 600 /* MONITOR_BOOTSTRAP_SECONDS */
#define HESC 900 /* MONITOR_HARD_ESCALATE_SECONDS */
#define SESC 300 /* MONITOR_SOFT_ESCALATE_SECONDS */
#define REP 1200 /* MONITOR_REPEAT_SECONDS */

static struct monitor_config cfg;
static struct monitor mon;
static struct mon_series ser;

/* alerts queued by the last step, decoded */
static struct coin_alert got[16];
static size_t n_got;
static char *last_record; /* the newest KV state record */

static void setup(int64_t bootstrap_seconds) {
  memset(&cfg, 0, sizeof(cfg));
  memset(&mon, 0, sizeof(mon));
  memset(&ser, 0, sizeof(ser));
  cfg.core.exchange = "binance";
  coin_freshness_policy_default(&cfg.policy);
  cfg.soft_escalate_seconds = SESC;
  cfg.hard_escalate_seconds = HESC;
  cfg.repeat_seconds = REP;
  cfg.bootstrap_seconds = bootstrap_seconds;
  mon.cfg = &cfg;
  snprintf(mon.producer_id, sizeof(mon.producer_id), "monitor@unit");
  pthread_mutex_init(&mon.out_lock, NULL);
  pthread_cond_init(&mon.out_cond, NULL);
  mon.series = &ser;
  mon.n_series = 1;
  snprintf(ser.symbol, sizeof(ser.symbol), "BTCUSDT");
  ser.tf = COIN_TF_1M;
  ser.ingest_wm_ms = -1;
  ser.publish_wm_ms = -1;
  free(last_record);
  last_record = NULL;
}

/* What the site shows: its newest candle (< 0: none) or corrupt, and the
 * prediction path; watermarks as given (-1 unknown). */
struct obs {
  int64_t last_open_ms;
  bool corrupt;
  bool degraded;
  unsigned reasons;
  int64_t ingest_wm, publish_wm;
};

/* One pass at now over the observation; collects what the step queued. */
static void step(const struct obs *o, int64_t now) {
  struct mon_series *s = &ser;
  struct coin_freshness_input in = {.tf = s->tf,
                                    .last_open_ms = o->last_open_ms,
                                    .n_candles = o->last_open_ms >= 0 ? 30 : 0,
                                    .corrupt = o->corrupt};
  coin_freshness_eval(&s->fresh, &cfg.policy, &in, now);
  s->observed = true;
  s->pending = false;
  s->last_open_ms = o->last_open_ms;
  s->degraded_known = !o->corrupt && o->last_open_ms >= 0;
  s->obs_degraded = o->degraded;
  s->obs_reasons = o->reasons;
  s->ingest_wm_ms = o->ingest_wm;
  s->publish_wm_ms = o->publish_wm;
  snprintf(s->detail, sizeof(s->detail), "%s",
           o->corrupt ? "history.json: sha256 mismatch" : "unit");
  eval_series(&mon, s, now);
  n_got = 0;
  pthread_mutex_lock(&mon.out_lock);
  struct mon_job *j = mon.out_head;
  mon.out_head = mon.out_tail = NULL;
  mon.out_len = 0;
  pthread_mutex_unlock(&mon.out_lock);
  while (j) {
    struct mon_job *next = j->next;
    for (size_t i = 0; i < j->n_alerts && n_got < 16; i++)
      if (coin_codec_unpack_alert(&got[n_got], j->alerts[i].data,
                                  j->alerts[i].len) == 0)
        n_got++;
    if (j->state_json) {
      free(last_record);
      last_record = strdup(j->state_json);
    }
    mon_job_free(j);
    j = next;
  }
}

/* The newest closed 1m candle at now: fresh. */
static int64_t lc(int64_t now) {
  return coin_tf_last_closed(COIN_TF_1M, now);
}

static struct obs fresh_at(int64_t now) {
  return (struct obs){
      .last_open_ms = lc(now), .ingest_wm = lc(now), .publish_wm = lc(now)};
}

/* ---- quiet deployments -------------------------------------------------- */

/* publish walks a fresh deployment's site through history (hard_stale from
 * years back, then closer), ingest ahead of it, no model yet: no alert
 * until it is fresh, and then none either (no_model waits for the bound). */
static void deployment_half_filled_site_is_quiet(void) {
  setup(BOOT);
  int64_t now = T0 + 5 * SEC;
  int64_t years_ago = T0 - INT64_C(29759) * 3600 * SEC;
  struct obs o = {.last_open_ms = years_ago,
                  .degraded = true,
                  .reasons = COIN_DEGRADED_NO_MODEL,
                  .ingest_wm = lc(now),
                  .publish_wm = years_ago};
  step(&o, now);
  ASSERT_EQ_INT(ser.state, COIN_STATE_HARD_STALE);
  ASSERT_EQ_INT(n_got, 0);
  /* since: first seen, not a candle of 2023 */
  ASSERT_EQ_INT(ser.since_ms, now);
  ASSERT_EQ_INT(ser.first_seen_ms, now);
  ASSERT_FALSE(ser.ever_fresh);
  ASSERT_EQ_INT(ser.bootstrap_until_ms, now + BOOT * SEC);
  ASSERT_TRUE(last_record != NULL);
  ASSERT_CONTAINS(last_record, "\"ever_fresh\":false");
  ASSERT_CONTAINS(last_record, "\"first_fresh_ms\":null");
  for (int i = 1; i <= 20; i++) { /* the backfill moves on */
    now += 3 * SEC;
    o.last_open_ms = years_ago + i * (T0 - years_ago) / 21;
    o.publish_wm = o.last_open_ms;
    o.last_open_ms = coin_tf_floor(COIN_TF_1M, o.last_open_ms);
    step(&o, now);
    ASSERT_EQ_INT(n_got, 0);
  }
  /* insufficient for a moment (a transition), still quiet */
  o.last_open_ms = -1;
  now += SEC;
  step(&o, now);
  ASSERT_EQ_INT(ser.state, COIN_STATE_INSUFFICIENT_DATA);
  ASSERT_EQ_INT(n_got, 0);
  /* caught up and fresh: the fill is over for the data; no_model waits */
  now += SEC;
  o = fresh_at(now);
  o.degraded = true;
  o.reasons = COIN_DEGRADED_NO_MODEL;
  step(&o, now);
  ASSERT_EQ_INT(ser.state, COIN_STATE_FRESH);
  ASSERT_EQ_INT(n_got, 0);
  ASSERT_TRUE(ser.ever_fresh);
  ASSERT_EQ_INT(ser.first_fresh_ms, now);
  ASSERT_CONTAINS(last_record, "\"ever_fresh\":true");
  /* the model arrives: the window closes, nothing was ever sent */
  now += 60 * SEC;
  o = fresh_at(now);
  step(&o, now);
  ASSERT_EQ_INT(n_got, 0);
  ASSERT_EQ_INT(ser.bootstrap_until_ms, 0);
  ASSERT_FALSE(ser.last_alert.set);
}

/* Fresh once, then ingest stops: soft, escalation, hard, each alerted once,
 * with data-derived starts (the outage is real). */
static void fresh_once_then_stale_alerts(void) {
  setup(BOOT);
  int64_t now = T0 + 2 * SEC;
  struct obs o = fresh_at(now);
  step(&o, now);
  ASSERT_EQ_INT(n_got, 0);
  ASSERT_EQ_INT(ser.bootstrap_until_ms, 0); /* fresh and caught up at once */
  int64_t last = o.last_open_ms;
  int64_t soft_at = 0, hard_at = 0;
  size_t soft = 0, hard = 0, other = 0;
  for (now = T0 + 5 * SEC; now < T0 + 38 * MIN; now += 5 * SEC) {
    o = (struct obs){
        .last_open_ms = last, .ingest_wm = last, .publish_wm = last};
    step(&o, now);
    for (size_t i = 0; i < n_got; i++) {
      if (!strcmp(got[i].alertname, "CoinSoftStale") &&
          got[i].status == COIN_ALERT_FIRING) {
        if (soft++ == 0)
          soft_at = got[i].starts_at_ms;
      } else if (!strcmp(got[i].alertname, "CoinHardStale") &&
                 got[i].status == COIN_ALERT_FIRING) {
        if (hard++ == 0)
          hard_at = got[i].starts_at_ms;
        if (hard == 2) { /* the escalation, same episode */
          ASSERT_EQ_INT(got[i].state, COIN_STATE_HARD_STALE_ESCALATED);
          ASSERT_EQ_INT(got[i].repeat_count, 1);
          ASSERT_CONTAINS(got[i].summary, "escalated: hard_stale for 15m");
        }
      } else if (!(got[i].status == COIN_ALERT_RESOLVED &&
                   !strcmp(got[i].alertname, "CoinSoftStale"))) {
        other++;
      }
    }
  }
  /* 1m defaults: soft after 30 s, hard after 3 min (T0+4m); hard
   * escalates 15 min later (T0+19m); the first reminder is due 20 min after
   * that (T0+39m), past the loop */
  ASSERT_EQ_INT(soft, 1);
  ASSERT_EQ_INT(hard, 2);
  ASSERT_EQ_INT(other, 0);
  int64_t due = last + 2 * MIN; /* the next candle closed then */
  ASSERT_EQ_INT(soft_at, due + 30 * SEC);
  ASSERT_EQ_INT(hard_at, due + 3 * MIN);
}

/* corrupt during the fill alerts at once; the staleness behind it waits. */
static void corrupt_during_fill_alerts_at_once(void) {
  setup(BOOT);
  int64_t now = T0 + 5 * SEC;
  struct obs o = {.last_open_ms = T0 - 3 * 24 * 60 * MIN,
                  .ingest_wm = lc(now),
                  .publish_wm = T0 - 3 * 24 * 60 * MIN};
  step(&o, now);
  ASSERT_EQ_INT(n_got, 0);
  now += 5 * SEC;
  o.corrupt = true;
  step(&o, now);
  ASSERT_EQ_INT(ser.state, COIN_STATE_CORRUPT);
  ASSERT_EQ_INT(n_got, 1);
  ASSERT_EQ_STR(got[0].alertname, "CoinCorrupt");
  ASSERT_EQ_INT(got[0].status, COIN_ALERT_FIRING);
  ASSERT_EQ_INT(got[0].severity, COIN_SEVERITY_CRITICAL);
  ASSERT_EQ_INT(got[0].starts_at_ms, now);
  /* repaired: resolved; back to the (held) stale fill */
  now += 5 * SEC;
  o.corrupt = false;
  step(&o, now);
  ASSERT_EQ_INT(n_got, 1);
  ASSERT_EQ_STR(got[0].alertname, "CoinCorrupt");
  ASSERT_EQ_INT(got[0].status, COIN_ALERT_RESOLVED);
  ASSERT_EQ_INT(ser.state, COIN_STATE_HARD_STALE);
}

/* Never fresh until the bound: the held alert fires when it passes, with
 * the episode's start = first sight (not 2023) and a sane duration, and
 * the degraded alert too (its real start). */
static void fill_bound_expiry_alerts(void) {
  setup(BOOT);
  int64_t first = T0 + 5 * SEC;
  int64_t old = T0 - INT64_C(29759) * 3600 * SEC;
  struct obs o = {.last_open_ms = old,
                  .degraded = true,
                  .reasons = COIN_DEGRADED_NO_MODEL,
                  .ingest_wm = old,
                  .publish_wm = old};
  int64_t now;
  for (now = first; now < first + BOOT * SEC; now += 10 * SEC) {
    step(&o, now);
    ASSERT_EQ_INT(n_got, 0);
  }
  step(&o, now); /* the bound passed */
  ASSERT_EQ_INT(n_got, 2);
  ASSERT_EQ_STR(got[0].alertname, "CoinHardStale");
  ASSERT_EQ_INT(got[0].status, COIN_ALERT_FIRING);
  ASSERT_EQ_INT(got[0].starts_at_ms, first);
  ASSERT_EQ_INT(got[0].state, COIN_STATE_HARD_STALE);
  ASSERT_CONTAINS(got[0].summary, "is hard_stale: ");
  ASSERT_EQ_STR(got[1].alertname, "CoinDegraded");
  ASSERT_EQ_INT(got[1].starts_at_ms, first);
  ASSERT_EQ_INT(ser.bootstrap_until_ms, 0);
  /* escalation from first sight: "for 15m", never "for 29759h" */
  size_t esc = 0;
  for (; now <= first + (HESC + 30) * SEC; now += 10 * SEC) {
    step(&o, now);
    for (size_t i = 0; i < n_got; i++) {
      ASSERT_EQ_STR(got[i].alertname, "CoinHardStale");
      ASSERT_EQ_INT(got[i].state, COIN_STATE_HARD_STALE_ESCALATED);
      ASSERT_CONTAINS(got[i].summary, "for 15m");
      esc++;
    }
  }
  ASSERT_EQ_INT(esc, 1);
}

/* A bound longer than the escalation: the first alert after the fill is
 * already escalated, "for" a duration from first sight. */
static void fill_bound_expiry_escalated(void) {
  setup(HESC + 120);
  int64_t first = T0 + 5 * SEC;
  struct obs o = {.last_open_ms = -1};
  int64_t now;
  for (now = first; now < first + (HESC + 120) * SEC; now += 30 * SEC) {
    step(&o, now);
    ASSERT_EQ_INT(n_got, 0);
  }
  step(&o, now);
  ASSERT_EQ_INT(n_got, 1);
  ASSERT_EQ_STR(got[0].alertname, "CoinInsufficientData");
  ASSERT_EQ_INT(got[0].starts_at_ms, first);
  ASSERT_EQ_INT(got[0].severity, COIN_SEVERITY_CRITICAL);
  ASSERT_CONTAINS(got[0].summary, "is insufficient_data (escalated) for 17m");
}

/* publish behind ingest keeps a series that was fresh once in its fill
 * (within the bound); caught up, a stale series alerts. */
static void publish_catching_up_is_filling(void) {
  setup(BOOT);
  int64_t now = T0 + 5 * SEC;
  struct obs o = fresh_at(now);
  o.ingest_wm = lc(now);
  o.publish_wm = lc(now) - 5 * MIN; /* site fresh, publish still behind */
  step(&o, now);
  ASSERT_EQ_INT(ser.state, COIN_STATE_FRESH);
  ASSERT_TRUE(ser.bootstrap_until_ms > now);
  int64_t last = o.last_open_ms;
  now = last + 2 * MIN + 4 * MIN; /* hard_stale, publish still behind */
  o.last_open_ms = last;
  o.ingest_wm = lc(now);
  step(&o, now);
  ASSERT_EQ_INT(ser.state, COIN_STATE_HARD_STALE);
  ASSERT_EQ_INT(n_got, 0);
  /* publish caught up with ingest but the site did not: alerts */
  now += 5 * SEC;
  o.publish_wm = o.ingest_wm;
  step(&o, now);
  ASSERT_EQ_INT(n_got, 1);
  ASSERT_EQ_STR(got[0].alertname, "CoinHardStale");
  ASSERT_EQ_INT(got[0].starts_at_ms, last + 2 * MIN + 3 * MIN);
}

/* A monitor without grace (0) alerts at once, as before. */
static void no_grace(void) {
  setup(0);
  int64_t now = T0 + 5 * SEC;
  struct obs o = {.last_open_ms = -1};
  step(&o, now);
  ASSERT_EQ_INT(n_got, 1);
  ASSERT_EQ_STR(got[0].alertname, "CoinInsufficientData");
  ASSERT_EQ_INT(got[0].severity, COIN_SEVERITY_WARNING);
}

/* ---- escalation of every blocking state --------------------------------- */

/* One blocking state held from a fresh series: the first alert, the
 * escalation after HESC (severity), reminders every REP, one resolve. */
static void blocking_policy(bool corrupt) {
  setup(BOOT);
  int64_t now = T0 + 5 * SEC;
  struct obs o = fresh_at(now);
  step(&o, now);
  int64_t start = now + 5 * SEC;
  int64_t fired = -1, escalated_at = -1, reminders[8];
  size_t n_rem = 0, resolved = 0;
  uint32_t want_count = 0;
  const char *name = corrupt ? "CoinCorrupt" : "CoinInsufficientData";
  for (now = start; now <= start + (HESC + 2 * REP + 10) * SEC;
       now += 5 * SEC) {
    o = fresh_at(now);
    if (corrupt)
      o.corrupt = true;
    else
      o.last_open_ms = -1;
    step(&o, now);
    for (size_t i = 0; i < n_got; i++) {
      ASSERT_EQ_STR(got[i].alertname, name);
      ASSERT_EQ_INT(got[i].starts_at_ms, start);
      ASSERT_EQ_INT(got[i].status, COIN_ALERT_FIRING);
      ASSERT_EQ_INT(got[i].repeat_count, want_count);
      want_count++;
      if (fired < 0) {
        fired = now;
        ASSERT_EQ_INT(got[i].severity,
                      corrupt ? COIN_SEVERITY_CRITICAL : COIN_SEVERITY_WARNING);
      } else if (escalated_at < 0) {
        escalated_at = now;
        ASSERT_EQ_INT(got[i].severity, COIN_SEVERITY_CRITICAL);
        ASSERT_CONTAINS(got[i].summary, "escalated: ");
        ASSERT_CONTAINS(got[i].summary, "for 15m");
      } else {
        ASSERT_TRUE(n_rem < 8);
        reminders[n_rem++] = now;
        ASSERT_EQ_INT(got[i].severity, COIN_SEVERITY_CRITICAL);
        ASSERT_CONTAINS(got[i].summary, "(reminder ");
      }
    }
    /* a restart at any point continues from the record */
    if (last_record && now == start + (HESC + REP / 2) * SEC) {
      struct mon_series copy = ser;
      ASSERT_OK(state_decode(&copy, last_record, strlen(last_record)));
      ASSERT_EQ_INT(copy.alert.next_repeat_ms, ser.alert.next_repeat_ms);
      ASSERT_EQ_INT(copy.alert.severity, COIN_SEVERITY_CRITICAL);
      ASSERT_EQ_INT(copy.alert.repeat_count, 1);
      ASSERT_TRUE(copy.ever_fresh);
      ser = copy;
    }
  }
  ASSERT_EQ_INT(fired, start);
  ASSERT_TRUE(escalated_at > start + HESC * SEC);
  ASSERT_TRUE(escalated_at <= start + HESC * SEC + 5 * SEC);
  ASSERT_EQ_INT(n_rem, 2);
  ASSERT_TRUE(reminders[0] >= escalated_at + REP * SEC);
  ASSERT_TRUE(reminders[0] < escalated_at + REP * SEC + 5 * SEC);
  ASSERT_TRUE(reminders[1] >= reminders[0] + REP * SEC);
  /* recovery: one resolve with the last count */
  o = fresh_at(now);
  step(&o, now);
  for (size_t i = 0; i < n_got; i++)
    if (got[i].status == COIN_ALERT_RESOLVED) {
      resolved++;
      ASSERT_EQ_INT(got[i].repeat_count, 3);
    }
  ASSERT_EQ_INT(resolved, 1);
  ASSERT_FALSE(ser.alert.active);
}

static void corrupt_escalates_and_repeats(void) {
  blocking_policy(true);
}
static void insufficient_escalates_and_repeats(void) {
  blocking_policy(false);
}

/* ---- the state record --------------------------------------------------- */

static void record_backwards_compatible(void) {
  setup(BOOT);
  /* written before the fill fields existed, mid-grace: still filling */
  const char *old_grace =
      "{\"v\":1,\"exchange\":\"binance\",\"symbol\":\"BTCUSDT\","
      "\"timeframe\":\"1m\",\"state\":\"insufficient_data\","
      "\"since_ms\":1795735440000,\"at_ms\":1795735440000,\"degraded\":false,"
      "\"degraded_reasons\":[],\"degraded_since_ms\":null,"
      "\"bootstrap_until_ms\":1795737240000,\"alert\":null,"
      "\"degraded_alert\":null,\"last_alert\":null,\"producer_id\":\"m\"}";
  ASSERT_OK(state_decode(&ser, old_grace, strlen(old_grace)));
  ASSERT_FALSE(ser.ever_fresh);
  ASSERT_EQ_INT(ser.first_seen_ms, -1);
  ASSERT_EQ_INT(ser.first_fresh_ms, -1);
  int64_t now = T0 + 60 * SEC;
  struct obs o = {.last_open_ms = -1};
  step(&o, now);
  ASSERT_EQ_INT(n_got, 0); /* held: the grace continues */
  /* an old record of a series out of its grace counts as fresh once */
  setup(BOOT);
  const char *old_plain =
      "{\"v\":1,\"exchange\":\"binance\",\"symbol\":\"BTCUSDT\","
      "\"timeframe\":\"1m\",\"state\":\"fresh\",\"since_ms\":1795735440000,"
      "\"at_ms\":1795735440000,\"degraded\":false,\"alert\":null,"
      "\"degraded_alert\":null,\"last_alert\":null}";
  ASSERT_OK(state_decode(&ser, old_plain, strlen(old_plain)));
  ASSERT_TRUE(ser.ever_fresh);
  ASSERT_EQ_INT(ser.bootstrap_until_ms, 0);
  step(&o, now);
  ASSERT_EQ_INT(n_got, 1); /* a known series: no grace */
  ASSERT_EQ_STR(got[0].alertname, "CoinInsufficientData");
  /* round trip of the new fields */
  setup(BOOT);
  step(&o, now);
  ASSERT_TRUE(last_record != NULL);
  struct mon_series copy;
  memset(&copy, 0, sizeof(copy));
  snprintf(copy.symbol, sizeof(copy.symbol), "BTCUSDT");
  copy.tf = COIN_TF_1M;
  ASSERT_OK(state_decode(&copy, last_record, strlen(last_record)));
  ASSERT_EQ_INT(copy.first_seen_ms, now);
  ASSERT_FALSE(copy.ever_fresh);
  ASSERT_EQ_INT(copy.bootstrap_until_ms, now + BOOT * SEC);
  o = fresh_at(now + 5 * SEC);
  step(&o, now + 5 * SEC);
  memset(&copy, 0, sizeof(copy));
  snprintf(copy.symbol, sizeof(copy.symbol), "BTCUSDT");
  copy.tf = COIN_TF_1M;
  ASSERT_OK(state_decode(&copy, last_record, strlen(last_record)));
  ASSERT_TRUE(copy.ever_fresh);
  ASSERT_EQ_INT(copy.first_fresh_ms, now + 5 * SEC);
  ASSERT_EQ_INT(copy.bootstrap_until_ms, 0);
}

TEST_MAIN(RUN_TEST(deployment_half_filled_site_is_quiet);
          RUN_TEST(fresh_once_then_stale_alerts);
          RUN_TEST(corrupt_during_fill_alerts_at_once);
          RUN_TEST(fill_bound_expiry_alerts);
          RUN_TEST(fill_bound_expiry_escalated);
          RUN_TEST(publish_catching_up_is_filling); RUN_TEST(no_grace);
          RUN_TEST(corrupt_escalates_and_repeats);
          RUN_TEST(insufficient_escalates_and_repeats);
          RUN_TEST(record_backwards_compatible))
