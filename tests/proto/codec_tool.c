/*
 * codec_tool.c: test helper that exposes the codec to shell scripts, so the
 * cross-language test can compare our bytes with protoc's (C++) view.
 *   codec_tool pack TYPE      fixed sample of TYPE -> stdout (protobuf)
 *   codec_tool fields batch   stdin CandleBatch -> one "name=value" per line,
 *                             doubles as shortest text and C99 hex (%a)
 *   codec_tool json SUBJECT   stdin -> one JSON line (coin_codec_to_json)
 *   codec_tool fuzz-seeds DIR writes the fuzz corpus (selector byte + sample)
 * TYPE: batch status alert alert-global model event event-bare backfill.
 * Single-threaded; exit 0 ok, 1 codec error (message on stderr), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coin/codec.h"
#include "coin/error.h"

#define T0 INT64_C(1700000000000)
#define H0 INT64_C(1699999200000)
#define STDIN_MAX_BYTES (64u << 20)

/* Doubles chosen to catch lossy conversions: 0.1 and 1/3 are inexact in
 * binary, 5e-324 is the smallest subnormal, 2^53+2 needs all mantissa bits,
 * 1e21 switches notation, 123456789.12345679 needs 17 digits. */
static const struct coin_candle SAMPLE_CANDLES[3] = {
    {H0, 0.1, 42000.01, 1e-08, 37123.456789, 5e-324},
    {H0 + 3600000, 0.3333333333333333, 9007199254740994.0, 0.25, 1.5, 1e21},
    {H0 + 10800000, 123456789.12345679, 2.5, 1.0, 2.0, 0.0},
};

static void sample_batch(struct coin_candle_batch *b) {
  memset(b, 0, sizeof(*b));
  strcpy(b->exchange, "binance");
  strcpy(b->symbol, "BTCUSDT");
  b->tf = COIN_TF_1H;
  b->kind = COIN_BATCH_BACKFILL;
  b->candles = (struct coin_candle *)SAMPLE_CANDLES;
  b->n_candles = 3;
  b->ingest_watermark_ms = H0 + 14400000;
  strcpy(b->producer_id, "coin-ingest@host:42");
  b->produced_at_ms = T0;
}

static void sample_status(struct coin_status_transition *s) {
  memset(s, 0, sizeof(*s));
  strcpy(s->exchange, "binance");
  strcpy(s->symbol, "ETHUSDT");
  s->tf = COIN_TF_1D;
  strcpy(s->producer_id, "coin-monitor");
  s->from_state = COIN_STATE_SOFT_STALE;
  s->to_state = COIN_STATE_HARD_STALE;
  s->degraded = true;
  strcpy(s->degraded_reasons[0], "input_stale");
  strcpy(s->degraded_reasons[1], "champion_missing");
  s->n_degraded_reasons = 2;
  s->since_ms = T0 - 7200000;
  s->at_ms = T0;
  s->has_last_candle_open_ms = true;
  s->last_candle_open_ms = 0;
  s->has_ingest_watermark_ms = true;
  s->ingest_watermark_ms = H0;
  strcpy(s->detail, "no 1d candle since 2023-11-12 \xe2\x80\x94 \"late\"");
}

static void sample_alert(struct coin_alert *a, bool global) {
  memset(a, 0, sizeof(*a));
  if (!global) {
    strcpy(a->exchange, "binance");
    strcpy(a->symbol, "BTCUSDT");
    a->tf = COIN_TF_1H;
  }
  strcpy(a->producer_id, "coin-monitor");
  strcpy(a->alert_id, global
                          ? "CoinTrainingFailed.1700000000000"
                          : "CoinHardStale.binance.BTCUSDT.1h.1700000000000");
  strcpy(a->alertname, global ? "CoinTrainingFailed" : "CoinHardStale");
  a->severity = global ? COIN_SEVERITY_WARNING : COIN_SEVERITY_CRITICAL;
  a->state = global ? COIN_STATE_UNSPECIFIED : COIN_STATE_HARD_STALE;
  a->status = global ? COIN_ALERT_FIRING : COIN_ALERT_RESOLVED;
  a->starts_at_ms = T0;
  if (!global) {
    a->has_ends_at_ms = true;
    a->ends_at_ms = T0 + 600000;
  }
  strcpy(a->summary, global ? "training failed" : "BTCUSDT 1h is fresh again");
  a->repeat_count = 2;
  /* Sorted by name: protoc prints map entries sorted by key. */
  coin_codec_label_set(a, "service", "coin-monitor");
  coin_codec_label_set(a, "severity", global ? "warning" : "critical");
}

static void sample_model(struct coin_model_metadata *m) {
  memset(m, 0, sizeof(*m));
  strcpy(m->version, "m-20231114-xgboost.7");
  strcpy(m->kind, "xgboost");
  m->role = COIN_ROLE_CHAMPION;
  m->feature_schema_version = 3;
  strcpy(m->feature_schema_hash, "9f86d081884c7d65");
  m->train_from_ms = INT64_C(1502942400000);
  m->train_to_ms = H0;
  m->train_watermark_ms = H0;
  m->train_rows = UINT64_C(5000000000);
  m->eval_rows = 720;
  strcpy(m->parent_version, "m-20231001-ridge.2");
  strcpy(m->artifact_sha256,
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  m->artifact_size_bytes = 1048577;
  m->created_at_ms = T0;
  strcpy(m->git_revision, "0123abcd");
  coin_codec_metric_set(m->metrics, &m->n_metrics, "baseline_mae", 0.3);
  coin_codec_metric_set(m->metrics, &m->n_metrics, "mae", 1.0 / 3.0);
  strcpy(m->artifact_ref, "file:models/m-20231114-xgboost.7.ubj");
}

static void sample_event(struct coin_model_event *e, bool bare) {
  memset(e, 0, sizeof(*e));
  strcpy(e->producer_id, "coin-train@host:7");
  e->kind = bare ? COIN_MODEL_EVENT_TRAINING_FAILED : COIN_MODEL_EVENT_PROMOTED;
  if (!bare) {
    strcpy(e->version, "m-20231114-xgboost.7");
    strcpy(e->previous_version, "m-20231001-ridge.2");
    e->has_model = true;
    sample_model(&e->model);
    coin_codec_metric_set(e->metrics, &e->n_metrics, "challenger_mae", 0.25);
    coin_codec_metric_set(e->metrics, &e->n_metrics, "champion_mae", 0.5);
  }
  e->at_ms = T0;
  strcpy(e->reason, bare ? "influx unavailable" : "gate passed");
}

static void sample_backfill(struct coin_backfill_request *r) {
  memset(r, 0, sizeof(*r));
  strcpy(r->exchange, "binance");
  strcpy(r->symbol, "KRW-BTC");
  r->tf = COIN_TF_1MO;
  strcpy(r->producer_id, "coinctl@ops");
  strcpy(r->request_id, "bf-1700000000000-1");
  r->from_ms = INT64_C(1501545600000);
  r->to_ms = INT64_C(1698796800000);
  r->requested_at_ms = T0;
}

/* Packs the named sample; 0 or a codec error (2 for an unknown name). */
static int pack_sample(const char *type, uint8_t **out, size_t *len) {
  union {
    struct coin_candle_batch batch;
    struct coin_status_transition status;
    struct coin_alert alert;
    struct coin_model_metadata model;
    struct coin_model_event event;
    struct coin_backfill_request backfill;
  } *u = calloc(1, sizeof(*u));
  int rc = 2;
  if (u == NULL)
    return COIN_ENOMEM;
  if (strcmp(type, "batch") == 0) {
    sample_batch(&u->batch);
    rc = coin_codec_pack_batch(out, len, &u->batch);
  } else if (strcmp(type, "status") == 0) {
    sample_status(&u->status);
    rc = coin_codec_pack_status(out, len, &u->status);
  } else if (strcmp(type, "alert") == 0 || strcmp(type, "alert-global") == 0) {
    sample_alert(&u->alert, strcmp(type, "alert-global") == 0);
    rc = coin_codec_pack_alert(out, len, &u->alert);
  } else if (strcmp(type, "model") == 0) {
    sample_model(&u->model);
    rc = coin_codec_pack_model(out, len, &u->model);
  } else if (strcmp(type, "event") == 0 || strcmp(type, "event-bare") == 0) {
    sample_event(&u->event, strcmp(type, "event-bare") == 0);
    rc = coin_codec_pack_model_event(out, len, &u->event);
  } else if (strcmp(type, "backfill") == 0) {
    sample_backfill(&u->backfill);
    rc = coin_codec_pack_backfill(out, len, &u->backfill);
  }
  free(u);
  return rc;
}

static int read_stdin(uint8_t **out, size_t *len) {
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  while (buf != NULL) {
    if (n == cap) {
      uint8_t *nb = cap < STDIN_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
      if (nb == NULL) {
        free(buf);
        return -1;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, stdin);
    n += got;
    if (got == 0) {
      if (ferror(stdin)) {
        free(buf);
        return -1;
      }
      *out = buf;
      *len = n;
      return 0;
    }
  }
  return -1;
}

/* Shortest %.Ng that reads back to the same double. */
static const char *dbl_text(char buf[40], double v) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, 40, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return buf;
}

static void print_dbl(const char *name, size_t i, double v) {
  char text[40];
  printf("candle[%zu].%s=%s %a\n", i, name, dbl_text(text, v), v);
}

static int fields_batch(const uint8_t *data, size_t len) {
  struct coin_candle_batch b;
  int rc = coin_codec_unpack_batch(&b, data, len);
  if (rc)
    return rc;
  printf("exchange=%s\nsymbol=%s\ntimeframe=%s\nkind=%s\n", b.exchange,
         b.symbol, coin_tf_name(b.tf), coin_codec_batch_kind_name(b.kind));
  printf("producer_id=%s\nproduced_at_ms=%" PRId64
         "\ningest_watermark_ms=%" PRId64 "\nn_candles=%zu\n",
         b.producer_id, b.produced_at_ms, b.ingest_watermark_ms, b.n_candles);
  for (size_t i = 0; i < b.n_candles; i++) {
    const struct coin_candle *c = &b.candles[i];
    printf("candle[%zu].open_time_ms=%" PRId64 "\n", i, c->open_ms);
    print_dbl("open", i, c->open);
    print_dbl("high", i, c->high);
    print_dbl("low", i, c->low);
    print_dbl("close", i, c->close);
    print_dbl("volume", i, c->volume);
  }
  char id[COIN_CODEC_MSG_ID_BYTES];
  if ((rc = coin_codec_msg_id(id, sizeof id, &b)) == 0)
    printf("msg_id=%s\n", id);
  coin_candle_batch_clear(&b);
  return rc;
}

static int write_file(const char *dir, const char *name, uint8_t selector,
                      const uint8_t *data, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    return coin_error_set(COIN_EIO, "%s: %s", path, strerror(errno));
  int ok = fputc(selector, f) != EOF && fwrite(data, 1, len, f) == len;
  ok = fclose(f) == 0 && ok;
  return ok ? 0 : coin_error_set(COIN_EIO, "%s: write failed", path);
}

/* Selector bytes must match fuzz_codec.c. */
static int fuzz_seeds(const char *dir) {
  static const struct {
    const char *type;
    uint8_t selector;
  } seeds[] = {{"batch", 0},        {"status", 1},  {"alert", 2},
               {"alert-global", 2}, {"model", 3},   {"event", 4},
               {"event-bare", 4},   {"backfill", 5}};
  int rc = 0;
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0] && rc == 0; i++) {
    uint8_t *buf = NULL;
    size_t len = 0;
    char name[64];
    if ((rc = pack_sample(seeds[i].type, &buf, &len)) != 0)
      break;
    snprintf(name, sizeof name, "%s.bin", seeds[i].type);
    rc = write_file(dir, name, seeds[i].selector, buf, len);
    free(buf);
  }
  static const char key[] = "coin.candles.binance.KRW-BTC.1M";
  if (rc == 0)
    rc = write_file(dir, "series_key.bin", 6, (const uint8_t *)key,
                    sizeof key - 1);
  return rc;
}

static int usage(void) {
  fprintf(stderr, "usage: codec_tool pack TYPE | fields batch | json SUBJECT"
                  " | fuzz-seeds DIR\n"
                  "TYPE: batch status alert alert-global model event "
                  "event-bare backfill\n");
  return 2;
}

int main(int argc, char **argv) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc;
  if (argc != 3)
    return usage();
  if (strcmp(argv[1], "pack") == 0) {
    rc = pack_sample(argv[2], &buf, &len);
    if (rc == 2)
      return usage();
    if (rc == 0 && fwrite(buf, 1, len, stdout) != len)
      rc = coin_error_set(COIN_EIO, "stdout: write failed");
  } else if (strcmp(argv[1], "fields") == 0 && strcmp(argv[2], "batch") == 0) {
    if (read_stdin(&buf, &len) != 0) {
      fprintf(stderr, "codec_tool: cannot read stdin\n");
      return 1;
    }
    rc = fields_batch(buf, len);
  } else if (strcmp(argv[1], "json") == 0) {
    char *json = NULL;
    if (read_stdin(&buf, &len) != 0) {
      fprintf(stderr, "codec_tool: cannot read stdin\n");
      return 1;
    }
    if ((rc = coin_codec_to_json(&json, argv[2], buf, len)) == 0)
      printf("%s\n", json);
    free(json);
  } else if (strcmp(argv[1], "fuzz-seeds") == 0) {
    rc = fuzz_seeds(argv[2]);
  } else {
    return usage();
  }
  free(buf);
  if (rc) {
    fprintf(stderr, "codec_tool: %s (%s)\n", coin_error_last(),
            coin_error_name(rc));
    return 1;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
