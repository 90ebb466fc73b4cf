/*
 * prom.h: a service's Prometheus metrics as one table, rendered as text
 * (/metrics) and as Markdown rows (--metrics-doc, docs/metrics.md). Each
 * metric is declared once: name, help, type and where its value is. The
 * tables are static const data; rendering reads atomics and calls the
 * rows' callbacks on the caller's thread (any thread).
 */
#ifndef COIN_PROM_H
#define COIN_PROM_H

#include <stddef.h>
#include <stdio.h>

#include "coin/jbuf.h"

enum coin_prom_type { COIN_PROM_COUNTER, COIN_PROM_GAUGE, COIN_PROM_HISTOGRAM };

/* One sample of a labelled family: label value and the offset of its
 * atomic_uint_fast64_t from the table's base. */
struct coin_prom_label {
  const char *value;
  size_t offset;
};

struct coin_prom_metric;

/* A computed value of the row (e.g. a flag, a sum, a figure read under a
 * lock); counters are rendered as its integer part. */
typedef double (*coin_prom_get_fn)(const struct coin_prom_metric *row,
                                   void *base);
/* The sample lines of a labelled family or a histogram (after the HELP and
 * TYPE lines the renderer wrote), or, for a row without name, a whole block
 * another module writes with its own HELP and TYPE (coin_leader_metrics). */
typedef void (*coin_prom_samples_fn)(struct coin_jbuf *b,
                                     const struct coin_prom_metric *row,
                                     void *base);

/* Where the value of a row comes from, first match:
 * samples: the callback writes the sample lines;
 * labels: a family name{label="value"} with one atomic per label value
 *   ({NULL}-terminated);
 * get: the callback's value;
 * else: the atomic_uint_fast64_t at base + offset.
 * Gauges are divided by divisor when it is not 0 (1000: milliseconds as
 * seconds).
 * offset is also free for get and samples to use (a field of their own
 * struct: one callback for several rows). label names the label of a
 * family, also of one that samples writes (shown in the docs). */
struct coin_prom_metric {
  const char *name, *help; /* name NULL: a block samples writes whole */
  enum coin_prom_type type;
  size_t offset;
  double divisor;
  coin_prom_get_fn get;
  coin_prom_samples_fn samples;
  const char *label;
  const struct coin_prom_label *labels;
};

/* Rows of a table, one macro each:
 * COUNTER_AT, GAUGE_AT: the atomic_uint_fast64_t member of struct st;
 * SCALED_AT: a gauge of that kind divided by divisor;
 * COMPUTED: get's value (_AT: offset names member of get's own struct st);
 * LABELLED: a family of atomics (labels);
 * FAMILY: a family or histogram whose sample lines samples writes;
 * BLOCK: a whole block another module writes (no name, not in the docs). */
#define COIN_PROM_COUNTER_AT(st, member, name_, help_)                         \
  {                                                                            \
    .name = (name_), .help = (help_), .type = COIN_PROM_COUNTER,               \
    .offset = offsetof(st, member)                                             \
  }
#define COIN_PROM_GAUGE_AT(st, member, name_, help_)                           \
  {                                                                            \
    .name = (name_), .help = (help_), .type = COIN_PROM_GAUGE,                 \
    .offset = offsetof(st, member)                                             \
  }
#define COIN_PROM_SCALED_AT(st, member, divisor_, name_, help_)                \
  {                                                                            \
    .name = (name_), .help = (help_), .type = COIN_PROM_GAUGE,                 \
    .offset = offsetof(st, member), .divisor = (divisor_)                      \
  }
#define COIN_PROM_COMPUTED(type_, get_, name_, help_)                          \
  { .name = (name_), .help = (help_), .type = (type_), .get = (get_) }
#define COIN_PROM_COMPUTED_AT(type_, st, member, get_, name_, help_)           \
  {                                                                            \
    .name = (name_), .help = (help_), .type = (type_),                         \
    .offset = offsetof(st, member), .get = (get_)                              \
  }
#define COIN_PROM_FAMILY(type_, label_, samples_, name_, help_)                \
  {                                                                            \
    .name = (name_), .help = (help_), .type = (type_), .label = (label_),      \
    .samples = (samples_)                                                      \
  }
#define COIN_PROM_LABELLED(type_, label_, labels_, name_, help_)               \
  {                                                                            \
    .name = (name_), .help = (help_), .type = (type_), .label = (label_),      \
    .labels = (labels_)                                                        \
  }
#define COIN_PROM_BLOCK(samples_)                                              \
  { .samples = (samples_) }

/* Appends the metrics of table[0..n) with values read from base (the struct
 * the rows' offsets point into) in table order. Errors are the buffer's
 * (b->oom). */
void coin_prom_render(struct coin_jbuf *b, const struct coin_prom_metric *table,
                      size_t n, void *base);

/* The text of a whole table as *out (caller frees); COIN_ENOMEM. */
int coin_prom_text(char **out, const struct coin_prom_metric *table, size_t n,
                   void *base);

/* Writes one Markdown row "| `name` | type | help |" per named metric of
 * the table to out (a family's name with its label: name{label}); COIN_EIO
 * when writing failed. */
int coin_prom_doc_rows(FILE *out, const struct coin_prom_metric *table,
                       size_t n);

#endif
