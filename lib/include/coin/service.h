/*
 * service.h: the start-up plumbing every service shares: client options for
 * InfluxDB and NATS from the core configuration, and the HTTP listener of
 * /metrics, /healthz and friends. Pure setup helpers; no state of their own.
 */
#ifndef COIN_SERVICE_H
#define COIN_SERVICE_H

#include "coin/bus.h"
#include "coin/config.h"
#include "coin/httpd.h"
#include "coin/influx.h"

/* Defaults, then INFLUX_URL/DB/USER/PASSWORD/TOKEN, and 1m candles in the
 * retention policy COIN_INFLUX_RP_1M (where coin-ingest keeps them). The
 * strings stay owned by cfg. */
void coin_service_influx_options(struct coin_influx_options *out,
                                 const struct coin_config *cfg);

/* Defaults, then NATS_URL/USER/PASSWORD/TOKEN/CREDS_FILE/TLS_CA; name is the
 * connection name servers show (e.g. "ingest@host"). */
void coin_service_bus_options(struct coin_bus_options *out,
                              const struct coin_config *cfg, const char *name);

/* Starts the HTTP listener on addr ("host:port", the value of variable var,
 * named in errors) with two handler threads. */
int coin_service_httpd_start(struct coin_httpd **out, const char *addr,
                             const char *var, coin_httpd_handler_fn handler,
                             void *ctx);

#endif
