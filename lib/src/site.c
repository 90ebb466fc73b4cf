/* site.c: the static site contract (see site.h, docs/static-site.md). */
#include "coin/site.h"

#include "coin/registry.h"

#include "coin/candle.h"
#include "coin/error.h"
#include "coin/parse.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const file_names[COIN_SITE_FILE_COUNT] = {
    "history.json", "prediction.json", "track_record.json"};

const char *coin_site_file_name(enum coin_site_file f) {
  return (unsigned)f < COIN_SITE_FILE_COUNT ? file_names[f] : NULL;
}

int coin_site_file_parse(enum coin_site_file *out, const char *name) {
  int i = coin_parse_name(name, file_names, COIN_SITE_FILE_COUNT);
  if (i < 0)
    return COIN_ENOTFOUND;
  *out = (enum coin_site_file)i;
  return 0;
}

int coin_site_series_dir(char *out, size_t out_bytes, const char *exchange,
                         const char *symbol, enum coin_tf tf) {
  int rc;
  if ((rc = coin_exchange_validate(exchange)) != 0 ||
      (rc = coin_symbol_validate(symbol)) != 0)
    return rc;
  const char *tfn = coin_tf_name(tf);
  if (!tfn)
    return coin_error_set(COIN_EINVAL, "site: timeframe %d", (int)tf);
  int n = snprintf(out, out_bytes, "v1/%s/%s/%s", exchange, symbol, tfn);
  if (n < 0 || (size_t)n >= out_bytes)
    return coin_error_set(COIN_ETOOBIG, "site: series path longer than %zu",
                          out_bytes);
  return 0;
}

/* ---- validity ------------------------------------------------------------ */

void coin_site_validity_of(struct coin_site_validity *out,
                           const struct coin_freshness *fr, int64_t gen_ms) {
  out->status = fr->state;
  out->generated_ms = gen_ms;
  bool timed = fr->state == COIN_STATE_FRESH ||
               fr->state == COIN_STATE_SOFT_STALE ||
               fr->state == COIN_STATE_HARD_STALE;
  /* soft_since_ms is 0 only when the evaluator had no candle */
  out->soft_at_ms = timed && fr->soft_since_ms > 0 ? fr->soft_since_ms : -1;
  out->hard_at_ms = timed && fr->hard_since_ms > 0 ? fr->hard_since_ms : -1;
}

void coin_site_validity_none(struct coin_site_validity *acc, int64_t gen_ms) {
  acc->status = COIN_STATE_UNSPECIFIED;
  acc->generated_ms = gen_ms;
  acc->soft_at_ms = acc->hard_at_ms = -1;
}

static int64_t earliest(int64_t a, int64_t b) {
  if (a < 0)
    return b;
  if (b < 0)
    return a;
  return a < b ? a : b;
}

void coin_site_validity_merge(struct coin_site_validity *acc,
                              const struct coin_site_validity *v) {
  acc->status = acc->status == COIN_STATE_UNSPECIFIED
                    ? v->status
                    : coin_freshness_worst(acc->status, v->status);
  acc->soft_at_ms = earliest(acc->soft_at_ms, v->soft_at_ms);
  acc->hard_at_ms = earliest(acc->hard_at_ms, v->hard_at_ms);
}

enum coin_fresh_state coin_site_validity_now(const struct coin_site_validity *v,
                                             int64_t now_ms) {
  enum coin_fresh_state t = COIN_STATE_FRESH;
  if (v->hard_at_ms >= 0 && now_ms > v->hard_at_ms)
    t = COIN_STATE_HARD_STALE;
  else if (v->soft_at_ms >= 0 && now_ms > v->soft_at_ms)
    t = COIN_STATE_SOFT_STALE;
  if (v->status == COIN_STATE_UNSPECIFIED)
    return t;
  return coin_freshness_worst(v->status, t);
}

/* ---- writing ------------------------------------------------------------- */

void coin_site_put_head(struct coin_jbuf *b, int64_t gen_ms) {
  coin_jbuf_kint(b, "schema_version", COIN_SITE_SCHEMA_VERSION);
  coin_jbuf_ktime(b, "generated_at", gen_ms);
  coin_jbuf_kint(b, "generated_at_ms", gen_ms);
}

void coin_site_put_ids(struct coin_jbuf *b, const char *exchange,
                       const char *symbol, enum coin_tf tf) {
  coin_jbuf_kstr(b, "exchange", exchange);
  coin_jbuf_kstr(b, "symbol", symbol);
  coin_jbuf_kstr(b, "timeframe", coin_tf_name(tf));
}

void coin_site_put_validity(struct coin_jbuf *b,
                            const struct coin_site_validity *v) {
  coin_jbuf_kstr(b, "status", coin_codec_state_name(v->status));
  coin_jbuf_kint_or_null(b, "soft_stale_at_ms", v->soft_at_ms);
  coin_jbuf_ktime(b, "soft_stale_at", v->soft_at_ms);
  coin_jbuf_kint_or_null(b, "hard_stale_at_ms", v->hard_at_ms);
  coin_jbuf_ktime(b, "hard_stale_at", v->hard_at_ms);
}

void coin_site_put_degraded(struct coin_jbuf *b, unsigned degraded) {
  coin_jbuf_kbool(b, "degraded", degraded != 0);
  coin_jbuf_key(b, "degraded_reasons");
  coin_jbuf_putn(b, "[", 1);
  for (unsigned i = 0; i < COIN_DEGRADED_REASON_COUNT; i++) {
    const char *name = coin_degraded_reason_name(1u << i);
    if (!(degraded & (1u << i)) || !name)
      continue;
    coin_jbuf_str(b, name);
    coin_jbuf_putn(b, ",", 1);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "],", 2);
}

void coin_site_put_last_candle(struct coin_jbuf *b, enum coin_tf tf,
                               int64_t last_open_ms) {
  int64_t close = last_open_ms >= 0 ? coin_tf_next(tf, last_open_ms) : -1;
  coin_jbuf_kint_or_null(b, "last_candle_open_ms", last_open_ms);
  coin_jbuf_ktime(b, "last_candle_open", last_open_ms);
  coin_jbuf_kint_or_null(b, "last_candle_close_ms", close);
  coin_jbuf_ktime(b, "last_candle_close", close);
}

/* ---- the model lifecycle --------------------------------------------------
 */

static void put_role(struct coin_jbuf *b, const char *key,
                     const struct coin_model_role_view *v, bool champion) {
  coin_jbuf_key(b, key);
  if (!v->version[0]) {
    coin_jbuf_putn(b, "null,", 5);
    return;
  }
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kstr(b, "version", v->version);
  coin_jbuf_kstr(b, "kind", v->kind[0] ? v->kind : NULL);
  coin_jbuf_kint_or_null(b, "registered_at_ms",
                         v->registered_ms > 0 ? v->registered_ms : -1);
  coin_jbuf_ktime(b, "registered_at",
                  v->registered_ms > 0 ? v->registered_ms : -1);
  if (champion) {
    coin_jbuf_kint_or_null(b, "since_ms", v->since_ms);
    coin_jbuf_ktime(b, "since", v->since_ms);
    coin_jbuf_kstr(b, "promoted_via", coin_promotion_via_name(v->via));
  } else {
    coin_jbuf_kint_or_null(b, "shadow_realized", v->shadow_realized);
    coin_jbuf_kint_or_null(b, "shadow_needed", v->shadow_needed);
    coin_jbuf_kint_or_null(b, "shadow_checked_at_ms", v->shadow_checked_ms);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
}

void coin_site_put_model(struct coin_jbuf *b,
                         const struct coin_model_lifecycle *l) {
  coin_jbuf_key(b, "model");
  if (l == NULL) {
    coin_jbuf_putn(b, "null,", 5);
    return;
  }
  coin_jbuf_putn(b, "{", 1);
  put_role(b, "champion", &l->champion, true);
  put_role(b, "challenger", &l->challenger, false);
  coin_jbuf_kstr(b, "previous", l->previous[0] ? l->previous : NULL);
  coin_jbuf_kbool(b, "events_undecodable", l->recent_undecodable);
  coin_jbuf_key(b, "events");
  coin_jbuf_putn(b, "[", 1);
  for (size_t i = l->recent.n; i-- > 0;) {
    const struct coin_registry_event_note *e = &l->recent.e[i];
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kstr(b, "kind", coin_codec_model_event_kind_name(e->kind));
    coin_jbuf_kstr(b, "version", e->version[0] ? e->version : NULL);
    coin_jbuf_kstr(b, "previous", e->previous[0] ? e->previous : NULL);
    coin_jbuf_kint(b, "at_ms", e->at_ms);
    coin_jbuf_ktime(b, "at", e->at_ms);
    coin_jbuf_kstr(b, "by", e->by);
    coin_jbuf_kstr(b, "reason", e->reason);
    coin_jbuf_trim_comma(b);
    coin_jbuf_putn(b, "},", 2);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "]},", 3);
}

/* ---- prediction status --------------------------------------------------- */

static const char *const pred_names[COIN_SITE_PRED_COUNT] = {
    "served",
    "no_model",
    "not_evaluated",
    "insufficient_data",
    "model_load_failed",
    "inference_error",
    "hard_stale",
    "corrupt",
    "worse_than_persistence"};

const char *coin_site_pred_status_name(enum coin_site_pred_status s) {
  return (unsigned)s < COIN_SITE_PRED_COUNT ? pred_names[s] : NULL;
}

int coin_site_pred_status_parse(enum coin_site_pred_status *out,
                                const char *text) {
  int i;
  int rc = coin_parse_enum(&i, "prediction_status", text, pred_names,
                           COIN_SITE_PRED_COUNT, NULL);
  if (rc == 0)
    *out = (enum coin_site_pred_status)i;
  return rc;
}

/* ---- reading ------------------------------------------------------------- */

/* An integer member or null: 0 ok (*out = value, -1 for null/absent). */
static int opt_ms(int64_t *out, json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  *out = -1;
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return coin_error_set(COIN_EDECODE,
                          "%s is not a non-negative integer or null", key);
  *out = (int64_t)json_integer_value(v);
  return 0;
}

static int opt_str(char *out, size_t n, json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  out[0] = '\0';
  if (v == NULL)
    return 0;
  if (!json_is_string(v) || json_string_length(v) >= n)
    return coin_error_set(COIN_EDECODE, "%s is not a string of at most %zu",
                          key, n - 1);
  memcpy(out, json_string_value(v), json_string_length(v) + 1);
  return 0;
}

static int read_validity(struct coin_site_validity *v, bool *has_instants,
                         json_t *obj, const char *where) {
  json_t *st = json_object_get(obj, "status");
  int rc;
  if (!json_is_string(st) ||
      coin_codec_state_parse(&v->status, json_string_value(st)) != 0)
    return coin_error_set(COIN_EDECODE,
                          "%sstatus is not a freshness state (fresh, "
                          "soft_stale, hard_stale, corrupt, insufficient_data)",
                          where);
  if ((rc = opt_ms(&v->soft_at_ms, obj, "soft_stale_at_ms")) != 0 ||
      (rc = opt_ms(&v->hard_at_ms, obj, "hard_stale_at_ms")) != 0)
    return coin_error_wrap(rc, "%s", where[0] ? where : "document");
  if (v->soft_at_ms >= 0 && v->hard_at_ms >= 0 && v->soft_at_ms > v->hard_at_ms)
    return coin_error_set(COIN_EDECODE,
                          "%ssoft_stale_at_ms %lld is after hard_stale_at_ms "
                          "%lld (rule: soft comes first)",
                          where, (long long)v->soft_at_ms,
                          (long long)v->hard_at_ms);
  *has_instants = json_object_get(obj, "hard_stale_at_ms") != NULL;
  return 0;
}

int coin_site_read_head(struct coin_site_head *out, const char *buf,
                        size_t len) {
  struct coin_site_head h;
  json_error_t jerr;
  int rc = 0;
  memset(&h, 0, sizeof(h));
  json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL)
    return coin_error_set(COIN_EDECODE, "not JSON: line %d column %d: %.80s",
                          jerr.line, jerr.column, jerr.text);
  if (!json_is_object(doc)) {
    rc = coin_error_set(COIN_EDECODE, "not a JSON object");
    goto out;
  }
  json_t *sv = json_object_get(doc, "schema_version");
  if (!json_is_integer(sv) || json_integer_value(sv) < 1 ||
      json_integer_value(sv) > COIN_SITE_SCHEMA_VERSION) {
    rc = coin_error_set(COIN_EDECODE,
                        "schema_version is not an integer in 1..%d",
                        COIN_SITE_SCHEMA_VERSION);
    goto out;
  }
  h.schema_version = (int64_t)json_integer_value(sv);
  if ((rc = opt_ms(&h.v.generated_ms, doc, "generated_at_ms")) != 0)
    goto out;
  if (h.v.generated_ms < 0) {
    rc = coin_error_set(COIN_EDECODE, "generated_at_ms missing");
    goto out;
  }
  if ((rc = opt_str(h.exchange, sizeof(h.exchange), doc, "exchange")) != 0 ||
      (rc = opt_str(h.symbol, sizeof(h.symbol), doc, "symbol")) != 0 ||
      (rc = opt_str(h.timeframe, sizeof(h.timeframe), doc, "timeframe")) != 0 ||
      (rc = opt_ms(&h.last_open_ms, doc, "last_candle_open_ms")) != 0)
    goto out;
  json_t *overall = json_object_get(doc, "overall");
  if (overall != NULL) {
    if (!json_is_object(overall)) {
      rc = coin_error_set(COIN_EDECODE, "overall is not an object");
      goto out;
    }
    rc = read_validity(&h.v, &h.has_instants, overall, "overall.");
  } else {
    rc = read_validity(&h.v, &h.has_instants, doc, "");
  }
  if (rc == 0)
    *out = h;
out:
  json_decref(doc);
  return rc;
}
