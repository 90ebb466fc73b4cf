/*
 * freshness.h: the ONE freshness evaluator, shared by coin-publish (what the
 * site says) and coin-monitor (what alerts say). From a series' last closed
 * candle, its timeframe's calendar and now, it decides fresh | soft_stale |
 * hard_stale (| corrupt | insufficient_data, from flags the caller sees).
 * "Overdue" is how long the candle after the last one we hold has been
 * closed: 0 while we hold the last closed candle. Defaults and their
 * reasoning: docs/freshness.md. Pure functions; thread-safe.
 */
#ifndef COIN_FRESHNESS_H
#define COIN_FRESHNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/codec.h" /* enum coin_fresh_state */
#include "coin/config.h"
#include "coin/timeframe.h"

struct coin_freshness_policy {
  int64_t soft_after_ms[COIN_TF_COUNT]; /* overdue beyond: soft_stale */
  int64_t hard_after_ms[COIN_TF_COUNT]; /* overdue beyond: hard_stale */
  int64_t min_candles;                  /* fewer: insufficient_data */
};

/* The defaults, one table (docs/freshness.md): soft = max(30 s, L/30),
 * hard = max(3 min, L/12) of the candle length L: 1m 30 s / 3 min, 1h
 * 2 min / 5 min (as strict as freqtrade's "outdated"), 1d 48 min / 2 h,
 * 1w 5.6 h / 14 h, 1M 24 h / 60 h. min_candles 1. */
void coin_freshness_policy_default(struct coin_freshness_policy *p);

/* Environment variables FRESHNESS_SOFT_AFTER_SECONDS_<TF> and
 * FRESHNESS_HARD_AFTER_SECONDS_<TF> (TF = 1M_MINUTE... see the table) over
 * struct coin_freshness_settings, loadable with coin_cfg_load. */
struct coin_freshness_settings {
  int64_t soft_seconds[COIN_TF_COUNT];
  int64_t hard_seconds[COIN_TF_COUNT];
};
extern const struct coin_cfg_var coin_freshness_vars[];
extern const size_t coin_freshness_var_count;
/* Policy from loaded settings; COIN_EINVAL when a soft threshold is not
 * below its hard one (message names the timeframe). */
int coin_freshness_policy_from(struct coin_freshness_policy *out,
                               const struct coin_freshness_settings *s);

struct coin_freshness_input {
  enum coin_tf tf;
  int64_t last_open_ms; /* newest candle held; < 0: none */
  int64_t n_candles;    /* candles held (for min_candles) */
  bool corrupt;         /* the artifact failed parsing / hash checks */
};

struct coin_freshness {
  enum coin_fresh_state state; /* FRESH, SOFT_STALE, HARD_STALE, CORRUPT or
                                  INSUFFICIENT_DATA */
  int64_t expected_open_ms;    /* last closed candle at now */
  int64_t missing_candles;     /* closed candles after last_open_ms */
  int64_t overdue_ms;          /* 0 when nothing is missing */
  int64_t soft_since_ms;       /* when it became / becomes soft_stale */
  int64_t hard_since_ms;       /* when it became / becomes hard_stale */
};

/* Evaluates; out is always written. Precedence: corrupt, then
 * insufficient_data (no candle, or fewer than min_candles), then age. */
void coin_freshness_eval(struct coin_freshness *out,
                         const struct coin_freshness_policy *policy,
                         const struct coin_freshness_input *in, int64_t now_ms);

/* The worse of two states (fresh < soft < hard < insufficient < corrupt;
 * escalated states rank with their base state, above it). A prediction's
 * freshness is coin_freshness_worst(its own, its input's). */
enum coin_fresh_state coin_freshness_worst(enum coin_fresh_state a,
                                           enum coin_fresh_state b);

/* States whose artifacts carry no values (hard_stale[_escalated], corrupt,
 * insufficient_data). */
bool coin_freshness_blocked(enum coin_fresh_state s);

/* ---- degraded: the prediction path, separate from freshness ----------- */

enum coin_degraded_reason {
  COIN_DEGRADED_NO_MODEL = 1u << 0,           /* "no_model" */
  COIN_DEGRADED_MODEL_LOAD_FAILED = 1u << 1,  /* "model_load_failed" */
  COIN_DEGRADED_INFERENCE_ERROR = 1u << 2,    /* "inference_error" */
  COIN_DEGRADED_CHALLENGER_FAILING = 1u << 3, /* "challenger_failing" */
  COIN_DEGRADED_MODEL_TOO_OLD = 1u << 4,      /* "model_too_old" */
  /* the champion is significantly worse than persistence on the series'
   * realized candles (coin_track_judge) */
  COIN_DEGRADED_CHAMPION_UNDERPERFORMING = 1u << 5, /* "champion_..." */
};
#define COIN_DEGRADED_REASON_COUNT 6

/* Token of a single reason bit ("no_model"); NULL for other values. */
const char *coin_degraded_reason_name(unsigned reason);
/* Parses a token; COIN_EINVAL otherwise. */
int coin_degraded_reason_parse(unsigned *out, const char *text);

#endif
