/*
 * page.c: the filter of one exchange page (sync.c's on_page keeps what it
 * says, counts and logs the rest, records the holes): the still-open
 * candle, rows before the next expected open time (outside the range asked,
 * or repeats of a row kept) and invalid candles are dropped. Pure: no
 * state but the caller's expected open time, so tests drive it directly.
 */
#include "ingest_int.h"

enum page_verdict page_filter_row(struct page_hole *hole, int64_t *expect_ms,
                                  const struct coin_candle *rows,
                                  const int64_t *close_ms, size_t i,
                                  enum coin_tf tf, int64_t last_closed_ms) {
  const struct coin_candle *c = &rows[i];
  hole->found = false;
  if (c->open_ms > last_closed_ms)
    return PAGE_OPEN; /* the exchange includes the still-open candle */
  if (c->open_ms < *expect_ms)
    return PAGE_BEFORE; /* before the range (a straying server) */
  if (coin_candle_validate(c, tf, close_ms[i]) != 0)
    return PAGE_INVALID;
  /* A hole between what we expected and this candle: the exchange has no
   * (valid) data there. */
  if (c->open_ms > *expect_ms) {
    hole->found = true;
    hole->from_ms = *expect_ms;
    hole->to_ms = coin_tf_prev(tf, c->open_ms);
    hole->invalid = false;
    for (size_t k = 0; k < i; k++)
      if (rows[k].open_ms >= hole->from_ms && rows[k].open_ms <= hole->to_ms)
        hole->invalid = true;
  }
  *expect_ms = coin_tf_next(tf, c->open_ms);
  return PAGE_KEEP;
}
