/* freshness.c: the shared freshness evaluator (see freshness.h). */
#include "coin/freshness.h"

#include "coin/error.h"
#include "coin/parse.h"

#include <stddef.h>
#include <string.h>

#define MIN_MS COIN_MINUTE_MS
#define HOUR_MS COIN_HOUR_MS
#define DAY_MS COIN_DAY_MS

/* The one table (docs/freshness.md). Rule: soft = max(30 s, L/30), hard =
 * max(3 min, L/12) of the candle length L (1M: 30 days), in whole seconds.
 * 1m and 1h come out as strict as freqtrade's "outdated" (newest candle
 * older than 2 x timeframe + 5 min, i.e. the next one overdue > 5 min);
 * longer candles get room that scales with them, so a week is not
 * hard_stale minutes after a missed Monday boundary. */
static const int64_t default_soft_ms[COIN_TF_COUNT] = {
    30 * 1000, 2 * MIN_MS, 48 * MIN_MS, 336 * MIN_MS, 24 * HOUR_MS};
static const int64_t default_hard_ms[COIN_TF_COUNT] = {
    3 * MIN_MS, 5 * MIN_MS, 2 * HOUR_MS, 14 * HOUR_MS, 60 * HOUR_MS};

void coin_freshness_policy_default(struct coin_freshness_policy *p) {
  memcpy(p->soft_after_ms, default_soft_ms, sizeof(default_soft_ms));
  memcpy(p->hard_after_ms, default_hard_ms, sizeof(default_hard_ms));
  p->min_candles = 1;
}

#define S(field) offsetof(struct coin_freshness_settings, field)
#define VAR(env, arr, tf, dflt, docstr)                                        \
  {                                                                            \
    .name = env, .type = COIN_CFG_INT, .def = dflt,                            \
    .offset = S(arr) + (size_t)(tf) * sizeof(int64_t), .min = 1,               \
    .max = 366 * 86400, .doc = docstr                                          \
  }

/* Both thresholds of one timeframe (its name as in the variables). */
#define TF_VARS(name, tf, soft, hard)                                          \
  VAR("FRESHNESS_SOFT_AFTER_SECONDS_" name, soft_seconds, tf, soft,            \
      "A " name " series whose next candle is overdue longer than this is "    \
      "soft_stale (served with a warning)."),                                  \
      VAR("FRESHNESS_HARD_AFTER_SECONDS_" name, hard_seconds, tf, hard,        \
          "A " name " series whose next candle is overdue longer than this "   \
          "is hard_stale (blocked: no prediction values).")

const struct coin_cfg_var coin_freshness_vars[] = {
    TF_VARS("1m", COIN_TF_1M, "30", "180"),
    TF_VARS("1h", COIN_TF_1H, "120", "300"),
    TF_VARS("1d", COIN_TF_1D, "2880", "7200"),
    TF_VARS("1w", COIN_TF_1W, "20160", "50400"),
    TF_VARS("1M", COIN_TF_1MO, "86400", "216000"),
};
const size_t coin_freshness_var_count = COIN_ARRAY_LEN(coin_freshness_vars);

int coin_freshness_policy_from(struct coin_freshness_policy *out,
                               const struct coin_freshness_settings *s) {
  struct coin_freshness_policy p;
  coin_freshness_policy_default(&p);
  for (int tf = 0; tf < COIN_TF_COUNT; tf++) {
    if (s->soft_seconds[tf] >= s->hard_seconds[tf])
      return coin_error_set(
          COIN_EINVAL,
          "FRESHNESS_SOFT_AFTER_SECONDS_%s=%lld must be below "
          "FRESHNESS_HARD_AFTER_SECONDS_%s=%lld",
          coin_tf_name((enum coin_tf)tf), (long long)s->soft_seconds[tf],
          coin_tf_name((enum coin_tf)tf), (long long)s->hard_seconds[tf]);
    p.soft_after_ms[tf] = s->soft_seconds[tf] * 1000;
    p.hard_after_ms[tf] = s->hard_seconds[tf] * 1000;
  }
  *out = p;
  return 0;
}

void coin_freshness_eval(struct coin_freshness *out,
                         const struct coin_freshness_policy *policy,
                         const struct coin_freshness_input *in,
                         int64_t now_ms) {
  memset(out, 0, sizeof(*out));
  enum coin_tf tf = in->tf;
  out->expected_open_ms = coin_tf_last_closed(tf, now_ms);
  if (in->last_open_ms >= 0 && in->last_open_ms < out->expected_open_ms) {
    /* The candle after ours closed at next(next(last)); since then it is
     * overdue. */
    int64_t due_close = coin_tf_next(tf, coin_tf_next(tf, in->last_open_ms));
    out->overdue_ms = now_ms - due_close;
    if (out->overdue_ms < 0)
      out->overdue_ms = 0;
    out->missing_candles = coin_tf_count(tf, coin_tf_next(tf, in->last_open_ms),
                                         out->expected_open_ms);
    out->soft_since_ms = due_close + policy->soft_after_ms[tf];
    out->hard_since_ms = due_close + policy->hard_after_ms[tf];
  } else if (in->last_open_ms >= 0) {
    int64_t due_close = coin_tf_next(tf, coin_tf_next(tf, in->last_open_ms));
    out->soft_since_ms = due_close + policy->soft_after_ms[tf];
    out->hard_since_ms = due_close + policy->hard_after_ms[tf];
  }
  if (in->corrupt) {
    out->state = COIN_STATE_CORRUPT;
  } else if (in->last_open_ms < 0 || in->n_candles < policy->min_candles) {
    out->state = COIN_STATE_INSUFFICIENT_DATA;
  } else if (out->overdue_ms > policy->hard_after_ms[tf]) {
    out->state = COIN_STATE_HARD_STALE;
  } else if (out->overdue_ms > policy->soft_after_ms[tf]) {
    out->state = COIN_STATE_SOFT_STALE;
  } else {
    out->state = COIN_STATE_FRESH;
  }
}

static int rank(enum coin_fresh_state s) {
  switch (s) {
  case COIN_STATE_FRESH: return 0;
  case COIN_STATE_SOFT_STALE: return 1;
  case COIN_STATE_SOFT_STALE_ESCALATED: return 2;
  case COIN_STATE_HARD_STALE: return 3;
  case COIN_STATE_HARD_STALE_ESCALATED: return 4;
  case COIN_STATE_INSUFFICIENT_DATA: return 5;
  case COIN_STATE_CORRUPT: return 6;
  default: return -1;
  }
}

enum coin_fresh_state coin_freshness_worst(enum coin_fresh_state a,
                                           enum coin_fresh_state b) {
  return rank(a) >= rank(b) ? a : b;
}

bool coin_freshness_blocked(enum coin_fresh_state s) {
  return rank(s) >= rank(COIN_STATE_HARD_STALE);
}

static const char *const reason_names[COIN_DEGRADED_REASON_COUNT] = {
    "no_model",           "model_load_failed", "inference_error",
    "challenger_failing", "model_too_old",     "champion_underperforming"};

const char *coin_degraded_reason_name(unsigned reason) {
  for (int i = 0; i < COIN_DEGRADED_REASON_COUNT; i++)
    if (reason == (1u << i))
      return reason_names[i];
  return NULL;
}

int coin_degraded_reason_parse(unsigned *out, const char *text) {
  int i;
  int rc = coin_parse_enum(&i, "degraded reason", text, reason_names,
                           COIN_DEGRADED_REASON_COUNT, NULL);
  if (rc == 0)
    *out = 1u << i;
  return rc;
}
