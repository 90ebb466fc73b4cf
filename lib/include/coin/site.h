/*
 * site.h: the one owner of the static site contract (docs/static-site.md):
 * schema version, file names, series paths, the JSON members every
 * artifact shares, and self-describing validity: the instants at which an
 * artifact turns soft_stale and hard_stale if nothing newer arrives, so any
 * reader judges a file with its own clock. Writers (coin-publish,
 * coin-monitor) render with coin_site_put_*; readers (coinctl, the monitor,
 * tests) parse with coin_site_read_head and judge with
 * coin_site_validity_now. Pure functions over caller-owned buffers;
 * thread-safe.
 */
#ifndef COIN_SITE_H
#define COIN_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/codec.h"
#include "coin/freshness.h"
#include "coin/jbuf.h"
#include "coin/timeframe.h"

/* 2: validity instants, last_candle_close, prediction_status tokens,
 * track_record.json.
 * Readers accept 1 and 2 (1 has no instants). */
#define COIN_SITE_SCHEMA_VERSION 2

#define COIN_SITE_MANIFEST "manifest.json"
#define COIN_SITE_STATUS "status.json"
#define COIN_SITE_RUNTIME_METRICS "runtime_metrics.json"

/* The files of one series, in the order the manifest lists them. */
enum coin_site_file {
  COIN_SITE_HISTORY = 0,      /* history.json */
  COIN_SITE_PREDICTION = 1,   /* prediction.json */
  COIN_SITE_TRACK_RECORD = 2, /* track_record.json */
  COIN_SITE_FILE_COUNT = 3,
};

#define COIN_SITE_DIR_BYTES 128 /* "v1/<exchange>/<symbol>/<tf>" + NUL */

/* "history.json" ...; NULL for other values. */
const char *coin_site_file_name(enum coin_site_file f);
/* Inverse of coin_site_file_name; COIN_ENOTFOUND for other names. */
int coin_site_file_parse(enum coin_site_file *out, const char *name);
/* "v1/<exchange>/<symbol>/<tf>" (validated tokens: safe in a path).
 * COIN_EINVAL for a bad token, COIN_ETOOBIG when out is too small. */
int coin_site_series_dir(char *out, size_t out_bytes, const char *exchange,
                         const char *symbol, enum coin_tf tf);

/* ---- validity ------------------------------------------------------------ */

struct coin_site_validity {
  enum coin_fresh_state status; /* as evaluated at generated_ms */
  int64_t generated_ms;
  int64_t soft_at_ms; /* after this instant: soft_stale; -1 none */
  int64_t hard_at_ms; /* after this instant: hard_stale; -1 none */
};

/* From the shared evaluator's verdict at gen_ms. Corrupt and
 * insufficient_data artifacts carry no instants (time does not fix them). */
void coin_site_validity_of(struct coin_site_validity *out,
                           const struct coin_freshness *fr, int64_t gen_ms);
/* acc becomes the worst status and the earliest instants of acc and v (an
 * overall verdict: it turns when its first member turns). Start acc with
 * coin_site_validity_none. */
void coin_site_validity_none(struct coin_site_validity *acc, int64_t gen_ms);
void coin_site_validity_merge(struct coin_site_validity *acc,
                              const struct coin_site_validity *v);
/* The reader rule: worst(status, hard_stale after hard_at, soft_stale after
 * soft_at) at now_ms. */
enum coin_fresh_state coin_site_validity_now(const struct coin_site_validity *v,
                                             int64_t now_ms);

/* ---- writing (jbuf member style: each member ends with ',') -------------- */

/* "schema_version":2,"generated_at":"...","generated_at_ms":N, */
void coin_site_put_head(struct coin_jbuf *b, int64_t gen_ms);
/* "exchange":..,"symbol":..,"timeframe":.., */
void coin_site_put_ids(struct coin_jbuf *b, const char *exchange,
                       const char *symbol, enum coin_tf tf);
/* "status":..,"soft_stale_at_ms":..,"soft_stale_at":..,"hard_stale_at_ms":..,
 * "hard_stale_at":.., */
void coin_site_put_validity(struct coin_jbuf *b,
                            const struct coin_site_validity *v);
/* "degraded":bool,"degraded_reasons":[..], */
void coin_site_put_degraded(struct coin_jbuf *b, unsigned degraded);
/* "last_candle_open_ms","last_candle_open","last_candle_close_ms",
 * "last_candle_close" (null when last_open_ms < 0), */
void coin_site_put_last_candle(struct coin_jbuf *b, enum coin_tf tf,
                               int64_t last_open_ms);

/* ---- prediction status -----------------------------------------------------
 */

/* Why a prediction.json has values or not: "served" or the reason. */
enum coin_site_pred_status {
  COIN_SITE_PRED_SERVED = 0,
  COIN_SITE_PRED_NO_MODEL,
  COIN_SITE_PRED_NOT_EVALUATED,
  COIN_SITE_PRED_INSUFFICIENT_DATA,
  COIN_SITE_PRED_MODEL_LOAD_FAILED,
  COIN_SITE_PRED_INFERENCE_ERROR,
  COIN_SITE_PRED_HARD_STALE,
  COIN_SITE_PRED_CORRUPT,
  COIN_SITE_PRED_WORSE_THAN_PERSISTENCE, /* champion's wf MAE > persistence */
  COIN_SITE_PRED_COUNT,
};
const char *coin_site_pred_status_name(enum coin_site_pred_status s);
int coin_site_pred_status_parse(enum coin_site_pred_status *out,
                                const char *text);

/* ---- reading ---------------------------------------------------------------
 */

/* The members every artifact shares, read from a whole document. */
struct coin_site_head {
  int64_t schema_version;
  char exchange[COIN_CODEC_NAME_BYTES]; /* "" when absent (manifest) */
  char symbol[COIN_CODEC_NAME_BYTES];
  char timeframe[8];
  struct coin_site_validity v; /* of the document; for manifest.json and
                                  status.json: of their "overall" */
  bool has_instants;           /* schema 2 instants present */
  int64_t last_open_ms;        /* -1 absent / null */
};

/* Parses buf (a site JSON document). COIN_EDECODE with a one-line error
 * naming the member and the rule when it is not a valid artifact. */
int coin_site_read_head(struct coin_site_head *out, const char *buf,
                        size_t len);

#endif
