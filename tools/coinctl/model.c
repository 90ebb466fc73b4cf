/*
 * model.c: `coinctl model ls|show|promote|rollback`. ls and show read the
 * registry (coin/registry.h: KV coin_models, aliases champion / challenger /
 * previous). promote and rollback change the champion only through
 * coin-train's own gate (`coin-train promote` compares the challenger with
 * the champion on the same realized candles; `coin-train rollback` restores
 * the previous champion): coinctl runs that program, so there is exactly one
 * promotion path. Single-threaded.
 */
#include "coinctl.h"

#include "coin/codec.h"
#include "coin/error.h"
#include "coin/registry.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char model_usage[] =
    "usage: coinctl model ls [--json]\n"
    "       coinctl model show NAME [--json]   NAME: a version, champion, "
    "challenger\n"
    "                                         or previous\n"
    "       coinctl model promote [--dry-run]  the challenger, through "
    "coin-train's\n"
    "                                         promotion gate\n"
    "       coinctl model rollback             restore the previous champion\n"
    "\n"
    "ls shows every registered model (oldest first) with its role, kind,\n"
    "training range and its walk-forward MAE next to the persistence "
    "baseline's.\n"
    "promote and rollback run `coin-train promote|rollback` (found next to\n"
    "coinctl, else on PATH) with this NATS configuration; they exit with its\n"
    "status (promote: 0 promoted, non-zero refused or failed).\n"
    "\n"
    "  --json      JSON instead of a table\n"
    "  --dry-run   promote: show the gate's verdict, change nothing\n"
    "  --nats URL  NATS server(s) (default $NATS_URL)\n";

enum { OPT_JSON = COINCTL_OPT_FIRST_OWN, OPT_DRY_RUN };

static const char *metric(const struct coin_model_metadata *m, const char *name,
                          char *buf, size_t n) {
  double v;
  if (coin_codec_metric_get(&v, m->metrics, m->n_metrics, name) != 0)
    return "-";
  snprintf(buf, n, "%.6g", v);
  return buf;
}

static int open_registry(struct coin_registry **out, struct coin_bus **bus,
                         const struct coinctl *ctl) {
  struct coin_bus_kv *kv = NULL;
  int rc = coinctl_connect(bus, ctl);
  if (rc != 0)
    return rc;
  /* Read-only commands must not create the registry as a side effect. */
  rc = coin_bus_kv_open(&kv, *bus, COIN_KV_MODELS);
  coin_bus_kv_free(kv);
  if (rc == COIN_ENOTFOUND)
    return coin_error_set(rc,
                          "no model registry at %s (KV bucket %s missing: "
                          "coin-train has not run yet)",
                          ctl->nats_url, COIN_KV_MODELS);
  if (rc != 0)
    return rc;
  char producer[COIN_CODEC_ID_BYTES] = "coinctl";
  return coin_registry_open(out, *bus, producer);
}

static void aliases(struct coin_registry *r, char champion[], char challenger[],
                    char previous[]) {
  if (coin_registry_alias_get(r, champion, NULL, COIN_ALIAS_CHAMPION) != 0)
    champion[0] = '\0';
  if (coin_registry_alias_get(r, challenger, NULL, COIN_ALIAS_CHALLENGER) != 0)
    challenger[0] = '\0';
  if (coin_registry_alias_get(r, previous, NULL, COIN_ALIAS_PREVIOUS) != 0)
    previous[0] = '\0';
}

static int model_ls(struct coinctl *ctl, bool as_json) {
  struct coin_bus *bus = NULL;
  struct coin_registry *r = NULL;
  struct coin_model_metadata *list = NULL;
  size_t n = 0;
  int rc = COINCTL_EXIT_OK;
  char champion[COIN_CODEC_ID_BYTES], challenger[COIN_CODEC_ID_BYTES],
      previous[COIN_CODEC_ID_BYTES];

  if (open_registry(&r, &bus, ctl) != 0 ||
      coin_registry_list(r, &list, &n) != 0) {
    rc = coinctl_fail_last("model", COINCTL_EXIT_ERROR);
    goto out;
  }
  aliases(r, champion, challenger, previous);
  if (as_json) {
    /* The codec's JSON is spliced in as it is (doubles in their shortest
     * round-trip form), with "aliases" added at the end. */
    fputc('[', stdout);
    for (size_t i = 0; i < n; i++) {
      uint8_t *packed = NULL;
      size_t len = 0;
      char *text = NULL;
      if (coin_codec_pack_model(&packed, &len, &list[i]) != 0 ||
          coin_codec_to_json_type(&text, COIN_MSG_MODEL_METADATA, packed,
                                  len) != 0) {
        free(packed);
        fputs("]\n", stdout);
        rc = coinctl_fail_last("model", COINCTL_EXIT_ERROR);
        goto out;
      }
      size_t tl = strlen(text);
      printf("%s%.*s,\"aliases\":[", i ? "," : "", (int)(tl - 1), text);
      int na = 0;
      if (!strcmp(list[i].version, champion))
        printf("%s\"champion\"", na++ ? "," : "");
      if (!strcmp(list[i].version, challenger))
        printf("%s\"challenger\"", na++ ? "," : "");
      if (!strcmp(list[i].version, previous))
        printf("%s\"previous\"", na++ ? "," : "");
      fputs("]}", stdout);
      free(packed);
      free(text);
    }
    fputs("]\n", stdout);
    goto out;
  }
  if (n == 0) {
    puts("no models registered yet (run coin-train)");
    goto out;
  }
  static const char *const header[] = {
      "VERSION", "ALIAS",      "ROLE", "KIND",
      "CREATED", "TRAINED TO", "MAE",  "PERSISTENCE MAE"};
  enum { NC = 8, CELL = 96 };
  char ***rows = calloc(n, sizeof(*rows));
  if (rows == NULL) {
    rc = coinctl_fail("model", COINCTL_EXIT_ERROR, "out of memory");
    goto out;
  }
  bool oom = false;
  for (size_t i = 0; i < n && !oom; i++) {
    const struct coin_model_metadata *m = &list[i];
    char buf[64];
    rows[i] = calloc(NC, sizeof(char *));
    for (int k = 0; rows[i] && k < NC; k++)
      if ((rows[i][k] = calloc(1, CELL)) == NULL)
        oom = true;
    if (rows[i] == NULL || oom) {
      oom = true;
      break;
    }
    snprintf(rows[i][0], CELL, "%s", m->version);
    snprintf(rows[i][1], CELL, "%s",
             !strcmp(m->version, champion)     ? "champion"
             : !strcmp(m->version, challenger) ? "challenger"
             : !strcmp(m->version, previous)   ? "previous"
                                               : "-");
    snprintf(rows[i][2], CELL, "%s", coin_codec_model_role_name(m->role));
    snprintf(rows[i][3], CELL, "%s", m->kind);
    if (coin_tf_format_utc(rows[i][4], CELL, m->created_at_ms) != 0)
      snprintf(rows[i][4], CELL, "-");
    if (coin_tf_format_utc(rows[i][5], CELL, m->train_to_ms) != 0)
      snprintf(rows[i][5], CELL, "-");
    snprintf(rows[i][6], CELL, "%s", metric(m, "mae", buf, sizeof(buf)));
    snprintf(rows[i][7], CELL, "%s",
             metric(m, "baseline_mae", buf, sizeof(buf)));
  }
  if (oom) {
    rc = coinctl_fail("model", COINCTL_EXIT_ERROR, "out of memory");
  } else {
    struct coinctl_table t = {
        .header = header, .n_cols = NC, .rows = rows, .n_rows = n};
    coinctl_table_print(stdout, ctl, &t);
  }
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; rows[i] && k < NC; k++)
      free(rows[i][k]);
    free(rows[i]);
  }
  free(rows);
out:
  free(list);
  coin_registry_free(r);
  coin_bus_free(bus);
  return rc;
}

static int model_show(struct coinctl *ctl, const char *name, bool as_json) {
  struct coin_bus *bus = NULL;
  struct coin_registry *r = NULL;
  struct coin_model_metadata m;
  char version[COIN_CODEC_ID_BYTES];
  uint8_t *packed = NULL;
  size_t len = 0;
  char *text = NULL;
  int rc = COINCTL_EXIT_OK;

  if (open_registry(&r, &bus, ctl) != 0 ||
      coin_registry_resolve(r, version, name) != 0 ||
      coin_registry_get(r, &m, NULL, version) != 0 ||
      coin_codec_pack_model(&packed, &len, &m) != 0 ||
      coin_codec_to_json_type(&text, COIN_MSG_MODEL_METADATA, packed, len) !=
          0) {
    rc = coinctl_fail_last("model", COINCTL_EXIT_ERROR);
    goto out;
  }
  if (as_json) {
    puts(text);
    goto out;
  }
  /* Human form: one "key: value" line per field, in the message's order. */
  json_error_t err;
  json_t *o = json_loads(text, JSON_DECODE_ANY, &err);
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    char *vt = json_is_string(v)
                   ? NULL
                   : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
                                       JSON_REAL_PRECISION(10));
    printf("%-24s %s\n", key, vt ? vt : json_string_value(v));
    free(vt);
  }
  json_decref(o);
out:
  free(text);
  free(packed);
  coin_registry_free(r);
  coin_bus_free(bus);
  return rc;
}

/* Runs coin-train with args (its output goes straight to ours). */
static int run_train(const struct coinctl *ctl, const char *sub, bool dry_run) {
  char self[PATH_MAX], train[PATH_MAX + 16];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  const char *prog = "coin-train";
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      snprintf(train, sizeof(train), "%s/coin-train", self);
      if (access(train, X_OK) == 0)
        prog = train;
    }
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    return coinctl_fail("model", COINCTL_EXIT_ERROR, "fork: %s",
                        strerror(errno));
  if (pid == 0) {
    setenv("NATS_URL", ctl->nats_url, 1);
    setenv("EXCHANGE", ctl->exchange, 1);
    char *argv[] = {(char *)prog, (char *)sub,
                    dry_run ? (char *)"--dry-run" : NULL, NULL};
    execvp(prog, argv);
    fprintf(stderr, "coinctl model: cannot run %s: %s\n", prog,
            strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return coinctl_fail("model", COINCTL_EXIT_ERROR, "waitpid: %s",
                          strerror(errno));
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return coinctl_fail("model", COINCTL_EXIT_ERROR, "%s %s killed by signal %d",
                      prog, sub, WTERMSIG(status));
}

int coinctl_model(struct coinctl *ctl, int argc, char **argv) {
  static const struct option opts[] = {
      COINCTL_COMMON_OPTIONS,
      {"json", no_argument, NULL, OPT_JSON},
      {"dry-run", no_argument, NULL, OPT_DRY_RUN},
      {NULL, 0, NULL, 0},
  };
  bool help = false, as_json = false, dry_run = false;
  int c;
  while ((c = coinctl_getopt(ctl, &help, argc, argv, opts)) != -1) {
    switch (c) {
    case OPT_JSON: as_json = true; break;
    case OPT_DRY_RUN: dry_run = true; break;
    default: return COINCTL_EXIT_USAGE;
    }
  }
  if (help) {
    fputs(model_usage, stdout);
    return COINCTL_EXIT_OK;
  }
  int nargs = argc - optind;
  const char *sub = nargs > 0 ? argv[optind] : NULL;
  if (sub == NULL)
    return coinctl_fail("model", COINCTL_EXIT_USAGE,
                        "missing subcommand (rule: ls, show, promote or "
                        "rollback; see coinctl model --help)");
  if (!strcmp(sub, "ls") && nargs == 1)
    return model_ls(ctl, as_json);
  if (!strcmp(sub, "show") && nargs == 2)
    return model_show(ctl, argv[optind + 1], as_json);
  if (!strcmp(sub, "show"))
    return coinctl_fail("model", COINCTL_EXIT_USAGE,
                        "show needs exactly one NAME (a version, champion, "
                        "challenger or previous)");
  if ((!strcmp(sub, "promote") || !strcmp(sub, "rollback")) && nargs == 1) {
    if (dry_run && strcmp(sub, "promote") != 0)
      return coinctl_fail("model", COINCTL_EXIT_USAGE,
                          "--dry-run applies to promote only");
    return run_train(ctl, sub, dry_run);
  }
  if (!strcmp(sub, "promote") || !strcmp(sub, "rollback") || !strcmp(sub, "ls"))
    return coinctl_fail("model", COINCTL_EXIT_USAGE,
                        "%s takes no argument (promote acts on the "
                        "registered challenger)",
                        sub);
  return coinctl_fail("model", COINCTL_EXIT_USAGE,
                      "unknown subcommand \"%s\" (rule: ls, show, promote or "
                      "rollback)",
                      sub);
}
