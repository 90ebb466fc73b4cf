/*
 * test_codec.c: every message round-trips bit for bit; caps, truncation,
 * wrong wire types, bad tokens and schema versions fail with the right code
 * and a message naming the field; subject/key/msg-id builders reject unsafe
 * tokens. Hostile bytes are crafted with protobuf-c directly.
 * Single-threaded.
 */
#include "coin/codec.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coin/error.h"
#include "coin/v1/coin.pb-c.h"
#include "test.h"

#define T0 INT64_C(1700000000000) /* 2023-11-14T22:13:20Z */
#define H0 INT64_C(1699999200000) /* the 1h open time before T0 */

static struct coin_candle candles3[3] = {
    {H0, 0.1, 42000.01, 1e-8, 37123.456789, 5e-324},
    {H0 + 3600000, 1.5, 2.25, 1.0, 2.0, 0.0},
    {H0 + 3 * 3600000, 3.0, 4.0, 2.5, 3.5, 123456789.123456789},
};

static void batch_fill(struct coin_candle_batch *b) {
  memset(b, 0, sizeof(*b));
  strcpy(b->exchange, "binance");
  strcpy(b->symbol, "BTCUSDT");
  b->tf = COIN_TF_1H;
  b->kind = COIN_BATCH_LIVE;
  b->candles = candles3;
  b->n_candles = 3;
  b->ingest_watermark_ms = H0 + 3 * 3600000;
  strcpy(b->producer_id, "coin-ingest@host:42");
  b->produced_at_ms = T0;
}

/* Packs a protobuf-c message (crafted hostile input) into a malloc'd buffer.
 */
static uint8_t *raw_pack(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(*len ? *len : 1);
  protobuf_c_message_pack(m, buf);
  return buf;
}

static void batch_roundtrip(void) {
  struct coin_candle_batch b, got;
  uint8_t *buf = NULL;
  size_t len = 0;
  batch_fill(&b);
  ASSERT_OK(coin_codec_pack_batch(&buf, &len, &b));
  ASSERT_TRUE(len > 0);
  int rc = coin_codec_unpack_batch(&got, buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(got.exchange, "binance");
  ASSERT_EQ_STR(got.symbol, "BTCUSDT");
  ASSERT_EQ_INT(got.tf, COIN_TF_1H);
  ASSERT_EQ_INT(got.kind, COIN_BATCH_LIVE);
  ASSERT_EQ_INT(got.n_candles, 3);
  ASSERT_EQ_INT(got.ingest_watermark_ms, b.ingest_watermark_ms);
  ASSERT_EQ_STR(got.producer_id, "coin-ingest@host:42");
  ASSERT_EQ_INT(got.produced_at_ms, T0);
  for (size_t i = 0; i < 3; i++) {
    ASSERT_EQ_INT(got.candles[i].open_ms, candles3[i].open_ms);
    ASSERT_EQ_DBL(got.candles[i].open, candles3[i].open);
    ASSERT_EQ_DBL(got.candles[i].high, candles3[i].high);
    ASSERT_EQ_DBL(got.candles[i].low, candles3[i].low);
    ASSERT_EQ_DBL(got.candles[i].close, candles3[i].close);
    ASSERT_EQ_DBL(got.candles[i].volume, candles3[i].volume);
  }
  coin_candle_batch_clear(&got);
  ASSERT_TRUE(got.candles == NULL);
  ASSERT_EQ_INT(got.n_candles, 0);
  coin_candle_batch_clear(&got); /* idempotent */
  coin_candle_batch_clear(NULL);
}

static void batch_month_and_week(void) {
  /* Calendar timeframes: months of different lengths, Monday weeks. */
  struct coin_candle mo[3] = {{coin_tf_from_civil(2024, 1, 1), 1, 1, 1, 1, 1},
                              {coin_tf_from_civil(2024, 2, 1), 1, 1, 1, 1, 1},
                              {coin_tf_from_civil(2024, 3, 1), 1, 1, 1, 1, 1}};
  struct coin_candle_batch b, got;
  uint8_t *buf = NULL;
  size_t len;
  batch_fill(&b);
  b.tf = COIN_TF_1MO;
  b.candles = mo;
  b.ingest_watermark_ms = mo[2].open_ms;
  ASSERT_OK(coin_codec_pack_batch(&buf, &len, &b));
  ASSERT_OK(coin_codec_unpack_batch(&got, buf, len));
  free(buf);
  ASSERT_EQ_INT(got.tf, COIN_TF_1MO);
  coin_candle_batch_clear(&got);
  /* 2024-02-15 is not a month open. */
  mo[1].open_ms = coin_tf_from_civil(2024, 2, 15);
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "candles[1]");
  ASSERT_CONTAINS(coin_error_last(), "not aligned");
  /* 1w opens on Mondays: 2024-01-01 was one, 2024-01-03 was not. */
  struct coin_candle wk[1] = {{coin_tf_from_civil(2024, 1, 1), 1, 1, 1, 1, 1}};
  b.tf = COIN_TF_1W;
  b.candles = wk;
  b.n_candles = 1;
  b.ingest_watermark_ms = wk[0].open_ms;
  ASSERT_OK(coin_codec_pack_batch(&buf, &len, &b));
  free(buf);
  wk[0].open_ms = coin_tf_from_civil(2024, 1, 3);
  b.ingest_watermark_ms = wk[0].open_ms;
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
}

static void batch_pack_rejects(void) {
  struct coin_candle_batch b;
  struct coin_candle c[3];
  uint8_t *buf = (uint8_t *)"untouched";
  size_t len = 777;

  batch_fill(&b);
  strcpy(b.symbol, "btc");
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "CandleBatch: symbol \"btc\"");
  ASSERT_EQ_INT(len, 777); /* out params untouched on failure */
  ASSERT_EQ_STR((const char *)buf, "untouched");

  batch_fill(&b);
  strcpy(b.exchange, "Binance");
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "exchange");

  batch_fill(&b);
  b.tf = (enum coin_tf)9;
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "timeframe 9");

  batch_fill(&b);
  b.kind = COIN_BATCH_UNSPECIFIED;
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "kind 0");

  batch_fill(&b);
  b.n_candles = 0;
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "candles: empty");

  batch_fill(&b);
  memcpy(c, candles3, sizeof(c));
  c[2].open_ms = c[1].open_ms; /* duplicate */
  b.candles = c;
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "strictly ascending");

  memcpy(c, candles3, sizeof(c));
  c[1].open_ms += 1; /* misaligned */
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "candles[1]: open_time_ms");

  memcpy(c, candles3, sizeof(c));
  c[0].close = NAN;
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "candles[0]: close");
  c[0].close = INFINITY;
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);

  batch_fill(&b);
  b.ingest_watermark_ms = candles3[2].open_ms - 3600000;
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "ingest_watermark_ms");

  batch_fill(&b);
  strcpy(b.producer_id, "has space");
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "producer_id");

  batch_fill(&b);
  memset(b.producer_id, 'a', sizeof(b.producer_id)); /* no NUL */
  ASSERT_RC(coin_codec_pack_batch(&buf, &len, &b), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "NUL-terminated");

  ASSERT_RC(coin_codec_pack_batch(NULL, &len, &b), COIN_EINVAL);
  ASSERT_EQ_INT(len, 777);
}

/* A crafted CandleBatch with the given text fields and 1h candles. */
static uint8_t *crafted_batch(size_t *len, uint32_t version, const char *tf,
                              const char *symbol, const int64_t *opens,
                              size_t n, int64_t watermark) {
  Coin__V1__CandleBatch m = COIN__V1__CANDLE_BATCH__INIT;
  Coin__V1__Candle *cs = calloc(n ? n : 1, sizeof(*cs));
  Coin__V1__Candle **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
  for (size_t i = 0; i < n; i++) {
    coin__v1__candle__init(&cs[i]);
    cs[i].open_time_ms = opens[i];
    cs[i].open = cs[i].high = cs[i].low = cs[i].close = 1.0;
    ptrs[i] = &cs[i];
  }
  m.schema_version = version;
  m.exchange = "binance";
  m.symbol = (char *)symbol;
  m.timeframe = (char *)tf;
  m.kind = COIN__V1__BATCH_KIND__BATCH_KIND_LIVE;
  m.n_candles = n;
  m.candles = ptrs;
  m.ingest_watermark_ms = watermark;
  uint8_t *buf = raw_pack(&m.base, len);
  free(cs);
  free(ptrs);
  return buf;
}

static void batch_decode_errors(void) {
  int64_t opens[3] = {H0, H0 + 3600000, H0 + 7200000};
  int64_t bad_order[3] = {H0, H0 + 7200000, H0 + 3600000};
  struct coin_candle_batch got;
  size_t len;
  uint8_t *buf;

  buf = crafted_batch(&len, 1, "1h", "BTCUSDT", opens, 3, opens[2]);
  ASSERT_OK(coin_codec_unpack_batch(&got, buf, len));
  coin_candle_batch_clear(&got);
  free(buf);

  memset(&got, 0x5a, sizeof(got)); /* out untouched on failure */
  buf = crafted_batch(&len, 1, "7x", "BTCUSDT", opens, 3, opens[2]);
  ASSERT_RC(coin_codec_unpack_batch(&got, buf, len), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "CandleBatch: timeframe \"7x\"");
  ASSERT_EQ_INT(got.n_candles, 0x5a5a5a5a5a5a5a5a);
  free(buf);

  buf = crafted_batch(&len, 1, "1h", "BTC.USDT", opens, 3, opens[2]);
  ASSERT_RC(coin_codec_unpack_batch(&got, buf, len), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "symbol \"BTC.USDT\"");
  free(buf);

  buf = crafted_batch(&len, 1, "1h", "BTCUSDT_WITH_A_NAME_LONGER_THAN_32",
                      opens, 3, opens[2]);
  ASSERT_RC(coin_codec_unpack_batch(&got, buf, len), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "symbol");
  free(buf);

  buf = crafted_batch(&len, 1, "1h", "BTCUSDT", bad_order, 3, opens[2]);
  ASSERT_RC(coin_codec_unpack_batch(&got, buf, len), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "candles[2]");
  ASSERT_CONTAINS(coin_error_last(), "ascending");
  free(buf);

  buf = crafted_batch(&len, 2, "1h", "BTCUSDT", opens, 3, opens[2]);
  ASSERT_RC(coin_codec_unpack_batch(&got, buf, len), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "schema_version 2 unsupported");
  free(buf);

  buf = crafted_batch(&len, 0, "1h", "BTCUSDT", opens, 3, opens[2]);
  ASSERT_RC(coin_codec_unpack_batch(&got, buf, len), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "schema_version 0");
  free(buf);

  buf = crafted_batch(&len, 1, "1h", "BTCUSDT", opens, 0, opens[2]);
  ASSERT_RC(coin_codec_unpack_batch(&got, buf, len), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "candles: empty");
  free(buf);

  /* The empty input is a message with every field missing. */
  ASSERT_RC(coin_codec_unpack_batch(&got, NULL, 0), COIN_EDECODE);
  ASSERT_RC(coin_codec_unpack_batch(&got, NULL, 5), COIN_EINVAL);
}

static void batch_truncated(void) {
  struct coin_candle_batch b, got;
  uint8_t *buf;
  size_t len;
  batch_fill(&b);
  ASSERT_OK(coin_codec_pack_batch(&buf, &len, &b));
  /* Every proper prefix is malformed framing or misses a required field. */
  for (size_t n = 0; n < len; n++) {
    uint8_t *cut = malloc(n ? n : 1); /* exact size: ASan sees overreads */
    memcpy(cut, buf, n);
    int rc = coin_codec_unpack_batch(&got, cut, n);
    free(cut);
    if (rc != COIN_EDECODE) {
      free(buf);
      ASSERT_EQ_INT(rc, COIN_EDECODE);
    }
  }
  free(buf);
}

static void batch_size_limits(void) {
  struct coin_candle_batch b, got;
  struct coin_candle *many = calloc(COIN_CODEC_MAX_CANDLES + 1, sizeof(*many));
  uint8_t *buf = NULL;
  size_t len;
  ASSERT_TRUE(many != NULL);
  for (size_t i = 0; i <= COIN_CODEC_MAX_CANDLES; i++)
    many[i] = (struct coin_candle){H0 + (int64_t)i * 3600000,
                                   12345.67,
                                   12399.01,
                                   12001.5,
                                   12222.22,
                                   1234.5678};
  batch_fill(&b);
  b.candles = many;
  b.n_candles = COIN_CODEC_MAX_CANDLES;
  b.ingest_watermark_ms = many[COIN_CODEC_MAX_CANDLES - 1].open_ms;
  int rc = coin_codec_pack_batch(&buf, &len, &b);
  if (rc == 0) {
    ASSERT_TRUE(len <= COIN_CODEC_DEFAULT_MAX_BYTES);
    rc = coin_codec_unpack_batch(&got, buf, len);
    free(buf);
    if (rc == 0) {
      ASSERT_EQ_INT(got.n_candles, COIN_CODEC_MAX_CANDLES);
      coin_candle_batch_clear(&got);
    }
  }
  if (rc != 0)
    free(many);
  ASSERT_OK(rc);

  b.n_candles = COIN_CODEC_MAX_CANDLES + 1;
  b.ingest_watermark_ms = many[COIN_CODEC_MAX_CANDLES].open_ms;
  rc = coin_codec_pack_batch(&buf, &len, &b);
  free(many);
  ASSERT_RC(rc, COIN_ETOOBIG);
  ASSERT_CONTAINS(coin_error_last(), "candles: 10001");

  /* Crafted: 10001 candles on the wire are refused before protobuf-c
   * allocates them. */
  int64_t *opens = malloc((COIN_CODEC_MAX_CANDLES + 1) * sizeof(*opens));
  for (size_t i = 0; i <= COIN_CODEC_MAX_CANDLES; i++)
    opens[i] = H0 + (int64_t)i * 3600000;
  buf =
      crafted_batch(&len, 1, "1h", "BTCUSDT", opens, COIN_CODEC_MAX_CANDLES + 1,
                    opens[COIN_CODEC_MAX_CANDLES]);
  free(opens);
  rc = coin_codec_unpack_batch(&got, buf, len);
  free(buf);
  ASSERT_RC(rc, COIN_ETOOBIG);
  ASSERT_CONTAINS(coin_error_last(), "candles: 10001 entries");

  /* The byte cap applies on both sides. */
  batch_fill(&b);
  ASSERT_OK(coin_codec_pack_batch(&buf, &len, &b));
  coin_codec_set_max_bytes(len - 1);
  ASSERT_EQ_INT(coin_codec_max_bytes(), len - 1);
  uint8_t *buf2 = NULL;
  size_t len2 = 0;
  int rc_pack = coin_codec_pack_batch(&buf2, &len2, &b);
  int rc_unpack = coin_codec_unpack_batch(&got, buf, len);
  char msg[256];
  snprintf(msg, sizeof(msg), "%s", coin_error_last());
  coin_codec_set_max_bytes(0); /* back to the default */
  free(buf);
  ASSERT_RC(rc_pack, COIN_ETOOBIG);
  ASSERT_RC(rc_unpack, COIN_ETOOBIG);
  ASSERT_CONTAINS(msg, "CandleBatch");
  ASSERT_EQ_INT(coin_codec_max_bytes(), COIN_CODEC_DEFAULT_MAX_BYTES);
}

static void wrong_types(void) {
  struct coin_candle_batch got;
  struct coin_status_transition st;
  /* Field 2 (exchange, a string) sent as a varint. */
  const uint8_t varint_string[] = {0x08, 0x01, 0x10, 0x05};
  ASSERT_RC(coin_codec_unpack_batch(&got, varint_string, sizeof varint_string),
            COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "CandleBatch: malformed protobuf");
  /* Field 1 (schema_version) with the group wire type 3. */
  const uint8_t group[] = {0x0b, 0x0c};
  ASSERT_RC(coin_codec_unpack_batch(&got, group, sizeof group), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "wire type 3");
  /* Length prefix beyond the end. */
  const uint8_t overlong[] = {0x08, 0x01, 0x12, 0x7f, 'b'};
  ASSERT_RC(coin_codec_unpack_batch(&got, overlong, sizeof overlong),
            COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "truncated");
  /* An unterminated varint. */
  const uint8_t ff[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                        0xff, 0xff, 0xff, 0xff, 0xff};
  ASSERT_RC(coin_codec_unpack_status(&st, ff, sizeof ff), COIN_EDECODE);
  /* Field number 0 is invalid. */
  const uint8_t zero[] = {0x00, 0x01};
  ASSERT_RC(coin_codec_unpack_status(&st, zero, sizeof zero), COIN_EDECODE);

  /* A BackfillRequest read as a CandleBatch: framing is fine, the fields
   * do not make a batch. */
  struct coin_backfill_request r;
  memset(&r, 0, sizeof(r));
  strcpy(r.exchange, "binance");
  strcpy(r.symbol, "ETHUSDT");
  r.tf = COIN_TF_1D;
  strcpy(r.request_id, "req-1");
  r.from_ms = 0;
  r.to_ms = 86400000;
  uint8_t *buf;
  size_t len;
  ASSERT_OK(coin_codec_pack_backfill(&buf, &len, &r));
  int rc = coin_codec_unpack_batch(&got, buf, len);
  free(buf);
  ASSERT_RC(rc, COIN_EDECODE);
}

static void unknown_fields_ignored(void) {
  struct coin_candle_batch b, got;
  uint8_t *buf;
  size_t len;
  batch_fill(&b);
  ASSERT_OK(coin_codec_pack_batch(&buf, &len, &b));
  /* A newer producer's field 99 (varint 7) and field 100 (bytes "hi"). */
  uint8_t *more = malloc(len + 8);
  memcpy(more, buf, len);
  const uint8_t extra[] = {0x98, 0x06, 0x07, 0xa2, 0x06, 0x02, 'h', 'i'};
  memcpy(more + len, extra, sizeof extra);
  int rc = coin_codec_unpack_batch(&got, more, len + sizeof extra);
  free(buf);
  free(more);
  ASSERT_OK(rc);
  ASSERT_EQ_INT(got.n_candles, 3);
  coin_candle_batch_clear(&got);
}

static void batch_msg_id(void) {
  struct coin_candle_batch b;
  char id[COIN_CODEC_MSG_ID_BYTES];
  batch_fill(&b);
  ASSERT_OK(coin_codec_msg_id(id, sizeof id, &b));
  ASSERT_EQ_STR(id, "binance.BTCUSDT.1h.1699999200000-1700010000000");
  char small[10] = "keep";
  ASSERT_RC(coin_codec_msg_id(small, sizeof small, &b), COIN_EINVAL);
  ASSERT_EQ_STR(small, "keep");
  b.tf = COIN_TF_1MO;
  ASSERT_OK(coin_codec_msg_id(id, sizeof id, &b)); /* no alignment check */
  ASSERT_CONTAINS(id, ".1M.");
  b.n_candles = 0;
  ASSERT_RC(coin_codec_msg_id(id, sizeof id, &b), COIN_EINVAL);
  batch_fill(&b);
  strcpy(b.symbol, "BTC>");
  ASSERT_RC(coin_codec_msg_id(id, sizeof id, &b), COIN_EINVAL);
}

static void subjects(void) {
  char s[COIN_CODEC_SUBJECT_BYTES];
  ASSERT_OK(coin_codec_subject_candles(s, sizeof s, "binance", "BTCUSDT",
                                       COIN_TF_1H));
  ASSERT_EQ_STR(s, "coin.candles.binance.BTCUSDT.1h");
  ASSERT_OK(
      coin_codec_subject_status(s, sizeof s, "upbit", "KRW-BTC", COIN_TF_1MO));
  ASSERT_EQ_STR(s, "coin.status.upbit.KRW-BTC.1M");
  ASSERT_OK(
      coin_codec_subject_alert(s, sizeof s, "binance", "ETHUSDT", COIN_TF_1M));
  ASSERT_EQ_STR(s, "coin.alerts.binance.ETHUSDT.1m");
  ASSERT_OK(coin_codec_subject_alert(s, sizeof s, "", NULL, COIN_TF_1M));
  ASSERT_EQ_STR(s, "coin.alerts.global");
  ASSERT_RC(coin_codec_subject_alert(s, sizeof s, "", "BTCUSDT", COIN_TF_1M),
            COIN_EINVAL);
  ASSERT_OK(coin_codec_series_key(s, sizeof s, COIN_KEY_INGEST_PREFIX,
                                  "binance", "BTCUSDT", COIN_TF_1D));
  ASSERT_EQ_STR(s, "ingest.binance.BTCUSDT.1d");

  const char *bad_symbols[] = {"BTC.USDT", "BTC*",    ">",    "BTC USDT",
                               "",         "btcusdt", "-BTC", "BTC\t"};
  for (size_t i = 0; i < sizeof bad_symbols / sizeof bad_symbols[0]; i++) {
    strcpy(s, "keep");
    ASSERT_RC(coin_codec_subject_candles(s, sizeof s, "binance", bad_symbols[i],
                                         COIN_TF_1H),
              COIN_EINVAL);
    ASSERT_CONTAINS(coin_error_last(), "symbol");
    ASSERT_EQ_STR(s, "keep");
  }
  const char *bad_exchanges[] = {"bin.ance", "*", ">",
                                 "bin ance", "",  "Binance"};
  for (size_t i = 0; i < sizeof bad_exchanges / sizeof bad_exchanges[0]; i++) {
    ASSERT_RC(coin_codec_subject_status(s, sizeof s, bad_exchanges[i],
                                        "BTCUSDT", COIN_TF_1H),
              COIN_EINVAL);
    ASSERT_CONTAINS(coin_error_last(), "exchange");
  }
  const char *bad_prefixes[] = {"",      ".coin",  "coin.",  "coin..x",
                                "co in", "coin.*", "coin.>", "Coin"};
  for (size_t i = 0; i < sizeof bad_prefixes / sizeof bad_prefixes[0]; i++)
    ASSERT_RC(coin_codec_series_key(s, sizeof s, bad_prefixes[i], "binance",
                                    "BTCUSDT", COIN_TF_1H),
              COIN_EINVAL);
  ASSERT_RC(coin_codec_subject_candles(s, sizeof s, "binance", "BTCUSDT",
                                       (enum coin_tf)5),
            COIN_EINVAL);
  ASSERT_RC(coin_codec_subject_candles(s, 10, "binance", "BTCUSDT", COIN_TF_1H),
            COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "do not fit");
  /* A prefix too long for any key is refused, whatever out_bytes says. */
  char huge_prefix[400], huge_out[1024];
  for (size_t i = 0; i < sizeof huge_prefix - 1; i++)
    huge_prefix[i] = i % 10 == 9 ? '.' : 'a';
  huge_prefix[sizeof huge_prefix - 2] = 'a';
  huge_prefix[sizeof huge_prefix - 1] = '\0';
  ASSERT_RC(coin_codec_series_key(huge_out, sizeof huge_out, huge_prefix,
                                  "binance", "BTCUSDT", COIN_TF_1H),
            COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "series key: ");
  /* The longest legal tokens fit COIN_CODEC_SUBJECT_BYTES. */
  char ex[33], sym[33];
  memset(ex, 'a', 32);
  ex[32] = '\0';
  memset(sym, 'Z', 32);
  sym[32] = '\0';
  ASSERT_OK(coin_codec_subject_candles(s, sizeof s, ex, sym, COIN_TF_1H));
}

static void series_parse(void) {
  struct coin_series_id id;
  ASSERT_OK(coin_codec_series_parse(&id, "coin.candles",
                                    "coin.candles.binance.KRW-BTC.1M"));
  ASSERT_EQ_STR(id.exchange, "binance");
  ASSERT_EQ_STR(id.symbol, "KRW-BTC");
  ASSERT_EQ_INT(id.tf, COIN_TF_1MO);
  ASSERT_OK(coin_codec_series_parse(&id, "publish", "publish.x.Y.1w"));
  ASSERT_EQ_INT(id.tf, COIN_TF_1W);
  const char *bad[] = {"coin.candles.binance.BTCUSDT",
                       "coin.candles.binance.BTCUSDT.1h.x",
                       "coin.candles.binance.BTCUSDT.7x",
                       "coin.candles..BTCUSDT.1h",
                       "coin.candlesX.binance.BTCUSDT.1h",
                       "coin.status.binance.BTCUSDT.1h",
                       "coin.candles.binance.btc.1h",
                       "coin.candles.binance.BTCUSDT.",
                       ("coin.candles.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
                        "BTCUSDT.1h")};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (coin_codec_series_parse(&id, "coin.candles", bad[i]) != COIN_EINVAL)
      COIN_TEST_FAIL_("series_parse accepted \"%s\"", bad[i]);
  }
}

static void status_fill(struct coin_status_transition *s) {
  memset(s, 0, sizeof(*s));
  strcpy(s->exchange, "binance");
  strcpy(s->symbol, "ETHUSDT");
  s->tf = COIN_TF_1D;
  strcpy(s->producer_id, "coin-monitor");
  s->from_state = COIN_STATE_SOFT_STALE;
  s->to_state = COIN_STATE_HARD_STALE_ESCALATED;
  s->from_degraded = false;
  s->degraded = true;
  strcpy(s->degraded_reasons[0], "champion_missing");
  strcpy(s->degraded_reasons[1], "input.stale");
  s->n_degraded_reasons = 2;
  s->since_ms = T0 - 1000;
  s->at_ms = T0;
  s->has_last_candle_open_ms = true;
  s->last_candle_open_ms = 0; /* present and zero differs from absent */
  s->has_publish_watermark_ms = true;
  s->publish_watermark_ms = -86400000;
  strcpy(s->detail, "no candle for 3 days \xe2\x80\x94 \"quoted\"\n");
}

static void status_roundtrip(void) {
  struct coin_status_transition s, got;
  uint8_t *buf;
  size_t len;
  status_fill(&s);
  ASSERT_OK(coin_codec_pack_status(&buf, &len, &s));
  int rc = coin_codec_unpack_status(&got, buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(got.exchange, "binance");
  ASSERT_EQ_STR(got.symbol, "ETHUSDT");
  ASSERT_EQ_INT(got.tf, COIN_TF_1D);
  ASSERT_EQ_STR(got.producer_id, "coin-monitor");
  ASSERT_EQ_INT(got.from_state, COIN_STATE_SOFT_STALE);
  ASSERT_EQ_INT(got.to_state, COIN_STATE_HARD_STALE_ESCALATED);
  ASSERT_FALSE(got.from_degraded);
  ASSERT_TRUE(got.degraded);
  ASSERT_EQ_INT(got.n_degraded_reasons, 2);
  ASSERT_EQ_STR(got.degraded_reasons[0], "champion_missing");
  ASSERT_EQ_STR(got.degraded_reasons[1], "input.stale");
  ASSERT_EQ_INT(got.since_ms, T0 - 1000);
  ASSERT_EQ_INT(got.at_ms, T0);
  ASSERT_TRUE(got.has_last_candle_open_ms);
  ASSERT_EQ_INT(got.last_candle_open_ms, 0);
  ASSERT_FALSE(got.has_ingest_watermark_ms);
  ASSERT_TRUE(got.has_publish_watermark_ms);
  ASSERT_EQ_INT(got.publish_watermark_ms, -86400000);
  ASSERT_EQ_STR(got.detail, s.detail);

  status_fill(&s);
  s.degraded = false;
  ASSERT_RC(coin_codec_pack_status(&buf, &len, &s), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "degraded_reasons");
  status_fill(&s);
  strcpy(s.degraded_reasons[1], "Has Space");
  ASSERT_RC(coin_codec_pack_status(&buf, &len, &s), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "degraded_reasons[1]");
  status_fill(&s);
  s.to_state = COIN_STATE_UNSPECIFIED;
  ASSERT_RC(coin_codec_pack_status(&buf, &len, &s), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "to_state");
  status_fill(&s);
  s.n_degraded_reasons = COIN_CODEC_MAX_REASONS + 1;
  ASSERT_RC(coin_codec_pack_status(&buf, &len, &s), COIN_ETOOBIG);
  status_fill(&s);
  strcpy(s.detail, "bad \xc3\x28 utf8");
  ASSERT_RC(coin_codec_pack_status(&buf, &len, &s), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "detail: invalid UTF-8 at byte 5");
  strcpy(s.detail, "overlong \xc0\xaf");
  ASSERT_RC(coin_codec_pack_status(&buf, &len, &s), COIN_EINVAL);
  strcpy(s.detail, "surrogate \xed\xa0\x80");
  ASSERT_RC(coin_codec_pack_status(&buf, &len, &s), COIN_EINVAL);

  /* Decode side: 17 reasons on the wire -> ETOOBIG before allocation;
   * a detail longer than the struct holds -> EDECODE. */
  Coin__V1__StatusTransition m = COIN__V1__STATUS_TRANSITION__INIT;
  char *reasons[17];
  for (int i = 0; i < 17; i++)
    reasons[i] = "r";
  m.schema_version = 1;
  m.exchange = "binance";
  m.symbol = "ETHUSDT";
  m.timeframe = "1d";
  m.to_state = COIN__V1__FRESHNESS_STATE__FRESHNESS_STATE_FRESH;
  m.degraded = 1;
  m.n_degraded_reasons = 17;
  m.degraded_reasons = reasons;
  buf = raw_pack(&m.base, &len);
  rc = coin_codec_unpack_status(&got, buf, len);
  free(buf);
  ASSERT_RC(rc, COIN_ETOOBIG);
  m.n_degraded_reasons = 0;
  char big[600];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  m.detail = big;
  buf = raw_pack(&m.base, &len);
  rc = coin_codec_unpack_status(&got, buf, len);
  free(buf);
  ASSERT_RC(rc, COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "detail: 599 bytes");
  m.detail = "";
  m.to_state = 42; /* an enum value from the future */
  buf = raw_pack(&m.base, &len);
  rc = coin_codec_unpack_status(&got, buf, len);
  free(buf);
  ASSERT_RC(rc, COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "to_state 42");
}

static void alert_fill(struct coin_alert *a) {
  memset(a, 0, sizeof(*a));
  strcpy(a->exchange, "binance");
  strcpy(a->symbol, "BTCUSDT");
  a->tf = COIN_TF_1H;
  strcpy(a->producer_id, "coin-monitor");
  strcpy(a->alert_id, "CoinHardStale.binance.BTCUSDT.1h.1700000000000");
  strcpy(a->alertname, "CoinHardStale");
  a->severity = COIN_SEVERITY_CRITICAL;
  a->state = COIN_STATE_HARD_STALE;
  a->status = COIN_ALERT_FIRING;
  a->starts_at_ms = T0;
  strcpy(a->summary, "BTCUSDT 1h: no closed candle for 3h");
}

static void alert_roundtrip(void) {
  struct coin_alert a, got;
  uint8_t *buf;
  size_t len;
  char id[COIN_CODEC_MSG_ID_BYTES];
  alert_fill(&a);
  ASSERT_OK(coin_codec_label_set(&a, "severity", "critical"));
  ASSERT_OK(coin_codec_label_set(&a, "team", "data \xf0\x9f\x93\x88"));
  ASSERT_OK(coin_codec_label_set(&a, "severity", "warning")); /* replace */
  ASSERT_EQ_INT(a.n_labels, 2);
  ASSERT_RC(coin_codec_label_set(&a, "bad-name", "x"), COIN_EINVAL);
  a.repeat_count = 3;
  ASSERT_OK(coin_codec_pack_alert(&buf, &len, &a));
  int rc = coin_codec_unpack_alert(&got, buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(got.exchange, "binance");
  ASSERT_EQ_INT(got.tf, COIN_TF_1H);
  ASSERT_EQ_STR(got.alert_id, a.alert_id);
  ASSERT_EQ_STR(got.alertname, "CoinHardStale");
  ASSERT_EQ_INT(got.severity, COIN_SEVERITY_CRITICAL);
  ASSERT_EQ_INT(got.state, COIN_STATE_HARD_STALE);
  ASSERT_EQ_INT(got.status, COIN_ALERT_FIRING);
  ASSERT_EQ_INT(got.starts_at_ms, T0);
  ASSERT_FALSE(got.has_ends_at_ms);
  ASSERT_EQ_STR(got.summary, a.summary);
  ASSERT_EQ_INT(got.repeat_count, 3);
  ASSERT_EQ_INT(got.n_labels, 2);
  ASSERT_EQ_STR(got.labels[0].name, "severity");
  ASSERT_EQ_STR(got.labels[0].value, "warning");
  ASSERT_EQ_STR(got.labels[1].value, "data \xf0\x9f\x93\x88");
  ASSERT_OK(coin_codec_alert_msg_id(id, sizeof id, &got));
  ASSERT_EQ_STR(id, "CoinHardStale.binance.BTCUSDT.1h.1700000000000.firing.3");

  /* A resolved global alert. */
  alert_fill(&a);
  a.exchange[0] = a.symbol[0] = '\0';
  a.tf = COIN_TF_1D; /* ignored for a global alert */
  strcpy(a.alert_id, "CoinTrainingFailed.1700000000000");
  strcpy(a.alertname, "CoinTrainingFailed");
  a.severity = COIN_SEVERITY_WARNING;
  a.state = COIN_STATE_UNSPECIFIED;
  a.status = COIN_ALERT_RESOLVED;
  a.has_ends_at_ms = true;
  a.ends_at_ms = T0;
  ASSERT_OK(coin_codec_pack_alert(&buf, &len, &a));
  rc = coin_codec_unpack_alert(&got, buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(got.exchange, "");
  ASSERT_EQ_STR(got.symbol, "");
  ASSERT_TRUE(got.has_ends_at_ms);
  ASSERT_EQ_INT(got.ends_at_ms, T0);
  ASSERT_EQ_INT(got.status, COIN_ALERT_RESOLVED);
  ASSERT_OK(coin_codec_alert_msg_id(id, sizeof id, &got));
  ASSERT_EQ_STR(id, "CoinTrainingFailed.1700000000000.resolved.0");

  alert_fill(&a);
  a.has_ends_at_ms = true;
  a.ends_at_ms = T0 - 1;
  ASSERT_RC(coin_codec_pack_alert(&buf, &len, &a), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "ends_at_ms");
  alert_fill(&a);
  a.exchange[0] = '\0'; /* symbol still set */
  ASSERT_RC(coin_codec_pack_alert(&buf, &len, &a), COIN_EINVAL);
  alert_fill(&a);
  strcpy(a.alert_id, "has space");
  ASSERT_RC(coin_codec_pack_alert(&buf, &len, &a), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "alert_id");
  alert_fill(&a);
  a.severity = COIN_SEVERITY_UNSPECIFIED;
  ASSERT_RC(coin_codec_pack_alert(&buf, &len, &a), COIN_EINVAL);
  alert_fill(&a);
  strcpy(a.labels[0].name, "x");
  strcpy(a.labels[1].name, "x");
  a.n_labels = 2;
  ASSERT_RC(coin_codec_pack_alert(&buf, &len, &a), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "duplicate");
  alert_fill(&a);
  for (int i = 0; i < COIN_CODEC_MAX_LABELS; i++) {
    char name[16];
    snprintf(name, sizeof name, "l%d", i);
    ASSERT_OK(coin_codec_label_set(&a, name, "v"));
  }
  ASSERT_RC(coin_codec_label_set(&a, "one_more", "v"), COIN_ETOOBIG);
  ASSERT_OK(coin_codec_label_set(&a, "l0", "replaced")); /* still allowed */
}

static void model_fill(struct coin_model_metadata *m) {
  memset(m, 0, sizeof(*m));
  strcpy(m->version, "m-20231114-ridge.1");
  strcpy(m->kind, "ridge");
  m->role = COIN_ROLE_CHALLENGER;
  m->feature_schema_version = 3;
  strcpy(m->feature_schema_hash, "0123456789abcdef");
  m->train_from_ms = INT64_C(1502942400000);
  m->train_to_ms = H0;
  m->train_watermark_ms = H0;
  m->train_rows = UINT64_C(5000000000); /* > 2^32 */
  m->eval_rows = 1234;
  strcpy(m->parent_version, "m-20231001-ridge.0");
  strcpy(m->artifact_sha256,
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  m->artifact_size_bytes = 987654321;
  m->created_at_ms = T0;
  strcpy(m->git_revision, "1a2b3c4d");
  strcpy(m->artifact_ref, "coin_models/artifact.m-20231114-ridge.1");
}

static void model_roundtrip(void) {
  struct coin_model_metadata m, got;
  uint8_t *buf;
  size_t len;
  double v;
  model_fill(&m);
  ASSERT_OK(coin_codec_metric_set(m.metrics, &m.n_metrics, "mae", 0.1));
  ASSERT_OK(coin_codec_metric_set(m.metrics, &m.n_metrics, "baseline.mae",
                                  1.0 / 3.0));
  ASSERT_OK(coin_codec_metric_set(m.metrics, &m.n_metrics, "mae", 0.2));
  ASSERT_EQ_INT(m.n_metrics, 2);
  ASSERT_RC(coin_codec_metric_set(m.metrics, &m.n_metrics, "nan", NAN),
            COIN_EINVAL);
  ASSERT_RC(coin_codec_metric_set(m.metrics, &m.n_metrics, "9lives", 1),
            COIN_EINVAL);
  ASSERT_OK(coin_codec_pack_model(&buf, &len, &m));
  int rc = coin_codec_unpack_model(&got, buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(got.version, m.version);
  ASSERT_EQ_STR(got.kind, "ridge");
  ASSERT_EQ_INT(got.role, COIN_ROLE_CHALLENGER);
  ASSERT_EQ_INT(got.feature_schema_version, 3);
  ASSERT_EQ_STR(got.feature_schema_hash, m.feature_schema_hash);
  ASSERT_EQ_INT(got.train_from_ms, m.train_from_ms);
  ASSERT_EQ_INT(got.train_to_ms, m.train_to_ms);
  ASSERT_EQ_INT(got.train_watermark_ms, m.train_watermark_ms);
  ASSERT_TRUE(got.train_rows == UINT64_C(5000000000));
  ASSERT_EQ_INT(got.eval_rows, 1234);
  ASSERT_EQ_STR(got.parent_version, m.parent_version);
  ASSERT_EQ_STR(got.artifact_sha256, m.artifact_sha256);
  ASSERT_EQ_INT(got.artifact_size_bytes, 987654321);
  ASSERT_EQ_INT(got.created_at_ms, T0);
  ASSERT_EQ_STR(got.git_revision, "1a2b3c4d");
  ASSERT_EQ_STR(got.artifact_ref, m.artifact_ref);
  ASSERT_OK(coin_codec_metric_get(&v, got.metrics, got.n_metrics, "mae"));
  ASSERT_EQ_DBL(v, 0.2);
  ASSERT_OK(
      coin_codec_metric_get(&v, got.metrics, got.n_metrics, "baseline.mae"));
  ASSERT_EQ_DBL(v, 1.0 / 3.0);
  ASSERT_RC(coin_codec_metric_get(&v, got.metrics, got.n_metrics, "rmse"),
            COIN_ENOTFOUND);

  model_fill(&m);
  m.artifact_sha256[63] = 'E'; /* upper case */
  ASSERT_RC(coin_codec_pack_model(&buf, &len, &m), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "artifact_sha256");
  model_fill(&m);
  m.artifact_sha256[10] = '\0';
  ASSERT_RC(coin_codec_pack_model(&buf, &len, &m), COIN_EINVAL);
  model_fill(&m);
  m.train_from_ms = m.train_to_ms + 1;
  ASSERT_RC(coin_codec_pack_model(&buf, &len, &m), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "train_from_ms");
  model_fill(&m);
  m.version[0] = '\0';
  ASSERT_RC(coin_codec_pack_model(&buf, &len, &m), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "ModelMetadata: version");
  model_fill(&m);
  strcpy(m.kind, "XGB");
  ASSERT_RC(coin_codec_pack_model(&buf, &len, &m), COIN_EINVAL);
  model_fill(&m);
  m.metrics[0] = (struct coin_metric){"mae", INFINITY};
  m.n_metrics = 1;
  ASSERT_RC(coin_codec_pack_model(&buf, &len, &m), COIN_EINVAL);
  model_fill(&m);
  m.role = COIN_ROLE_UNSPECIFIED;
  ASSERT_RC(coin_codec_pack_model(&buf, &len, &m), COIN_EINVAL);
}

static void model_event_roundtrip(void) {
  struct coin_model_event e, got;
  uint8_t *buf;
  size_t len;
  double v;
  memset(&e, 0, sizeof(e));
  strcpy(e.producer_id, "coinctl@ops");
  e.kind = COIN_MODEL_EVENT_PROMOTED;
  strcpy(e.version, "m-20231114-ridge.1");
  strcpy(e.previous_version, "m-20231001-ridge.0");
  e.at_ms = T0;
  strcpy(e.reason, "challenger mae 0.2 < champion mae 0.25 on 720 candles");
  ASSERT_OK(
      coin_codec_metric_set(e.metrics, &e.n_metrics, "challenger_mae", 0.2));
  ASSERT_OK(
      coin_codec_metric_set(e.metrics, &e.n_metrics, "realized_candles", 720));
  e.has_model = true;
  model_fill(&e.model);
  e.model.role = COIN_ROLE_CHAMPION;
  ASSERT_OK(
      coin_codec_metric_set(e.model.metrics, &e.model.n_metrics, "mae", 0.2));
  ASSERT_OK(coin_codec_pack_model_event(&buf, &len, &e));
  int rc = coin_codec_unpack_model_event(&got, buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(got.producer_id, "coinctl@ops");
  ASSERT_EQ_INT(got.kind, COIN_MODEL_EVENT_PROMOTED);
  ASSERT_EQ_STR(got.version, e.version);
  ASSERT_EQ_STR(got.previous_version, e.previous_version);
  ASSERT_EQ_INT(got.at_ms, T0);
  ASSERT_EQ_STR(got.reason, e.reason);
  ASSERT_EQ_INT(got.n_metrics, 2);
  ASSERT_OK(coin_codec_metric_get(&v, got.metrics, got.n_metrics,
                                  "realized_candles"));
  ASSERT_EQ_DBL(v, 720);
  ASSERT_TRUE(got.has_model);
  ASSERT_EQ_INT(got.model.role, COIN_ROLE_CHAMPION);
  ASSERT_EQ_STR(got.model.artifact_sha256, e.model.artifact_sha256);
  ASSERT_OK(
      coin_codec_metric_get(&v, got.model.metrics, got.model.n_metrics, "mae"));
  ASSERT_EQ_DBL(v, 0.2);

  /* Without a model snapshot (training failed: no version either). */
  e.has_model = false;
  e.kind = COIN_MODEL_EVENT_TRAINING_FAILED;
  e.version[0] = e.previous_version[0] = '\0';
  e.n_metrics = 0;
  ASSERT_OK(coin_codec_pack_model_event(&buf, &len, &e));
  rc = coin_codec_unpack_model_event(&got, buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_FALSE(got.has_model);
  ASSERT_EQ_INT(got.kind, COIN_MODEL_EVENT_TRAINING_FAILED);

  /* A bad nested model names its path. */
  e.has_model = true;
  model_fill(&e.model);
  strcpy(e.model.git_revision, "a b");
  ASSERT_RC(coin_codec_pack_model_event(&buf, &len, &e), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "ModelEvent: model: git_revision");

  /* Nested metrics over the cap are refused before allocation. */
  Coin__V1__ModelEvent me = COIN__V1__MODEL_EVENT__INIT;
  Coin__V1__ModelMetadata mm = COIN__V1__MODEL_METADATA__INIT;
  Coin__V1__ModelMetadata__MetricsEntry ent[65];
  Coin__V1__ModelMetadata__MetricsEntry *ptr[65];
  for (int i = 0; i < 65; i++) {
    coin__v1__model_metadata__metrics_entry__init(&ent[i]);
    ent[i].key = "m";
    ptr[i] = &ent[i];
  }
  mm.schema_version = 1;
  mm.n_metrics = 65;
  mm.metrics = ptr;
  me.schema_version = 1;
  me.kind = COIN__V1__MODEL_EVENT_KIND__MODEL_EVENT_KIND_REGISTERED;
  me.model = &mm;
  buf = raw_pack(&me.base, &len);
  rc = coin_codec_unpack_model_event(&got, buf, len);
  free(buf);
  ASSERT_RC(rc, COIN_ETOOBIG);
  ASSERT_CONTAINS(coin_error_last(), "model: metrics: 65");
  /* A nested model of another schema version. */
  mm.n_metrics = 0;
  mm.schema_version = 7;
  buf = raw_pack(&me.base, &len);
  rc = coin_codec_unpack_model_event(&got, buf, len);
  free(buf);
  ASSERT_RC(rc, COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "model: schema_version 7");
}

static void backfill_roundtrip(void) {
  struct coin_backfill_request r, got;
  uint8_t *buf;
  size_t len;
  memset(&r, 0, sizeof(r));
  strcpy(r.exchange, "binance");
  strcpy(r.symbol, "SOLUSDT");
  r.tf = COIN_TF_1M;
  strcpy(r.producer_id, "coinctl@ops");
  strcpy(r.request_id, "bf-1700000000000-1");
  r.from_ms = T0 - 3600000;
  r.to_ms = T0;
  r.requested_at_ms = T0 + 5;
  ASSERT_OK(coin_codec_pack_backfill(&buf, &len, &r));
  int rc = coin_codec_unpack_backfill(&got, buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(got.exchange, "binance");
  ASSERT_EQ_STR(got.symbol, "SOLUSDT");
  ASSERT_EQ_INT(got.tf, COIN_TF_1M);
  ASSERT_EQ_STR(got.producer_id, "coinctl@ops");
  ASSERT_EQ_STR(got.request_id, "bf-1700000000000-1");
  ASSERT_EQ_INT(got.from_ms, T0 - 3600000);
  ASSERT_EQ_INT(got.to_ms, T0);
  ASSERT_EQ_INT(got.requested_at_ms, T0 + 5);
  r.from_ms = r.to_ms + 1;
  ASSERT_RC(coin_codec_pack_backfill(&buf, &len, &r), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "BackfillRequest: from_ms");
  r.from_ms = 0;
  r.request_id[0] = '\0';
  ASSERT_RC(coin_codec_pack_backfill(&buf, &len, &r), COIN_EINVAL);
  ASSERT_CONTAINS(coin_error_last(), "request_id");
}

static void json_output(void) {
  struct coin_candle_batch b;
  struct coin_candle c[2] = {{H0, 0.1, 42000.01, 1e-8, 37123.456789, 0},
                             {H0 + 7200000, 1, 2, 0.5, 1.5, 1e21}};
  uint8_t *buf;
  size_t len;
  char *json = NULL;
  batch_fill(&b);
  b.candles = c;
  b.n_candles = 2;
  b.ingest_watermark_ms = c[1].open_ms;
  b.kind = COIN_BATCH_RECONCILE;
  ASSERT_OK(coin_codec_pack_batch(&buf, &len, &b));
  int rc =
      coin_codec_to_json(&json, "coin.candles.binance.BTCUSDT.1h", buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(
      json,
      "{\"type\":\"CandleBatch\",\"schema_version\":1,\"exchange\":\"binance\","
      "\"symbol\":\"BTCUSDT\",\"timeframe\":\"1h\",\"kind\":\"reconcile\","
      "\"producer_id\":\"coin-ingest@host:42\",\"produced_at_ms\":"
      "1700000000000,\"ingest_watermark_ms\":1700006400000,\"n_candles\":2,"
      "\"candles\":[{\"open_time_ms\":1699999200000,\"open\":0.1,\"high\":"
      "42000.01,\"low\":1e-08,\"close\":37123.456789,\"volume\":0},"
      "{\"open_time_ms\":1700006400000,\"open\":1,\"high\":2,\"low\":0.5,"
      "\"close\":1.5,\"volume\":1e+21}]}");
  free(json);

  struct coin_status_transition s;
  status_fill(&s);
  ASSERT_OK(coin_codec_pack_status(&buf, &len, &s));
  rc = coin_codec_to_json(&json, "coin.status.binance.ETHUSDT.1d", buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_EQ_STR(
      json,
      "{\"type\":\"StatusTransition\",\"schema_version\":1,\"exchange\":"
      "\"binance\",\"symbol\":\"ETHUSDT\",\"timeframe\":\"1d\","
      "\"producer_id\":\"coin-monitor\",\"from_state\":\"soft_stale\","
      "\"to_state\":\"hard_stale_escalated\",\"from_degraded\":false,"
      "\"degraded\":true,\"degraded_reasons\":[\"champion_missing\","
      "\"input.stale\"],\"since_ms\":1699999999000,\"at_ms\":1700000000000,"
      "\"last_candle_open_ms\":0,\"ingest_watermark_ms\":null,"
      "\"publish_watermark_ms\":-86400000,\"detail\":\"no candle for 3 days "
      "\xe2\x80\x94 \\\"quoted\\\"\\n\"}");
  free(json);

  struct coin_alert a;
  alert_fill(&a);
  a.exchange[0] = a.symbol[0] = '\0';
  strcpy(a.summary, "tab\there \x01");
  ASSERT_OK(coin_codec_label_set(&a, "k", "v"));
  ASSERT_OK(coin_codec_pack_alert(&buf, &len, &a));
  rc = coin_codec_to_json(&json, "coin.alerts.global", buf, len);
  free(buf);
  ASSERT_OK(rc);
  ASSERT_CONTAINS(json, "\"exchange\":null,\"symbol\":null,\"timeframe\":null");
  ASSERT_CONTAINS(json, "\"summary\":\"tab\\there \\u0001\"");
  ASSERT_CONTAINS(json, "\"ends_at_ms\":null");
  ASSERT_CONTAINS(json, "\"labels\":{\"k\":\"v\"}}");
  free(json);

  /* Errors pass through; unknown subjects are ENOTFOUND. */
  const uint8_t junk[] = {0xff};
  json = NULL;
  ASSERT_RC(coin_codec_to_json(&json, "coin.candles.binance.BTCUSDT.1h", junk,
                               sizeof junk),
            COIN_EDECODE);
  ASSERT_TRUE(json == NULL);
  ASSERT_RC(coin_codec_to_json(&json, "coin.other", junk, sizeof junk),
            COIN_ENOTFOUND);
  ASSERT_RC(coin_codec_to_json_type(&json, COIN_MSG_UNKNOWN, junk, 1),
            COIN_ENOTFOUND);
}

static void subject_types(void) {
  ASSERT_EQ_INT(coin_codec_subject_type("coin.candles.binance.BTCUSDT.1h"),
                COIN_MSG_CANDLE_BATCH);
  ASSERT_EQ_INT(coin_codec_subject_type("coin.status.binance.BTCUSDT.1h"),
                COIN_MSG_STATUS_TRANSITION);
  ASSERT_EQ_INT(coin_codec_subject_type("coin.alerts.global"), COIN_MSG_ALERT);
  ASSERT_EQ_INT(coin_codec_subject_type("coin.models.events"),
                COIN_MSG_MODEL_EVENT);
  ASSERT_EQ_INT(coin_codec_subject_type("$KV.coin_models.model.m-1"),
                COIN_MSG_MODEL_METADATA);
  ASSERT_EQ_INT(coin_codec_subject_type("coin.control.backfill"),
                COIN_MSG_BACKFILL_REQUEST);
  ASSERT_EQ_INT(coin_codec_subject_type("coin.candles"), COIN_MSG_UNKNOWN);
  ASSERT_EQ_INT(coin_codec_subject_type("coin.candlesX.a"), COIN_MSG_UNKNOWN);
  ASSERT_EQ_INT(coin_codec_subject_type("$KV.coin_watermarks.ingest.a.B.1h"),
                COIN_MSG_UNKNOWN);
  ASSERT_EQ_INT(coin_codec_subject_type(NULL), COIN_MSG_UNKNOWN);
  ASSERT_EQ_STR(coin_codec_msg_type_name(COIN_MSG_ALERT), "Alert");
}

static void enum_names(void) {
  enum coin_fresh_state st;
  ASSERT_EQ_STR(coin_codec_state_name(COIN_STATE_SOFT_STALE_ESCALATED),
                "soft_stale_escalated");
  ASSERT_EQ_STR(coin_codec_state_name((enum coin_fresh_state)99), "unknown");
  ASSERT_EQ_STR(coin_codec_batch_kind_name(COIN_BATCH_BACKFILL), "backfill");
  ASSERT_EQ_STR(coin_codec_severity_name(COIN_SEVERITY_INFO), "info");
  ASSERT_EQ_STR(coin_codec_alert_status_name(COIN_ALERT_RESOLVED), "resolved");
  ASSERT_EQ_STR(coin_codec_model_role_name(COIN_ROLE_RETIRED), "retired");
  ASSERT_EQ_STR(coin_codec_model_event_kind_name(COIN_MODEL_EVENT_ROLLED_BACK),
                "rolled_back");
  for (int i = COIN_STATE_FRESH; i <= COIN_STATE_INSUFFICIENT_DATA; i++) {
    ASSERT_OK(coin_codec_state_parse(
        &st, coin_codec_state_name((enum coin_fresh_state)i)));
    ASSERT_EQ_INT(st, i);
  }
  ASSERT_RC(coin_codec_state_parse(&st, "unspecified"), COIN_EINVAL);
  ASSERT_RC(coin_codec_state_parse(&st, "Fresh"), COIN_EINVAL);
}

TEST_MAIN(RUN_TEST(batch_roundtrip); RUN_TEST(batch_month_and_week);
          RUN_TEST(batch_pack_rejects); RUN_TEST(batch_decode_errors);
          RUN_TEST(batch_truncated); RUN_TEST(batch_size_limits);
          RUN_TEST(wrong_types); RUN_TEST(unknown_fields_ignored);
          RUN_TEST(batch_msg_id); RUN_TEST(subjects); RUN_TEST(series_parse);
          RUN_TEST(status_roundtrip); RUN_TEST(alert_roundtrip);
          RUN_TEST(model_roundtrip); RUN_TEST(model_event_roundtrip);
          RUN_TEST(backfill_roundtrip); RUN_TEST(json_output);
          RUN_TEST(subject_types); RUN_TEST(enum_names))
