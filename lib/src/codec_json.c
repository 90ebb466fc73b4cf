/*
 * codec_json.c: a decoded message as one JSON object for the tools
 * (coinctl tap, docs/protocol.md): coin_codec_to_json and
 * coin_codec_to_json_type. Thread-safe: no state.
 */
#include "coin/codec.h"

#include "codec_int.h"
#include "coin/error.h"
#include "coin/fmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tiny JSON writer: jansson prints doubles with a fixed precision (17
 * digits turns 0.1 into 0.10000000000000001, fewer loses bits); prices read
 * better and stay exact in the shortest round-trip form written here. */
struct jbuf {
  char *p;
  size_t len;
  size_t cap;
  int err;
};

static void jb_raw(struct jbuf *b, const char *s, size_t n) {
  if (b->err)
    return;
  if (b->len + n + 1 > COIN_CODEC_MAX_JSON_BYTES) {
    b->err = COIN_ETOOBIG;
    return;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *np = realloc(b->p, cap);
    if (np == NULL) {
      b->err = COIN_ENOMEM;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void jb_lit(struct jbuf *b, const char *s) {
  jb_raw(b, s, strlen(s));
}

/* Comma unless the last byte opened an object or array. */
static void jb_sep(struct jbuf *b) {
  if (b->len > 0 && b->p[b->len - 1] != '{' && b->p[b->len - 1] != '[')
    jb_raw(b, ",", 1);
}

static void jb_str(struct jbuf *b, const char *s) {
  jb_raw(b, "\"", 1);
  const char *run = s;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f)
      continue;
    jb_raw(b, run, (size_t)(s - run));
    char esc[8];
    switch (ch) {
    case '"': jb_lit(b, "\\\""); break;
    case '\\': jb_lit(b, "\\\\"); break;
    case '\n': jb_lit(b, "\\n"); break;
    case '\r': jb_lit(b, "\\r"); break;
    case '\t': jb_lit(b, "\\t"); break;
    default: snprintf(esc, sizeof(esc), "\\u%04x", ch); jb_lit(b, esc);
    }
    run = s + 1;
  }
  jb_raw(b, run, (size_t)(s - run));
  jb_raw(b, "\"", 1);
}

static void jb_key(struct jbuf *b, const char *key) {
  jb_sep(b);
  jb_str(b, key);
  jb_raw(b, ":", 1);
}

static void jb_kstr(struct jbuf *b, const char *key, const char *v) {
  jb_key(b, key);
  jb_str(b, v);
}

static void jb_ki64(struct jbuf *b, const char *key, int64_t v) {
  char num[24];
  jb_key(b, key);
  snprintf(num, sizeof(num), "%" PRId64, v);
  jb_lit(b, num);
}

static void jb_ku64(struct jbuf *b, const char *key, uint64_t v) {
  char num[24];
  jb_key(b, key);
  snprintf(num, sizeof(num), "%" PRIu64, v);
  jb_lit(b, num);
}

static void jb_kopt(struct jbuf *b, const char *key, bool has, int64_t v) {
  if (has) {
    jb_ki64(b, key, v);
  } else {
    jb_key(b, key);
    jb_lit(b, "null");
  }
}

static void jb_kbool(struct jbuf *b, const char *key, bool v) {
  jb_key(b, key);
  jb_lit(b, v ? "true" : "false");
}

/* Shortest "%.Ng" that strtod reads back to the same double (finite). */
static void jb_dbl(struct jbuf *b, double v) {
  char num[COIN_FMT_DOUBLE_BYTES];
  coin_fmt_double(num, v);
  jb_lit(b, num);
}

static void jb_kdbl(struct jbuf *b, const char *key, double v) {
  jb_key(b, key);
  jb_dbl(b, v);
}

static void jb_metrics(struct jbuf *b, const struct coin_metric *m, size_t n) {
  jb_key(b, "metrics");
  jb_raw(b, "{", 1);
  for (size_t i = 0; i < n; i++)
    jb_kdbl(b, m[i].name, m[i].value);
  jb_raw(b, "}", 1);
}

static void jb_head(struct jbuf *b, enum coin_msg_type type) {
  jb_raw(b, "{", 1);
  jb_kstr(b, "type", coin_codec_msg_type_name(type));
  jb_ki64(b, "schema_version", COIN_CODEC_SCHEMA_VERSION);
}

static void jb_series(struct jbuf *b, const char *exchange, const char *symbol,
                      enum coin_tf tf) {
  jb_kstr(b, "exchange", exchange);
  jb_kstr(b, "symbol", symbol);
  jb_kstr(b, "timeframe", coin_tf_name(tf));
}

static void json_batch(struct jbuf *b, const struct coin_candle_batch *x) {
  jb_head(b, COIN_MSG_CANDLE_BATCH);
  jb_series(b, x->exchange, x->symbol, x->tf);
  jb_kstr(b, "kind", coin_codec_batch_kind_name(x->kind));
  jb_kstr(b, "producer_id", x->producer_id);
  jb_ki64(b, "produced_at_ms", x->produced_at_ms);
  jb_ki64(b, "ingest_watermark_ms", x->ingest_watermark_ms);
  jb_ku64(b, "n_candles", x->n_candles);
  jb_key(b, "candles");
  jb_raw(b, "[", 1);
  for (size_t i = 0; i < x->n_candles && !b->err; i++) {
    const struct coin_candle *c = &x->candles[i];
    jb_sep(b);
    jb_raw(b, "{", 1);
    jb_ki64(b, "open_time_ms", c->open_ms);
    jb_kdbl(b, "open", c->open);
    jb_kdbl(b, "high", c->high);
    jb_kdbl(b, "low", c->low);
    jb_kdbl(b, "close", c->close);
    jb_kdbl(b, "volume", c->volume);
    jb_raw(b, "}", 1);
  }
  jb_raw(b, "]}", 2);
}

static void json_status(struct jbuf *b,
                        const struct coin_status_transition *x) {
  jb_head(b, COIN_MSG_STATUS_TRANSITION);
  jb_series(b, x->exchange, x->symbol, x->tf);
  jb_kstr(b, "producer_id", x->producer_id);
  jb_kstr(b, "from_state", coin_codec_state_name(x->from_state));
  jb_kstr(b, "to_state", coin_codec_state_name(x->to_state));
  jb_kbool(b, "from_degraded", x->from_degraded);
  jb_kbool(b, "degraded", x->degraded);
  jb_key(b, "degraded_reasons");
  jb_raw(b, "[", 1);
  for (size_t i = 0; i < x->n_degraded_reasons; i++) {
    jb_sep(b);
    jb_str(b, x->degraded_reasons[i]);
  }
  jb_raw(b, "]", 1);
  jb_ki64(b, "since_ms", x->since_ms);
  jb_ki64(b, "at_ms", x->at_ms);
  jb_kopt(b, "last_candle_open_ms", x->has_last_candle_open_ms,
          x->last_candle_open_ms);
  jb_kopt(b, "ingest_watermark_ms", x->has_ingest_watermark_ms,
          x->ingest_watermark_ms);
  jb_kopt(b, "publish_watermark_ms", x->has_publish_watermark_ms,
          x->publish_watermark_ms);
  jb_kstr(b, "detail", x->detail);
  jb_raw(b, "}", 1);
}

static void json_alert(struct jbuf *b, const struct coin_alert *x) {
  jb_head(b, COIN_MSG_ALERT);
  if (x->exchange[0] == '\0') {
    jb_key(b, "exchange");
    jb_lit(b, "null");
    jb_key(b, "symbol");
    jb_lit(b, "null");
    jb_key(b, "timeframe");
    jb_lit(b, "null");
  } else {
    jb_series(b, x->exchange, x->symbol, x->tf);
  }
  jb_kstr(b, "producer_id", x->producer_id);
  jb_kstr(b, "alert_id", x->alert_id);
  jb_kstr(b, "alertname", x->alertname);
  jb_kstr(b, "severity", coin_codec_severity_name(x->severity));
  jb_kstr(b, "state", coin_codec_state_name(x->state));
  jb_kstr(b, "status", coin_codec_alert_status_name(x->status));
  jb_ki64(b, "starts_at_ms", x->starts_at_ms);
  jb_kopt(b, "ends_at_ms", x->has_ends_at_ms, x->ends_at_ms);
  jb_kstr(b, "summary", x->summary);
  jb_ku64(b, "repeat_count", x->repeat_count);
  jb_key(b, "labels");
  jb_raw(b, "{", 1);
  for (size_t i = 0; i < x->n_labels; i++)
    jb_kstr(b, x->labels[i].name, x->labels[i].value);
  jb_raw(b, "}}", 2);
}

static void json_model_fields(struct jbuf *b,
                              const struct coin_model_metadata *x) {
  jb_kstr(b, "version", x->version);
  jb_kstr(b, "kind", x->kind);
  jb_kstr(b, "role", coin_codec_model_role_name(x->role));
  jb_ku64(b, "feature_schema_version", x->feature_schema_version);
  jb_kstr(b, "feature_schema_hash", x->feature_schema_hash);
  jb_ki64(b, "train_from_ms", x->train_from_ms);
  jb_ki64(b, "train_to_ms", x->train_to_ms);
  jb_ki64(b, "train_watermark_ms", x->train_watermark_ms);
  jb_ku64(b, "train_rows", x->train_rows);
  jb_ku64(b, "eval_rows", x->eval_rows);
  jb_kstr(b, "parent_version", x->parent_version);
  jb_kstr(b, "artifact_sha256", x->artifact_sha256);
  jb_ku64(b, "artifact_size_bytes", x->artifact_size_bytes);
  jb_ki64(b, "created_at_ms", x->created_at_ms);
  jb_kstr(b, "git_revision", x->git_revision);
  jb_metrics(b, x->metrics, x->n_metrics);
  jb_kstr(b, "artifact_ref", x->artifact_ref);
}

static void json_model(struct jbuf *b, const struct coin_model_metadata *x) {
  jb_head(b, COIN_MSG_MODEL_METADATA);
  json_model_fields(b, x);
  jb_raw(b, "}", 1);
}

static void json_event(struct jbuf *b, const struct coin_model_event *x) {
  jb_head(b, COIN_MSG_MODEL_EVENT);
  jb_kstr(b, "producer_id", x->producer_id);
  jb_kstr(b, "kind", coin_codec_model_event_kind_name(x->kind));
  jb_kstr(b, "version", x->version);
  jb_kstr(b, "previous_version", x->previous_version);
  jb_ki64(b, "at_ms", x->at_ms);
  jb_kstr(b, "reason", x->reason);
  jb_metrics(b, x->metrics, x->n_metrics);
  jb_key(b, "model");
  if (x->has_model) {
    jb_raw(b, "{", 1);
    json_model_fields(b, &x->model);
    jb_raw(b, "}", 1);
  } else {
    jb_lit(b, "null");
  }
  jb_raw(b, "}", 1);
}

static void json_backfill(struct jbuf *b,
                          const struct coin_backfill_request *x) {
  jb_head(b, COIN_MSG_BACKFILL_REQUEST);
  jb_series(b, x->exchange, x->symbol, x->tf);
  jb_kstr(b, "producer_id", x->producer_id);
  jb_kstr(b, "request_id", x->request_id);
  jb_ki64(b, "from_ms", x->from_ms);
  jb_ki64(b, "to_ms", x->to_ms);
  jb_ki64(b, "requested_at_ms", x->requested_at_ms);
  jb_raw(b, "}", 1);
}

/* A "<prefix>." match (prefix followed by a dot and at least one char). */
static bool under(const char *subject, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(subject, prefix, n) == 0 && subject[n] == '.' &&
         subject[n + 1] != '\0';
}

enum coin_msg_type coin_codec_subject_type(const char *subject) {
  if (subject == NULL)
    return COIN_MSG_UNKNOWN;
  if (under(subject, COIN_SUBJECT_CANDLES_PREFIX))
    return COIN_MSG_CANDLE_BATCH;
  if (under(subject, COIN_SUBJECT_STATUS_PREFIX))
    return COIN_MSG_STATUS_TRANSITION;
  if (under(subject, COIN_SUBJECT_ALERTS_PREFIX))
    return COIN_MSG_ALERT;
  if (strcmp(subject, COIN_SUBJECT_MODEL_EVENTS) == 0)
    return COIN_MSG_MODEL_EVENT;
  if (under(subject, "$KV." COIN_KV_MODELS "." COIN_KEY_MODEL_PREFIX))
    return COIN_MSG_MODEL_METADATA;
  if (strcmp(subject, COIN_SUBJECT_BACKFILL) == 0)
    return COIN_MSG_BACKFILL_REQUEST;
  return COIN_MSG_UNKNOWN;
}

const char *coin_codec_msg_type_name(enum coin_msg_type type) {
  switch (type) {
  case COIN_MSG_CANDLE_BATCH: return "CandleBatch";
  case COIN_MSG_STATUS_TRANSITION: return "StatusTransition";
  case COIN_MSG_ALERT: return "Alert";
  case COIN_MSG_MODEL_METADATA: return "ModelMetadata";
  case COIN_MSG_MODEL_EVENT: return "ModelEvent";
  case COIN_MSG_BACKFILL_REQUEST: return "BackfillRequest";
  default: return "unknown";
  }
}

/* The decoded form of any message, for coin_codec_to_json_type. */
union any_msg {
  struct coin_candle_batch batch;
  struct coin_status_transition status;
  struct coin_alert alert;
  struct coin_model_metadata model;
  struct coin_model_event event;
  struct coin_backfill_request backfill;
};

int coin_codec_to_json_type(char **out, enum coin_msg_type type,
                            const uint8_t *data, size_t len) {
  struct jbuf b = {NULL, 0, 0, 0};
  union any_msg *msg = NULL;
  int rc;
  if (out == NULL || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "json: NULL argument");
  /* Heap, not stack: a ModelEvent alone is ~11 KiB. */
  msg = calloc(1, sizeof(*msg));
  if (msg == NULL)
    return coin_error_set(COIN_ENOMEM, "json: out of memory");
  switch (type) {
  case COIN_MSG_CANDLE_BATCH:
    if ((rc = coin_codec_unpack_batch(&msg->batch, data, len)) == 0)
      json_batch(&b, &msg->batch);
    coin_candle_batch_clear(&msg->batch);
    break;
  case COIN_MSG_STATUS_TRANSITION:
    if ((rc = coin_codec_unpack_status(&msg->status, data, len)) == 0)
      json_status(&b, &msg->status);
    break;
  case COIN_MSG_ALERT:
    if ((rc = coin_codec_unpack_alert(&msg->alert, data, len)) == 0)
      json_alert(&b, &msg->alert);
    break;
  case COIN_MSG_MODEL_METADATA:
    if ((rc = coin_codec_unpack_model(&msg->model, data, len)) == 0)
      json_model(&b, &msg->model);
    break;
  case COIN_MSG_MODEL_EVENT:
    if ((rc = coin_codec_unpack_model_event(&msg->event, data, len)) == 0)
      json_event(&b, &msg->event);
    break;
  case COIN_MSG_BACKFILL_REQUEST:
    if ((rc = coin_codec_unpack_backfill(&msg->backfill, data, len)) == 0)
      json_backfill(&b, &msg->backfill);
    break;
  default:
    rc = coin_error_set(COIN_ENOTFOUND, "json: message type %d unknown",
                        (int)type);
  }
  if (rc == 0 && b.err)
    rc = coin_error_set(
        b.err, "json: %s rendering %zu bytes",
        b.err == COIN_ETOOBIG ? "cap exceeded" : "out of memory", b.len);
  if (rc == 0) {
    *out = b.p;
    b.p = NULL;
  }
  free(b.p);
  free(msg);
  return rc;
}

int coin_codec_to_json(char **out, const char *subject, const uint8_t *data,
                       size_t len) {
  char buf[CODEC_SHOWN_BYTES];
  if (out == NULL || subject == NULL)
    return coin_error_set(COIN_EINVAL, "json: NULL argument");
  enum coin_msg_type type = coin_codec_subject_type(subject);
  if (type == COIN_MSG_UNKNOWN)
    return coin_error_set(COIN_ENOTFOUND,
                          "json: subject \"%s\" carries no known message",
                          coin_fmt_shown(buf, sizeof(buf), subject));
  return coin_codec_to_json_type(out, type, data, len);
}
