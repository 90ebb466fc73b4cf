/*
 * codec.c: protobuf-c <-> project structs, with every field validated by one
 * checker per message used on both sides (what pack accepts, unpack accepts).
 * Unpack first walks the wire framing to count repeated fields, so hostile
 * input cannot make protobuf-c allocate more than the caps allow.
 * Thread-safe: no state besides the atomic size cap. Error texts are built
 * without the message type and prefixed once at the public boundary.
 * Subjects and keys are built in names.c, the JSON of the tools in
 * codec_json.c.
 */
#include "coin/codec.h"
#include "codec_int.h"
#include "coin/fmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coin/error.h"
#include "coin/v1/coin.pb-c.h"

/* ---- size cap ------------------------------------------------------------ */

static _Atomic size_t max_bytes = COIN_CODEC_DEFAULT_MAX_BYTES;

void coin_codec_set_max_bytes(size_t bytes) {
  atomic_store(&max_bytes, bytes ? bytes : COIN_CODEC_DEFAULT_MAX_BYTES);
}

size_t coin_codec_max_bytes(void) {
  return atomic_load(&max_bytes);
}

/* ---- character rules ----------------------------------------------------- */

#define C_LOWER 1u
#define C_UPPER 2u
#define C_DIGIT 4u
#define C_ALNUM (C_LOWER | C_UPPER | C_DIGIT)
#define C_HEX 8u /* 0-9 a-f */

/* A token: min..max chars, first char and the rest from classes + extras. */
struct token_rule {
  const char *text; /* the rule as shown in errors */
  size_t min_len;
  size_t max_len;
  unsigned first_cls;
  const char *first_extra;
  unsigned rest_cls;
  const char *rest_extra;
};

/* One rule per line reads better as a table than clang-format's layout. */
/* clang-format off */
static const struct token_rule
  RULE_PRODUCER     = {"[A-Za-z0-9._:@/-]{0,64}", 0, 64, C_ALNUM, "._:@/-", C_ALNUM, "._:@/-"},
  RULE_ALERT_ID     = {"[A-Za-z0-9._:-]{1,128}", 1, 128, C_ALNUM, "._:-", C_ALNUM, "._:-"},
  RULE_LABEL        = {"[A-Za-z_][A-Za-z0-9_]{0,63}", 1, 64, C_LOWER | C_UPPER, "_", C_ALNUM, "_"},
  RULE_METRIC       = {"[A-Za-z_][A-Za-z0-9_.]{0,63}", 1, 64, C_LOWER | C_UPPER, "_", C_ALNUM, "_."},
  RULE_VERSION      = {"[A-Za-z0-9._-]{1,64}", 1, 64, C_ALNUM, "._-", C_ALNUM, "._-"},
  RULE_OPT_VERSION  = {"\"\" or [A-Za-z0-9._-]{1,64}", 0, 64, C_ALNUM, "._-", C_ALNUM, "._-"},
  RULE_MODEL_KIND   = {"[a-z0-9_]{1,32}", 1, 32, C_LOWER | C_DIGIT, "_", C_LOWER | C_DIGIT, "_"},
  RULE_HASH         = {"[0-9a-f]{0,64}", 0, 64, C_HEX, "", C_HEX, ""},
  RULE_SHA256       = {"[0-9a-f]{64}", 64, 64, C_HEX, "", C_HEX, ""},
  RULE_GIT          = {"[A-Za-z0-9._+-]{0,64}", 0, 64, C_ALNUM, "._+-", C_ALNUM, "._+-"},
  RULE_REQUEST_ID   = {"[A-Za-z0-9._:-]{1,64}", 1, 64, C_ALNUM, "._:-", C_ALNUM, "._:-"},
  RULE_REASON       = {"[a-z0-9_.:-]{1,64}", 1, 64, C_LOWER | C_DIGIT, "_.:-", C_LOWER | C_DIGIT, "_.:-"},
  RULE_PREFIX_TOKEN = {"[a-z0-9_]+", 1, 64, C_LOWER | C_DIGIT, "_", C_LOWER | C_DIGIT, "_"};
/* clang-format on */

static bool char_ok(unsigned char ch, unsigned cls, const char *extra) {
  if ((cls & C_LOWER) && ch >= 'a' && ch <= 'z')
    return true;
  if ((cls & C_UPPER) && ch >= 'A' && ch <= 'Z')
    return true;
  if ((cls & (C_DIGIT | C_HEX)) && ch >= '0' && ch <= '9')
    return true;
  if ((cls & C_HEX) && ch >= 'a' && ch <= 'f')
    return true;
  return ch != '\0' && strchr(extra, ch) != NULL;
}

static int check_token(const char *field, const char *s,
                       const struct token_rule *r) {
  char buf[CODEC_SHOWN_BYTES];
  size_t n = strlen(s);
  if (n < r->min_len || n > r->max_len)
    return coin_error_set(COIN_EINVAL, "%s \"%s\": %zu chars (rule: %s)", field,
                          coin_fmt_shown(buf, sizeof(buf), s), n, r->text);
  for (size_t i = 0; i < n; i++) {
    bool ok = i == 0
                  ? char_ok((unsigned char)s[i], r->first_cls, r->first_extra)
                  : char_ok((unsigned char)s[i], r->rest_cls, r->rest_extra);
    if (!ok)
      return coin_error_set(COIN_EINVAL,
                            "%s \"%s\": character %zu (0x%02x) not allowed "
                            "(rule: %s)",
                            field, coin_fmt_shown(buf, sizeof(buf), s), i + 1,
                            (unsigned)(unsigned char)s[i], r->text);
  }
  return 0;
}

int codec_check_prefix_token(const char *tok) {
  return check_token("prefix token", tok, &RULE_PREFIX_TOKEN);
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int check_utf8(const char *field, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (p[i]) {
    unsigned c = p[i];
    size_t need;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3, min = 0x10000;
    } else {
      goto bad;
    }
    unsigned cp = c & (0x3fu >> need);
    for (size_t k = 1; k <= need; k++) {
      if ((p[i + k] & 0xc0) != 0x80) /* also stops at the NUL */
        goto bad;
      cp = (cp << 6) | (p[i + k] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      goto bad;
    i += need + 1;
  }
  return 0;
bad:
  return coin_error_set(COIN_EINVAL,
                        "%s: invalid UTF-8 at byte %zu (rule: UTF-8 text)",
                        field, i + 1);
}

/* A fixed-size struct string must hold its NUL. */
static int check_terminated(const char *field, const char *s, size_t cap) {
  if (memchr(s, '\0', cap) == NULL)
    return coin_error_set(COIN_EINVAL,
                          "%s: not NUL-terminated within %zu bytes (rule: at "
                          "most %zu chars)",
                          field, cap, cap - 1);
  return 0;
}
#define TERMINATED(field, arr) check_terminated(field, arr, sizeof(arr))

static int check_text(const char *field, const char *s, size_t cap) {
  int rc = check_terminated(field, s, cap);
  return rc ? rc : check_utf8(field, s);
}
#define TEXT(field, arr) check_text(field, arr, sizeof(arr))

static int check_series(const char *exchange, size_t ex_cap, const char *symbol,
                        size_t sym_cap, enum coin_tf tf) {
  int rc;
  if ((rc = check_terminated("exchange", exchange, ex_cap)) != 0 ||
      (rc = check_terminated("symbol", symbol, sym_cap)) != 0 ||
      (rc = coin_exchange_validate(exchange)) != 0 ||
      (rc = coin_symbol_validate(symbol)) != 0)
    return rc;
  if ((unsigned)tf >= (unsigned)COIN_TF_COUNT)
    return coin_error_set(
        COIN_EINVAL, "timeframe %d: unknown (rule: 1m 1h 1d 1w 1M)", (int)tf);
  return 0;
}

static int check_enum(const char *field, int v, int lo, int hi) {
  if (v < lo || v > hi)
    return coin_error_set(COIN_EINVAL, "%s %d: out of range (rule: %d..%d)",
                          field, v, lo, hi);
  return 0;
}

static int check_metrics(const struct coin_metric *m, size_t n) {
  char field[48];
  if (n > COIN_CODEC_MAX_METRICS)
    return coin_error_set(COIN_ETOOBIG, "metrics: %zu entries (rule: <= %d)", n,
                          COIN_CODEC_MAX_METRICS);
  for (size_t i = 0; i < n; i++) {
    int rc;
    snprintf(field, sizeof(field), "metrics[%zu]", i);
    if ((rc = TERMINATED(field, m[i].name)) != 0 ||
        (rc = check_token(field, m[i].name, &RULE_METRIC)) != 0)
      return rc;
    if (!isfinite(m[i].value))
      return coin_error_set(COIN_EINVAL,
                            "metrics \"%s\": value %g (rule: finite)",
                            m[i].name, m[i].value);
    for (size_t j = 0; j < i; j++)
      if (strcmp(m[j].name, m[i].name) == 0)
        return coin_error_set(COIN_EINVAL,
                              "metrics \"%s\": duplicate name (rule: unique)",
                              m[i].name);
  }
  return 0;
}

/* ---- per-message checkers (shared by pack and unpack) -------------------- */

static int batch_check(const struct coin_candle_batch *b) {
  int rc;
  if ((rc = check_series(b->exchange, sizeof(b->exchange), b->symbol,
                         sizeof(b->symbol), b->tf)) != 0 ||
      (rc = check_enum("kind", (int)b->kind, COIN_BATCH_LIVE,
                       COIN_BATCH_RECONCILE)) != 0 ||
      (rc = TERMINATED("producer_id", b->producer_id)) != 0 ||
      (rc = check_token("producer_id", b->producer_id, &RULE_PRODUCER)) != 0)
    return rc;
  if (b->n_candles == 0)
    return coin_error_set(COIN_EINVAL,
                          "candles: empty (rule: 1..%d candles per batch)",
                          COIN_CODEC_MAX_CANDLES);
  if (b->n_candles > COIN_CODEC_MAX_CANDLES)
    return coin_error_set(COIN_ETOOBIG,
                          "candles: %zu (rule: 1..%d candles per batch)",
                          b->n_candles, COIN_CODEC_MAX_CANDLES);
  if (b->candles == NULL)
    return coin_error_set(COIN_EINVAL, "candles: NULL with n_candles %zu",
                          b->n_candles);
  const char *tfn = coin_tf_name(b->tf);
  for (size_t i = 0; i < b->n_candles; i++) {
    const struct coin_candle *c = &b->candles[i];
    if (c->open_ms < COIN_TF_MIN_MS || c->open_ms > COIN_TF_MAX_MS ||
        !coin_tf_is_aligned(b->tf, c->open_ms))
      return coin_error_set(COIN_EINVAL,
                            "candles[%zu]: open_time_ms %" PRId64
                            " not aligned (rule: open time of a %s candle)",
                            i, c->open_ms, tfn);
    if (i > 0 && c->open_ms <= b->candles[i - 1].open_ms)
      return coin_error_set(COIN_EINVAL,
                            "candles[%zu]: open_time_ms %" PRId64
                            " after %" PRId64
                            " (rule: strictly ascending open times)",
                            i, c->open_ms, b->candles[i - 1].open_ms);
    const double v[5] = {c->open, c->high, c->low, c->close, c->volume};
    static const char *const names[5] = {"open", "high", "low", "close",
                                         "volume"};
    for (size_t k = 0; k < 5; k++)
      if (!isfinite(v[k]))
        return coin_error_set(COIN_EINVAL,
                              "candles[%zu]: %s %g (rule: finite numbers)", i,
                              names[k], v[k]);
  }
  int64_t last = b->candles[b->n_candles - 1].open_ms;
  if (b->ingest_watermark_ms < last ||
      b->ingest_watermark_ms > COIN_TF_MAX_MS ||
      !coin_tf_is_aligned(b->tf, b->ingest_watermark_ms))
    return coin_error_set(COIN_EINVAL,
                          "ingest_watermark_ms %" PRId64
                          ": (rule: a %s open time >= last candle %" PRId64 ")",
                          b->ingest_watermark_ms, tfn, last);
  return 0;
}

static int status_check(const struct coin_status_transition *s) {
  int rc;
  if ((rc = check_series(s->exchange, sizeof(s->exchange), s->symbol,
                         sizeof(s->symbol), s->tf)) != 0 ||
      (rc = TERMINATED("producer_id", s->producer_id)) != 0 ||
      (rc = check_token("producer_id", s->producer_id, &RULE_PRODUCER)) != 0 ||
      (rc = check_enum("from_state", (int)s->from_state, COIN_STATE_UNSPECIFIED,
                       COIN_STATE_INSUFFICIENT_DATA)) != 0 ||
      (rc = check_enum("to_state", (int)s->to_state, COIN_STATE_FRESH,
                       COIN_STATE_INSUFFICIENT_DATA)) != 0 ||
      (rc = TEXT("detail", s->detail)) != 0)
    return rc;
  if (s->n_degraded_reasons > COIN_CODEC_MAX_REASONS)
    return coin_error_set(COIN_ETOOBIG,
                          "degraded_reasons: %zu entries (rule: <= %d)",
                          s->n_degraded_reasons, COIN_CODEC_MAX_REASONS);
  if (!s->degraded && s->n_degraded_reasons > 0)
    return coin_error_set(COIN_EINVAL,
                          "degraded_reasons: %zu given while degraded is "
                          "false (rule: reasons only when degraded)",
                          s->n_degraded_reasons);
  for (size_t i = 0; i < s->n_degraded_reasons; i++) {
    char field[48];
    snprintf(field, sizeof(field), "degraded_reasons[%zu]", i);
    if ((rc = TERMINATED(field, s->degraded_reasons[i])) != 0 ||
        (rc = check_token(field, s->degraded_reasons[i], &RULE_REASON)) != 0)
      return rc;
  }
  return 0;
}

static int alert_check(const struct coin_alert *a) {
  int rc;
  if ((rc = TERMINATED("exchange", a->exchange)) != 0 ||
      (rc = TERMINATED("symbol", a->symbol)) != 0)
    return rc;
  if (a->exchange[0] == '\0') {
    if (a->symbol[0] != '\0')
      return coin_error_set(COIN_EINVAL,
                            "symbol \"%.32s\" on a global alert (rule: "
                            "exchange and symbol both set or both empty)",
                            a->symbol);
  } else if ((rc = check_series(a->exchange, sizeof(a->exchange), a->symbol,
                                sizeof(a->symbol), a->tf)) != 0) {
    return rc;
  }
  if ((rc = TERMINATED("producer_id", a->producer_id)) != 0 ||
      (rc = check_token("producer_id", a->producer_id, &RULE_PRODUCER)) != 0 ||
      (rc = TERMINATED("alert_id", a->alert_id)) != 0 ||
      (rc = check_token("alert_id", a->alert_id, &RULE_ALERT_ID)) != 0 ||
      (rc = TERMINATED("alertname", a->alertname)) != 0 ||
      (rc = check_token("alertname", a->alertname, &RULE_LABEL)) != 0 ||
      (rc = check_enum("severity", (int)a->severity, COIN_SEVERITY_INFO,
                       COIN_SEVERITY_CRITICAL)) != 0 ||
      (rc = check_enum("state", (int)a->state, COIN_STATE_UNSPECIFIED,
                       COIN_STATE_INSUFFICIENT_DATA)) != 0 ||
      (rc = check_enum("status", (int)a->status, COIN_ALERT_FIRING,
                       COIN_ALERT_RESOLVED)) != 0 ||
      (rc = TEXT("summary", a->summary)) != 0)
    return rc;
  if (a->has_ends_at_ms && a->ends_at_ms < a->starts_at_ms)
    return coin_error_set(COIN_EINVAL,
                          "ends_at_ms %" PRId64 " before starts_at_ms %" PRId64
                          " (rule: ends_at_ms >= starts_at_ms)",
                          a->ends_at_ms, a->starts_at_ms);
  if (a->n_labels > COIN_CODEC_MAX_LABELS)
    return coin_error_set(COIN_ETOOBIG, "labels: %zu entries (rule: <= %d)",
                          a->n_labels, COIN_CODEC_MAX_LABELS);
  for (size_t i = 0; i < a->n_labels; i++) {
    char field[48];
    snprintf(field, sizeof(field), "labels[%zu]", i);
    if ((rc = TERMINATED(field, a->labels[i].name)) != 0 ||
        (rc = check_token(field, a->labels[i].name, &RULE_LABEL)) != 0 ||
        (rc = TEXT(field, a->labels[i].value)) != 0)
      return rc;
    for (size_t j = 0; j < i; j++)
      if (strcmp(a->labels[j].name, a->labels[i].name) == 0)
        return coin_error_set(COIN_EINVAL,
                              "labels \"%s\": duplicate name (rule: unique)",
                              a->labels[i].name);
  }
  return 0;
}

static int model_check(const struct coin_model_metadata *m) {
  int rc;
  if ((rc = TERMINATED("version", m->version)) != 0 ||
      (rc = check_token("version", m->version, &RULE_VERSION)) != 0 ||
      (rc = TERMINATED("kind", m->kind)) != 0 ||
      (rc = check_token("kind", m->kind, &RULE_MODEL_KIND)) != 0 ||
      (rc = check_enum("role", (int)m->role, COIN_ROLE_CHALLENGER,
                       COIN_ROLE_REFUSED)) != 0 ||
      (rc = TERMINATED("feature_schema_hash", m->feature_schema_hash)) != 0 ||
      (rc = check_token("feature_schema_hash", m->feature_schema_hash,
                        &RULE_HASH)) != 0 ||
      (rc = TERMINATED("parent_version", m->parent_version)) != 0 ||
      (rc = check_token("parent_version", m->parent_version,
                        &RULE_OPT_VERSION)) != 0 ||
      (rc = TERMINATED("artifact_sha256", m->artifact_sha256)) != 0 ||
      (rc = check_token("artifact_sha256", m->artifact_sha256, &RULE_SHA256)) !=
          0 ||
      (rc = TERMINATED("git_revision", m->git_revision)) != 0 ||
      (rc = check_token("git_revision", m->git_revision, &RULE_GIT)) != 0 ||
      (rc = TEXT("artifact_ref", m->artifact_ref)) != 0 ||
      (rc = check_metrics(m->metrics, m->n_metrics)) != 0)
    return rc;
  if (m->train_from_ms > m->train_to_ms)
    return coin_error_set(COIN_EINVAL,
                          "train_from_ms %" PRId64 " after train_to_ms %" PRId64
                          " (rule: from <= to)",
                          m->train_from_ms, m->train_to_ms);
  return 0;
}

static int event_check(const struct coin_model_event *e) {
  int rc;
  if ((rc = TERMINATED("producer_id", e->producer_id)) != 0 ||
      (rc = check_token("producer_id", e->producer_id, &RULE_PRODUCER)) != 0 ||
      (rc = check_enum("kind", (int)e->kind, COIN_MODEL_EVENT_REGISTERED,
                       COIN_MODEL_EVENT_TRAINING_FAILED)) != 0 ||
      (rc = TERMINATED("version", e->version)) != 0 ||
      (rc = check_token("version", e->version, &RULE_OPT_VERSION)) != 0 ||
      (rc = TERMINATED("previous_version", e->previous_version)) != 0 ||
      (rc = check_token("previous_version", e->previous_version,
                        &RULE_OPT_VERSION)) != 0 ||
      (rc = TEXT("reason", e->reason)) != 0 ||
      (rc = check_metrics(e->metrics, e->n_metrics)) != 0)
    return rc;
  if (e->has_model && (rc = model_check(&e->model)) != 0)
    return coin_error_wrap(rc, "model");
  return 0;
}

static int backfill_check(const struct coin_backfill_request *r) {
  int rc;
  if ((rc = check_series(r->exchange, sizeof(r->exchange), r->symbol,
                         sizeof(r->symbol), r->tf)) != 0 ||
      (rc = TERMINATED("producer_id", r->producer_id)) != 0 ||
      (rc = check_token("producer_id", r->producer_id, &RULE_PRODUCER)) != 0 ||
      (rc = TERMINATED("request_id", r->request_id)) != 0 ||
      (rc = check_token("request_id", r->request_id, &RULE_REQUEST_ID)) != 0)
    return rc;
  if (r->from_ms > r->to_ms)
    return coin_error_set(COIN_EINVAL,
                          "from_ms %" PRId64 " after to_ms %" PRId64
                          " (rule: from_ms <= to_ms)",
                          r->from_ms, r->to_ms);
  return 0;
}

/* ---- wire framing walk --------------------------------------------------- */

/* Iterates the fields of one encoded message level without decoding them. */
struct wire_it {
  const uint8_t *p;
  size_t len;
  size_t pos;
};

struct wire_field {
  uint32_t number;
  unsigned wire_type;
  const uint8_t *data; /* length-delimited payload */
  size_t len;
};

static int read_varint(struct wire_it *it, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (it->pos >= it->len)
      return coin_error_set(COIN_EDECODE, "truncated varint at byte %zu",
                            it->pos);
    uint8_t b = it->p[it->pos++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return coin_error_set(COIN_EDECODE, "varint longer than 10 bytes at byte %zu",
                        it->pos);
}

/* 1 = a field was read, 0 = end of input, < 0 = malformed framing. */
static int wire_next(struct wire_it *it, struct wire_field *f) {
  uint64_t key, n;
  int rc;
  if (it->pos >= it->len)
    return 0;
  size_t at = it->pos;
  if ((rc = read_varint(it, &key)) != 0)
    return rc;
  f->number = (uint32_t)(key >> 3);
  f->wire_type = (unsigned)(key & 7);
  f->data = NULL;
  f->len = 0;
  if (key >> 3 == 0 || key >> 3 > 536870911u)
    return coin_error_set(COIN_EDECODE,
                          "field number %" PRIu64 " at byte %zu (rule: "
                          "1..536870911)",
                          key >> 3, at);
  switch (f->wire_type) {
  case 0: return read_varint(it, &n) ? COIN_EDECODE : 1;
  case 1: n = 8; break;
  case 5: n = 4; break;
  case 2:
    if ((rc = read_varint(it, &n)) != 0)
      return rc;
    break;
  default:
    return coin_error_set(COIN_EDECODE,
                          "field %" PRIu32 " at byte %zu: wire type %u "
                          "(rule: 0, 1, 2 or 5; groups unsupported)",
                          f->number, at, f->wire_type);
  }
  if (n > it->len - it->pos)
    return coin_error_set(COIN_EDECODE,
                          "field %" PRIu32 " at byte %zu: truncated, %" PRIu64
                          " bytes needed, %zu left",
                          f->number, at, n, it->len - it->pos);
  f->data = it->p + it->pos;
  f->len = (size_t)n;
  it->pos += (size_t)n;
  return 1;
}

/* Validates one level of framing and counts occurrences of field number. */
static int wire_count(const uint8_t *p, size_t len, uint32_t number,
                      size_t *count) {
  struct wire_it it = {p, len, 0};
  struct wire_field f;
  int rc;
  *count = 0;
  while ((rc = wire_next(&it, &f)) == 1)
    if (f.number == number)
      (*count)++;
  return rc;
}

/* Counts field inner inside every length-delimited occurrence of outer. */
static int wire_count_nested(const uint8_t *p, size_t len, uint32_t outer,
                             uint32_t inner, size_t *count) {
  struct wire_it it = {p, len, 0};
  struct wire_field f;
  int rc;
  *count = 0;
  while ((rc = wire_next(&it, &f)) == 1) {
    size_t n;
    if (f.number != outer || f.wire_type != 2)
      continue;
    if ((rc = wire_count(f.data, f.len, inner, &n)) != 0)
      return rc;
    *count += n;
  }
  return rc;
}

/* Rejects a repeated field with more entries than cap before allocation. */
static int wire_cap(const uint8_t *p, size_t len, uint32_t number, size_t cap,
                    const char *field) {
  size_t n;
  int rc = wire_count(p, len, number, &n);
  if (rc)
    return rc;
  if (n > cap)
    return coin_error_set(COIN_ETOOBIG, "%s: %zu entries (rule: <= %zu)", field,
                          n, cap);
  return 0;
}

/* ---- protobuf-c glue ----------------------------------------------------- */

static int pack_msg(uint8_t **out, size_t *out_len, const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  size_t cap = coin_codec_max_bytes();
  if (n > cap)
    return coin_error_set(
        COIN_ETOOBIG, "encoded size %zu bytes (rule: <= %zu bytes)", n, cap);
  uint8_t *buf = malloc(n ? n : 1);
  if (buf == NULL)
    return coin_error_set(COIN_ENOMEM, "out of memory for %zu bytes", n);
  size_t written = protobuf_c_message_pack(m, buf);
  if (written != n) {
    free(buf);
    return coin_error_set(COIN_EINTERNAL,
                          "protobuf-c packed %zu bytes, expected %zu", written,
                          n);
  }
  *out = buf;
  *out_len = n;
  return 0;
}

/* First step of every unpack, before any walk over the bytes. */
static int unpack_begin(const uint8_t *data, size_t len) {
  size_t cap = coin_codec_max_bytes();
  (void)data;
  if (len > cap)
    return coin_error_set(COIN_ETOOBIG, "%zu bytes (rule: <= %zu bytes)", len,
                          cap);
  return 0;
}

/* Framing, protobuf-c, schema_version (field 1 of every type). */
static int unpack_msg(ProtobufCMessage **out,
                      const ProtobufCMessageDescriptor *d, const uint8_t *data,
                      size_t len) {
  size_t unused;
  int rc;
  if ((rc = wire_count(data, len, 1, &unused)) != 0)
    return rc;
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
  if (m == NULL)
    return coin_error_set(COIN_EDECODE,
                          "malformed protobuf (%zu bytes): a field's wire "
                          "type or length does not match the schema",
                          len);
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field(d, 1);
  uint32_t version = *(const uint32_t *)((const char *)m + f->offset);
  if (version != COIN_CODEC_SCHEMA_VERSION) {
    protobuf_c_message_free_unpacked(m, NULL);
    return coin_error_set(COIN_EDECODE,
                          "schema_version %" PRIu32
                          " unsupported (rule: %d; 0 = field missing)",
                          version, COIN_CODEC_SCHEMA_VERSION);
  }
  *out = m;
  return 0;
}

/* Copies a decoded string into a fixed array. */
static int copy_in(char *dst, size_t cap, const char *src, const char *field) {
  size_t n = strlen(src);
  if (n >= cap)
    return coin_error_set(COIN_EDECODE, "%s: %zu bytes (rule: <= %zu)", field,
                          n, cap - 1);
  memcpy(dst, src, n + 1);
  return 0;
}
#define COPY_IN(arr, src, field) copy_in(arr, sizeof(arr), src, field)

static int tf_in(enum coin_tf *out, const char *text) {
  return coin_tf_parse(out, text);
}

/* Boundary: EINVAL from a shared checker becomes EDECODE for bytes. */
static int fail_unpack(int rc, const char *type) {
  return coin_error_wrap(rc == COIN_EINVAL ? COIN_EDECODE : rc, "%s", type);
}

static int fail_pack(int rc, const char *type) {
  return coin_error_wrap(rc, "%s", type);
}

/* ---- CandleBatch --------------------------------------------------------- */

int coin_codec_pack_batch(uint8_t **out, size_t *out_len,
                          const struct coin_candle_batch *batch) {
  Coin__V1__Candle *cs = NULL;
  Coin__V1__Candle **ptrs = NULL;
  int rc;
  if (out == NULL || out_len == NULL || batch == NULL)
    return coin_error_set(COIN_EINVAL, "CandleBatch: NULL argument");
  if ((rc = batch_check(batch)) != 0)
    goto out;
  cs = calloc(batch->n_candles, sizeof(*cs));
  ptrs = calloc(batch->n_candles, sizeof(*ptrs));
  if (cs == NULL || ptrs == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "out of memory for %zu candles",
                        batch->n_candles);
    goto out;
  }
  for (size_t i = 0; i < batch->n_candles; i++) {
    const struct coin_candle *c = &batch->candles[i];
    coin__v1__candle__init(&cs[i]);
    cs[i].open_time_ms = c->open_ms;
    cs[i].open = c->open;
    cs[i].high = c->high;
    cs[i].low = c->low;
    cs[i].close = c->close;
    cs[i].volume = c->volume;
    ptrs[i] = &cs[i];
  }
  Coin__V1__CandleBatch m = COIN__V1__CANDLE_BATCH__INIT;
  m.schema_version = COIN_CODEC_SCHEMA_VERSION;
  m.exchange = (char *)batch->exchange;
  m.symbol = (char *)batch->symbol;
  m.timeframe = (char *)coin_tf_name(batch->tf);
  m.producer_id = (char *)batch->producer_id;
  m.produced_at_ms = batch->produced_at_ms;
  m.kind = (Coin__V1__BatchKind)batch->kind;
  m.n_candles = batch->n_candles;
  m.candles = ptrs;
  m.ingest_watermark_ms = batch->ingest_watermark_ms;
  rc = pack_msg(out, out_len, &m.base);
out:
  free(cs);
  free(ptrs);
  return rc ? fail_pack(rc, "CandleBatch") : 0;
}

int coin_codec_unpack_batch(struct coin_candle_batch *out, const uint8_t *data,
                            size_t len) {
  Coin__V1__CandleBatch *m = NULL;
  struct coin_candle_batch b;
  int rc;
  memset(&b, 0, sizeof(b));
  if (out == NULL || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "CandleBatch: NULL argument");
  if ((rc = unpack_begin(data, len)) != 0 ||
      (rc = wire_cap(data, len, 10, COIN_CODEC_MAX_CANDLES, "candles")) != 0 ||
      (rc = unpack_msg((ProtobufCMessage **)&m,
                       &coin__v1__candle_batch__descriptor, data, len)) != 0 ||
      (rc = COPY_IN(b.exchange, m->exchange, "exchange")) != 0 ||
      (rc = COPY_IN(b.symbol, m->symbol, "symbol")) != 0 ||
      (rc = COPY_IN(b.producer_id, m->producer_id, "producer_id")) != 0 ||
      (rc = tf_in(&b.tf, m->timeframe)) != 0 ||
      (rc = check_enum("kind", (int)m->kind, COIN_BATCH_LIVE,
                       COIN_BATCH_RECONCILE)) != 0)
    goto out;
  b.kind = (enum coin_batch_kind)m->kind;
  b.produced_at_ms = m->produced_at_ms;
  b.ingest_watermark_ms = m->ingest_watermark_ms;
  if (m->n_candles > 0) {
    b.candles = malloc(m->n_candles * sizeof(*b.candles));
    if (b.candles == NULL) {
      rc = coin_error_set(COIN_ENOMEM, "out of memory for %zu candles",
                          m->n_candles);
      goto out;
    }
  }
  b.n_candles = m->n_candles;
  for (size_t i = 0; i < m->n_candles; i++) {
    const Coin__V1__Candle *c = m->candles[i];
    b.candles[i] = (struct coin_candle){.open_ms = c->open_time_ms,
                                        .open = c->open,
                                        .high = c->high,
                                        .low = c->low,
                                        .close = c->close,
                                        .volume = c->volume};
  }
  if ((rc = batch_check(&b)) != 0)
    goto out;
  *out = b;
  b.candles = NULL;
out:
  free(b.candles);
  if (m)
    coin__v1__candle_batch__free_unpacked(m, NULL);
  return rc ? fail_unpack(rc, "CandleBatch") : 0;
}

int coin_codec_msg_id(char *out, size_t out_bytes,
                      const struct coin_candle_batch *batch) {
  char buf[COIN_CODEC_MSG_ID_BYTES];
  int rc;
  if (out == NULL || batch == NULL)
    return coin_error_set(COIN_EINVAL, "msg id: NULL argument");
  if ((rc = check_series(batch->exchange, sizeof(batch->exchange),
                         batch->symbol, sizeof(batch->symbol), batch->tf)) != 0)
    return coin_error_wrap(rc, "msg id");
  if (batch->n_candles == 0 || batch->candles == NULL)
    return coin_error_set(COIN_EINVAL,
                          "msg id: batch has no candles (rule: >= 1)");
  int n = snprintf(buf, sizeof(buf), "%s.%s.%s.%" PRId64 "-%" PRId64,
                   batch->exchange, batch->symbol, coin_tf_name(batch->tf),
                   batch->candles[0].open_ms,
                   batch->candles[batch->n_candles - 1].open_ms);
  if (n < 0 || (size_t)n >= out_bytes)
    return coin_error_set(COIN_EINVAL, "msg id: %d chars do not fit %zu bytes",
                          n, out_bytes);
  memcpy(out, buf, (size_t)n + 1);
  return 0;
}

void coin_candle_batch_clear(struct coin_candle_batch *batch) {
  if (batch == NULL)
    return;
  free(batch->candles);
  memset(batch, 0, sizeof(*batch));
}

/* ---- StatusTransition ---------------------------------------------------- */

int coin_codec_pack_status(uint8_t **out, size_t *out_len,
                           const struct coin_status_transition *st) {
  char *reasons[COIN_CODEC_MAX_REASONS];
  int rc;
  if (out == NULL || out_len == NULL || st == NULL)
    return coin_error_set(COIN_EINVAL, "StatusTransition: NULL argument");
  if ((rc = status_check(st)) != 0)
    return fail_pack(rc, "StatusTransition");
  Coin__V1__StatusTransition m = COIN__V1__STATUS_TRANSITION__INIT;
  m.schema_version = COIN_CODEC_SCHEMA_VERSION;
  m.exchange = (char *)st->exchange;
  m.symbol = (char *)st->symbol;
  m.timeframe = (char *)coin_tf_name(st->tf);
  m.producer_id = (char *)st->producer_id;
  m.from_state = (Coin__V1__FreshnessState)st->from_state;
  m.to_state = (Coin__V1__FreshnessState)st->to_state;
  m.from_degraded = st->from_degraded;
  m.degraded = st->degraded;
  for (size_t i = 0; i < st->n_degraded_reasons; i++)
    reasons[i] = (char *)st->degraded_reasons[i];
  m.n_degraded_reasons = st->n_degraded_reasons;
  m.degraded_reasons = reasons;
  m.since_ms = st->since_ms;
  m.at_ms = st->at_ms;
  if (st->has_last_candle_open_ms) {
    m.last_candle_case =
        COIN__V1__STATUS_TRANSITION__LAST_CANDLE_LAST_CANDLE_OPEN_MS;
    m.last_candle_open_ms = st->last_candle_open_ms;
  }
  if (st->has_ingest_watermark_ms) {
    m.ingest_watermark_case =
        COIN__V1__STATUS_TRANSITION__INGEST_WATERMARK_INGEST_WATERMARK_MS;
    m.ingest_watermark_ms = st->ingest_watermark_ms;
  }
  if (st->has_publish_watermark_ms) {
    m.publish_watermark_case =
        COIN__V1__STATUS_TRANSITION__PUBLISH_WATERMARK_PUBLISH_WATERMARK_MS;
    m.publish_watermark_ms = st->publish_watermark_ms;
  }
  m.detail = (char *)st->detail;
  rc = pack_msg(out, out_len, &m.base);
  return rc ? fail_pack(rc, "StatusTransition") : 0;
}

int coin_codec_unpack_status(struct coin_status_transition *out,
                             const uint8_t *data, size_t len) {
  Coin__V1__StatusTransition *m = NULL;
  struct coin_status_transition s;
  int rc;
  memset(&s, 0, sizeof(s));
  if (out == NULL || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "StatusTransition: NULL argument");
  if ((rc = unpack_begin(data, len)) != 0 ||
      (rc = wire_cap(data, len, 10, COIN_CODEC_MAX_REASONS,
                     "degraded_reasons")) != 0 ||
      (rc = unpack_msg((ProtobufCMessage **)&m,
                       &coin__v1__status_transition__descriptor, data, len)) !=
          0 ||
      (rc = COPY_IN(s.exchange, m->exchange, "exchange")) != 0 ||
      (rc = COPY_IN(s.symbol, m->symbol, "symbol")) != 0 ||
      (rc = COPY_IN(s.producer_id, m->producer_id, "producer_id")) != 0 ||
      (rc = COPY_IN(s.detail, m->detail, "detail")) != 0 ||
      (rc = tf_in(&s.tf, m->timeframe)) != 0 ||
      (rc = check_enum("from_state", (int)m->from_state, COIN_STATE_UNSPECIFIED,
                       COIN_STATE_INSUFFICIENT_DATA)) != 0 ||
      (rc = check_enum("to_state", (int)m->to_state, COIN_STATE_FRESH,
                       COIN_STATE_INSUFFICIENT_DATA)) != 0)
    goto out;
  s.from_state = (enum coin_fresh_state)m->from_state;
  s.to_state = (enum coin_fresh_state)m->to_state;
  s.from_degraded = m->from_degraded != 0;
  s.degraded = m->degraded != 0;
  s.n_degraded_reasons = m->n_degraded_reasons;
  for (size_t i = 0; i < m->n_degraded_reasons; i++)
    if ((rc = COPY_IN(s.degraded_reasons[i], m->degraded_reasons[i],
                      "degraded_reasons")) != 0)
      goto out;
  s.since_ms = m->since_ms;
  s.at_ms = m->at_ms;
  s.has_last_candle_open_ms =
      m->last_candle_case ==
      COIN__V1__STATUS_TRANSITION__LAST_CANDLE_LAST_CANDLE_OPEN_MS;
  s.last_candle_open_ms =
      s.has_last_candle_open_ms ? m->last_candle_open_ms : 0;
  s.has_ingest_watermark_ms =
      m->ingest_watermark_case ==
      COIN__V1__STATUS_TRANSITION__INGEST_WATERMARK_INGEST_WATERMARK_MS;
  s.ingest_watermark_ms =
      s.has_ingest_watermark_ms ? m->ingest_watermark_ms : 0;
  s.has_publish_watermark_ms =
      m->publish_watermark_case ==
      COIN__V1__STATUS_TRANSITION__PUBLISH_WATERMARK_PUBLISH_WATERMARK_MS;
  s.publish_watermark_ms =
      s.has_publish_watermark_ms ? m->publish_watermark_ms : 0;
  if ((rc = status_check(&s)) != 0)
    goto out;
  *out = s;
out:
  if (m)
    coin__v1__status_transition__free_unpacked(m, NULL);
  return rc ? fail_unpack(rc, "StatusTransition") : 0;
}

/* ---- Alert --------------------------------------------------------------- */

int coin_codec_pack_alert(uint8_t **out, size_t *out_len,
                          const struct coin_alert *alert) {
  Coin__V1__Alert__LabelsEntry entries[COIN_CODEC_MAX_LABELS];
  Coin__V1__Alert__LabelsEntry *ptrs[COIN_CODEC_MAX_LABELS];
  int rc;
  if (out == NULL || out_len == NULL || alert == NULL)
    return coin_error_set(COIN_EINVAL, "Alert: NULL argument");
  if ((rc = alert_check(alert)) != 0)
    return fail_pack(rc, "Alert");
  bool global = alert->exchange[0] == '\0';
  Coin__V1__Alert m = COIN__V1__ALERT__INIT;
  m.schema_version = COIN_CODEC_SCHEMA_VERSION;
  m.exchange = (char *)alert->exchange;
  m.symbol = (char *)alert->symbol;
  m.timeframe = global ? (char *)"" : (char *)coin_tf_name(alert->tf);
  m.producer_id = (char *)alert->producer_id;
  m.alert_id = (char *)alert->alert_id;
  m.alertname = (char *)alert->alertname;
  m.severity = (Coin__V1__Severity)alert->severity;
  m.state = (Coin__V1__FreshnessState)alert->state;
  m.status = (Coin__V1__AlertStatus)alert->status;
  m.starts_at_ms = alert->starts_at_ms;
  if (alert->has_ends_at_ms) {
    m.ends_at_case = COIN__V1__ALERT__ENDS_AT_ENDS_AT_MS;
    m.ends_at_ms = alert->ends_at_ms;
  }
  m.summary = (char *)alert->summary;
  m.repeat_count = alert->repeat_count;
  for (size_t i = 0; i < alert->n_labels; i++) {
    coin__v1__alert__labels_entry__init(&entries[i]);
    entries[i].key = (char *)alert->labels[i].name;
    entries[i].value = (char *)alert->labels[i].value;
    ptrs[i] = &entries[i];
  }
  m.n_labels = alert->n_labels;
  m.labels = ptrs;
  rc = pack_msg(out, out_len, &m.base);
  return rc ? fail_pack(rc, "Alert") : 0;
}

int coin_codec_unpack_alert(struct coin_alert *out, const uint8_t *data,
                            size_t len) {
  Coin__V1__Alert *m = NULL;
  struct coin_alert a;
  char shown_buf[CODEC_SHOWN_BYTES];
  int rc;
  memset(&a, 0, sizeof(a));
  if (out == NULL || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "Alert: NULL argument");
  if ((rc = unpack_begin(data, len)) != 0 ||
      (rc = wire_cap(data, len, 15, COIN_CODEC_MAX_LABELS, "labels")) != 0 ||
      (rc = unpack_msg((ProtobufCMessage **)&m, &coin__v1__alert__descriptor,
                       data, len)) != 0 ||
      (rc = COPY_IN(a.exchange, m->exchange, "exchange")) != 0 ||
      (rc = COPY_IN(a.symbol, m->symbol, "symbol")) != 0 ||
      (rc = COPY_IN(a.producer_id, m->producer_id, "producer_id")) != 0 ||
      (rc = COPY_IN(a.alert_id, m->alert_id, "alert_id")) != 0 ||
      (rc = COPY_IN(a.alertname, m->alertname, "alertname")) != 0 ||
      (rc = COPY_IN(a.summary, m->summary, "summary")) != 0 ||
      (rc = check_enum("severity", (int)m->severity, COIN_SEVERITY_INFO,
                       COIN_SEVERITY_CRITICAL)) != 0 ||
      (rc = check_enum("state", (int)m->state, COIN_STATE_UNSPECIFIED,
                       COIN_STATE_INSUFFICIENT_DATA)) != 0 ||
      (rc = check_enum("status", (int)m->status, COIN_ALERT_FIRING,
                       COIN_ALERT_RESOLVED)) != 0)
    goto out;
  if (a.exchange[0] != '\0') {
    if ((rc = tf_in(&a.tf, m->timeframe)) != 0)
      goto out;
  } else if (m->timeframe[0] != '\0') {
    rc = coin_error_set(
        COIN_EDECODE,
        "timeframe \"%s\" on a global alert (rule: empty "
        "when exchange is empty)",
        coin_fmt_shown(shown_buf, sizeof(shown_buf), m->timeframe));
    goto out;
  }
  a.severity = (enum coin_severity)m->severity;
  a.state = (enum coin_fresh_state)m->state;
  a.status = (enum coin_alert_status)m->status;
  a.starts_at_ms = m->starts_at_ms;
  a.has_ends_at_ms = m->ends_at_case == COIN__V1__ALERT__ENDS_AT_ENDS_AT_MS;
  a.ends_at_ms = a.has_ends_at_ms ? m->ends_at_ms : 0;
  a.repeat_count = m->repeat_count;
  a.n_labels = m->n_labels;
  for (size_t i = 0; i < m->n_labels; i++)
    if ((rc = COPY_IN(a.labels[i].name, m->labels[i]->key, "labels name")) !=
            0 ||
        (rc = COPY_IN(a.labels[i].value, m->labels[i]->value,
                      "labels value")) != 0)
      goto out;
  if ((rc = alert_check(&a)) != 0)
    goto out;
  *out = a;
out:
  if (m)
    coin__v1__alert__free_unpacked(m, NULL);
  return rc ? fail_unpack(rc, "Alert") : 0;
}

int coin_codec_alert_msg_id(char *out, size_t out_bytes,
                            const struct coin_alert *alert) {
  char buf[COIN_CODEC_MSG_ID_BYTES];
  int rc;
  if (out == NULL || alert == NULL)
    return coin_error_set(COIN_EINVAL, "alert msg id: NULL argument");
  if ((rc = TERMINATED("alert_id", alert->alert_id)) != 0 ||
      (rc = check_token("alert_id", alert->alert_id, &RULE_ALERT_ID)) != 0 ||
      (rc = check_enum("status", (int)alert->status, COIN_ALERT_FIRING,
                       COIN_ALERT_RESOLVED)) != 0)
    return coin_error_wrap(rc, "alert msg id");
  int n = snprintf(buf, sizeof(buf), "%s.%s.%" PRIu32, alert->alert_id,
                   coin_codec_alert_status_name(alert->status),
                   alert->repeat_count);
  if (n < 0 || (size_t)n >= out_bytes)
    return coin_error_set(COIN_EINVAL,
                          "alert msg id: %d chars do not fit %zu bytes", n,
                          out_bytes);
  memcpy(out, buf, (size_t)n + 1);
  return 0;
}

int coin_codec_label_set(struct coin_alert *alert, const char *name,
                         const char *value) {
  int rc;
  if (alert == NULL || name == NULL || value == NULL)
    return coin_error_set(COIN_EINVAL, "label: NULL argument");
  if ((rc = check_token("label", name, &RULE_LABEL)) != 0 ||
      (rc = check_utf8("label value", value)) != 0)
    return rc;
  if (strlen(value) >= sizeof(alert->labels[0].value))
    return coin_error_set(COIN_ETOOBIG,
                          "label %s: value %zu bytes (rule: "
                          "<= %zu)",
                          name, strlen(value),
                          sizeof(alert->labels[0].value) - 1);
  size_t i = 0;
  while (i < alert->n_labels && strcmp(alert->labels[i].name, name) != 0)
    i++;
  if (i == COIN_CODEC_MAX_LABELS)
    return coin_error_set(COIN_ETOOBIG,
                          "label %s: %d labels already (rule: "
                          "<= %d)",
                          name, COIN_CODEC_MAX_LABELS, COIN_CODEC_MAX_LABELS);
  snprintf(alert->labels[i].name, sizeof(alert->labels[i].name), "%s", name);
  snprintf(alert->labels[i].value, sizeof(alert->labels[i].value), "%s", value);
  if (i == alert->n_labels)
    alert->n_labels++;
  return 0;
}

/* ---- ModelMetadata ------------------------------------------------------- */

int coin_codec_metric_set(struct coin_metric *metrics, size_t *n,
                          const char *name, double value) {
  int rc;
  if (metrics == NULL || n == NULL || name == NULL)
    return coin_error_set(COIN_EINVAL, "metric: NULL argument");
  if ((rc = check_token("metric", name, &RULE_METRIC)) != 0)
    return rc;
  if (!isfinite(value))
    return coin_error_set(COIN_EINVAL, "metric %s: value %g (rule: finite)",
                          name, value);
  size_t i = 0;
  while (i < *n && strcmp(metrics[i].name, name) != 0)
    i++;
  if (i >= COIN_CODEC_MAX_METRICS)
    return coin_error_set(COIN_ETOOBIG,
                          "metric %s: %d metrics already "
                          "(rule: <= %d)",
                          name, COIN_CODEC_MAX_METRICS, COIN_CODEC_MAX_METRICS);
  snprintf(metrics[i].name, sizeof(metrics[i].name), "%s", name);
  metrics[i].value = value;
  if (i == *n)
    (*n)++;
  return 0;
}

int coin_codec_metric_get(double *out, const struct coin_metric *metrics,
                          size_t n, const char *name) {
  if (out == NULL || (metrics == NULL && n > 0) || name == NULL)
    return coin_error_set(COIN_EINVAL, "metric: NULL argument");
  for (size_t i = 0; i < n; i++) {
    if (strcmp(metrics[i].name, name) == 0) {
      *out = metrics[i].value;
      return 0;
    }
  }
  return coin_error_set(COIN_ENOTFOUND, "metric %.64s: not present", name);
}

double coin_codec_model_metric(const struct coin_model_metadata *m,
                               const char *name) {
  double v;
  return coin_codec_metric_get(&v, m->metrics, m->n_metrics, name) == 0 ? v
                                                                        : NAN;
}

/* Points m (the protobuf view) at model's arrays; entries/ptrs hold
 * COIN_CODEC_MAX_METRICS each. Call after model_check. */
static void model_out(Coin__V1__ModelMetadata *m,
                      Coin__V1__ModelMetadata__MetricsEntry *entries,
                      Coin__V1__ModelMetadata__MetricsEntry **ptrs,
                      const struct coin_model_metadata *model) {
  coin__v1__model_metadata__init(m);
  m->schema_version = COIN_CODEC_SCHEMA_VERSION;
  m->version = (char *)model->version;
  m->kind = (char *)model->kind;
  m->role = (Coin__V1__ModelRole)model->role;
  m->feature_schema_version = model->feature_schema_version;
  m->feature_schema_hash = (char *)model->feature_schema_hash;
  m->train_from_ms = model->train_from_ms;
  m->train_to_ms = model->train_to_ms;
  m->train_watermark_ms = model->train_watermark_ms;
  m->train_rows = model->train_rows;
  m->eval_rows = model->eval_rows;
  m->parent_version = (char *)model->parent_version;
  m->artifact_sha256 = (char *)model->artifact_sha256;
  m->artifact_size_bytes = model->artifact_size_bytes;
  m->created_at_ms = model->created_at_ms;
  m->git_revision = (char *)model->git_revision;
  for (size_t i = 0; i < model->n_metrics; i++) {
    coin__v1__model_metadata__metrics_entry__init(&entries[i]);
    entries[i].key = (char *)model->metrics[i].name;
    entries[i].value = model->metrics[i].value;
    ptrs[i] = &entries[i];
  }
  m->n_metrics = model->n_metrics;
  m->metrics = ptrs;
  m->artifact_ref = (char *)model->artifact_ref;
}

/* Copies a decoded model (whose metrics count was capped by the caller). */
static int model_in(struct coin_model_metadata *out,
                    const Coin__V1__ModelMetadata *m) {
  int rc;
  if ((rc = COPY_IN(out->version, m->version, "version")) != 0 ||
      (rc = COPY_IN(out->kind, m->kind, "kind")) != 0 ||
      (rc = COPY_IN(out->feature_schema_hash, m->feature_schema_hash,
                    "feature_schema_hash")) != 0 ||
      (rc = COPY_IN(out->parent_version, m->parent_version,
                    "parent_version")) != 0 ||
      (rc = COPY_IN(out->artifact_sha256, m->artifact_sha256,
                    "artifact_sha256")) != 0 ||
      (rc = COPY_IN(out->git_revision, m->git_revision, "git_revision")) != 0 ||
      (rc = COPY_IN(out->artifact_ref, m->artifact_ref, "artifact_ref")) != 0 ||
      (rc = check_enum("role", (int)m->role, COIN_ROLE_CHALLENGER,
                       COIN_ROLE_REFUSED)) != 0)
    return rc;
  if (m->n_metrics > COIN_CODEC_MAX_METRICS)
    return coin_error_set(COIN_ETOOBIG, "metrics: %zu entries (rule: <= %d)",
                          m->n_metrics, COIN_CODEC_MAX_METRICS);
  out->role = (enum coin_model_role)m->role;
  out->feature_schema_version = m->feature_schema_version;
  out->train_from_ms = m->train_from_ms;
  out->train_to_ms = m->train_to_ms;
  out->train_watermark_ms = m->train_watermark_ms;
  out->train_rows = m->train_rows;
  out->eval_rows = m->eval_rows;
  out->artifact_size_bytes = m->artifact_size_bytes;
  out->created_at_ms = m->created_at_ms;
  out->n_metrics = m->n_metrics;
  for (size_t i = 0; i < m->n_metrics; i++) {
    if ((rc = COPY_IN(out->metrics[i].name, m->metrics[i]->key,
                      "metrics name")) != 0)
      return rc;
    out->metrics[i].value = m->metrics[i]->value;
  }
  return 0;
}

int coin_codec_pack_model(uint8_t **out, size_t *out_len,
                          const struct coin_model_metadata *model) {
  Coin__V1__ModelMetadata__MetricsEntry entries[COIN_CODEC_MAX_METRICS];
  Coin__V1__ModelMetadata__MetricsEntry *ptrs[COIN_CODEC_MAX_METRICS];
  Coin__V1__ModelMetadata m;
  int rc;
  if (out == NULL || out_len == NULL || model == NULL)
    return coin_error_set(COIN_EINVAL, "ModelMetadata: NULL argument");
  if ((rc = model_check(model)) != 0)
    return fail_pack(rc, "ModelMetadata");
  model_out(&m, entries, ptrs, model);
  rc = pack_msg(out, out_len, &m.base);
  return rc ? fail_pack(rc, "ModelMetadata") : 0;
}

int coin_codec_unpack_model(struct coin_model_metadata *out,
                            const uint8_t *data, size_t len) {
  Coin__V1__ModelMetadata *m = NULL;
  struct coin_model_metadata md;
  int rc;
  memset(&md, 0, sizeof(md));
  if (out == NULL || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "ModelMetadata: NULL argument");
  if ((rc = unpack_begin(data, len)) != 0 ||
      (rc = wire_cap(data, len, 17, COIN_CODEC_MAX_METRICS, "metrics")) != 0 ||
      (rc = unpack_msg((ProtobufCMessage **)&m,
                       &coin__v1__model_metadata__descriptor, data, len)) !=
          0 ||
      (rc = model_in(&md, m)) != 0 || (rc = model_check(&md)) != 0)
    goto out;
  *out = md;
out:
  if (m)
    coin__v1__model_metadata__free_unpacked(m, NULL);
  return rc ? fail_unpack(rc, "ModelMetadata") : 0;
}

/* ---- ModelEvent ---------------------------------------------------------- */

int coin_codec_pack_model_event(uint8_t **out, size_t *out_len,
                                const struct coin_model_event *ev) {
  Coin__V1__ModelMetadata__MetricsEntry mentries[COIN_CODEC_MAX_METRICS];
  Coin__V1__ModelMetadata__MetricsEntry *mptrs[COIN_CODEC_MAX_METRICS];
  Coin__V1__ModelEvent__MetricsEntry entries[COIN_CODEC_MAX_METRICS];
  Coin__V1__ModelEvent__MetricsEntry *ptrs[COIN_CODEC_MAX_METRICS];
  Coin__V1__ModelMetadata model;
  int rc;
  if (out == NULL || out_len == NULL || ev == NULL)
    return coin_error_set(COIN_EINVAL, "ModelEvent: NULL argument");
  if ((rc = event_check(ev)) != 0)
    return fail_pack(rc, "ModelEvent");
  Coin__V1__ModelEvent m = COIN__V1__MODEL_EVENT__INIT;
  m.schema_version = COIN_CODEC_SCHEMA_VERSION;
  m.producer_id = (char *)ev->producer_id;
  m.kind = (Coin__V1__ModelEventKind)ev->kind;
  m.version = (char *)ev->version;
  m.previous_version = (char *)ev->previous_version;
  m.at_ms = ev->at_ms;
  m.reason = (char *)ev->reason;
  if (ev->has_model) {
    model_out(&model, mentries, mptrs, &ev->model);
    m.model = &model;
  }
  for (size_t i = 0; i < ev->n_metrics; i++) {
    coin__v1__model_event__metrics_entry__init(&entries[i]);
    entries[i].key = (char *)ev->metrics[i].name;
    entries[i].value = ev->metrics[i].value;
    ptrs[i] = &entries[i];
  }
  m.n_metrics = ev->n_metrics;
  m.metrics = ptrs;
  rc = pack_msg(out, out_len, &m.base);
  return rc ? fail_pack(rc, "ModelEvent") : 0;
}

int coin_codec_unpack_model_event(struct coin_model_event *out,
                                  const uint8_t *data, size_t len) {
  Coin__V1__ModelEvent *m = NULL;
  struct coin_model_event e;
  size_t nested;
  int rc;
  memset(&e, 0, sizeof(e));
  if (out == NULL || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "ModelEvent: NULL argument");
  if ((rc = unpack_begin(data, len)) != 0 ||
      (rc = wire_cap(data, len, 12, COIN_CODEC_MAX_METRICS, "metrics")) != 0 ||
      (rc = wire_count_nested(data, len, 11, 17, &nested)) != 0)
    goto out;
  if (nested > COIN_CODEC_MAX_METRICS) {
    rc = coin_error_set(COIN_ETOOBIG,
                        "model: metrics: %zu entries (rule: <= "
                        "%d)",
                        nested, COIN_CODEC_MAX_METRICS);
    goto out;
  }
  if ((rc = unpack_msg((ProtobufCMessage **)&m,
                       &coin__v1__model_event__descriptor, data, len)) != 0 ||
      (rc = COPY_IN(e.producer_id, m->producer_id, "producer_id")) != 0 ||
      (rc = COPY_IN(e.version, m->version, "version")) != 0 ||
      (rc = COPY_IN(e.previous_version, m->previous_version,
                    "previous_version")) != 0 ||
      (rc = COPY_IN(e.reason, m->reason, "reason")) != 0 ||
      (rc = check_enum("kind", (int)m->kind, COIN_MODEL_EVENT_REGISTERED,
                       COIN_MODEL_EVENT_TRAINING_FAILED)) != 0)
    goto out;
  e.kind = (enum coin_model_event_kind)m->kind;
  e.at_ms = m->at_ms;
  if (m->model != NULL) {
    e.has_model = true;
    if (m->model->schema_version != COIN_CODEC_SCHEMA_VERSION) {
      rc = coin_error_set(COIN_EDECODE,
                          "model: schema_version %" PRIu32
                          " unsupported (rule: %d)",
                          m->model->schema_version, COIN_CODEC_SCHEMA_VERSION);
      goto out;
    }
    if ((rc = model_in(&e.model, m->model)) != 0) {
      rc = coin_error_wrap(rc, "model");
      goto out;
    }
  }
  e.n_metrics = m->n_metrics;
  for (size_t i = 0; i < m->n_metrics; i++) {
    if ((rc = COPY_IN(e.metrics[i].name, m->metrics[i]->key, "metrics name")) !=
        0)
      goto out;
    e.metrics[i].value = m->metrics[i]->value;
  }
  if ((rc = event_check(&e)) != 0)
    goto out;
  *out = e;
out:
  if (m)
    coin__v1__model_event__free_unpacked(m, NULL);
  return rc ? fail_unpack(rc, "ModelEvent") : 0;
}

/* ---- BackfillRequest ----------------------------------------------------- */

int coin_codec_pack_backfill(uint8_t **out, size_t *out_len,
                             const struct coin_backfill_request *req) {
  int rc;
  if (out == NULL || out_len == NULL || req == NULL)
    return coin_error_set(COIN_EINVAL, "BackfillRequest: NULL argument");
  if ((rc = backfill_check(req)) != 0)
    return fail_pack(rc, "BackfillRequest");
  Coin__V1__BackfillRequest m = COIN__V1__BACKFILL_REQUEST__INIT;
  m.schema_version = COIN_CODEC_SCHEMA_VERSION;
  m.exchange = (char *)req->exchange;
  m.symbol = (char *)req->symbol;
  m.timeframe = (char *)coin_tf_name(req->tf);
  m.producer_id = (char *)req->producer_id;
  m.request_id = (char *)req->request_id;
  m.from_ms = req->from_ms;
  m.to_ms = req->to_ms;
  m.requested_at_ms = req->requested_at_ms;
  rc = pack_msg(out, out_len, &m.base);
  return rc ? fail_pack(rc, "BackfillRequest") : 0;
}

int coin_codec_unpack_backfill(struct coin_backfill_request *out,
                               const uint8_t *data, size_t len) {
  Coin__V1__BackfillRequest *m = NULL;
  struct coin_backfill_request r;
  int rc;
  memset(&r, 0, sizeof(r));
  if (out == NULL || (data == NULL && len > 0))
    return coin_error_set(COIN_EINVAL, "BackfillRequest: NULL argument");
  if ((rc = unpack_begin(data, len)) != 0 ||
      (rc = unpack_msg((ProtobufCMessage **)&m,
                       &coin__v1__backfill_request__descriptor, data, len)) !=
          0 ||
      (rc = COPY_IN(r.exchange, m->exchange, "exchange")) != 0 ||
      (rc = COPY_IN(r.symbol, m->symbol, "symbol")) != 0 ||
      (rc = COPY_IN(r.producer_id, m->producer_id, "producer_id")) != 0 ||
      (rc = COPY_IN(r.request_id, m->request_id, "request_id")) != 0 ||
      (rc = tf_in(&r.tf, m->timeframe)) != 0)
    goto out;
  r.from_ms = m->from_ms;
  r.to_ms = m->to_ms;
  r.requested_at_ms = m->requested_at_ms;
  if ((rc = backfill_check(&r)) != 0)
    goto out;
  *out = r;
out:
  if (m)
    coin__v1__backfill_request__free_unpacked(m, NULL);
  return rc ? fail_unpack(rc, "BackfillRequest") : 0;
}

/* ---- enum names ---------------------------------------------------------- */

static const char *const BATCH_KIND_NAMES[] = {"unspecified", "live",
                                               "backfill", "reconcile"};
static const char *const STATE_NAMES[] = {"unspecified", "fresh",
                                          "soft_stale",  "soft_stale_escalated",
                                          "hard_stale",  "hard_stale_escalated",
                                          "corrupt",     "insufficient_data"};
static const char *const SEVERITY_NAMES[] = {"unspecified", "info", "warning",
                                             "critical"};
static const char *const ALERT_STATUS_NAMES[] = {"unspecified", "firing",
                                                 "resolved"};
static const char *const ROLE_NAMES[] = {"unspecified", "challenger",
                                         "champion", "retired", "refused"};
static const char *const EVENT_KIND_NAMES[] = {
    "unspecified", "registered", "promoted",       "refused",
    "rolled_back", "retired",    "training_failed"};

#define NAME_OF(table, v)                                                      \
  ((unsigned)(v) < sizeof(table) / sizeof(table[0]) ? table[(unsigned)(v)]     \
                                                    : "unknown")

const char *coin_codec_batch_kind_name(enum coin_batch_kind kind) {
  return NAME_OF(BATCH_KIND_NAMES, kind);
}
const char *coin_codec_state_name(enum coin_fresh_state state) {
  return NAME_OF(STATE_NAMES, state);
}
const char *coin_codec_severity_name(enum coin_severity severity) {
  return NAME_OF(SEVERITY_NAMES, severity);
}
const char *coin_codec_alert_status_name(enum coin_alert_status status) {
  return NAME_OF(ALERT_STATUS_NAMES, status);
}
const char *coin_codec_model_role_name(enum coin_model_role role) {
  return NAME_OF(ROLE_NAMES, role);
}
const char *coin_codec_model_event_kind_name(enum coin_model_event_kind kind) {
  return NAME_OF(EVENT_KIND_NAMES, kind);
}

int coin_codec_state_parse(enum coin_fresh_state *out, const char *text) {
  char buf[CODEC_SHOWN_BYTES];
  if (out == NULL || text == NULL)
    return coin_error_set(COIN_EINVAL, "state: NULL argument");
  for (int i = COIN_STATE_FRESH; i <= COIN_STATE_INSUFFICIENT_DATA; i++) {
    if (strcmp(text, STATE_NAMES[i]) == 0) {
      *out = (enum coin_fresh_state)i;
      return 0;
    }
  }
  return coin_error_set(COIN_EINVAL,
                        "state \"%s\": unknown (rule: fresh soft_stale "
                        "soft_stale_escalated hard_stale hard_stale_escalated "
                        "corrupt insufficient_data)",
                        coin_fmt_shown(buf, sizeof(buf), text));
}

/* ---- watermark values ---------------------------------------------------- */

int coin_codec_watermark_parse(int64_t *out, const void *value, size_t len) {
  const unsigned char *v = value;
  uint64_t x = 0;
  if (v == NULL || len == 0 || len > 19)
    return coin_error_set(
        COIN_EDECODE, "watermark: %zu bytes, want 1..19 decimal digits", len);
  if (len > 1 && v[0] == '0')
    return coin_error_set(COIN_EDECODE, "watermark: leading zero");
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return coin_error_set(COIN_EDECODE,
                            "watermark: byte %zu is not a decimal digit", i);
    x = x * 10 + (uint64_t)(v[i] - '0'); /* 19 digits fit in uint64 */
  }
  if (x > (uint64_t)INT64_MAX)
    return coin_error_set(COIN_EDECODE, "watermark: more than INT64_MAX");
  *out = (int64_t)x;
  return 0;
}
