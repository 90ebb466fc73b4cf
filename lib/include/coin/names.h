/*
 * names.h: the names on the bus, in one place: streams, subjects, KV
 * buckets and key prefixes (docs/protocol.md), and the series keys and
 * subjects built from validated tokens (names.c). Thread-safe: no state.
 */
#ifndef COIN_NAMES_H
#define COIN_NAMES_H

#include <stddef.h>

#include "coin/timeframe.h"

#define COIN_CODEC_NAME_BYTES 33     /* exchange, symbol, model kind */
#define COIN_CODEC_SUBJECT_BYTES 128 /* enough for any subject/KV key */

#define COIN_STREAM_CANDLES "COIN_CANDLES" /* subjects coin.candles.> */
#define COIN_STREAM_ALERTS "COIN_ALERTS"   /* subjects coin.alerts.> */
#define COIN_SUBJECT_CANDLES_PREFIX "coin.candles"
#define COIN_SUBJECT_STATUS_PREFIX "coin.status"
#define COIN_SUBJECT_ALERTS_PREFIX "coin.alerts"
#define COIN_SUBJECT_ALERTS_GLOBAL "coin.alerts.global"
#define COIN_SUBJECT_MODEL_EVENTS "coin.models.events"
#define COIN_SUBJECT_BACKFILL "coin.control.backfill"
#define COIN_KV_WATERMARKS "coin_watermarks" /* ingest.<s>, publish.<s> */
#define COIN_KV_MODELS "coin_models"         /* model.<version>, alias.<r> */
#define COIN_KV_MONITOR "coin_monitor"       /* state.<s> */
#define COIN_KV_LOCKS "coin_locks"           /* train, leases */
#define COIN_KV_INGEST "coin_ingest" /* gaps.<s>, runtime.<id>, member.<id> */
#define COIN_KEY_INGEST_PREFIX "ingest"
#define COIN_KEY_PUBLISH_PREFIX "publish"
#define COIN_KEY_STATE_PREFIX "state"
#define COIN_KEY_MODEL_PREFIX "model"

/* "<prefix>.<exchange>.<symbol>.<tf>": prefix is dot-separated [a-z0-9_]+
 * tokens; exchange and symbol pass coin_exchange_validate /
 * coin_symbol_validate (so no '.', '*', '>', space or empty token can reach
 * a subject or key). COIN_EINVAL on a bad token or when out_bytes is short;
 * out is written only on success. Serves subjects and KV keys alike. */
int coin_codec_series_key(char *out, size_t out_bytes, const char *prefix,
                          const char *exchange, const char *symbol,
                          enum coin_tf tf);
/* coin.candles.<exchange>.<symbol>.<tf> */
int coin_codec_subject_candles(char *out, size_t out_bytes,
                               const char *exchange, const char *symbol,
                               enum coin_tf tf);
/* coin.status.<exchange>.<symbol>.<tf> */
int coin_codec_subject_status(char *out, size_t out_bytes, const char *exchange,
                              const char *symbol, enum coin_tf tf);
/* coin.alerts.<exchange>.<symbol>.<tf>, or coin.alerts.global when exchange
 * is NULL or "" (then symbol must be NULL or "" too). */
int coin_codec_subject_alert(char *out, size_t out_bytes, const char *exchange,
                             const char *symbol, enum coin_tf tf);

/* The series named by a subject or key "<prefix>.<exchange>.<symbol>.<tf>". */
struct coin_series_id {
  char exchange[COIN_CODEC_NAME_BYTES];
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
};
/* Parses key (e.g. a message subject) that must be exactly prefix plus three
 * valid tokens. COIN_EINVAL naming the bad part otherwise. */
int coin_codec_series_parse(struct coin_series_id *out, const char *prefix,
                            const char *key);

#endif
