/* service.c: shared start-up plumbing of the services (see service.h). */
#include "coin/service.h"

#include "coin/error.h"

void coin_service_influx_options(struct coin_influx_options *out,
                                 const struct coin_config *cfg) {
  coin_influx_options_init(out);
  out->url = cfg->influx_url;
  out->db = cfg->influx_db;
  out->user = cfg->influx_user;
  out->password = cfg->influx_password;
  out->token = cfg->influx_token;
  out->rp_by_tf[COIN_TF_1M] = COIN_INFLUX_RP_1M;
}

void coin_service_bus_options(struct coin_bus_options *out,
                              const struct coin_config *cfg, const char *name) {
  coin_bus_options_init(out);
  out->url = cfg->nats_url;
  out->user = cfg->nats_user;
  out->password = cfg->nats_password;
  out->token = cfg->nats_token;
  out->creds_file = cfg->nats_creds_file;
  out->tls_ca_file = cfg->nats_tls_ca;
  out->name = name;
}

int coin_service_httpd_start(struct coin_httpd **out, const char *addr,
                             const char *var, coin_httpd_handler_fn handler,
                             void *ctx) {
  char host[256];
  int port = 0;
  int rc = coin_httpd_listen_parse(host, sizeof(host), &port, addr);
  if (rc != 0)
    return coin_error_wrap(rc, "%s", var);
  struct coin_httpd_opts ho = {.host = host,
                               .port = port,
                               .threads = 2,
                               .handler = handler,
                               .handler_ctx = ctx};
  rc = coin_httpd_start(out, &ho);
  if (rc != 0)
    return coin_error_wrap(rc, "%s", var);
  return 0;
}
