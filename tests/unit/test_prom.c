/* test_prom.c: metrics tables rendered as Prometheus text and Markdown. */
#include "coin/config.h"
#include "coin/prom.h"
#include "test.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct counters {
  atomic_uint_fast64_t sent;
  atomic_uint_fast64_t queued;
  atomic_uint_fast64_t elapsed_ms;
  atomic_uint_fast64_t by_reason[2];
  double computed;
};

static double computed(const struct coin_prom_metric *row, void *base) {
  (void)row;
  return ((const struct counters *)base)->computed;
}

static void histogram(struct coin_jbuf *b, const struct coin_prom_metric *row,
                      void *base) {
  (void)base;
  coin_jbuf_printf(b, "%s_count 0\n", row->name);
}

static void raw_block(struct coin_jbuf *b, const struct coin_prom_metric *row,
                      void *base) {
  (void)row;
  (void)base;
  coin_jbuf_puts(b, "# a block of its own\n");
}

static const struct coin_prom_metric table[] = {
    COIN_PROM_COUNTER_AT(struct counters, sent, "x_sent_total",
                         "Messages sent."),
    COIN_PROM_GAUGE_AT(struct counters, queued, "x_queued", "Queued | held."),
    {.name = "x_elapsed_seconds",
     .help = "Elapsed.",
     .type = COIN_PROM_GAUGE,
     .offset = offsetof(struct counters, elapsed_ms),
     .divisor = 1000},
    {.name = "x_dropped_total",
     .help = "Dropped, by reason.",
     .type = COIN_PROM_COUNTER,
     .label = "reason",
     .labels =
         (const struct coin_prom_label[]){
             {"full", offsetof(struct counters, by_reason[0])},
             {"old", offsetof(struct counters, by_reason[1])},
             {NULL, 0}}},
    {.name = "x_ratio",
     .help = "Computed.",
     .type = COIN_PROM_GAUGE,
     .get = computed},
    {.name = "x_wait_seconds",
     .help = "Waits.",
     .type = COIN_PROM_HISTOGRAM,
     .samples = histogram},
    {.samples = raw_block},
};

static void renders_text_in_table_order(void) {
  struct counters c = {.computed = 0.25};
  atomic_store(&c.sent, 7);
  atomic_store(&c.queued, 3);
  atomic_store(&c.elapsed_ms, 1234);
  atomic_store(&c.by_reason[0], 1);
  atomic_store(&c.by_reason[1], 2);
  struct coin_jbuf b = {0};
  coin_prom_render(&b, table, COIN_ARRAY_LEN(table), &c);
  ASSERT_FALSE(b.oom);
  ASSERT_EQ_STR(b.p, "# HELP x_sent_total Messages sent.\n"
                     "# TYPE x_sent_total counter\n"
                     "x_sent_total 7\n"
                     "# HELP x_queued Queued | held.\n"
                     "# TYPE x_queued gauge\n"
                     "x_queued 3\n"
                     "# HELP x_elapsed_seconds Elapsed.\n"
                     "# TYPE x_elapsed_seconds gauge\n"
                     "x_elapsed_seconds 1.234\n"
                     "# HELP x_dropped_total Dropped, by reason.\n"
                     "# TYPE x_dropped_total counter\n"
                     "x_dropped_total{reason=\"full\"} 1\n"
                     "x_dropped_total{reason=\"old\"} 2\n"
                     "# HELP x_ratio Computed.\n"
                     "# TYPE x_ratio gauge\n"
                     "x_ratio 0.25\n"
                     "# HELP x_wait_seconds Waits.\n"
                     "# TYPE x_wait_seconds histogram\n"
                     "x_wait_seconds_count 0\n"
                     "# a block of its own\n");
  coin_jbuf_free(&b);
}

static void doc_rows_name_every_metric(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ASSERT_TRUE(f != NULL);
  ASSERT_OK(coin_prom_doc_rows(f, table, COIN_ARRAY_LEN(table)));
  fclose(f);
  ASSERT_EQ_STR(text, "| `x_sent_total` | counter | Messages sent. |\n"
                      "| `x_queued` | gauge | Queued \\| held. |\n"
                      "| `x_elapsed_seconds` | gauge | Elapsed. |\n"
                      "| `x_dropped_total{reason}` | counter | Dropped, by "
                      "reason. |\n"
                      "| `x_ratio` | gauge | Computed. |\n"
                      "| `x_wait_seconds` | histogram | Waits. |\n");
  free(text);
}

TEST_MAIN(RUN_TEST(renders_text_in_table_order);
          RUN_TEST(doc_rows_name_every_metric))
