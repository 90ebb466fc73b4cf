/* prom.c: Prometheus text and Markdown rows from a metrics table (see
 * prom.h). Stateless; the values are read when rendered. */
#include "coin/prom.h"

#include "coin/error.h"

#include <stdatomic.h>
#include <stdint.h>

static const char *type_name(enum coin_prom_type t) {
  switch (t) {
  case COIN_PROM_COUNTER: return "counter";
  case COIN_PROM_GAUGE: return "gauge";
  case COIN_PROM_HISTOGRAM: return "histogram";
  }
  return "untyped";
}

static uint64_t load_at(const void *base, size_t offset) {
  return atomic_load(
      (const atomic_uint_fast64_t *)((const char *)base + offset));
}

static void render_labels(struct coin_jbuf *b, const struct coin_prom_metric *r,
                          const void *base) {
  for (const struct coin_prom_label *l = r->labels; l->value; l++)
    coin_jbuf_printf(b, "%s{%s=\"%s\"} %llu\n", r->name, r->label, l->value,
                     (unsigned long long)load_at(base, l->offset));
}

static void render_one(struct coin_jbuf *b, const struct coin_prom_metric *r,
                       void *base) {
  if (r->samples || r->labels) {
    if (r->name)
      coin_jbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", r->name, r->help,
                       r->name, type_name(r->type));
    if (r->samples)
      r->samples(b, r, base);
    else
      render_labels(b, r, base);
    return;
  }
  if (r->type == COIN_PROM_COUNTER) {
    uint64_t v = r->get ? (uint64_t)r->get(r, base) : load_at(base, r->offset);
    coin_jbuf_prom_counter(b, r->name, r->help, v);
    return;
  }
  double v = r->get ? r->get(r, base) : (double)load_at(base, r->offset);
  if (r->divisor != 0)
    v /= r->divisor;
  coin_jbuf_prom_gauge(b, r->name, r->help, v);
}

void coin_prom_render(struct coin_jbuf *b, const struct coin_prom_metric *table,
                      size_t n, void *base) {
  for (size_t i = 0; i < n; i++)
    render_one(b, &table[i], base);
}

int coin_prom_text(char **out, const struct coin_prom_metric *table, size_t n,
                   void *base) {
  struct coin_jbuf b = {0};
  coin_prom_render(&b, table, n, base);
  return coin_jbuf_finish(out, NULL, &b);
}

/* A table cell: '|' escaped, newlines as spaces. */
static void md_cell(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '|')
      fputs("\\|", out);
    else
      fputc(*s == '\n' ? ' ' : *s, out);
  }
}

int coin_prom_doc_rows(FILE *out, const struct coin_prom_metric *table,
                       size_t n) {
  for (size_t i = 0; i < n; i++) {
    const struct coin_prom_metric *r = &table[i];
    if (r->name == NULL)
      continue;
    fprintf(out, "| `%s", r->name);
    if (r->label)
      fprintf(out, "{%s}", r->label);
    fprintf(out, "` | %s | ", type_name(r->type));
    md_cell(out, r->help);
    fputs(" |\n", out);
  }
  if (ferror(out))
    return coin_error_set(COIN_EIO, "metrics docs: write failed");
  return 0;
}
