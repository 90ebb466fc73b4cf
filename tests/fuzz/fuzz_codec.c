/*
 * fuzz_codec.c: libFuzzer target for every codec decoder. Byte 0 picks the
 * decoder, the rest is the input. Properties checked (abort on violation):
 * a failure is a clean COIN_EDECODE or COIN_ETOOBIG; whatever decodes packs
 * again, decodes again and packs to the same bytes; its JSON renders.
 * Selector 6 parses subjects / KV keys, 7 renders subject + bytes as JSON
 * (coin_codec_to_json). Built two ways: clang -fsanitize=fuzzer (COIN_FUZZ,
 * tests/fuzz/README.md) and the replay driver fuzz_replay.c (CTest).
 * Single-threaded; no state kept between inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coin/codec.h"
#include "coin/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, int rc) {
  fprintf(stderr, "fuzz_codec: %s: rc=%d (%s) %s\n", what, rc,
          coin_error_name(rc), coin_error_last());
  abort();
}

static void check_fail(const char *what, int rc) {
  if (rc != COIN_EDECODE && rc != COIN_ETOOBIG)
    die(what, rc);
  if (coin_error_last()[0] == '\0')
    die("empty error message", rc);
  if (strchr(coin_error_last(), '\n') || strchr(coin_error_last(), '\r'))
    die("error message is not one line", rc);
}

static void check_same(const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen) {
  if (alen != blen || memcmp(a, b, alen) != 0) {
    fprintf(stderr, "fuzz_codec: re-pack differs (%zu vs %zu bytes)\n", alen,
            blen);
    abort();
  }
}

/* decode -> pack -> decode -> pack must be stable; JSON must render. */
#define ROUND_TRIP(T, unpack, pack, clear, type)                               \
  do {                                                                         \
    T *m1 = calloc(1, sizeof(T)), *m2 = calloc(1, sizeof(T));                  \
    uint8_t *p1 = NULL, *p2 = NULL;                                            \
    size_t n1 = 0, n2 = 0;                                                     \
    char *json = NULL;                                                         \
    if (m1 == NULL || m2 == NULL)                                              \
      abort();                                                                 \
    int rc = unpack(m1, data, size);                                           \
    if (rc != 0) {                                                             \
      check_fail(#unpack, rc);                                                 \
    } else {                                                                   \
      if ((rc = pack(&p1, &n1, m1)) != 0)                                      \
        die(#pack " of decoded input", rc);                                    \
      if ((rc = unpack(m2, p1, n1)) != 0)                                      \
        die(#unpack " of re-packed input", rc);                                \
      if ((rc = pack(&p2, &n2, m2)) != 0)                                      \
        die(#pack " of re-decoded input", rc);                                 \
      check_same(p1, n1, p2, n2);                                              \
      if ((rc = coin_codec_to_json_type(&json, type, data, size)) != 0)        \
        die("to_json of decodable input", rc);                                 \
      if (json[0] != '{' || json[strlen(json) - 1] != '}')                     \
        die("json shape", 0);                                                  \
    }                                                                          \
    clear(m1);                                                                 \
    clear(m2);                                                                 \
    free(m1);                                                                  \
    free(m2);                                                                  \
    free(p1);                                                                  \
    free(p2);                                                                  \
    free(json);                                                                \
  } while (0)

static void no_clear(const void *p) {
  (void)p;
}

/* Subject / key parsing on arbitrary text. */
static void fuzz_key(const uint8_t *data, size_t size) {
  char *key = malloc(size + 1);
  struct coin_series_id id;
  char again[COIN_CODEC_SUBJECT_BYTES];
  if (key == NULL)
    abort();
  memcpy(key, data, size);
  key[size] = '\0';
  (void)coin_codec_subject_type(key);
  if (coin_codec_series_parse(&id, "coin.candles", key) == 0) {
    /* A parsed key rebuilds to itself. */
    int rc = coin_codec_subject_candles(again, sizeof again, id.exchange,
                                        id.symbol, id.tf);
    if (rc != 0)
      die("rebuild of parsed key", rc);
    if (strcmp(again, key) != 0) {
      fprintf(stderr, "fuzz_codec: key \"%s\" rebuilt as \"%s\"\n", key, again);
      abort();
    }
  }
  free(key);
}

/* coin_codec_to_json: a subject (up to the first NUL byte) and the message
 * bytes after it, as coinctl sees them. Renders one line of JSON, or fails
 * with a clean code and a one-line message. */
static void fuzz_to_json(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, '\0', size);
  size_t slen = nul ? (size_t)(nul - data) : size;
  char *subject = malloc(slen + 1), *json = NULL;
  if (subject == NULL)
    abort();
  memcpy(subject, data, slen);
  subject[slen] = '\0';
  const uint8_t *msg = nul ? nul + 1 : data + size;
  size_t mlen = nul ? size - slen - 1 : 0;
  coin_error_clear();
  int rc = coin_codec_to_json(&json, subject, msg, mlen);
  if (rc == 0) {
    if (json[0] != '{' || json[strlen(json) - 1] != '}' || strchr(json, '\n'))
      die("to_json: not one line of JSON", 0);
  } else {
    if (rc == COIN_ENOTFOUND) {
      if (coin_codec_subject_type(subject) != COIN_MSG_UNKNOWN)
        die("to_json: known subject refused as unknown", rc);
    } else {
      check_fail("coin_codec_to_json", rc);
    }
    if (strchr(coin_error_last(), '\n') || coin_error_last()[0] == '\0')
      die("to_json: error message not one line", rc);
  }
  free(json);
  free(subject);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t selector = data[0] % 8;
  data++;
  size--;
  switch (selector) {
  case 0:
    ROUND_TRIP(struct coin_candle_batch, coin_codec_unpack_batch,
               coin_codec_pack_batch, coin_candle_batch_clear,
               COIN_MSG_CANDLE_BATCH);
    break;
  case 1:
    ROUND_TRIP(struct coin_status_transition, coin_codec_unpack_status,
               coin_codec_pack_status, no_clear, COIN_MSG_STATUS_TRANSITION);
    break;
  case 2:
    ROUND_TRIP(struct coin_alert, coin_codec_unpack_alert,
               coin_codec_pack_alert, no_clear, COIN_MSG_ALERT);
    break;
  case 3:
    ROUND_TRIP(struct coin_model_metadata, coin_codec_unpack_model,
               coin_codec_pack_model, no_clear, COIN_MSG_MODEL_METADATA);
    break;
  case 4:
    ROUND_TRIP(struct coin_model_event, coin_codec_unpack_model_event,
               coin_codec_pack_model_event, no_clear, COIN_MSG_MODEL_EVENT);
    break;
  case 5:
    ROUND_TRIP(struct coin_backfill_request, coin_codec_unpack_backfill,
               coin_codec_pack_backfill, no_clear, COIN_MSG_BACKFILL_REQUEST);
    break;
  case 6: fuzz_key(data, size); break;
  default: fuzz_to_json(data, size); break;
  }
  return 0;
}
