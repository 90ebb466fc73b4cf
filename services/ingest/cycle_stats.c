/* cycle_stats.c: ring of cycle timings and its summary (see cycle_stats.h). */
#include "cycle_stats.h"

#include "coin/error.h"

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
