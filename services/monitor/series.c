/*
 * series.c: the small things every part of coin-monitor shares: the series
 * table and its index (built once at start, read-only after), the names
 * derived from a series (state key, alert id, message id), the loop's
 * health, a stoppable sleep, duration texts and the pass histogram's
 * buckets. It calls into no other file of the service.
 */
#include "monitor_int.h"

#include "coin/clock.h"
#include "coin/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool mon_sleep_unless(const atomic_bool *stop, int64_t ms) {
  int64_t end = coin_mono_ms() + ms;
  for (;;) {
    if (atomic_load(stop))
      return true;
    int64_t left = end - coin_mono_ms();
    if (left <= 0)
      return false;
    if (left > 50)
      left = 50;
    struct timespec ts = {0, (long)left * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* ---- series index ------------------------------------------------------- */

static uint64_t series_hash(const char *symbol, enum coin_tf tf) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)symbol; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  h = (h ^ (uint64_t)tf) * 1099511628211ULL;
  return h;
}

ssize_t mon_series_find(const struct monitor *m, const char *symbol,
                        enum coin_tf tf) {
  if (m->index_cap == 0)
    return -1;
  size_t mask = m->index_cap - 1;
  for (size_t i = series_hash(symbol, tf) & mask;; i = (i + 1) & mask) {
    uint32_t v = m->index[i];
    if (v == 0)
      return -1;
    const struct mon_series *s = &m->series[v - 1];
    if (s->tf == tf && strcmp(s->symbol, symbol) == 0)
      return (ssize_t)(v - 1);
  }
}

int mon_series_setup(struct monitor *m) {
  const struct coin_config *core = &m->cfg->core;
  size_t n = core->symbols.n * core->ingest_timeframes.n;
  m->series = calloc(n ? n : 1, sizeof(*m->series));
  m->wm_ingest = calloc(n ? n : 1, sizeof(int64_t));
  m->wm_publish = calloc(n ? n : 1, sizeof(int64_t));
  m->index_cap = 16;
  while (m->index_cap < 2 * n)
    m->index_cap *= 2;
  m->index = calloc(m->index_cap, sizeof(uint32_t));
  if (!m->series || !m->wm_ingest || !m->wm_publish || !m->index)
    return coin_error_set(COIN_ENOMEM, "monitor: out of memory");
  for (size_t i = 0; i < core->symbols.n; i++)
    for (size_t k = 0; k < core->ingest_timeframes.n; k++) {
      size_t idx = m->n_series++;
      struct mon_series *s = &m->series[idx];
      const char *sym = core->symbols.items[i];
      enum coin_tf tf = core->ingest_timeframes.tfs[k];
      snprintf(s->symbol, sizeof(s->symbol), "%s", sym);
      s->tf = tf;
      s->ingest_wm_ms = s->publish_wm_ms = -1;
      s->last_open_ms = -1;
      s->publish_lag_candles = s->site_lag_candles = -1;
      s->degraded_since_ms = -1;
      m->wm_ingest[idx] = m->wm_publish[idx] = -1;
      char key[COIN_CODEC_SUBJECT_BYTES];
      int rc = coin_codec_series_key(key, sizeof(key), COIN_KEY_STATE_PREFIX,
                                     core->exchange, sym, tf);
      if (rc != 0)
        return rc;
      size_t mask = m->index_cap - 1;
      size_t j = series_hash(sym, tf) & mask;
      while (m->index[j] != 0)
        j = (j + 1) & mask;
      m->index[j] = (uint32_t)(idx + 1);
    }
  return 0;
}

void mon_state_key(char *out, const struct monitor *m,
                   const struct mon_series *s) {
  /* validated at setup: cannot fail */
  coin_codec_series_key(out, COIN_CODEC_SUBJECT_BYTES, COIN_KEY_STATE_PREFIX,
                        m->cfg->core.exchange, s->symbol, s->tf);
}

void mon_alert_id(char out[COIN_CODEC_ALERT_ID_BYTES], const struct monitor *m,
                  const struct mon_series *s, const char *alertname,
                  int64_t starts_at_ms) {
  snprintf(out, COIN_CODEC_ALERT_ID_BYTES, "%s.%s.%s.%s.%lld", alertname,
           m->cfg->core.exchange, s->symbol, coin_tf_name(s->tf),
           (long long)starts_at_ms);
}

bool mon_loop_healthy(const struct monitor *m, int64_t *age_ms) {
  int64_t age = coin_mono_ms() - atomic_load(&m->last_pass_mono_ms);
  if (age_ms)
    *age_ms = age;
  return age <= 3 * m->cfg->eval_seconds * 1000 + 30000;
}

void mon_last_msg_id(char out[COIN_CODEC_MSG_ID_BYTES], const struct monitor *m,
                     const struct mon_series *s) {
  char id[COIN_CODEC_ALERT_ID_BYTES];
  const struct mon_last_alert *l = &s->last_alert;
  mon_alert_id(id, m, s, l->alertname, l->starts_at_ms);
  snprintf(out, COIN_CODEC_MSG_ID_BYTES, "%s.%s.%u", id,
           coin_codec_alert_status_name(l->status), (unsigned)l->repeat_count);
}

/* ---- texts and buckets ----------------------------------------------------
 */

void mon_fmt_duration(char *out, size_t n, int64_t ms) {
  int64_t s = ms / 1000;
  if (s < 120)
    snprintf(out, n, "%llds", (long long)s);
  else if (s < 7200)
    snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else
    snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600),
             (long long)(s / 60 % 60));
}

const double mon_pass_bucket_le[MON_PASS_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
