/*
 * codec.h: the wire format (proto/coin/v1/coin.proto, protobuf-c) packed from
 * and unpacked into plain project structs, and the Nats-Msg-Id of a batch
 * (the names on the bus are in coin/names.h, included here). Services never see
 * protobuf-c. Thread-safe (no shared state but the atomic size cap). Ownership:
 * pack returns malloc'd bytes the caller frees with free(); only a candle batch
 * filled by unpack owns heap memory (release with coin_candle_batch_clear);
 * every other message struct is a plain value (no clear needed).
 * Errors: pack -> COIN_EINVAL (bad struct), unpack -> COIN_EDECODE (bad
 * bytes), either -> COIN_ETOOBIG (a cap); the message names type and field.
 */
#ifndef COIN_CODEC_H
#define COIN_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coin/candle.h"
#include "coin/names.h" /* streams, subjects, buckets, keys */
#include "coin/timeframe.h"

/* ---- caps and sizes ------------------------------------------------------ */

#define COIN_CODEC_SCHEMA_VERSION 1          /* the only version we read */
#define COIN_CODEC_DEFAULT_MAX_BYTES 1048576 /* 1 MiB = NATS max_payload */
#define COIN_CODEC_MAX_CANDLES 10000         /* per CandleBatch */
#define COIN_CODEC_MAX_REASONS 16            /* degraded_reasons */
#define COIN_CODEC_MAX_LABELS 32             /* Alert.labels */
#define COIN_CODEC_MAX_METRICS 64            /* metrics maps */
#define COIN_CODEC_MAX_JSON_BYTES (16 << 20) /* coin_codec_to_json output */

/* Array sizes of string fields (max chars + NUL). */
#define COIN_CODEC_ID_BYTES 65        /* producer_id, versions, ids... */
#define COIN_CODEC_ALERT_ID_BYTES 129 /* Alert.alert_id */
#define COIN_CODEC_TEXT_BYTES 513     /* detail, summary, reason (UTF-8) */
#define COIN_CODEC_LONG_BYTES 257     /* label values, artifact_ref */
#define COIN_CODEC_MSG_ID_BYTES 160   /* enough for any Nats-Msg-Id */

/* Largest encoded message pack accepts and unpack reads (both sides):
 * default COIN_CODEC_DEFAULT_MAX_BYTES. Set once at start-up (e.g. to the
 * server's max_payload); atomic, so any thread may read it. */
void coin_codec_set_max_bytes(size_t max_bytes);
size_t coin_codec_max_bytes(void);

/* ---- enums (values equal the proto enum numbers; 0 = unspecified) ------- */

enum coin_batch_kind {
  COIN_BATCH_UNSPECIFIED = 0,
  COIN_BATCH_LIVE = 1,
  COIN_BATCH_BACKFILL = 2,
  COIN_BATCH_RECONCILE = 3,
};

enum coin_fresh_state {
  COIN_STATE_UNSPECIFIED = 0, /* from_state only: nothing known before */
  COIN_STATE_FRESH = 1,
  COIN_STATE_SOFT_STALE = 2,
  COIN_STATE_SOFT_STALE_ESCALATED = 3,
  COIN_STATE_HARD_STALE = 4,
  COIN_STATE_HARD_STALE_ESCALATED = 5,
  COIN_STATE_CORRUPT = 6,
  COIN_STATE_INSUFFICIENT_DATA = 7,
};

enum coin_severity {
  COIN_SEVERITY_UNSPECIFIED = 0,
  COIN_SEVERITY_INFO = 1,
  COIN_SEVERITY_WARNING = 2,
  COIN_SEVERITY_CRITICAL = 3,
};

enum coin_alert_status {
  COIN_ALERT_UNSPECIFIED = 0,
  COIN_ALERT_FIRING = 1,
  COIN_ALERT_RESOLVED = 2,
};

enum coin_model_role {
  COIN_ROLE_UNSPECIFIED = 0,
  COIN_ROLE_CHALLENGER = 1,
  COIN_ROLE_CHAMPION = 2,
  COIN_ROLE_RETIRED = 3,
  COIN_ROLE_REFUSED = 4,
};

enum coin_model_event_kind {
  COIN_MODEL_EVENT_UNSPECIFIED = 0,
  COIN_MODEL_EVENT_REGISTERED = 1,
  COIN_MODEL_EVENT_PROMOTED = 2,
  COIN_MODEL_EVENT_REFUSED = 3,
  COIN_MODEL_EVENT_ROLLED_BACK = 4,
  COIN_MODEL_EVENT_RETIRED = 5,
  COIN_MODEL_EVENT_TRAINING_FAILED = 6,
};

/* Lower-case names as used in JSON ("live", "soft_stale_escalated",
 * "warning", "firing", "champion", "rolled_back"); "unspecified" for 0 and
 * "unknown" outside the enum. Static strings. */
const char *coin_codec_batch_kind_name(enum coin_batch_kind kind);
const char *coin_codec_state_name(enum coin_fresh_state state);
const char *coin_codec_severity_name(enum coin_severity severity);
const char *coin_codec_alert_status_name(enum coin_alert_status status);
const char *coin_codec_model_role_name(enum coin_model_role role);
const char *coin_codec_model_event_kind_name(enum coin_model_event_kind kind);
/* Inverse of coin_codec_state_name for the seven real states ("fresh" ..
 * "insufficient_data"); COIN_EINVAL otherwise. */
int coin_codec_state_parse(enum coin_fresh_state *out, const char *text);

/* ---- CandleBatch: coin.candles.<exchange>.<symbol>.<tf> ------------------ */

struct coin_candle_batch {
  char exchange[COIN_CODEC_NAME_BYTES];
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
  enum coin_batch_kind kind; /* required */
  /* 1..COIN_CODEC_MAX_CANDLES candles, strictly ascending open times aligned
   * to tf, finite numbers (OHLC rules: coin_candle_validate, not here).
   * pack only reads them; unpack mallocs them (coin_candle_batch_clear). */
  struct coin_candle *candles;
  size_t n_candles;
  int64_t ingest_watermark_ms; /* aligned, >= last candle's open time */
  char producer_id[COIN_CODEC_ID_BYTES]; /* [A-Za-z0-9._:@/-]{0,64} */
  int64_t produced_at_ms;
};

int coin_codec_pack_batch(uint8_t **out, size_t *out_len,
                          const struct coin_candle_batch *batch);
/* Fills *out (whose previous content is ignored, not freed). */
int coin_codec_unpack_batch(struct coin_candle_batch *out, const uint8_t *data,
                            size_t len);
/* Frees candles and zeroes the struct. NULL-safe; idempotent. Call only on
 * batches whose candles came from unpack (or your own malloc). */
void coin_candle_batch_clear(struct coin_candle_batch *batch);

/* Nats-Msg-Id "<exchange>.<symbol>.<tf>.<first_open_ms>-<last_open_ms>";
 * COIN_EINVAL for bad tokens or an empty batch. */
int coin_codec_msg_id(char *out, size_t out_bytes,
                      const struct coin_candle_batch *batch);

/* ---- StatusTransition: coin.status.<exchange>.<symbol>.<tf> -------------
 * (also KV coin_monitor key state.<exchange>.<symbol>.<tf>) */

struct coin_status_transition {
  char exchange[COIN_CODEC_NAME_BYTES];
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
  char producer_id[COIN_CODEC_ID_BYTES];
  enum coin_fresh_state from_state; /* may be UNSPECIFIED (first state) */
  enum coin_fresh_state to_state;   /* required */
  bool from_degraded;
  bool degraded;
  /* tokens [a-z0-9_.:-]{1,64}, e.g. "champion_missing" */
  char degraded_reasons[COIN_CODEC_MAX_REASONS][COIN_CODEC_ID_BYTES];
  size_t n_degraded_reasons;
  int64_t since_ms; /* when the to_state condition began */
  int64_t at_ms;    /* when the monitor saw the transition */
  bool has_last_candle_open_ms;
  int64_t last_candle_open_ms;
  bool has_ingest_watermark_ms;
  int64_t ingest_watermark_ms;
  bool has_publish_watermark_ms;
  int64_t publish_watermark_ms;
  char detail[COIN_CODEC_TEXT_BYTES]; /* UTF-8 */
};

int coin_codec_pack_status(uint8_t **out, size_t *out_len,
                           const struct coin_status_transition *st);
int coin_codec_unpack_status(struct coin_status_transition *out,
                             const uint8_t *data, size_t len);

/* ---- Alert: coin.alerts.<exchange>.<symbol>.<tf> | coin.alerts.global ---- */

struct coin_label {
  char name[COIN_CODEC_ID_BYTES];    /* [A-Za-z_][A-Za-z0-9_]{0,63} */
  char value[COIN_CODEC_LONG_BYTES]; /* UTF-8 */
};

struct coin_alert {
  /* All of exchange/symbol empty: a global alert (tf then ignored). */
  char exchange[COIN_CODEC_NAME_BYTES];
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
  char producer_id[COIN_CODEC_ID_BYTES];
  char alert_id[COIN_CODEC_ALERT_ID_BYTES]; /* [A-Za-z0-9._:-]{1,128} */
  char alertname[COIN_CODEC_ID_BYTES];      /* [A-Za-z_][A-Za-z0-9_]{0,63} */
  enum coin_severity severity;              /* required */
  enum coin_fresh_state state;              /* may be UNSPECIFIED */
  enum coin_alert_status status;            /* required */
  int64_t starts_at_ms;
  bool has_ends_at_ms;
  int64_t ends_at_ms; /* >= starts_at_ms */
  char summary[COIN_CODEC_TEXT_BYTES];
  uint32_t repeat_count;
  struct coin_label labels[COIN_CODEC_MAX_LABELS]; /* names unique */
  size_t n_labels;
};

int coin_codec_pack_alert(uint8_t **out, size_t *out_len,
                          const struct coin_alert *alert);
int coin_codec_unpack_alert(struct coin_alert *out, const uint8_t *data,
                            size_t len);
/* Nats-Msg-Id "<alert_id>.<status>.<repeat_count>" (e.g. "...firing.2"). */
int coin_codec_alert_msg_id(char *out, size_t out_bytes,
                            const struct coin_alert *alert);
/* Adds or replaces label name=value (validated); COIN_ETOOBIG when full. */
int coin_codec_label_set(struct coin_alert *alert, const char *name,
                         const char *value);

/* ---- ModelMetadata: KV coin_models key model.<version> ------------------- */

struct coin_metric {
  char name[COIN_CODEC_ID_BYTES]; /* [A-Za-z_][A-Za-z0-9_.]{0,63} */
  double value;                   /* finite */
};

struct coin_model_metadata {
  char version[COIN_CODEC_ID_BYTES]; /* [A-Za-z0-9._-]{1,64} */
  char kind[COIN_CODEC_NAME_BYTES];  /* [a-z0-9_]{1,32} */
  enum coin_model_role role;         /* required */
  uint32_t feature_schema_version;
  char feature_schema_hash[COIN_CODEC_ID_BYTES]; /* [0-9a-f]{0,64} */
  int64_t train_from_ms;                         /* <= train_to_ms */
  int64_t train_to_ms;
  int64_t train_watermark_ms;
  uint64_t train_rows;
  uint64_t eval_rows;
  char parent_version[COIN_CODEC_ID_BYTES];  /* "" or like version */
  char artifact_sha256[COIN_CODEC_ID_BYTES]; /* [0-9a-f]{64} */
  uint64_t artifact_size_bytes;
  int64_t created_at_ms;
  char git_revision[COIN_CODEC_ID_BYTES]; /* [A-Za-z0-9._+-]{0,64} */
  struct coin_metric metrics[COIN_CODEC_MAX_METRICS]; /* names unique */
  size_t n_metrics;
  char artifact_ref[COIN_CODEC_LONG_BYTES]; /* UTF-8, where the bytes live */
};

int coin_codec_pack_model(uint8_t **out, size_t *out_len,
                          const struct coin_model_metadata *model);
int coin_codec_unpack_model(struct coin_model_metadata *out,
                            const uint8_t *data, size_t len);

/* Metric maps (ModelMetadata.metrics, ModelEvent.metrics): set adds or
 * replaces (COIN_EINVAL bad name / non-finite value, COIN_ETOOBIG when
 * *n == COIN_CODEC_MAX_METRICS); get is COIN_ENOTFOUND when absent. */
int coin_codec_metric_set(struct coin_metric *metrics, size_t *n,
                          const char *name, double value);
int coin_codec_metric_get(double *out, const struct coin_metric *metrics,
                          size_t n, const char *name);
/* A model's metric by name, NAN when it has none. */
double coin_codec_model_metric(const struct coin_model_metadata *m,
                               const char *name);

/* ---- ModelEvent: coin.models.events -------------------------------------- */

struct coin_model_event {
  char producer_id[COIN_CODEC_ID_BYTES];
  enum coin_model_event_kind kind;            /* required */
  char version[COIN_CODEC_ID_BYTES];          /* "" or like a version */
  char previous_version[COIN_CODEC_ID_BYTES]; /* "" or like a version */
  int64_t at_ms;
  char reason[COIN_CODEC_TEXT_BYTES]; /* UTF-8 */
  bool has_model;
  struct coin_model_metadata model; /* snapshot after the event */
  struct coin_metric metrics[COIN_CODEC_MAX_METRICS];
  size_t n_metrics;
};

int coin_codec_pack_model_event(uint8_t **out, size_t *out_len,
                                const struct coin_model_event *ev);
int coin_codec_unpack_model_event(struct coin_model_event *out,
                                  const uint8_t *data, size_t len);

/* ---- BackfillRequest: coin.control.backfill ------------------------------ */

struct coin_backfill_request {
  char exchange[COIN_CODEC_NAME_BYTES];
  char symbol[COIN_CODEC_NAME_BYTES];
  enum coin_tf tf;
  char producer_id[COIN_CODEC_ID_BYTES];
  char request_id[COIN_CODEC_ID_BYTES]; /* [A-Za-z0-9._:-]{1,64} */
  int64_t from_ms;                      /* from_ms <= to_ms */
  int64_t to_ms;
  int64_t requested_at_ms;
};

int coin_codec_pack_backfill(uint8_t **out, size_t *out_len,
                             const struct coin_backfill_request *req);
int coin_codec_unpack_backfill(struct coin_backfill_request *out,
                               const uint8_t *data, size_t len);

/* ---- decoding tap -------------------------------------------------------- */

enum coin_msg_type {
  COIN_MSG_UNKNOWN = 0,
  COIN_MSG_CANDLE_BATCH,
  COIN_MSG_STATUS_TRANSITION,
  COIN_MSG_ALERT,
  COIN_MSG_MODEL_METADATA,
  COIN_MSG_MODEL_EVENT,
  COIN_MSG_BACKFILL_REQUEST,
};

/* Message type carried by subject: coin.candles.*, coin.status.*,
 * coin.alerts.*, coin.models.events, coin.control.backfill, and the KV
 * subjects $KV.coin_monitor.state.* and $KV.coin_models.model.*. */
enum coin_msg_type coin_codec_subject_type(const char *subject);
/* "CandleBatch", "StatusTransition", ... ("unknown"). */
const char *coin_codec_msg_type_name(enum coin_msg_type type);

/* Decodes data as the message type of subject and renders one line of JSON
 * (no newline): {"type":"CandleBatch","schema_version":1,...}. Doubles are
 * printed in the shortest form that reads back to the same bits; enums as
 * lower-case names. *out is malloc'd (free it). COIN_ENOTFOUND when the
 * subject carries no known type; COIN_EDECODE / COIN_ETOOBIG as unpack. */
int coin_codec_to_json(char **out, const char *subject, const uint8_t *data,
                       size_t len);
int coin_codec_to_json_type(char **out, enum coin_msg_type type,
                            const uint8_t *data, size_t len);

/* ---- watermark values (KV coin_watermarks) ---------------------------------
 * A value is the decimal ms time, as "%" PRId64 writes it: 1..19 digits,
 * no sign, space or leading zero, at most INT64_MAX, nothing after it.
 * COIN_EDECODE with a one-line error otherwise (the bytes are not quoted). */
int coin_codec_watermark_parse(int64_t *out, const void *value, size_t len);

#endif
