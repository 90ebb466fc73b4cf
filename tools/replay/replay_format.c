/*
 * replay_format.c: klines as Binance renders them, into a capped coin_jbuf.
 * Prices are printed by coin_fmt_decimal, the shortest plain decimal that
 * parses back to the same double (so a client gets exactly the CSV's
 * value); estimates in Binance's fixed 8 decimals without printf: the hot
 * path of a 1000-row klines answer. Pure functions, thread-safe.
 */

#include <stddef.h>

#include "coin/fmt.h"
#include "replay.h"

void replay_put_decimal(struct coin_jbuf *b, double v) {
  char buf[COIN_FMT_DOUBLE_BYTES];
  coin_jbuf_putn(b, buf, coin_fmt_decimal(buf, v));
}

/* format's text of v in quotes, as Binance sends numbers ("1.5"). */
static void put_quoted(struct coin_jbuf *b, size_t (*format)(char *, double),
                       double v) {
  char buf[COIN_FMT_FIXED8_BYTES + 2]; /* the larger of the two formats */
  buf[0] = '"';
  size_t n = format(buf + 1, v);
  buf[n + 1] = '"';
  coin_jbuf_putn(b, buf, n + 2);
}

/* Prices and volumes: the CSV's value exactly. */
static void jb_qdbl(struct coin_jbuf *b, double v) {
  put_quoted(b, coin_fmt_decimal, v);
}

/* An estimate needs no round trip: Binance's fixed 8 decimals, quoted,
 * without printf (it dominated the cost of a 1000-row answer). */
static void jb_fixed8(struct coin_jbuf *b, double v) {
  put_quoted(b, coin_fmt_fixed8, v);
}

void replay_render_kline(struct coin_jbuf *b, const struct replay_kline *k) {
  /* Binance: [openTime, open, high, low, close, volume, closeTime,
   * quoteAssetVolume, numberOfTrades, takerBuyBase, takerBuyQuote, ignore].
   * The files have no trade data: quote volume is approximated with the
   * typical price, trades and taker volumes are 0 (docs/replay-exchange.md). */
  double quote_volume = k->volume * (k->high + k->low + k->close) / 3.0;
  const double ohlcv[] = {k->open, k->high, k->low, k->close, k->volume};
  coin_jbuf_putn(b, "[", 1);
  coin_jbuf_i64(b, k->open_ms);
  for (size_t i = 0; i < sizeof(ohlcv) / sizeof(ohlcv[0]); i++) {
    coin_jbuf_putn(b, ",", 1);
    jb_qdbl(b, ohlcv[i]);
  }
  coin_jbuf_putn(b, ",", 1);
  coin_jbuf_i64(b, k->close_ms);
  coin_jbuf_putn(b, ",", 1);
  jb_fixed8(b, quote_volume);
  coin_jbuf_puts(b, ",0,\"0\",\"0\",\"0\"]");
}
