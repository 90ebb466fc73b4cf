/*
 * exchange_new.c: the adapter registry: coin_exchange_new picks the adapter
 * named by EXCHANGE and gives it its HTTP client. Kept apart from the
 * helpers the adapters call (exchange.c), so the files depend one way.
 */
#include "exchange.h"

#include "coin/error.h"

#include <stdlib.h>
#include <string.h>

static const struct coin_exchange_ops *const adapters[] = {
    &coin_exchange_binance_ops,
};

int coin_exchange_new(struct coin_exchange **out,
                      const struct coin_exchange_opts *opts) {
  const struct coin_exchange_ops *ops = NULL;
  for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
    if (strcmp(adapters[i]->name, opts->name) == 0)
      ops = adapters[i];
  if (!ops)
    return coin_error_set(
        COIN_ENOTFOUND, "EXCHANGE=%s: no adapter by that name (known: binance)",
        opts->name);
  if (!opts->budget)
    return coin_error_set(COIN_EINVAL, "exchange: a shared budget is required");

  struct coin_exchange *ex = calloc(1, sizeof(*ex));
  if (!ex)
    return coin_error_set(COIN_ENOMEM, "exchange: out of memory");
  ex->ops = ops;
  ex->opts = *opts;
  if (ex->opts.max_retries <= 0)
    ex->opts.max_retries = 4;
  if (ex->opts.backoff_base_ms <= 0)
    ex->opts.backoff_base_ms = 250;
  if (ex->opts.backoff_max_ms <= 0)
    ex->opts.backoff_max_ms = 8000;
  if (ex->opts.timeout_ms <= 0)
    ex->opts.timeout_ms = 15000;
  if (ex->opts.max_body_bytes == 0)
    ex->opts.max_body_bytes = (size_t)4 << 20;
  struct coin_http_opts ho = {.timeout_ms = ex->opts.timeout_ms,
                              .max_body_bytes = ex->opts.max_body_bytes,
                              .user_agent = "coin-predict/ingest"};
  int rc = coin_http_new(&ex->http, &ho);
  if (rc != 0) {
    free(ex);
    return rc;
  }
  *out = ex;
  return 0;
}

void coin_exchange_free(struct coin_exchange *ex) {
  if (!ex)
    return;
  coin_http_free(ex->http);
  free(ex);
}
