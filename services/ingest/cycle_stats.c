/* cycle_stats.c: ring of cycle timings, its summary and its KV form (see
 * cycle_stats.h). */
#include "cycle_stats.h"

#include "coin/error.h"
#include "coin/jbuf.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cycle_stats_init(struct cycle_stats *s, size_t window_size) {
  memset(s, 0, sizeof(*s));
  if (window_size == 0)
    return coin_error_set(COIN_EINVAL, "cycle stats: window size 0");
  s->elapsed_seconds = calloc(window_size, sizeof(double));
  s->overrun = calloc(window_size, sizeof(bool));
  if (!s->elapsed_seconds || !s->overrun) {
    cycle_stats_destroy(s);
    return coin_error_set(COIN_ENOMEM, "cycle stats: out of memory");
  }
  s->window_size = window_size;
  return 0;
}

void cycle_stats_destroy(struct cycle_stats *s) {
  free(s->elapsed_seconds);
  free(s->overrun);
  s->elapsed_seconds = NULL;
  s->overrun = NULL;
}

void cycle_stats_add(struct cycle_stats *s, double elapsed_seconds,
                     bool overrun) {
  s->elapsed_seconds[s->next] = elapsed_seconds;
  s->overrun[s->next] = overrun;
  s->next = (s->next + 1) % s->window_size;
  if (s->count < s->window_size)
    s->count++;
  s->total_cycles++;
  s->total_overruns += overrun;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double rank(const double *sorted, size_t n, double q) {
  size_t r = (size_t)ceil(q * (double)n);
  if (r < 1)
    r = 1;
  return sorted[r - 1];
}

void cycle_stats_summary(struct cycle_summary *out,
                         const struct cycle_stats *s) {
  memset(out, 0, sizeof(*out));
  out->samples = s->count;
  if (s->count == 0)
    return;
  double *sorted = malloc(s->count * sizeof(double));
  size_t overruns = 0;
  for (size_t i = 0; i < s->count; i++)
    overruns += s->overrun[i];
  out->overrun_rate = (double)overruns / (double)s->count;
  if (!sorted)
    return; /* percentiles stay 0: better than failing the cycle */
  memcpy(sorted, s->elapsed_seconds, s->count * sizeof(double));
  qsort(sorted, s->count, sizeof(double), cmp_double);
  out->p50_elapsed_seconds = rank(sorted, s->count, 0.50);
  out->p95_elapsed_seconds = rank(sorted, s->count, 0.95);
  out->max_elapsed_seconds = sorted[s->count - 1];
  free(sorted);
}

static void iso8601(char *out, size_t n, int64_t ms) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           (int)(ms % 1000));
}

int cycle_stats_json(char **out, const struct cycle_stats *s,
                     int64_t updated_at_ms) {
  struct cycle_summary sum;
  char ts[64];
  cycle_stats_summary(&sum, s);
  iso8601(ts, sizeof(ts), updated_at_ms);
  json_t *j = json_pack(
      "{s:i, s:s, s:I, s:I, s:{s:I, s:f, s:f, s:f, s:f}}", "schema_version", 1,
      "updated_at", ts, "updated_at_ms", (json_int_t)updated_at_ms,
      "window_size", (json_int_t)s->window_size, "summary", "samples",
      (json_int_t)sum.samples, "p50_elapsed_seconds", sum.p50_elapsed_seconds,
      "p95_elapsed_seconds", sum.p95_elapsed_seconds, "max_elapsed_seconds",
      sum.max_elapsed_seconds, "overrun_rate", sum.overrun_rate);
  if (!j)
    return coin_error_set(COIN_ENOMEM, "runtime metrics: json pack failed");
  char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
  json_decref(j);
  if (!text)
    return coin_error_set(COIN_ENOMEM, "runtime metrics: out of memory");
  *out = text;
  return 0;
}

/* ---- durable window ------------------------------------------------------ */

static size_t oldest_index(const struct cycle_stats *s) {
  return (s->next + s->window_size - s->count) % s->window_size;
}

double cycle_stats_elapsed_at(const struct cycle_stats *s, size_t i) {
  return s->elapsed_seconds[(oldest_index(s) + i) % s->window_size];
}

bool cycle_stats_overrun_at(const struct cycle_stats *s, size_t i) {
  return s->overrun[(oldest_index(s) + i) % s->window_size];
}

int cycle_stats_serialize(char **out, size_t *out_len,
                          const struct cycle_stats *s, int64_t saved_at_ms) {
  struct coin_jbuf b = {0};
  coin_jbuf_puts(&b, "{");
  coin_jbuf_kint(&b, "schema_version", CYCLE_STATS_SCHEMA_VERSION);
  coin_jbuf_kint(&b, "window_size", (int64_t)s->window_size);
  coin_jbuf_kint(&b, "total_cycles", (int64_t)s->total_cycles);
  coin_jbuf_kint(&b, "total_overruns", (int64_t)s->total_overruns);
  coin_jbuf_kint(&b, "saved_at_ms", saved_at_ms);
  coin_jbuf_key(&b, "elapsed_seconds");
  coin_jbuf_puts(&b, "[");
  for (size_t i = 0; i < s->count; i++) {
    coin_jbuf_num(&b, cycle_stats_elapsed_at(s, i));
    coin_jbuf_puts(&b, ",");
  }
  coin_jbuf_trim_comma(&b);
  coin_jbuf_puts(&b, "],");
  coin_jbuf_key(&b, "overrun");
  coin_jbuf_puts(&b, "\"");
  for (size_t i = 0; i < s->count; i++)
    coin_jbuf_puts(&b, cycle_stats_overrun_at(s, i) ? "1" : "0");
  coin_jbuf_puts(&b, "\"}");
  if (coin_jbuf_finish(out, out_len, &b) != 0)
    return coin_error_set(COIN_ENOMEM, "runtime window: out of memory");
  return 0;
}

#define BAD(...) coin_error_set(COIN_EDECODE, "runtime window: " __VA_ARGS__)

/* A non-negative integer member; -1 when missing or not one. */
static json_int_t get_count(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return -1;
  return json_integer_value(v);
}

/* The member's JSON text for an error line (short; "missing" if absent). */
static void shown(char *out, size_t n, const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  char *t = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  snprintf(out, n, "%.40s%s", t ? t : "missing",
           t && strlen(t) > 40 ? "..." : "");
  free(t);
}

/* Checks the stored window against the rules of cycle_stats.h; on success
 * *elapsed and *overrun point into j (n samples) and the totals are set. */
static int check_value(const json_t *j, const json_t **elapsed,
                       const char **overrun, size_t *n, uint64_t *total,
                       uint64_t *total_overruns) {
  char v[64];
  if (!json_is_object(j))
    return BAD("not a JSON object");
  json_int_t sv = get_count(j, "schema_version");
  if (sv != CYCLE_STATS_SCHEMA_VERSION) {
    shown(v, sizeof(v), j, "schema_version");
    return BAD("schema_version %s, want %d", v, CYCLE_STATS_SCHEMA_VERSION);
  }
  json_int_t ws = get_count(j, "window_size");
  if (ws < 1 || ws > CYCLE_STATS_WINDOW_MAX) {
    shown(v, sizeof(v), j, "window_size");
    return BAD("window_size %s, want an integer 1..%d", v,
               CYCLE_STATS_WINDOW_MAX);
  }
  const json_t *e = json_object_get(j, "elapsed_seconds");
  if (!json_is_array(e)) {
    shown(v, sizeof(v), j, "elapsed_seconds");
    return BAD("elapsed_seconds %s, want an array", v);
  }
  size_t count = json_array_size(e);
  if (count > (size_t)ws)
    return BAD("%zu samples, more than window_size %lld", count, (long long)ws);
  for (size_t i = 0; i < count; i++) {
    const json_t *x = json_array_get(e, i);
    double d = json_number_value(x);
    if (!json_is_number(x) || !isfinite(d) || d < 0) {
      char *t = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
      int rc = BAD("elapsed_seconds[%zu] %.40s, want a finite number >= 0", i,
                   t ? t : "?");
      free(t);
      return rc;
    }
  }
  const json_t *o = json_object_get(j, "overrun");
  if (!json_is_string(o)) {
    shown(v, sizeof(v), j, "overrun");
    return BAD("overrun %s, want a string of 0 and 1", v);
  }
  const char *flags = json_string_value(o);
  size_t n_flags = json_string_length(o);
  if (n_flags != count)
    return BAD("overrun holds %zu flags for %zu samples", n_flags, count);
  uint64_t held = 0;
  for (size_t i = 0; i < n_flags; i++) {
    if (flags[i] != '0' && flags[i] != '1')
      return BAD("overrun[%zu] 0x%02x, want '0' or '1'", i,
                 (unsigned)(unsigned char)flags[i]);
    held += flags[i] == '1';
  }
  json_int_t tc = get_count(j, "total_cycles");
  if (tc < 0 || (uint64_t)tc < count) {
    shown(v, sizeof(v), j, "total_cycles");
    return BAD("total_cycles %s, want an integer >= %zu (the samples)", v,
               count);
  }
  json_int_t to = get_count(j, "total_overruns");
  if (to < 0 || (uint64_t)to < held || to > tc) {
    shown(v, sizeof(v), j, "total_overruns");
    return BAD("total_overruns %s, want an integer %llu..%lld (overruns "
               "held..total_cycles)",
               v, (unsigned long long)held, (long long)tc);
  }
  *elapsed = e;
  *overrun = flags;
  *n = count;
  *total = (uint64_t)tc;
  *total_overruns = (uint64_t)to;
  return 0;
}

int cycle_stats_restore(struct cycle_stats *s, const void *data, size_t len) {
  if (len > CYCLE_STATS_VALUE_MAX_BYTES)
    return coin_error_set(COIN_ETOOBIG, "runtime window: %zu bytes, cap %d",
                          len, CYCLE_STATS_VALUE_MAX_BYTES);
  json_error_t err;
  json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
  if (!j)
    return BAD("not JSON: %s (line %d, column %d)", err.text, err.line,
               err.column);
  const json_t *elapsed = NULL;
  const char *overrun = NULL;
  size_t n = 0;
  uint64_t total = 0, total_overruns = 0;
  struct cycle_stats t;
  int rc = check_value(j, &elapsed, &overrun, &n, &total, &total_overruns);
  if (rc == 0)
    rc = cycle_stats_init(&t, s->window_size);
  if (rc != 0)
    goto out;
  /* Stored samples first (oldest), then those of this run; the ring keeps
   * the newest window_size. */
  for (size_t i = 0; i < n; i++)
    cycle_stats_add(&t, json_number_value(json_array_get(elapsed, i)),
                    overrun[i] == '1');
  for (size_t i = 0; i < s->count; i++)
    cycle_stats_add(&t, cycle_stats_elapsed_at(s, i),
                    cycle_stats_overrun_at(s, i));
  t.total_cycles = total + s->total_cycles;
  t.total_overruns = total_overruns + s->total_overruns;
  cycle_stats_destroy(s);
  *s = t;
out:
  json_decref(j);
  return rc;
}
