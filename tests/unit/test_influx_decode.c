/*
 * test_influx_decode.c: the influx module's streaming msgpack decoder
 * (white-box, through influx_int.h) on hand-built InfluxDB answers: typed
 * cells, any integer width, chunks split at every byte, caps, ext types,
 * statement errors, truncation and early stop. No server; single-threaded.
 */
#include "../../lib/src/influx_int.h"
#include "coin/error.h"
#include "test.h"

#include <msgpack.h>

static void pk_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

/* {"results":[{"statement_id":0,"series":[{"name":..,"tags":{..},
 *   "columns":[time,i,f,s,b,n],"values":[rows]}],"partial":true}]} */
static void pack_chunk(msgpack_sbuffer *sb, int first_row, int nrows,
                       bool with_tags) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  pk_str(&pk, "results");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_map(&pk, 3);
  pk_str(&pk, "statement_id");
  msgpack_pack_int(&pk, 0);
  pk_str(&pk, "series");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_map(&pk, with_tags ? 4 : 3);
  pk_str(&pk, "name");
  pk_str(&pk, "candle");
  if (with_tags) {
    pk_str(&pk, "tags");
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "symbol");
    pk_str(&pk, "BTCUSDT");
  }
  pk_str(&pk, "columns");
  msgpack_pack_array(&pk, 6);
  const char *cols[] = {"time", "i", "f", "s", "b", "n"};
  for (int i = 0; i < 6; i++)
    pk_str(&pk, cols[i]);
  pk_str(&pk, "values");
  msgpack_pack_array(&pk, (size_t)nrows);
  for (int r = first_row; r < first_row + nrows; r++) {
    msgpack_pack_array(&pk, 6);
    msgpack_pack_int64(&pk, INT64_C(1600000000000) + r);
    /* Vary the integer encoding: fixint, -fixint, int8..int64, uint64. */
    switch (r % 6) {
    case 0: msgpack_pack_fix_uint8(&pk, 5); break;
    case 1: msgpack_pack_fix_int8(&pk, -3); break;
    case 2: msgpack_pack_fix_int16(&pk, -300); break;
    case 3: msgpack_pack_fix_int32(&pk, 70000); break;
    case 4: msgpack_pack_fix_int64(&pk, INT64_MIN); break;
    default: msgpack_pack_fix_uint64(&pk, UINT64_MAX); break;
    }
    if (r % 2)
      msgpack_pack_float(&pk, 0.5f);
    else
      msgpack_pack_double(&pk, 0.1 * r);
    pk_str(&pk, "x\"y");
    if (r % 2)
      msgpack_pack_true(&pk);
    else
      msgpack_pack_false(&pk);
    msgpack_pack_nil(&pk);
  }
  pk_str(&pk, "partial");
  msgpack_pack_true(&pk);
}

struct seen {
  int rows;
  int stop_at; /* return 1 at this row (0: never) */
  int fail_at; /* return COIN_EIO at this row */
  bool ok;
};

static int on_row(void *ud, const struct coin_influx_row *row) {
  struct seen *s = ud;
  int r = s->rows++;
  bool ok = row->n_columns == 6 && strcmp(row->name, "candle") == 0 &&
            row->values[0].type == COIN_INFLUX_INT &&
            row->values[0].v.i64 == INT64_C(1600000000000) + r &&
            row->values[3].type == COIN_INFLUX_STRING &&
            row->values[3].v.str.len == 3 &&
            memcmp(row->values[3].v.str.ptr, "x\"y", 3) == 0 &&
            row->values[4].type == COIN_INFLUX_BOOL &&
            row->values[4].v.b == (r % 2 == 1) &&
            row->values[5].type == COIN_INFLUX_NULL;
  const struct coin_influx_value *i = coin_influx_row_get(row, "i");
  const struct coin_influx_value *f = coin_influx_row_get(row, "f");
  static const int64_t want_i[] = {5, -3, -300, 70000, INT64_MIN};
  if (r % 6 < 5)
    ok = ok && i->type == COIN_INFLUX_INT && i->v.i64 == want_i[r % 6];
  else
    ok = ok && i->type == COIN_INFLUX_UINT && i->v.u64 == UINT64_MAX;
  ok =
      ok && f->type == COIN_INFLUX_FLOAT && f->v.f64 == (r % 2 ? 0.5 : 0.1 * r);
  if (row->n_tags)
    ok = ok && strcmp(coin_influx_row_tag(row, "symbol"), "BTCUSDT") == 0;
  ok = ok && coin_influx_row_get(row, "nope") == NULL;
  if (!ok)
    s->ok = false;
  if (s->stop_at && s->rows == s->stop_at)
    return 1;
  if (s->fail_at && s->rows == s->fail_at)
    return coin_error_set(COIN_EIO, "test callback failed");
  return 0;
}

static const struct influx_reader_limits LIM = {
    .max_chunk_bytes = 1 << 20,
    .max_columns = 16,
    .max_tags = 8,
    .max_header_bytes = 4096,
};

/* Feeds buf in pieces of step bytes; returns the first non-zero result or
 * the result of finish. */
static int feed_all(const struct influx_reader_limits *lim, const char *buf,
                    size_t len, size_t step, struct seen *s,
                    size_t *max_buffered) {
  struct influx_reader *r = NULL;
  int rc = influx_reader_new(&r, lim, on_row, s);
  if (rc)
    return rc;
  for (size_t off = 0; off < len && rc == 0; off += step)
    rc = influx_reader_feed(r, buf + off, len - off < step ? len - off : step);
  if (rc == 0)
    rc = influx_reader_finish(r);
  if (max_buffered)
    *max_buffered = influx_reader_max_buffered(r);
  influx_reader_free(r);
  return rc;
}

static void decodes_typed_rows_at_any_split(void) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  pack_chunk(&sb, 0, 12, true);
  size_t one = sb.size;
  pack_chunk(&sb, 12, 12, false);
  static const size_t steps[] = {1, 2, 3, 7, 64, 100000};
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    struct seen s = {.ok = true};
    size_t hw = 0;
    int rc = feed_all(&LIM, sb.data, sb.size, steps[i], &s, &hw);
    if (rc != 0 || s.rows != 24 || !s.ok) {
      msgpack_sbuffer_destroy(&sb);
      COIN_TEST_FAIL_("step %zu: rc=%d rows=%d ok=%d (%s)", steps[i], rc,
                      s.rows, s.ok, coin_error_last());
    }
    /* Byte-wise feeding never holds more than one chunk. */
    if (steps[i] == 1 && hw > one) {
      msgpack_sbuffer_destroy(&sb);
      COIN_TEST_FAIL_("buffered %zu bytes, one chunk is %zu", hw, one);
    }
  }
  msgpack_sbuffer_destroy(&sb);
}

static int feed_packed(msgpack_sbuffer *sb,
                       const struct influx_reader_limits *l, struct seen *s) {
  int rc = feed_all(l, sb->data, sb->size, 1000, s, NULL);
  msgpack_sbuffer_destroy(sb);
  return rc;
}

static void stops_and_fails_from_callback(void) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  pack_chunk(&sb, 0, 10, false);
  pack_chunk(&sb, 10, 10, false);
  struct seen s = {.ok = true, .stop_at = 3};
  ASSERT_EQ_INT(feed_all(&LIM, sb.data, sb.size, 5, &s, NULL), INFLUX_STOPPED);
  ASSERT_EQ_INT(s.rows, 3);
  struct seen f = {.ok = true, .fail_at = 14};
  ASSERT_EQ_INT(feed_all(&LIM, sb.data, sb.size, 5, &f, NULL), COIN_EIO);
  ASSERT_EQ_INT(f.rows, 14);
  ASSERT_CONTAINS(coin_error_last(), "test callback failed");
  msgpack_sbuffer_destroy(&sb);
}

static void rejects_ext_type(void) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  pk_str(&pk, "results");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_map(&pk, 1);
  pk_str(&pk, "series");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_map(&pk, 2);
  pk_str(&pk, "columns");
  msgpack_pack_array(&pk, 1);
  pk_str(&pk, "time");
  pk_str(&pk, "values");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_array(&pk, 1);
  msgpack_pack_ext(&pk, 12, 5); /* InfluxDB time without epoch= */
  msgpack_pack_ext_body(&pk, "abcdefghijkl", 12);
  struct seen s = {.ok = true};
  ASSERT_RC(feed_packed(&sb, &LIM, &s), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "column \"time\" holds msgpack ext");
  ASSERT_EQ_INT(s.rows, 0);
}

static int pack_error(const char *where, const char *text) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  if (strcmp(where, "top") == 0) {
    pk_str(&pk, "error");
    pk_str(&pk, text);
  } else {
    pk_str(&pk, "results");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 2);
    pk_str(&pk, "statement_id");
    msgpack_pack_int(&pk, 2);
    pk_str(&pk, "error");
    pk_str(&pk, text);
  }
  struct seen s = {.ok = true};
  return feed_packed(&sb, &LIM, &s);
}

static void surfaces_statement_errors(void) {
  ASSERT_RC(pack_error("stmt", "error parsing query: found SELEC"),
            COIN_EREJECTED);
  ASSERT_CONTAINS(coin_error_last(), "statement 2: error parsing query");
  ASSERT_RC(pack_error("stmt", "database not found: nope"), COIN_ENOTFOUND);
  ASSERT_RC(pack_error("top", "authorization failed"), COIN_EREJECTED);
  ASSERT_CONTAINS(coin_error_last(), "authorization failed");
}

static void enforces_caps(void) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  pack_chunk(&sb, 0, 2000, false); /* ~70 KB in one chunk */
  struct influx_reader_limits small = LIM;
  small.max_chunk_bytes = 16 << 10;
  struct seen s = {.ok = true};
  int rc = feed_all(&small, sb.data, sb.size, 4096, &s, NULL);
  ASSERT_EQ_INT(rc, COIN_ETOOBIG);
  ASSERT_CONTAINS(coin_error_last(), "max_chunk_bytes=16384");
  ASSERT_EQ_INT(s.rows, 0);
  struct influx_reader_limits cols = LIM;
  cols.max_columns = 5; /* the chunk has 6 */
  rc = feed_all(&cols, sb.data, sb.size, 1 << 20, &s, NULL);
  ASSERT_EQ_INT(rc, COIN_ETOOBIG);
  ASSERT_CONTAINS(coin_error_last(), "6 columns, max_columns=5");
  struct influx_reader_limits hdr = LIM;
  hdr.max_header_bytes = 10; /* "candle" + 6 column names do not fit */
  rc = feed_all(&hdr, sb.data, sb.size, 1 << 20, &s, NULL);
  msgpack_sbuffer_destroy(&sb);
  ASSERT_EQ_INT(rc, COIN_ETOOBIG);
}

static void rejects_malformed_input(void) {
  struct seen s = {.ok = true};
  /* 0xc1 is never used in msgpack. */
  ASSERT_RC(feed_all(&LIM, "\x81\xa1x\xc1", 4, 1, &s, NULL), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "malformed msgpack");
  ASSERT_RC(feed_all(&LIM, "\x92\x01\x02", 3, 1, &s, NULL), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "top-level object is array");
  ASSERT_RC(feed_all(&LIM, "", 0, 1, &s, NULL), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "empty");

  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  pack_chunk(&sb, 0, 3, false);
  int rc = feed_all(&LIM, sb.data, sb.size - 1, 7, &s, NULL);
  msgpack_sbuffer_destroy(&sb);
  ASSERT_EQ_INT(rc, COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "ended inside a msgpack object");

  /* A row with fewer cells than columns. */
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  pk_str(&pk, "results");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_map(&pk, 1);
  pk_str(&pk, "series");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_map(&pk, 2);
  pk_str(&pk, "columns");
  msgpack_pack_array(&pk, 2);
  pk_str(&pk, "time");
  pk_str(&pk, "v");
  pk_str(&pk, "values");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_array(&pk, 1);
  msgpack_pack_int(&pk, 1);
  ASSERT_RC(feed_packed(&sb, &LIM, &s), COIN_EDECODE);
  ASSERT_CONTAINS(coin_error_last(), "1 values for 2 columns");
}

static void empty_result_is_fine(void) {
  /* {"results":[{"statement_id":0,"series":[]}]} as InfluxDB sends it. */
  static const char b[] = "\x81\xa7results\x91\x82\xacstatement_id\x00"
                          "\xa6series\x90";
  struct seen s = {.ok = true};
  ASSERT_OK(feed_all(&LIM, b, sizeof(b) - 1, 1, &s, NULL));
  ASSERT_EQ_INT(s.rows, 0);
}

TEST_MAIN(RUN_TEST(decodes_typed_rows_at_any_split);
          RUN_TEST(stops_and_fails_from_callback); RUN_TEST(rejects_ext_type);
          RUN_TEST(surfaces_statement_errors); RUN_TEST(enforces_caps);
          RUN_TEST(rejects_malformed_input); RUN_TEST(empty_result_is_fine))
