/* service.c: shared start-up plumbing of the services (see service.h). */
#include "coin/service.h"

#include "coin/error.h"
#include "coin/log.h"
#include "coin/redact.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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
  out->replicas = (int)cfg->nats_replicas;
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

bool coin_service_http_common(const struct coin_httpd_request *req,
                              struct coin_httpd_response *resp,
                              const char *const *paths,
                              int (*metrics)(char **out, void *ctx),
                              void *ctx) {
  const char *path = coin_httpd_request_path(req);
  const char *method = coin_httpd_request_method(req);
  bool known = false;
  for (size_t i = 0; paths[i] && !known; i++)
    known = strcmp(path, paths[i]) == 0;
  if (!known) {
    coin_httpd_respond(resp, 404, NULL, "not found\n", 10);
    return true;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    coin_httpd_response_header(resp, "Allow", "GET, HEAD");
    coin_httpd_respond(resp, 405, NULL, "method not allowed\n", 19);
    return true;
  }
  if (strcmp(path, "/metrics") != 0)
    return false;
  char *text = NULL;
  if (metrics(&text, ctx) != 0) {
    coin_httpd_respond(resp, 500, NULL, "metrics unavailable\n", 20);
    return true;
  }
  coin_httpd_respond_take(resp, 200, "text/plain; version=0.0.4", text,
                          strlen(text));
  return true;
}

/* The running service for the signal handler (one per process). */
static void *running_svc;
static void (*running_stop)(void *svc);

static void on_signal(int sig) {
  (void)sig;
  if (running_svc && running_stop)
    running_stop(running_svc);
}

int coin_service_main(const struct coin_service_def *def, int argc,
                      char **argv) {
  struct coin_cfg_errors errs = {0};
  struct coin_env env = coin_env_process();
  void *svc = NULL;
  int rc;

  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    fputs(def->usage, stdout);
    return 0;
  }
  if (argc > 1 && !strcmp(argv[1], "--config-doc")) {
    /* the shared rows it reads, then its own */
    struct coin_cfg_var core[COIN_CONFIG_MAX_VARS];
    size_t n = coin_config_rows(core, def->reader);
    return coin_cfg_doc_rows(stdout, core, n) == 0 &&
                   coin_cfg_doc_rows(stdout, def->vars, def->n_vars) == 0
               ? 0
               : 1;
  }
  if (argc > 1 && !strcmp(argv[1], "--metrics-doc"))
    return coin_prom_doc_rows(stdout, def->metrics, def->n_metrics) == 0 ? 0
                                                                         : 1;
  if (argc > 1) {
    fprintf(stderr, "%s: unknown argument \"%s\" (try --help)\n", def->name,
            argv[1]);
    return 2;
  }
  if (def->config_load(def->cfg, &env, &errs) != 0) {
    fprintf(stderr, "%s: invalid configuration:\n%s", def->name,
            errs.text ? errs.text : "");
    coin_cfg_errors_free(&errs);
    return 2;
  }
  coin_cfg_errors_free(&errs);
  const struct coin_config *core = def->cfg; /* the first member */
  coin_log_init(def->name, core->log_level, NULL);
  char *json = NULL;
  if (def->config_to_json(&json, def->cfg) == 0) {
    COIN_LOG_INFO("effective configuration", COIN_LOG_RAW("config", json));
    free(json);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  rc = def->create(&svc, def->cfg);
  if (rc != 0) {
    char shown[2048];
    coin_redact_text(shown, sizeof(shown), coin_error_last());
    fprintf(stderr, "%s: %s\n", def->name, shown);
    COIN_LOG_ERROR("start-up failed", COIN_LOG_RC(rc));
    def->config_free(def->cfg);
    coin_bus_shutdown();
    return rc == COIN_EINVAL || rc == COIN_ENOTFOUND ? 2 : 1;
  }
  running_stop = def->request_stop;
  running_svc = svc;
  rc = def->run(svc);
  running_svc = NULL;
  if (rc != 0) {
    char shown[2048];
    coin_redact_text(shown, sizeof(shown), coin_error_last());
    fprintf(stderr, "%s: %s\n", def->name, shown);
    COIN_LOG_ERROR("stopped on an error", COIN_LOG_RC(rc));
  }
  def->destroy(svc);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  COIN_LOG_INFO("exit", COIN_LOG_INT("max_rss_kib", ru.ru_maxrss),
                COIN_LOG_BOOL("clean", rc == 0));
  def->config_free(def->cfg);
  coin_bus_shutdown();
  return rc == 0 ? 0 : 1;
}
