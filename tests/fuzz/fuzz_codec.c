/*
 * fuzz_codec.c: libFuzzer target for every codec decoder. Byte 0 picks the
 * decoder, the rest is the input. Properties checked (abort on violation):
 * a failure is a clean COIN_EDECODE or COIN_ETOOBIG; whatever decodes packs
 * again, decodes again and packs to the same bytes; its JSON renders.
 * Built two ways: clang -fsanitize=fuzzer (tests/CMakeLists.txt, clang only)
 * and the gcc replay driver fuzz_replay.c that CTest runs as fuzz_codec.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t selector = data[0] % 7;
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
  default: fuzz_key(data, size); break;
  }
  return 0;
}
