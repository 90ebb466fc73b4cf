/*
 * config.h: typed configuration from environment variables, read once.
 * Every variable is described by a row of a table (name, type, default,
 * secret flag, rule, doc, offset of its field in a struct); one generic loader
 * parses and checks each row and collects ALL problems, one line each
 * ("NAME=value: problem (rule: ...)"), instead of stopping at the first. The
 * same table prints the effective config as JSON (secrets "***") and the
 * Markdown rows of docs/configuration.md.
 *
 * Core variables shared by every service live in struct coin_config. A
 * service adds its own with its own table over its own struct:
 *
 *   struct ingest_config { struct coin_config core; int64_t backfill_days; };
 *   static const struct coin_cfg_var ingest_vars[] = {
 *     {.name = "BACKFILL_DAYS", .type = COIN_CFG_INT, .def = "30",
 *      .offset = offsetof(struct ingest_config, backfill_days),
 *      .min = 1, .max = 3650, .doc = "Days fetched on first start."},
 *   };
 *   struct coin_cfg_errors errs = {0};
 *   coin_config_load(&cfg.core, COIN_CFG_INGEST, &env, &errs);
 *   coin_cfg_load(&cfg, ingest_vars, COIN_ARRAY_LEN(ingest_vars), &env, &errs);
 *   if (errs.count) { fputs(errs.text, stderr); ... exit(2); }
 *   char *json;  // log the effective config once, secrets redacted
 *   if (coin_config_to_json(&json, &cfg.core, COIN_CFG_INGEST) == 0) {
 *     COIN_LOG_INFO("config", COIN_LOG_RAW("config", json));
 *     free(json);
 *   }
 *
 * Ownership: strings and lists in a loaded struct are heap copies owned by it;
 * free them with coin_config_free / coin_cfg_free (NULL-safe, idempotent).
 * Loading is single-threaded (at start); a loaded struct is read-only after.
 */
#ifndef COIN_CONFIG_H
#define COIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coin/log.h"
#include "coin/timeframe.h"

#define COIN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Cap on one variable's value (and a *_FILE secret's content). */
#define COIN_CFG_VALUE_MAX_BYTES 4096
/* Cap on the list-type values (SYMBOLS can hold up to 1000 symbols). */
#define COIN_CFG_LIST_MAX_BYTES 65536

/* ---- where values come from ------------------------------------------- */

/* Returns the value of name, or NULL when unset. The pointer must stay valid
 * until the next call. */
typedef const char *(*coin_env_get_fn)(const char *name, void *ctx);

struct coin_env {
  coin_env_get_fn get;
  void *ctx;
};

/* The process environment (getenv). */
struct coin_env coin_env_process(void);
/* A NULL-terminated array of "NAME=value" strings (envp style; tests). The
 * array must outlive the env. The first entry for a name wins. */
struct coin_env coin_env_envp(const char *const *envp);

/* ---- variable descriptors --------------------------------------------- */

enum coin_cfg_type {
  COIN_CFG_STRING,   /* char *; .check validates the text */
  COIN_CFG_INT,      /* int64_t in [.min, .max] */
  COIN_CFG_DOUBLE,   /* double, finite, in [.dmin, .dmax] */
  COIN_CFG_BOOL,     /* bool: true/false/1/0/yes/no (any case) */
  COIN_CFG_ENUM,     /* int: index into .choices */
  COIN_CFG_URL,      /* char *: scheme in .choices, host present */
  COIN_CFG_HOSTPORT, /* char *: host:port, port 1..65535 ([v6]:port ok) */
  COIN_CFG_FILE,     /* char *: path of a readable regular file */
  COIN_CFG_TF,       /* enum coin_tf */
  COIN_CFG_TF_LIST,  /* struct coin_cfg_tf_list, no duplicates */
  COIN_CFG_STR_LIST, /* struct coin_cfg_str_list: comma list, .check per
                        item, no duplicates, at most .max items */
};

enum {
  COIN_CFG_SECRET = 1u << 0,   /* redacted in JSON and error lines */
  COIN_CFG_FILE_OK = 1u << 1,  /* NAME_FILE may hold the value instead */
  COIN_CFG_REQUIRED = 1u << 2, /* unset (and no default) is an error */
  COIN_CFG_MULTI = 1u << 3,    /* URL: comma-separated list of URLs */
};

struct coin_cfg_tf_list {
  enum coin_tf tfs[COIN_TF_COUNT];
  size_t n;
};

struct coin_cfg_str_list {
  char **items;
  size_t n;
};

struct coin_cfg_var {
  const char *name; /* environment variable, e.g. "NATS_URL" */
  enum coin_cfg_type type;
  const char *def;     /* default text (parsed like a value); NULL: unset */
  const char *def_doc; /* default as documented when computed ("= X") */
  size_t offset;       /* offsetof the field in the target struct */
  unsigned flags;      /* COIN_CFG_SECRET | ... */
  int64_t min, max;    /* INT range; STR_LIST max items (0 = 1000) */
  double dmin, dmax;   /* DOUBLE range */
  const char *const *choices; /* ENUM values / URL schemes, NULL-terminated */
  int (*check)(const char *text); /* STRING/STR_LIST item: 0 or COIN_EINVAL
                                     with coin_error_last() naming the rule */
  const char *rule;               /* extra rule text for docs and error lines */
  const char *doc;                /* meaning, one sentence */
  unsigned readers;               /* shared rows: the programs that read it
                                     (enum coin_cfg_reader bits); 0 = every program */
};

/* The programs that read the shared (core) rows. A program validates only
 * the rows it reads: a bad value of another service's variable in a shared
 * environment is not its problem (and takes the row's default in its
 * struct). */
enum coin_cfg_reader {
  COIN_CFG_INGEST = 1u << 0,
  COIN_CFG_PUBLISH = 1u << 1,
  COIN_CFG_MONITOR = 1u << 2,
  COIN_CFG_TRAIN = 1u << 3,
  COIN_CFG_COINCTL = 1u << 4,
};
#define COIN_CFG_SERVICES                                                      \
  (COIN_CFG_INGEST | COIN_CFG_PUBLISH | COIN_CFG_MONITOR | COIN_CFG_TRAIN)

/* ---- generic loader ---------------------------------------------------- */

/* Collected problems: text holds count lines, each ending in '\n'. */
struct coin_cfg_errors {
  char *text;
  size_t len;
  size_t cap;
  int count;
};

/* Appends one problem line (printf-style; the '\n' is added). */
void coin_cfg_errors_add(struct coin_cfg_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void coin_cfg_errors_free(struct coin_cfg_errors *errs);

/* Loads every row of vars into cfg (a struct the offsets refer to), applying
 * defaults, and appends one line per problem to errs. Fields of rows that
 * failed keep their zero value. Returns 0, or COIN_EINVAL when this call
 * added problems (coin_error_last() says how many). */
int coin_cfg_load(void *cfg, const struct coin_cfg_var *vars, size_t n,
                  const struct coin_env *env, struct coin_cfg_errors *errs);
/* Frees the heap fields of cfg described by vars and zeroes them. */
void coin_cfg_free(void *cfg, const struct coin_cfg_var *vars, size_t n);

/* Several tables over (possibly) different structs, for JSON and docs. */
struct coin_cfg_part {
  const void *cfg;
  const struct coin_cfg_var *vars;
  size_t n;
};

/* The effective config as one compact JSON object keyed by variable name,
 * secrets "***" (null when unset), user:password in URLs redacted.
 * *out is malloc'd; the caller frees. */
int coin_cfg_to_json(char **out, const struct coin_cfg_part *parts,
                     size_t n_parts);
/* Markdown table rows "| `NAME` | default | meaning | rules |", one per
 * variable (no header). */
int coin_cfg_doc_rows(FILE *f, const struct coin_cfg_var *vars, size_t n);

/* ---- the core configuration every service shares ----------------------- */

enum coin_scheduler_mode {
  COIN_SCHED_BOUNDARY = 0, /* "boundary": wake after each UTC boundary */
  COIN_SCHED_POLL_LOOP = 1 /* "poll_loop": every WORKER_CYCLE_SECONDS */
};

struct coin_config {
  char *nats_url;
  char *nats_user;
  char *nats_password; /* secret */
  char *nats_token;    /* secret */
  char *nats_creds_file;
  char *nats_tls_ca;
  int64_t nats_replicas;
  char *influx_url;
  char *influx_db;
  char *influx_user;
  char *influx_password; /* secret */
  char *influx_token;    /* secret */
  char *exchange;
  char *exchange_base_url;
  struct coin_cfg_str_list symbols;
  enum coin_tf primary_timeframe;
  struct coin_cfg_tf_list ingest_timeframes;
  bool enable_multi_timeframes;
  enum coin_scheduler_mode worker_scheduler_mode;
  int64_t worker_cycle_seconds;
  int64_t runtime_metrics_window_size;
  char *static_data_dir;
  enum coin_log_level log_level;
  char *ingest_http_addr;
  char *publish_http_addr;
  char *monitor_http_addr;
  char *service_id;
};

extern const struct coin_cfg_var coin_config_vars[];
extern const size_t coin_config_var_count;
#define COIN_CONFIG_MAX_VARS 48 /* >= coin_config_var_count */

/* The core rows reader reads (reader 0: all of them), in table order, into
 * out (room for COIN_CONFIG_MAX_VARS); returns how many. */
size_t coin_config_rows(struct coin_cfg_var *out, unsigned reader);

/* Loads the core variables reader reads (the others take their default,
 * whatever the environment says; reader 0: all) and checks the rules across
 * them (INGEST_TIMEFRAMES defaults to PRIMARY_TIMEFRAME; several need
 * ENABLE_MULTI_TIMEFRAMES=true; they include PRIMARY_TIMEFRAME).
 * On failure (COIN_EINVAL, lines appended to errs) out is not written. */
int coin_config_load(struct coin_config *out, unsigned reader,
                     const struct coin_env *env, struct coin_cfg_errors *errs);
void coin_config_free(struct coin_config *cfg);
/* True when value (a trailing newline ignored) is one of the example
 * placeholder secrets (deploy/ examples, "changeme", ...): such a secret is
 * refused at load with "<VAR>: the example placeholder value is not a
 * secret". */
bool coin_cfg_is_placeholder_secret(const char *value);

/* The effective core config as JSON (the rows reader reads), secrets
 * redacted. */
int coin_config_to_json(char **out, const struct coin_config *cfg,
                        unsigned reader);

/* Validators usable in .check (0 or COIN_EINVAL naming value and rule). */
int coin_cfg_check_service_id(const char *text); /* [A-Za-z0-9_-]{1,64} */
int coin_cfg_check_db_name(const char *text);    /* [A-Za-z0-9_-]{1,64} */

#endif
