/*
 * influx_lp.c: InfluxDB line protocol and InfluxQL quoting, written into the
 * capped buffers (buf.h) the influx module builds requests in. No I/O;
 * thread-safe (no shared state). Buffers are owned by their caller.
 */
#include "coin/fmt.h"
#include "influx_int.h"

#include "coin/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDENT_BYTES 4096         /* measurement, tag key/value, field key */
#define MAX_STRING_FIELD_BYTES 65535 /* InfluxDB's own limit */
#define MAX_TAGS 64
#define MAX_FIELDS 256
/* InfluxDB stores ns in int64: about +-292 years around 1970. */
#define MAX_ABS_TIME_MS INT64_C(9223372036854)

/* ---- line protocol ---------------------------------------------------- */

/* what: "measurement", "tag key", ... for the one-line error. */
static int check_ident(const char *s, const char *what) {
  if (!s || !*s)
    return coin_error_set(COIN_EINVAL,
                          "influx: %s is empty (must be 1-%d bytes)", what,
                          MAX_IDENT_BYTES);
  size_t n = strnlen(s, MAX_IDENT_BYTES + 1);
  if (n > MAX_IDENT_BYTES)
    return coin_error_set(COIN_EINVAL,
                          "influx: %s \"%.32s...\" is longer than %d bytes",
                          what, s, MAX_IDENT_BYTES);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    /* A backslash cannot round-trip: InfluxDB 1.x keeps "\\" as two bytes
     * but reads "\ " as an escaped space. */
    if (ch < 0x20 || ch == 0x7f || ch == '\\')
      return coin_error_set(COIN_EINVAL,
                            "influx: %s \"%.64s\" has byte 0x%02x at %zu "
                            "(control characters and '\\' are not allowed)",
                            what, s, ch, i);
  }
  return 0;
}

/* Appends s escaping the bytes in specials with a backslash. */
static int add_escaped(struct coin_buf *b, const char *s,
                       const char *specials) {
  const char *run = s;
  int rc = 0;
  for (const char *p = s; *p; p++) {
    if (!strchr(specials, *p))
      continue;
    if ((rc = coin_buf_add(b, run, (size_t)(p - run))) ||
        (rc = coin_buf_add(b, "\\", 1)))
      return rc;
    run = p;
  }
  return coin_buf_add(b, run, strlen(run));
}

void influx_lp_format_double(char *out, size_t out_bytes, double v) {
  char num[COIN_FMT_DOUBLE_BYTES];
  coin_fmt_double(num, v);
  snprintf(out, out_bytes, "%s", num);
}

static int add_field_value(struct coin_buf *b,
                           const struct coin_influx_field *f) {
  char num[40];
  const struct coin_influx_value *v = &f->value;
  switch (v->type) {
  case COIN_INFLUX_FLOAT:
    if (!isfinite(v->v.f64))
      return coin_error_set(COIN_EINVAL,
                            "influx: field \"%.64s\" value %g is not finite "
                            "(InfluxDB stores finite floats only)",
                            f->key, v->v.f64);
    influx_lp_format_double(num, sizeof(num), v->v.f64);
    return coin_buf_add(b, num, strlen(num));
  case COIN_INFLUX_INT: return coin_buf_addf(b, "%" PRId64 "i", v->v.i64);
  case COIN_INFLUX_BOOL:
    return v->v.b ? coin_buf_add(b, "true", 4) : coin_buf_add(b, "false", 5);
  case COIN_INFLUX_STRING: {
    const char *s = v->v.str.ptr ? v->v.str.ptr : "";
    size_t n = strnlen(s, MAX_STRING_FIELD_BYTES + 1);
    if (n > MAX_STRING_FIELD_BYTES)
      return coin_error_set(COIN_EINVAL,
                            "influx: string field \"%.64s\" is longer than %d "
                            "bytes",
                            f->key, MAX_STRING_FIELD_BYTES);
    int rc;
    if ((rc = coin_buf_add(b, "\"", 1)) || (rc = add_escaped(b, s, "\"\\")))
      return rc;
    return coin_buf_add(b, "\"", 1);
  }
  case COIN_INFLUX_NULL:
  case COIN_INFLUX_UINT:
  default:
    return coin_error_set(COIN_EINVAL,
                          "influx: field \"%.64s\" has type %d (writable: "
                          "float, int, bool, string)",
                          f->key, (int)v->type);
  }
}

static int check_point(const struct coin_influx_point *p, size_t *order) {
  int rc;
  if ((rc = check_ident(p->measurement, "measurement")))
    return rc;
  if (p->measurement[0] == '#')
    return coin_error_set(COIN_EINVAL,
                          "influx: measurement \"%.64s\" starts with '#' "
                          "(a comment line in line protocol)",
                          p->measurement);
  if (p->n_tags > MAX_TAGS)
    return coin_error_set(COIN_EINVAL, "influx: %zu tags, at most %d",
                          p->n_tags, MAX_TAGS);
  if (p->n_fields == 0 || p->n_fields > MAX_FIELDS || !p->fields)
    return coin_error_set(COIN_EINVAL,
                          "influx: point has %zu fields (must be 1-%d)",
                          p->n_fields, MAX_FIELDS);
  if (p->n_tags && !p->tags)
    return coin_error_set(COIN_EINVAL, "influx: tags is NULL with n_tags=%zu",
                          p->n_tags);
  if (p->time_ms > MAX_ABS_TIME_MS || p->time_ms < -MAX_ABS_TIME_MS)
    return coin_error_set(COIN_EINVAL,
                          "influx: time_ms=%" PRId64
                          " is outside InfluxDB's range +-%" PRId64,
                          p->time_ms, MAX_ABS_TIME_MS);
  for (size_t i = 0; i < p->n_tags; i++) {
    if ((rc = check_ident(p->tags[i].key, "tag key")) ||
        (rc = check_ident(p->tags[i].value, "tag value")))
      return rc;
    if (strcmp(p->tags[i].key, "time") == 0)
      return coin_error_set(COIN_EINVAL,
                            "influx: tag key \"time\" is reserved by InfluxDB");
  }
  for (size_t i = 0; i < p->n_fields; i++) {
    if ((rc = check_ident(p->fields[i].key, "field key")))
      return rc;
    if (strcmp(p->fields[i].key, "time") == 0)
      return coin_error_set(COIN_EINVAL,
                            "influx: field key \"time\" is reserved by "
                            "InfluxDB");
  }
  /* Insertion sort of tag indexes by key; then duplicates are neighbours. */
  for (size_t i = 0; i < p->n_tags; i++) {
    size_t j = i;
    while (j > 0 && strcmp(p->tags[order[j - 1]].key, p->tags[i].key) > 0) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  for (size_t i = 1; i < p->n_tags; i++)
    if (strcmp(p->tags[order[i - 1]].key, p->tags[order[i]].key) == 0)
      return coin_error_set(COIN_EINVAL, "influx: tag key \"%.64s\" repeated",
                            p->tags[order[i]].key);
  return 0;
}

int influx_lp_append(struct coin_buf *b, const struct coin_influx_point *p) {
  size_t order[MAX_TAGS];
  size_t start = b->len;
  int rc = check_point(p, order);
  if (rc)
    return rc;
  if ((rc = add_escaped(b, p->measurement, ", ")))
    goto out;
  for (size_t i = 0; i < p->n_tags; i++) {
    const struct coin_influx_tag *t = &p->tags[order[i]];
    if ((rc = coin_buf_add(b, ",", 1)) ||
        (rc = add_escaped(b, t->key, ",= ")) ||
        (rc = coin_buf_add(b, "=", 1)) ||
        (rc = add_escaped(b, t->value, ",= ")))
      goto out;
  }
  for (size_t i = 0; i < p->n_fields; i++) {
    if ((rc = coin_buf_add(b, i ? "," : " ", 1)) ||
        (rc = add_escaped(b, p->fields[i].key, ",= ")) ||
        (rc = coin_buf_add(b, "=", 1)) ||
        (rc = add_field_value(b, &p->fields[i])))
      goto out;
  }
  rc = coin_buf_addf(b, " %" PRId64, p->time_ms);
out:
  if (rc)
    coin_buf_truncate(b, start);
  return rc;
}

int coin_influx_line_format(char **out, const struct coin_influx_point *p) {
  struct coin_buf b;
  coin_buf_init(&b, COIN_BUF_CAP_INFLUX_LINE_FORMAT);
  if (!p)
    return coin_error_set(COIN_EINVAL, "influx: point is NULL");
  int rc = influx_lp_append(&b, p);
  if (rc) {
    coin_buf_free(&b);
    return rc;
  }
  *out = b.p; /* non-NULL: at least the measurement was added */
  return 0;
}

/* ---- InfluxQL quoting ------------------------------------------------- */

static int ql_quote(struct coin_buf *b, const char *s, char quote,
                    const char *what) {
  if (!s)
    return coin_error_set(COIN_EINVAL, "influxql: %s is NULL", what);
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20)
      return coin_error_set(COIN_EINVAL,
                            "influxql: %s \"%.64s\" has a control character",
                            what, s);
  char q[2] = {quote, '\0'};
  char specials[3] = {quote, '\\', '\0'};
  int rc;
  if ((rc = coin_buf_add(b, q, 1)) || (rc = add_escaped(b, s, specials)))
    return rc;
  return coin_buf_add(b, q, 1);
}

int influx_ql_ident(struct coin_buf *b, const char *ident) {
  return ql_quote(b, ident, '"', "identifier");
}

int influx_ql_string(struct coin_buf *b, const char *s) {
  return ql_quote(b, s, '\'', "string");
}
