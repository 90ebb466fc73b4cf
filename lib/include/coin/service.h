/*
 * service.h: the start-up plumbing every service shares: client options for
 * InfluxDB and NATS from the core configuration, and the HTTP listener of
 * /metrics, /healthz and friends. Pure setup helpers; no state of their own.
 */
#ifndef COIN_SERVICE_H
#define COIN_SERVICE_H

#include <stdbool.h>

#include "coin/bus.h"
#include "coin/config.h"
#include "coin/httpd.h"
#include "coin/influx.h"
#include "coin/prom.h"

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

/* The part of an endpoint handler every service shares: 404 for a path not
 * in paths (NULL-terminated), 405 (with Allow) for methods other than GET and
 * HEAD, and GET /metrics answered with metrics(ctx) as Prometheus text.
 * Returns true when it answered; the caller handles the rest. */
bool coin_service_http_common(const struct coin_httpd_request *req,
                              struct coin_httpd_response *resp,
                              const char *const *paths,
                              int (*metrics)(char **out, void *ctx), void *ctx);

/* A long-running service's process life, the same for all of them:
 * --help, --config-doc (its own variables as Markdown rows), --metrics-doc
 * (its metrics table as Markdown rows, docs/metrics.md), configuration
 * (all problems at once, exit 2), JSON logs with the effective configuration
 * (secrets redacted), SIGTERM/SIGINT -> stop (async-signal-safe), run,
 * teardown, nats_Close. cfg points at the service's config struct, whose
 * first member is struct coin_config. Exit codes: 0 after a clean stop,
 * 2 for configuration problems (also COIN_EINVAL / COIN_ENOTFOUND at start,
 * e.g. a symbol the exchange does not list), 1 otherwise. */
struct coin_service_def {
  const char *name;  /* "coin-ingest" */
  const char *usage; /* --help text */
  unsigned reader;   /* COIN_CFG_INGEST...: the shared rows it reads */
  const struct coin_cfg_var *vars;
  size_t n_vars;
  const struct coin_prom_metric *metrics; /* its /metrics (prom.h) */
  size_t n_metrics;
  void *cfg;
  int (*config_load)(void *cfg, const struct coin_env *env,
                     struct coin_cfg_errors *errs);
  int (*config_to_json)(char **out, const void *cfg);
  void (*config_free)(void *cfg);
  int (*create)(void **out, const void *cfg);
  int (*run)(void *svc);
  void (*request_stop)(void *svc);
  void (*destroy)(void *svc);
};

int coin_service_main(const struct coin_service_def *def, int argc,
                      char **argv);

/* The hooks of a def from a service's typed functions, written once:
 * COIN_SERVICE_HOOKS(ingest) defines static adapters around
 * ingest_config_load, ingest_config_to_json, ingest_config_free,
 * ingest_new, ingest_run, ingest_request_stop and ingest_free (struct
 * ingest, struct ingest_config); COIN_SERVICE_DEF_HOOKS(ingest) fills the
 * def's hook members with them. */
#define COIN_SERVICE_HOOKS(p)                                                  \
  static int p##_hook_load(void *c, const struct coin_env *env,                \
                           struct coin_cfg_errors *errs) {                     \
    return p##_config_load(c, env, errs);                                      \
  }                                                                            \
  static int p##_hook_to_json(char **out, const void *c) {                     \
    return p##_config_to_json(out, c);                                         \
  }                                                                            \
  static void p##_hook_free_cfg(void *c) {                                     \
    p##_config_free(c);                                                        \
  }                                                                            \
  static int p##_hook_create(void **out, const void *c) {                      \
    struct p *s = NULL;                                                        \
    int rc = p##_new(&s, c);                                                   \
    if (rc == 0)                                                               \
      *out = s;                                                                \
    return rc;                                                                 \
  }                                                                            \
  static int p##_hook_run(void *s) {                                           \
    return p##_run(s);                                                         \
  }                                                                            \
  static void p##_hook_stop(void *s) {                                         \
    p##_request_stop(s);                                                       \
  }                                                                            \
  static void p##_hook_destroy(void *s) {                                      \
    p##_free(s);                                                               \
  }
#define COIN_SERVICE_DEF_HOOKS(p)                                              \
  .config_load = p##_hook_load, .config_to_json = p##_hook_to_json,            \
  .config_free = p##_hook_free_cfg, .create = p##_hook_create,                 \
  .run = p##_hook_run, .request_stop = p##_hook_stop,                          \
  .destroy = p##_hook_destroy

#endif
