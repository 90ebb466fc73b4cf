/*
 * influx_read.c: streaming decoder for InfluxDB's msgpack /query answers.
 * Bytes go into a msgpack_unpacker as curl delivers them; each complete
 * top-level map (one chunk with chunked=true) is walked, its rows are handed
 * to the callback, and its memory is freed before the next one, so memory is
 * bounded by one chunk (capped by max_chunk_bytes), never by the response.
 * One reader per query; single-threaded; the reader owns all its memory.
 */
#include "influx_int.h"

#include "coin/error.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define FEED_STEP_BYTES ((size_t)64 << 10)
#define UNPACKER_INIT_BYTES ((size_t)64 << 10)

struct influx_reader {
  msgpack_unpacker *u;
  msgpack_unpacked res;
  struct influx_reader_limits lim;
  coin_influx_row_cb cb;
  void *ud;
  uint64_t rows;
  uint64_t chunks;
  size_t max_buffered;
  int done_rc; /* sticky: once non-zero, feeding stops */
  /* Per-series scratch: NUL-terminated copies of name, tags, columns. */
  char *arena;
  size_t arena_len;
  const char **tag_keys;
  const char **tag_values;
  const char **columns;
  struct coin_influx_value *values;
};

static const char *type_name(msgpack_object_type t) {
  switch (t) {
  case MSGPACK_OBJECT_NIL: return "nil";
  case MSGPACK_OBJECT_BOOLEAN: return "bool";
  case MSGPACK_OBJECT_POSITIVE_INTEGER: return "uint";
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "int";
  case MSGPACK_OBJECT_FLOAT32: return "float32";
  case MSGPACK_OBJECT_FLOAT64: return "float64";
  case MSGPACK_OBJECT_STR: return "str";
  case MSGPACK_OBJECT_ARRAY: return "array";
  case MSGPACK_OBJECT_MAP: return "map";
  case MSGPACK_OBJECT_BIN: return "bin";
  case MSGPACK_OBJECT_EXT: return "ext";
  default: return "unknown";
  }
}

static bool key_is(const msgpack_object *k, const char *name) {
  size_t n = strlen(name);
  return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
         memcmp(k->via.str.ptr, name, n) == 0;
}

static int want_type(const msgpack_object *o, msgpack_object_type t,
                     const char *where) {
  if (o->type == t)
    return 0;
  return coin_error_set(COIN_EDECODE, "influx: msgpack %s is %s, want %s",
                        where, type_name(o->type), type_name(t));
}

/* Copies a msgpack string into the series arena as a C string. */
static int arena_str(struct influx_reader *r, const msgpack_object *o,
                     const char *where, const char **out) {
  int rc = want_type(o, MSGPACK_OBJECT_STR, where);
  if (rc)
    return rc;
  size_t n = o->via.str.size;
  if (memchr(o->via.str.ptr, '\0', n))
    return coin_error_set(COIN_EDECODE, "influx: msgpack %s contains NUL",
                          where);
  if (n + 1 > r->lim.max_header_bytes - r->arena_len)
    return coin_error_set(COIN_ETOOBIG,
                          "influx: series name, tags and column names exceed "
                          "%zu bytes",
                          r->lim.max_header_bytes);
  char *dst = r->arena + r->arena_len;
  memcpy(dst, o->via.str.ptr, n);
  dst[n] = '\0';
  r->arena_len += n + 1;
  *out = dst;
  return 0;
}

static int statement_error(const msgpack_object *err, int statement_id) {
  if (err->type != MSGPACK_OBJECT_STR)
    return coin_error_set(COIN_EDECODE,
                          "influx: statement %d error is %s, want str",
                          statement_id, type_name(err->type));
  int len = err->via.str.size > 512 ? 512 : (int)err->via.str.size;
  const char *s = err->via.str.ptr;
  int code = COIN_EREJECTED;
  if ((memmem(s, (size_t)len, "database not found", 18)) ||
      (memmem(s, (size_t)len, "retention policy not found", 26)))
    code = COIN_ENOTFOUND;
  return coin_error_set(code, "influxdb: statement %d: %.*s", statement_id, len,
                        s);
}

static int cell(struct influx_reader *r, const msgpack_object *o,
                struct coin_influx_value *out, size_t col) {
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: out->type = COIN_INFLUX_NULL; return 0;
  case MSGPACK_OBJECT_BOOLEAN:
    out->type = COIN_INFLUX_BOOL;
    out->v.b = o->via.boolean;
    return 0;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    if (o->via.u64 <= (uint64_t)INT64_MAX) {
      out->type = COIN_INFLUX_INT;
      out->v.i64 = (int64_t)o->via.u64;
    } else {
      out->type = COIN_INFLUX_UINT;
      out->v.u64 = o->via.u64;
    }
    return 0;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    out->type = COIN_INFLUX_INT;
    out->v.i64 = o->via.i64;
    return 0;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    out->type = COIN_INFLUX_FLOAT;
    out->v.f64 = o->via.f64;
    return 0;
  case MSGPACK_OBJECT_STR:
    out->type = COIN_INFLUX_STRING;
    out->v.str.ptr = o->via.str.ptr;
    out->v.str.len = o->via.str.size;
    return 0;
  default:
    /* ext type 5 is InfluxDB's time when epoch= is missing. */
    return coin_error_set(COIN_EDECODE,
                          "influx: column \"%s\" holds msgpack %s (want nil, "
                          "bool, int, float or str; times need epoch=ms)",
                          r->columns[col], type_name(o->type));
  }
}

static int decode_series(struct influx_reader *r, int statement_id,
                         const msgpack_object *s) {
  int rc = want_type(s, MSGPACK_OBJECT_MAP, "series");
  if (rc)
    return rc;
  const msgpack_object *name = NULL, *tags = NULL, *columns = NULL,
                       *values = NULL;
  for (uint32_t i = 0; i < s->via.map.size; i++) {
    const msgpack_object_kv *kv = &s->via.map.ptr[i];
    if (key_is(&kv->key, "name"))
      name = &kv->val;
    else if (key_is(&kv->key, "tags"))
      tags = &kv->val;
    else if (key_is(&kv->key, "columns"))
      columns = &kv->val;
    else if (key_is(&kv->key, "values"))
      values = &kv->val;
  }
  struct coin_influx_row row = {.statement_id = statement_id, .name = ""};
  r->arena_len = 0;
  if (name && (rc = arena_str(r, name, "series name", &row.name)))
    return rc;
  if (tags && tags->type != MSGPACK_OBJECT_NIL) {
    if ((rc = want_type(tags, MSGPACK_OBJECT_MAP, "series tags")))
      return rc;
    if (tags->via.map.size > r->lim.max_tags)
      return coin_error_set(COIN_ETOOBIG,
                            "influx: series \"%s\" has %u tags, max_tags=%zu",
                            row.name, tags->via.map.size, r->lim.max_tags);
    for (uint32_t i = 0; i < tags->via.map.size; i++) {
      const msgpack_object_kv *kv = &tags->via.map.ptr[i];
      if ((rc = arena_str(r, &kv->key, "tag key", &r->tag_keys[i])) ||
          (rc = arena_str(r, &kv->val, "tag value", &r->tag_values[i])))
        return rc;
    }
    row.n_tags = tags->via.map.size;
  }
  if (!columns)
    return coin_error_set(COIN_EDECODE,
                          "influx: series \"%s\" has no \"columns\"", row.name);
  if ((rc = want_type(columns, MSGPACK_OBJECT_ARRAY, "series columns")))
    return rc;
  if (columns->via.array.size > r->lim.max_columns)
    return coin_error_set(COIN_ETOOBIG,
                          "influx: series \"%s\" has %u columns, "
                          "max_columns=%zu",
                          row.name, columns->via.array.size,
                          r->lim.max_columns);
  for (uint32_t i = 0; i < columns->via.array.size; i++)
    if ((rc = arena_str(r, &columns->via.array.ptr[i], "column name",
                        &r->columns[i])))
      return rc;
  row.n_columns = columns->via.array.size;
  row.tag_keys = r->tag_keys;
  row.tag_values = r->tag_values;
  row.columns = r->columns;
  row.values = r->values;
  if (!values || values->type == MSGPACK_OBJECT_NIL)
    return 0;
  if ((rc = want_type(values, MSGPACK_OBJECT_ARRAY, "series values")))
    return rc;
  for (uint32_t i = 0; i < values->via.array.size; i++) {
    const msgpack_object *v = &values->via.array.ptr[i];
    if ((rc = want_type(v, MSGPACK_OBJECT_ARRAY, "row")))
      return rc;
    if (v->via.array.size != row.n_columns)
      return coin_error_set(COIN_EDECODE,
                            "influx: series \"%s\" row has %u values for %zu "
                            "columns",
                            row.name, v->via.array.size, row.n_columns);
    for (size_t c = 0; c < row.n_columns; c++)
      if ((rc = cell(r, &v->via.array.ptr[c], &r->values[c], c)))
        return rc;
    r->rows++;
    rc = r->cb ? r->cb(r->ud, &row) : 0;
    if (rc > 0)
      return INFLUX_STOPPED;
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int decode_result(struct influx_reader *r, const msgpack_object *res) {
  int rc = want_type(res, MSGPACK_OBJECT_MAP, "result");
  if (rc)
    return rc;
  int statement_id = 0;
  const msgpack_object *series = NULL, *err = NULL;
  for (uint32_t i = 0; i < res->via.map.size; i++) {
    const msgpack_object_kv *kv = &res->via.map.ptr[i];
    if (key_is(&kv->key, "statement_id")) {
      if (kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
          kv->val.via.u64 > 1000000)
        return coin_error_set(COIN_EDECODE,
                              "influx: statement_id is %s, want a small uint",
                              type_name(kv->val.type));
      statement_id = (int)kv->val.via.u64;
    } else if (key_is(&kv->key, "series")) {
      series = &kv->val;
    } else if (key_is(&kv->key, "error")) {
      err = &kv->val;
    }
  }
  if (err)
    return statement_error(err, statement_id);
  if (!series || series->type == MSGPACK_OBJECT_NIL)
    return 0;
  if ((rc = want_type(series, MSGPACK_OBJECT_ARRAY, "result series")))
    return rc;
  for (uint32_t i = 0; i < series->via.array.size; i++)
    if ((rc = decode_series(r, statement_id, &series->via.array.ptr[i])))
      return rc;
  return 0;
}

static int decode_chunk(struct influx_reader *r, const msgpack_object *root) {
  int rc = want_type(root, MSGPACK_OBJECT_MAP, "top-level object");
  if (rc)
    return rc;
  const msgpack_object *results = NULL;
  for (uint32_t i = 0; i < root->via.map.size; i++) {
    const msgpack_object_kv *kv = &root->via.map.ptr[i];
    if (key_is(&kv->key, "error"))
      return statement_error(&kv->val, -1);
    if (key_is(&kv->key, "results"))
      results = &kv->val;
  }
  if (!results)
    return coin_error_set(COIN_EDECODE,
                          "influx: msgpack chunk has no \"results\" key");
  if ((rc = want_type(results, MSGPACK_OBJECT_ARRAY, "results")))
    return rc;
  for (uint32_t i = 0; i < results->via.array.size; i++)
    if ((rc = decode_result(r, &results->via.array.ptr[i])))
      return rc;
  return 0;
}

int influx_reader_new(struct influx_reader **out,
                      const struct influx_reader_limits *lim,
                      coin_influx_row_cb cb, void *ud) {
  int rc = 0;
  struct influx_reader *r = calloc(1, sizeof(*r));
  if (!r)
    return coin_error_set(COIN_ENOMEM, "influx: out of memory (reader)");
  r->lim = *lim;
  r->cb = cb;
  r->ud = ud;
  msgpack_unpacked_init(&r->res);
  size_t ncol = lim->max_columns ? lim->max_columns : 1;
  size_t ntag = lim->max_tags ? lim->max_tags : 1;
  r->u = msgpack_unpacker_new(UNPACKER_INIT_BYTES);
  r->arena = malloc(lim->max_header_bytes);
  r->tag_keys = calloc(ntag, sizeof(*r->tag_keys));
  r->tag_values = calloc(ntag, sizeof(*r->tag_values));
  r->columns = calloc(ncol, sizeof(*r->columns));
  r->values = calloc(ncol, sizeof(*r->values));
  if (!r->u || !r->arena || !r->tag_keys || !r->tag_values || !r->columns ||
      !r->values) {
    rc = coin_error_set(COIN_ENOMEM, "influx: out of memory (reader)");
    goto out;
  }
  *out = r;
out:
  if (rc)
    influx_reader_free(r);
  return rc;
}

void influx_reader_free(struct influx_reader *r) {
  if (!r)
    return;
  msgpack_unpacked_destroy(&r->res);
  if (r->u)
    msgpack_unpacker_free(r->u);
  free(r->arena);
  free(r->tag_keys);
  free(r->tag_values);
  free(r->columns);
  free(r->values);
  free(r);
}

/* Decodes every complete object now buffered. */
static int drain(struct influx_reader *r) {
  for (;;) {
    msgpack_unpack_return ret = msgpack_unpacker_next(r->u, &r->res);
    if (ret == MSGPACK_UNPACK_CONTINUE)
      return 0;
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
      return coin_error_set(COIN_ENOMEM,
                            "influx: msgpack decoder out of memory (a "
                            "container declares too many elements?)");
    if (ret != MSGPACK_UNPACK_SUCCESS)
      return coin_error_set(COIN_EDECODE,
                            "influx: malformed msgpack in chunk %" PRIu64
                            " of the response",
                            r->chunks + 1);
    r->chunks++;
    int rc = decode_chunk(r, &r->res.data);
    msgpack_unpacked_destroy(&r->res);
    if (rc)
      return rc;
  }
}

int influx_reader_feed(struct influx_reader *r, const char *data, size_t len) {
  if (r->done_rc)
    return r->done_rc;
  int rc = 0;
  while (len > 0) {
    size_t n = len < FEED_STEP_BYTES ? len : FEED_STEP_BYTES;
    if (!msgpack_unpacker_reserve_buffer(r->u, n)) {
      rc = coin_error_set(COIN_ENOMEM, "influx: out of memory (%zu bytes)", n);
      goto out;
    }
    memcpy(msgpack_unpacker_buffer(r->u), data, n);
    msgpack_unpacker_buffer_consumed(r->u, n);
    data += n;
    len -= n;
    size_t held = msgpack_unpacker_message_size(r->u);
    if (held > r->max_buffered)
      r->max_buffered = held;
    if ((rc = drain(r)))
      goto out;
    held = msgpack_unpacker_message_size(r->u);
    if (held > r->lim.max_chunk_bytes) {
      rc = coin_error_set(COIN_ETOOBIG,
                          "influx: one msgpack chunk exceeds max_chunk_bytes="
                          "%zu (lower chunk_size)",
                          r->lim.max_chunk_bytes);
      goto out;
    }
  }
out:
  r->done_rc = rc;
  return rc;
}

int influx_reader_finish(struct influx_reader *r) {
  if (r->done_rc)
    return r->done_rc;
  size_t pending = msgpack_unpacker_message_size(r->u);
  if (pending > 0)
    return coin_error_set(COIN_EDECODE,
                          "influx: response ended inside a msgpack object "
                          "(%zu bytes pending after %" PRIu64 " chunks)",
                          pending, r->chunks);
  if (r->chunks == 0)
    return coin_error_set(COIN_EDECODE, "influx: empty /query response");
  return 0;
}

uint64_t influx_reader_rows(const struct influx_reader *r) {
  return r->rows;
}

size_t influx_reader_max_buffered(const struct influx_reader *r) {
  return r->max_buffered;
}
