/*
 * codec_json.c: a decoded message as one JSON object for the tools
 * (coinctl tap, docs/protocol.md): coin_codec_to_json and
 * coin_codec_to_json_type. Thread-safe: no state.
 */
#include "coin/codec.h"

#include "codec_int.h"
#include "coin/error.h"
#include "coin/fmt.h"
#include "coin/jbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text is written by coin_jbuf (jansson prints doubles with a fixed
 * precision: 17 digits turns 0.1 into 0.10000000000000001, fewer loses
 * bits; prices read better and stay exact in the shortest round-trip form).
 * Members end in a comma; close() trims the last one. */
_Static_assert(COIN_BUF_CAP_CODEC_JSON + 1 == COIN_CODEC_MAX_JSON_BYTES,
               "the JSON cap counts its NUL in COIN_CODEC_MAX_JSON_BYTES");

static void end_with(struct coin_jbuf *b, const char *bracket) {
  coin_jbuf_trim_comma(b);
  coin_jbuf_puts(b, bracket);
}

static void jb_ku64(struct coin_jbuf *b, const char *key, uint64_t v) {
  coin_jbuf_key(b, key);
  coin_jbuf_printf(b, "%" PRIu64 ",", v);
}

static void jb_kopt(struct coin_jbuf *b, const char *key, bool has, int64_t v) {
  if (has) {
    coin_jbuf_kint(b, key, v);
  } else {
    coin_jbuf_key(b, key);
    coin_jbuf_puts(b, "null,");
  }
}

static void jb_metrics(struct coin_jbuf *b, const struct coin_metric *m,
                       size_t n) {
  coin_jbuf_key(b, "metrics");
  coin_jbuf_puts(b, "{");
  for (size_t i = 0; i < n; i++)
    coin_jbuf_knum(b, m[i].name, m[i].value);
  end_with(b, "},");
}

static void jb_head(struct coin_jbuf *b, enum coin_msg_type type) {
  coin_jbuf_puts(b, "{");
  coin_jbuf_kstr(b, "type", coin_codec_msg_type_name(type));
  coin_jbuf_kint(b, "schema_version", COIN_CODEC_SCHEMA_VERSION);
}

static void jb_series(struct coin_jbuf *b, const char *exchange,
                      const char *symbol, enum coin_tf tf) {
  coin_jbuf_kstr(b, "exchange", exchange);
  coin_jbuf_kstr(b, "symbol", symbol);
  coin_jbuf_kstr(b, "timeframe", coin_tf_name(tf));
}

static void json_batch(struct coin_jbuf *b, const struct coin_candle_batch *x) {
  jb_head(b, COIN_MSG_CANDLE_BATCH);
  jb_series(b, x->exchange, x->symbol, x->tf);
  coin_jbuf_kstr(b, "kind", coin_codec_batch_kind_name(x->kind));
  coin_jbuf_kstr(b, "producer_id", x->producer_id);
  coin_jbuf_kint(b, "produced_at_ms", x->produced_at_ms);
  coin_jbuf_kint(b, "ingest_watermark_ms", x->ingest_watermark_ms);
  jb_ku64(b, "n_candles", x->n_candles);
  coin_jbuf_key(b, "candles");
  coin_jbuf_puts(b, "[");
  for (size_t i = 0; i < x->n_candles && !b->oom; i++) {
    static const char *const names[] = {"open", "high", "low", "close",
                                        "volume"};
    const struct coin_candle *c = &x->candles[i];
    const double v[] = {c->open, c->high, c->low, c->close, c->volume};
    coin_jbuf_puts(b, "{");
    coin_jbuf_kint(b, "open_time_ms", c->open_ms);
    for (size_t f = 0; f < sizeof(v) / sizeof(v[0]); f++)
      coin_jbuf_knum(b, names[f], v[f]);
    end_with(b, "},");
  }
  end_with(b, "]}");
}

static void json_status(struct coin_jbuf *b,
                        const struct coin_status_transition *x) {
  jb_head(b, COIN_MSG_STATUS_TRANSITION);
  jb_series(b, x->exchange, x->symbol, x->tf);
  coin_jbuf_kstr(b, "producer_id", x->producer_id);
  coin_jbuf_kstr(b, "from_state", coin_codec_state_name(x->from_state));
  coin_jbuf_kstr(b, "to_state", coin_codec_state_name(x->to_state));
  coin_jbuf_kbool(b, "from_degraded", x->from_degraded);
  coin_jbuf_kbool(b, "degraded", x->degraded);
  coin_jbuf_key(b, "degraded_reasons");
  coin_jbuf_puts(b, "[");
  for (size_t i = 0; i < x->n_degraded_reasons; i++) {
    coin_jbuf_str(b, x->degraded_reasons[i]);
    coin_jbuf_puts(b, ",");
  }
  end_with(b, "],");
  coin_jbuf_kint(b, "since_ms", x->since_ms);
  coin_jbuf_kint(b, "at_ms", x->at_ms);
  jb_kopt(b, "last_candle_open_ms", x->has_last_candle_open_ms,
          x->last_candle_open_ms);
  jb_kopt(b, "ingest_watermark_ms", x->has_ingest_watermark_ms,
          x->ingest_watermark_ms);
  jb_kopt(b, "publish_watermark_ms", x->has_publish_watermark_ms,
          x->publish_watermark_ms);
  coin_jbuf_kstr(b, "detail", x->detail);
  end_with(b, "}");
}

static void json_alert(struct coin_jbuf *b, const struct coin_alert *x) {
  jb_head(b, COIN_MSG_ALERT);
  if (x->exchange[0] == '\0') {
    coin_jbuf_key(b, "exchange");
    coin_jbuf_puts(b, "null,");
    coin_jbuf_key(b, "symbol");
    coin_jbuf_puts(b, "null,");
    coin_jbuf_key(b, "timeframe");
    coin_jbuf_puts(b, "null,");
  } else {
    jb_series(b, x->exchange, x->symbol, x->tf);
  }
  coin_jbuf_kstr(b, "producer_id", x->producer_id);
  coin_jbuf_kstr(b, "alert_id", x->alert_id);
  coin_jbuf_kstr(b, "alertname", x->alertname);
  coin_jbuf_kstr(b, "severity", coin_codec_severity_name(x->severity));
  coin_jbuf_kstr(b, "state", coin_codec_state_name(x->state));
  coin_jbuf_kstr(b, "status", coin_codec_alert_status_name(x->status));
  coin_jbuf_kint(b, "starts_at_ms", x->starts_at_ms);
  jb_kopt(b, "ends_at_ms", x->has_ends_at_ms, x->ends_at_ms);
  coin_jbuf_kstr(b, "summary", x->summary);
  jb_ku64(b, "repeat_count", x->repeat_count);
  coin_jbuf_key(b, "labels");
  coin_jbuf_puts(b, "{");
  for (size_t i = 0; i < x->n_labels; i++)
    coin_jbuf_kstr(b, x->labels[i].name, x->labels[i].value);
  end_with(b, "}}");
}

static void json_model_fields(struct coin_jbuf *b,
                              const struct coin_model_metadata *x) {
  coin_jbuf_kstr(b, "version", x->version);
  coin_jbuf_kstr(b, "kind", x->kind);
  coin_jbuf_kstr(b, "role", coin_codec_model_role_name(x->role));
  jb_ku64(b, "feature_schema_version", x->feature_schema_version);
  coin_jbuf_kstr(b, "feature_schema_hash", x->feature_schema_hash);
  coin_jbuf_kint(b, "train_from_ms", x->train_from_ms);
  coin_jbuf_kint(b, "train_to_ms", x->train_to_ms);
  coin_jbuf_kint(b, "train_watermark_ms", x->train_watermark_ms);
  jb_ku64(b, "train_rows", x->train_rows);
  jb_ku64(b, "eval_rows", x->eval_rows);
  coin_jbuf_kstr(b, "parent_version", x->parent_version);
  coin_jbuf_kstr(b, "artifact_sha256", x->artifact_sha256);
  jb_ku64(b, "artifact_size_bytes", x->artifact_size_bytes);
  coin_jbuf_kint(b, "created_at_ms", x->created_at_ms);
  coin_jbuf_kstr(b, "git_revision", x->git_revision);
  jb_metrics(b, x->metrics, x->n_metrics);
  coin_jbuf_kstr(b, "artifact_ref", x->artifact_ref);
}

static void json_model(struct coin_jbuf *b,
                       const struct coin_model_metadata *x) {
  jb_head(b, COIN_MSG_MODEL_METADATA);
  json_model_fields(b, x);
  end_with(b, "}");
}

static void json_event(struct coin_jbuf *b, const struct coin_model_event *x) {
  jb_head(b, COIN_MSG_MODEL_EVENT);
  coin_jbuf_kstr(b, "producer_id", x->producer_id);
  coin_jbuf_kstr(b, "kind", coin_codec_model_event_kind_name(x->kind));
  coin_jbuf_kstr(b, "version", x->version);
  coin_jbuf_kstr(b, "previous_version", x->previous_version);
  coin_jbuf_kint(b, "at_ms", x->at_ms);
  coin_jbuf_kstr(b, "reason", x->reason);
  jb_metrics(b, x->metrics, x->n_metrics);
  coin_jbuf_key(b, "model");
  if (x->has_model) {
    coin_jbuf_puts(b, "{");
    json_model_fields(b, &x->model);
    end_with(b, "},");
  } else {
    coin_jbuf_puts(b, "null,");
  }
  end_with(b, "}");
}

static void json_backfill(struct coin_jbuf *b,
                          const struct coin_backfill_request *x) {
  jb_head(b, COIN_MSG_BACKFILL_REQUEST);
  jb_series(b, x->exchange, x->symbol, x->tf);
  coin_jbuf_kstr(b, "producer_id", x->producer_id);
  coin_jbuf_kstr(b, "request_id", x->request_id);
  coin_jbuf_kint(b, "from_ms", x->from_ms);
  coin_jbuf_kint(b, "to_ms", x->to_ms);
  coin_jbuf_kint(b, "requested_at_ms", x->requested_at_ms);
  end_with(b, "}");
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
  struct coin_jbuf b;
  union any_msg *msg = NULL;
  int rc;
  if (out == NULL || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "json: NULL argument");
  /* Heap, not stack: a ModelEvent alone is ~11 KiB. */
  msg = calloc(1, sizeof(*msg));
  if (msg == NULL)
    return coin_error_set(COIN_ENOMEM, "json: out of memory");
  coin_jbuf_init(&b, COIN_BUF_CAP_CODEC_JSON);
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
  if (rc == 0 && b.oom)
    rc = coin_error_set(
        b.err, "json: %s rendering %zu bytes",
        b.err == COIN_ETOOBIG ? "cap exceeded" : "out of memory", b.len);
  if (rc == 0 && coin_jbuf_finish(out, NULL, &b) != 0)
    rc = coin_error_set(COIN_ENOMEM, "json: out of memory");
  coin_jbuf_free(&b);
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
