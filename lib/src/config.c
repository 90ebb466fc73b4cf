/*
 * config.c: table-driven environment configuration. One generic loader walks
 * a table of coin_cfg_var rows, parses each value with checked parsers
 * (coin/parse.h: whole text, decimal, in range), reads *_FILE
 * secrets, and collects every problem as one line. The same rows drive the
 * redacted JSON dump (jansson) and the documentation rows.
 * Single-threaded at start-up; loaded structs are read-only afterwards.
 */
#include "coin/config.h"
#include "coin/fmt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coin/candle.h"
#include "coin/error.h"
#include "coin/parse.h"
#include "coin/redact.h"

#define NAME_MAX_BYTES 128
#define SHOWN_MAX_CHARS 80
#define WHY_BYTES 512
#define ERRORS_MAX_BYTES 65536
#define DEFAULT_LIST_MAX 1000
#define ID_MAX_CHARS 64

_Static_assert(sizeof(enum coin_scheduler_mode) == sizeof(int),
               "ENUM rows store an int");
_Static_assert(sizeof(enum coin_log_level) == sizeof(int),
               "ENUM rows store an int");

/* ---- environment sources ----------------------------------------------- */

static const char *process_get(const char *name, void *ctx) {
  (void)ctx;
  return getenv(name);
}

static const char *envp_get(const char *name, void *ctx) {
  size_t n = strlen(name);
  for (const char *const *e = ctx; e && *e; e++)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
      return *e + n + 1;
  return NULL;
}

struct coin_env coin_env_process(void) {
  return (struct coin_env){.get = process_get, .ctx = NULL};
}

struct coin_env coin_env_envp(const char *const *envp) {
  return (struct coin_env){.get = envp_get, .ctx = (void *)envp};
}

/* ---- collected errors -------------------------------------------------- */

void coin_cfg_errors_add(struct coin_cfg_errors *errs, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  coin_fmt_vline(line, sizeof(line), fmt, ap);
  va_end(ap);
  errs->count++;
  size_t n = strlen(line);
  if (errs->len + n + 2 > ERRORS_MAX_BYTES)
    return; /* counted, not shown: the report is already long enough */
  if (errs->len + n + 2 > errs->cap) {
    size_t ncap = errs->cap ? errs->cap * 2 : 1024;
    while (ncap < errs->len + n + 2)
      ncap *= 2;
    char *p = realloc(errs->text, ncap);
    if (p == NULL)
      return;
    errs->text = p;
    errs->cap = ncap;
  }
  memcpy(errs->text + errs->len, line, n);
  errs->len += n;
  errs->text[errs->len++] = '\n';
  errs->text[errs->len] = '\0';
}

void coin_cfg_errors_free(struct coin_cfg_errors *errs) {
  if (errs == NULL)
    return;
  free(errs->text);
  *errs = (struct coin_cfg_errors){0};
}

/* ---- small helpers ----------------------------------------------------- */

static void *field(void *cfg, const struct coin_cfg_var *v) {
  return (char *)cfg + v->offset;
}

static const void *cfield(const void *cfg, const struct coin_cfg_var *v) {
  return (const char *)cfg + v->offset;
}

static void join_choices(char *buf, size_t cap, const char *const *choices) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; choices && choices[i]; i++) {
    int w = snprintf(buf + len, cap - len, "%s%s", i ? "|" : "", choices[i]);
    if (w < 0 || (size_t)w >= cap - len)
      break;
    len += (size_t)w;
  }
}

/* The rule of a row in words, for error lines and the docs. */
static void rule_text(char *buf, size_t cap, const struct coin_cfg_var *v) {
  char ch[256];
  join_choices(ch, sizeof(ch), v->choices);
  const char *extra = v->rule ? v->rule : "";
  switch (v->type) {
  case COIN_CFG_STRING:
    snprintf(buf, cap, "%s", v->rule ? v->rule : "text");
    return;
  case COIN_CFG_INT:
    snprintf(buf, cap, "integer %lld..%lld%s%s", (long long)v->min,
             (long long)v->max, v->rule ? "; " : "", extra);
    return;
  case COIN_CFG_DOUBLE:
    snprintf(buf, cap, "number %g..%g%s%s", v->dmin, v->dmax,
             v->rule ? "; " : "", extra);
    return;
  case COIN_CFG_BOOL: snprintf(buf, cap, "true|false|1|0|yes|no"); return;
  case COIN_CFG_ENUM: snprintf(buf, cap, "one of %s", ch); return;
  case COIN_CFG_URL:
    snprintf(buf, cap, "%s with scheme %s and a host%s%s",
             v->flags & COIN_CFG_MULTI ? "comma list of URLs" : "URL", ch,
             v->rule ? "; " : "", extra);
    return;
  case COIN_CFG_HOSTPORT:
    snprintf(buf, cap, "host:port, port 1..65535");
    return;
  case COIN_CFG_FILE: snprintf(buf, cap, "path of a readable file"); return;
  case COIN_CFG_TF: snprintf(buf, cap, "one of 1m 1h 1d 1w 1M"); return;
  case COIN_CFG_TF_LIST:
    snprintf(buf, cap, "comma list of 1m 1h 1d 1w 1M, no duplicates%s%s",
             v->rule ? "; " : "", extra);
    return;
  case COIN_CFG_STR_LIST:
    snprintf(buf, cap, "comma list of 1..%lld items, no duplicates%s%s",
             (long long)(v->max ? v->max : DEFAULT_LIST_MAX),
             v->rule ? "; each " : "", extra);
    return;
  }
  snprintf(buf, cap, "?");
}

/* ---- checked parsers: 0, or -1 with a reason in why -------------------- */

/* coin/parse.h's reason into why. */
static int reason(int rc, char *why) {
  if (rc != 0)
    snprintf(why, WHY_BYTES, "%s", coin_error_last());
  return rc != 0 ? -1 : 0;
}

static int parse_int(int64_t *out, const char *s, int64_t min, int64_t max,
                     char *why) {
  return reason(coin_parse_i64(out, s, min, max), why);
}

static int parse_double(double *out, const char *s, double min, double max,
                        char *why) {
  return reason(coin_parse_double(out, s, min, max), why);
}

static int parse_bool(bool *out, const char *s, char *why) {
  static const char *const yes[] = {"true", "1", "yes"};
  static const char *const no[] = {"false", "0", "no"};
  for (size_t i = 0; i < 3; i++) {
    if (strcasecmp(s, yes[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcasecmp(s, no[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  snprintf(why, WHY_BYTES, "not a boolean");
  return -1;
}

static bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* host[:port] or [v6][:port] in s[0..n); port_required for host:port. */
static int check_authority(const char *s, size_t n, bool port_required,
                           char *why) {
  size_t host_end;
  bool has_port = false;
  if (n > 0 && s[0] == '[') {
    const char *rb = memchr(s, ']', n);
    bool ok = rb != NULL && rb > s + 1;
    for (const char *p = s + 1; ok && p < rb; p++)
      ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
           (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.';
    if (!ok) {
      snprintf(why, WHY_BYTES, "bad [IPv6] host");
      return -1;
    }
    host_end = (size_t)(rb - s) + 1;
    if (host_end < n && s[host_end] != ':') {
      snprintf(why, WHY_BYTES, "junk after ]");
      return -1;
    }
    has_port = host_end < n;
  } else {
    const char *colon = memchr(s, ':', n);
    host_end = colon ? (size_t)(colon - s) : n;
    has_port = colon != NULL;
    if (host_end == 0) {
      snprintf(why, WHY_BYTES, "host missing");
      return -1;
    }
    for (size_t i = 0; i < host_end; i++)
      if (!host_char(s[i])) {
        snprintf(why, WHY_BYTES, "bad character 0x%02x in host",
                 (unsigned)(unsigned char)s[i]);
        return -1;
      }
  }
  if (!has_port) {
    if (!port_required)
      return 0;
    snprintf(why, WHY_BYTES, "port missing");
    return -1;
  }
  size_t port_at = host_end + 1;
  int64_t port = 0;
  if (port_at == n) {
    snprintf(why, WHY_BYTES, "empty port");
    return -1;
  }
  for (size_t i = port_at; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || i - port_at >= 5) {
      snprintf(why, WHY_BYTES, "port \"%.*s\" is not a number",
               (int)(n - port_at > 16 ? 16 : n - port_at), s + port_at);
      return -1;
    }
    port = port * 10 + (s[i] - '0');
  }
  if (port < 1 || port > 65535) {
    snprintf(why, WHY_BYTES, "port %lld outside 1..65535", (long long)port);
    return -1;
  }
  return 0;
}

static int check_url(const char *s, size_t n, const char *const *schemes,
                     char *why) {
  const char *sep = NULL;
  for (size_t i = 0; i + 2 < n; i++)
    if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
      sep = s + i;
      break;
    }
  if (sep == NULL || sep == s) {
    snprintf(why, WHY_BYTES, "no scheme:// prefix");
    return -1;
  }
  size_t slen = (size_t)(sep - s);
  bool ok = false;
  for (size_t i = 0; schemes && schemes[i]; i++)
    if (strlen(schemes[i]) == slen && strncasecmp(s, schemes[i], slen) == 0)
      ok = true;
  if (!ok) {
    snprintf(why, WHY_BYTES, "scheme \"%.*s\" not allowed",
             (int)(slen > 16 ? 16 : slen), s);
    return -1;
  }
  const char *auth = sep + 3, *end = s + n;
  const char *auth_end = auth;
  while (auth_end < end && *auth_end != '/' && *auth_end != '?' &&
         *auth_end != '#')
    auth_end++;
  const char *at = NULL;
  for (const char *p = auth; p < auth_end; p++)
    if (*p == '@')
      at = p;
  const char *host = at ? at + 1 : auth;
  if (host == auth_end) {
    snprintf(why, WHY_BYTES, "host missing");
    return -1;
  }
  return check_authority(host, (size_t)(auth_end - host), false, why);
}

static int parse_url(const char *s, const struct coin_cfg_var *v, char *why) {
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
      snprintf(why, WHY_BYTES, "whitespace or control character");
      return -1;
    }
  if (!(v->flags & COIN_CFG_MULTI))
    return check_url(s, strlen(s), v->choices, why);
  for (const char *p = s;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (check_url(p, n, v->choices, why) != 0)
      return -1;
    if (!comma)
      return 0;
    p = comma + 1;
  }
}

static int check_file(const char *path, char *why) {
  struct stat st;
  if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
    snprintf(why, WHY_BYTES, "cannot read: %s", strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(why, WHY_BYTES, "not a regular file");
    return -1;
  }
  return 0;
}

/* Reads a *_FILE secret: whole file (capped), trailing newlines stripped. */
static int read_secret(char **out, const char *path, char *why) {
  int rc = -1;
  char *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(why, WHY_BYTES, "cannot read: %s", strerror(errno));
    goto out;
  }
  buf = malloc(COIN_CFG_VALUE_MAX_BYTES + 2);
  if (buf == NULL) {
    snprintf(why, WHY_BYTES, "out of memory");
    goto out;
  }
  size_t n = fread(buf, 1, COIN_CFG_VALUE_MAX_BYTES + 1, f);
  if (ferror(f)) {
    snprintf(why, WHY_BYTES, "read error: %s", strerror(errno));
    goto out;
  }
  if (n > COIN_CFG_VALUE_MAX_BYTES) {
    snprintf(why, WHY_BYTES, "file longer than %d bytes",
             COIN_CFG_VALUE_MAX_BYTES);
    goto out;
  }
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    n--;
  buf[n] = '\0';
  if (n == 0) {
    snprintf(why, WHY_BYTES, "file is empty");
    goto out;
  }
  if (memchr(buf, '\0', n) != NULL) {
    snprintf(why, WHY_BYTES, "file contains a NUL byte");
    goto out;
  }
  *out = buf;
  buf = NULL;
  rc = 0;
out:
  free(buf);
  if (f)
    fclose(f);
  return rc;
}

/* Splits a comma list into trimmed items (in place in a copy). */
static int split_list(char ***out_items, size_t *out_n, char *copy,
                      size_t max_items, char *why) {
  size_t n = 1;
  for (const char *p = copy; *p; p++)
    n += *p == ',';
  if (n > max_items) {
    snprintf(why, WHY_BYTES, "%zu items, more than %zu", n, max_items);
    return -1;
  }
  char **items = calloc(n, sizeof(*items));
  if (items == NULL) {
    snprintf(why, WHY_BYTES, "out of memory");
    return -1;
  }
  char *p = copy;
  for (size_t i = 0; i < n; i++) {
    char *comma = strchr(p, ',');
    if (comma)
      *comma = '\0';
    while (*p == ' ' || *p == '\t')
      p++;
    char *e = p + strlen(p);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
      *--e = '\0';
    if (*p == '\0') {
      snprintf(why, WHY_BYTES, "item %zu is empty", i + 1);
      free(items);
      return -1;
    }
    items[i] = p;
    p = comma ? comma + 1 : e;
  }
  *out_items = items;
  *out_n = n;
  return 0;
}

static int parse_tf_list(struct coin_cfg_tf_list *out, const char *s,
                         char *why) {
  int rc = -1;
  char **items = NULL;
  size_t n = 0;
  char *copy = strdup(s);
  struct coin_cfg_tf_list list = {.n = 0};
  if (copy == NULL) {
    snprintf(why, WHY_BYTES, "out of memory");
    goto out;
  }
  if (split_list(&items, &n, copy, 64, why) != 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    enum coin_tf tf;
    if (coin_tf_parse(&tf, items[i]) != 0) {
      snprintf(why, WHY_BYTES, "%s", coin_error_last());
      goto out;
    }
    for (size_t j = 0; j < list.n; j++)
      if (list.tfs[j] == tf) {
        snprintf(why, WHY_BYTES, "duplicate \"%s\"", coin_tf_name(tf));
        goto out;
      }
    list.tfs[list.n++] = tf;
  }
  *out = list;
  rc = 0;
out:
  free(items);
  free(copy);
  return rc;
}

static int parse_str_list(struct coin_cfg_str_list *out, const char *s,
                          const struct coin_cfg_var *v, char *why) {
  int rc = -1;
  char **items = NULL, **owned = NULL;
  size_t n = 0, done = 0;
  char *copy = strdup(s);
  size_t max = v->max > 0 ? (size_t)v->max : DEFAULT_LIST_MAX;
  if (copy == NULL) {
    snprintf(why, WHY_BYTES, "out of memory");
    goto out;
  }
  if (split_list(&items, &n, copy, max, why) != 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    if (v->check && v->check(items[i]) != 0) {
      snprintf(why, WHY_BYTES, "%s", coin_error_last());
      goto out;
    }
    /* Lists are short (<= 1000) and read once: quadratic is fine. */
    for (size_t j = 0; j < i; j++)
      if (strcmp(items[i], items[j]) == 0) {
        char b[SHOWN_MAX_CHARS + 4];
        snprintf(why, WHY_BYTES, "duplicate \"%s\"",
                 coin_fmt_shown(b, sizeof(b), items[i]));
        goto out;
      }
  }
  owned = calloc(n, sizeof(*owned));
  if (owned == NULL) {
    snprintf(why, WHY_BYTES, "out of memory");
    goto out;
  }
  for (done = 0; done < n; done++) {
    owned[done] = strdup(items[done]);
    if (owned[done] == NULL) {
      snprintf(why, WHY_BYTES, "out of memory");
      goto out;
    }
  }
  for (size_t i = 0; i < out->n; i++) /* a second load replaces */
    free(out->items[i]);
  free(out->items);
  out->items = owned;
  out->n = n;
  owned = NULL;
  rc = 0;
out:
  if (owned) {
    for (size_t i = 0; i < done; i++)
      free(owned[i]);
    free(owned);
  }
  free(items);
  free(copy);
  return rc;
}

/* Parses text into the row's field. 0, or -1 with why set. */
static int parse_value(void *cfg, const struct coin_cfg_var *v,
                       const char *text, char *why) {
  void *f = field(cfg, v);
  size_t cap = (v->type == COIN_CFG_STR_LIST || v->type == COIN_CFG_TF_LIST)
                   ? COIN_CFG_LIST_MAX_BYTES
                   : COIN_CFG_VALUE_MAX_BYTES;
  if (strnlen(text, cap + 1) > cap) {
    snprintf(why, WHY_BYTES, "longer than %zu bytes", cap);
    return -1;
  }
  switch (v->type) {
  case COIN_CFG_STRING:
    if (v->check && v->check(text) != 0) {
      snprintf(why, WHY_BYTES, "%s", coin_error_last());
      return -1;
    }
    break;
  case COIN_CFG_URL:
    if (parse_url(text, v, why) != 0)
      return -1;
    if (v->check && v->check(text) != 0) {
      snprintf(why, WHY_BYTES, "%s", coin_error_last());
      return -1;
    }
    break;
  case COIN_CFG_HOSTPORT:
    if (check_authority(text, strlen(text), true, why) != 0)
      return -1;
    break;
  case COIN_CFG_FILE:
    if (check_file(text, why) != 0)
      return -1;
    break;
  case COIN_CFG_INT: return parse_int(f, text, v->min, v->max, why);
  case COIN_CFG_DOUBLE: return parse_double(f, text, v->dmin, v->dmax, why);
  case COIN_CFG_BOOL: return parse_bool(f, text, why);
  case COIN_CFG_ENUM:
    for (int i = 0; v->choices && v->choices[i]; i++)
      if (strcmp(text, v->choices[i]) == 0) {
        *(int *)f = i;
        return 0;
      }
    snprintf(why, WHY_BYTES, "not an allowed value");
    return -1;
  case COIN_CFG_TF:
    if (coin_tf_parse(f, text) != 0) {
      snprintf(why, WHY_BYTES, "%s", coin_error_last());
      return -1;
    }
    return 0;
  case COIN_CFG_TF_LIST: return parse_tf_list(f, text, why);
  case COIN_CFG_STR_LIST: return parse_str_list(f, text, v, why);
  }
  /* String-valued types: store a copy. */
  char *copy = strdup(text);
  if (copy == NULL) {
    snprintf(why, WHY_BYTES, "out of memory");
    return -1;
  }
  free(*(char **)f);
  *(char **)f = copy;
  return 0;
}

static const char *nonempty(const char *s) {
  return s && s[0] ? s : NULL;
}

/* The placeholder values of the shipped examples (deploy/compose/secrets,
 * deploy/k8s) and the usual stand-ins: a secret holding one is refused, so
 * an example never runs as if it were a real deployment. */
static const char *const placeholder_secrets[] = {
    "change-me-to-a-long-random-string", /* compose webhook_secret.example */
    "example-only-change-me",            /* k8s overlays/example */
    "replace-me",                        /* k8s base */
    "changeme",
    "change-me",
    "replaceme",
    "secret",
    "password",
    "example",
    "xxx",
    NULL};

bool coin_cfg_is_placeholder_secret(const char *value) {
  if (value == NULL)
    return false;
  size_t n = strlen(value);
  while (n > 0 &&
         (value[n - 1] == '\n' || value[n - 1] == '\r' || value[n - 1] == ' '))
    n--;
  for (int i = 0; placeholder_secrets[i]; i++)
    if (strlen(placeholder_secrets[i]) == n &&
        strncasecmp(value, placeholder_secrets[i], n) == 0)
      return true;
  return false;
}

/* Loads one row; returns true when it added a problem. */
static bool load_row(void *cfg, const struct coin_cfg_var *v,
                     const struct coin_env *env, struct coin_cfg_errors *errs) {
  char why[WHY_BYTES] = "";
  char rule[512];
  char show[SHOWN_MAX_CHARS + 4];
  char file_name[NAME_MAX_BYTES];
  char *secret = NULL;
  bool bad = false;
  bool is_secret = v->flags & COIN_CFG_SECRET;
  rule_text(rule, sizeof(rule), v);

  const char *raw = env->get(v->name, env->ctx);
  if (raw && raw[0] == '\0' && v->type == COIN_CFG_URL && v->def) {
    /* set but empty: never silently the default (a service could join a
     * server it was never meant to); without a default, empty is unset */
    coin_cfg_errors_add(errs,
                        "%s: set but empty (rule: unset it for the default "
                        "%s, or %s)",
                        v->name, v->def, rule);
    return true;
  }
  const char *text = nonempty(raw);
  /* Copy before the next get(): the env may reuse its buffer. */
  char *text_copy = text ? strdup(text) : NULL;
  text = text_copy;
  if (v->flags & COIN_CFG_FILE_OK) {
    snprintf(file_name, sizeof(file_name), "%s_FILE", v->name);
    const char *path = nonempty(env->get(file_name, env->ctx));
    if (path && text) {
      coin_cfg_errors_add(errs,
                          "%s and %s are both set (rule: set at most one of "
                          "them)",
                          v->name, file_name);
      bad = true;
      goto out;
    }
    if (path) {
      if (read_secret(&secret, path, why) != 0) {
        coin_cfg_errors_add(errs,
                            "%s=\"%s\": %s (rule: readable file holding "
                            "the value of %s)",
                            file_name, coin_fmt_shown(show, sizeof(show), path),
                            why, v->name);
        bad = true;
        goto out;
      }
      text = secret;
    }
  }
  bool from_default = false;
  if (text == NULL) {
    if (v->def == NULL) {
      if (v->flags & COIN_CFG_REQUIRED) {
        coin_cfg_errors_add(errs, "%s: unset (rule: required; %s)", v->name,
                            rule);
        bad = true;
      }
      goto out;
    }
    text = v->def;
    from_default = true;
  }
  if (is_secret && !from_default && coin_cfg_is_placeholder_secret(text)) {
    coin_cfg_errors_add(errs,
                        "%s: the example placeholder value is not a secret "
                        "(rule: set a real one, e.g. openssl rand -hex 32)",
                        v->name);
    bad = true;
    goto out;
  }
  if (parse_value(cfg, v, text, why) != 0) {
    char red[SHOWN_MAX_CHARS * 2 + 64];
    const char *plain = text;
    if (v->type == COIN_CFG_URL) { /* user-info, tokens: coin/redact.h */
      coin_redact_urls(red, sizeof(red), text);
      plain = red;
    }
    char why_red[WHY_BYTES + 64];
    coin_redact_text(why_red, sizeof(why_red), why);
    coin_cfg_errors_add(
        errs, "%s=%s%s%s%s: %s (rule: %s)", v->name, is_secret ? "" : "\"",
        is_secret ? "***" : coin_fmt_shown(show, sizeof(show), plain),
        is_secret ? "" : "\"", from_default ? " (the default)" : "", why_red,
        rule);
    bad = true;
  }
out:
  free(text_copy);
  free(secret);
  return bad;
}

static int load_rows(void *cfg, const struct coin_cfg_var *vars, size_t n,
                     const struct coin_env *env, struct coin_cfg_errors *errs,
                     bool *failed) {
  int before = errs->count;
  for (size_t i = 0; i < n; i++) {
    bool bad = load_row(cfg, &vars[i], env, errs);
    if (failed)
      failed[i] = bad;
  }
  int added = errs->count - before;
  if (added)
    return coin_error_set(COIN_EINVAL, "%d invalid configuration variable%s",
                          added, added == 1 ? "" : "s");
  return 0;
}

int coin_cfg_load(void *cfg, const struct coin_cfg_var *vars, size_t n,
                  const struct coin_env *env, struct coin_cfg_errors *errs) {
  return load_rows(cfg, vars, n, env, errs, NULL);
}

void coin_cfg_free(void *cfg, const struct coin_cfg_var *vars, size_t n) {
  if (cfg == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    const struct coin_cfg_var *v = &vars[i];
    void *f = field(cfg, v);
    switch (v->type) {
    case COIN_CFG_STRING:
    case COIN_CFG_URL:
    case COIN_CFG_HOSTPORT:
    case COIN_CFG_FILE:
      free(*(char **)f);
      *(char **)f = NULL;
      break;
    case COIN_CFG_STR_LIST: {
      struct coin_cfg_str_list *l = f;
      for (size_t j = 0; j < l->n; j++)
        free(l->items[j]);
      free(l->items);
      *l = (struct coin_cfg_str_list){0};
      break;
    }
    default: break;
    }
  }
}

/* ---- JSON and docs ------------------------------------------------------ */

/* URLs as they may be shown (coin/redact.h). */
static json_t *redacted_urls(const char *s) {
  size_t cap = strlen(s) + 64;
  char *out = malloc(cap);
  if (out == NULL)
    return NULL;
  coin_redact_urls(out, cap, s);
  json_t *j = json_string(out);
  free(out);
  return j;
}

static json_t *value_json(const void *cfg, const struct coin_cfg_var *v) {
  const void *f = cfield(cfg, v);
  if (v->flags & COIN_CFG_SECRET) {
    const char *s = *(char *const *)f;
    return s ? json_string("***") : json_null();
  }
  switch (v->type) {
  case COIN_CFG_STRING:
  case COIN_CFG_HOSTPORT:
  case COIN_CFG_FILE: {
    const char *s = *(char *const *)f;
    return s ? json_string(s) : json_null();
  }
  case COIN_CFG_URL: {
    const char *s = *(char *const *)f;
    return s ? redacted_urls(s) : json_null();
  }
  case COIN_CFG_INT: return json_integer(*(const int64_t *)f);
  case COIN_CFG_DOUBLE: return json_real(*(const double *)f);
  case COIN_CFG_BOOL: return json_boolean(*(const bool *)f);
  case COIN_CFG_ENUM: {
    int i = *(const int *)f;
    for (int k = 0; v->choices && v->choices[k]; k++)
      if (k == i)
        return json_string(v->choices[k]);
    return json_null();
  }
  case COIN_CFG_TF: return json_string(coin_tf_name(*(const enum coin_tf *)f));
  case COIN_CFG_TF_LIST: {
    const struct coin_cfg_tf_list *l = f;
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
      json_array_append_new(a, json_string(coin_tf_name(l->tfs[i])));
    return a;
  }
  case COIN_CFG_STR_LIST: {
    const struct coin_cfg_str_list *l = f;
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
      json_array_append_new(a, json_string(l->items[i]));
    return a;
  }
  }
  return json_null();
}

int coin_cfg_to_json(char **out, const struct coin_cfg_part *parts,
                     size_t n_parts) {
  int rc = 0;
  char *text = NULL;
  json_t *obj = json_object();
  if (obj == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "config json: out of memory");
    goto out;
  }
  for (size_t p = 0; p < n_parts; p++)
    for (size_t i = 0; i < parts[p].n; i++) {
      const struct coin_cfg_var *v = &parts[p].vars[i];
      json_t *val = value_json(parts[p].cfg, v);
      if (val == NULL || json_object_set_new(obj, v->name, val) != 0) {
        rc = coin_error_set(COIN_ENOMEM, "config json: %s", v->name);
        goto out;
      }
    }
  text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (text == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "config json: dump failed");
    goto out;
  }
  *out = text;
out:
  json_decref(obj);
  return rc;
}

/* Markdown table cell text: '|' escaped, newlines flattened. */
static void md_cell(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '|')
      fputs("\\|", f);
    else if (*s == '\n')
      fputc(' ', f);
    else
      fputc(*s, f);
  }
}

/* "; read by coin-ingest, coin-publish" for a shared row (nothing for a
 * service's own rows). */
static void readers_text(FILE *f, unsigned readers) {
  static const char *const names[] = {"coin-ingest", "coin-publish",
                                      "coin-monitor", "coin-train", "coinctl"};
  const char *sep = "; read by ";
  for (size_t i = 0; i < COIN_ARRAY_LEN(names); i++)
    if (readers & (1u << i)) {
      fprintf(f, "%s%s", sep, names[i]);
      sep = ", ";
    }
}

int coin_cfg_doc_rows(FILE *f, const struct coin_cfg_var *vars, size_t n) {
  char rule[512];
  for (size_t i = 0; i < n; i++) {
    const struct coin_cfg_var *v = &vars[i];
    rule_text(rule, sizeof(rule), v);
    fprintf(f, "| `%s` | ", v->name);
    if (v->def_doc)
      md_cell(f, v->def_doc);
    else if (v->def)
      fprintf(f, "`%s`", v->def);
    else
      fputs("(unset)", f);
    fputs(" | ", f);
    md_cell(f, v->doc ? v->doc : "");
    fputs(" | ", f);
    md_cell(f, rule);
    if (v->flags & COIN_CFG_REQUIRED)
      fputs("; required", f);
    if (v->flags & COIN_CFG_SECRET)
      fputs("; secret (shown as `***`)", f);
    if (v->flags & COIN_CFG_FILE_OK)
      fprintf(f, "; or `%s_FILE` = path of a file holding it (not both)",
              v->name);
    readers_text(f, v->readers);
    fputs(" |\n", f);
  }
  if (ferror(f))
    return coin_error_set(COIN_EIO, "config docs: write failed");
  return 0;
}

/* ---- core configuration ------------------------------------------------- */

static int check_id(const char *what, const char *text) {
  size_t n = strnlen(text, ID_MAX_CHARS + 1);
  if (n == 0 || n > ID_MAX_CHARS)
    return coin_error_set(COIN_EINVAL,
                          "%s of %zu chars (rule: 1..%d chars of "
                          "[A-Za-z0-9_-])",
                          what, n, ID_MAX_CHARS);
  for (size_t i = 0; i < n; i++) {
    char c = text[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return coin_error_set(COIN_EINVAL,
                            "%s: character %zu (0x%02x) not allowed (rule: "
                            "[A-Za-z0-9_-]{1,%d})",
                            what, i + 1, (unsigned)(unsigned char)c,
                            ID_MAX_CHARS);
  }
  return 0;
}

int coin_cfg_check_service_id(const char *text) {
  return check_id("service id", text);
}

int coin_cfg_check_db_name(const char *text) {
  return check_id("database name", text);
}

static const char *const nats_schemes[] = {"nats", "tls", NULL};
static const char *const http_schemes[] = {"http", "https", NULL};
static const char *const sched_modes[] = {"boundary", "poll_loop", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         NULL};

/* INFLUX_URL: the client takes credentials from INFLUX_USER/PASSWORD or
 * INFLUX_TOKEN only; user-info in the URL is a configuration error (exit 2),
 * not a start-up failure. */
static int check_no_userinfo(const char *url) {
  const char *a = strstr(url, "://");
  a = a ? a + 3 : url;
  size_t n = strcspn(a, "/?#");
  if (memchr(a, '@', n))
    return coin_error_set(COIN_EINVAL,
                          "credentials in the URL are not used (set "
                          "INFLUX_USER + INFLUX_PASSWORD, or INFLUX_TOKEN)");
  return 0;
}

#define OFF(f) offsetof(struct coin_config, f)

const struct coin_cfg_var coin_config_vars[] = {
    {.name = "NATS_URL",
     .readers = COIN_CFG_SERVICES | COIN_CFG_COINCTL,
     .type = COIN_CFG_URL,
     .def = "nats://127.0.0.1:4222",
     .offset = OFF(nats_url),
     .flags = COIN_CFG_MULTI,
     .choices = nats_schemes,
     .doc = "NATS server(s); a user:password in the URL is redacted in logs."},
    {.name = "NATS_USER",
     .readers = COIN_CFG_SERVICES | COIN_CFG_COINCTL,
     .type = COIN_CFG_STRING,
     .offset = OFF(nats_user),
     .rule = "text; needs NATS_PASSWORD",
     .doc = "NATS user name."},
    {.name = "NATS_PASSWORD",
     .readers = COIN_CFG_SERVICES | COIN_CFG_COINCTL,
     .type = COIN_CFG_STRING,
     .offset = OFF(nats_password),
     .flags = COIN_CFG_SECRET | COIN_CFG_FILE_OK,
     .rule = "text; needs NATS_USER",
     .doc = "NATS password."},
    {.name = "NATS_TOKEN",
     .readers = COIN_CFG_SERVICES | COIN_CFG_COINCTL,
     .type = COIN_CFG_STRING,
     .offset = OFF(nats_token),
     .flags = COIN_CFG_SECRET | COIN_CFG_FILE_OK,
     .rule = "text; not with NATS_USER or NATS_CREDS_FILE",
     .doc = "NATS authentication token."},
    {.name = "NATS_CREDS_FILE",
     .readers = COIN_CFG_SERVICES | COIN_CFG_COINCTL,
     .type = COIN_CFG_FILE,
     .offset = OFF(nats_creds_file),
     .doc = "NATS credentials file (JWT + nkey seed); not with NATS_USER or "
            "NATS_TOKEN."},
    {.name = "NATS_TLS_CA",
     .readers = COIN_CFG_SERVICES | COIN_CFG_COINCTL,
     .type = COIN_CFG_FILE,
     .offset = OFF(nats_tls_ca),
     .doc = "CA certificate (PEM) to verify the NATS server's TLS "
            "certificate."},
    {.name = "NATS_REPLICAS",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_INT,
     .def = "1",
     .offset = OFF(nats_replicas),
     .min = 1,
     .max = 5,
     .doc = "Copies of each JetStream stream and KV bucket a service creates "
            "or updates: 1 on one server, 3 on a 3-node cluster (all "
            "services alike)."},
    {.name = "INFLUX_URL",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_URL,
     .def = "http://127.0.0.1:8086",
     .offset = OFF(influx_url),
     .choices = http_schemes,
     .check = check_no_userinfo,
     .rule = "no user:password in it",
     .doc = "InfluxDB 1.x HTTP API base URL."},
    {.name = "INFLUX_DB",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_STRING,
     .def = "coin",
     .offset = OFF(influx_db),
     .check = coin_cfg_check_db_name,
     .rule = "1..64 chars of [A-Za-z0-9_-]",
     .doc = "InfluxDB database (the source of truth)."},
    {.name = "INFLUX_USER",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_STRING,
     .offset = OFF(influx_user),
     .rule = "text; needs INFLUX_PASSWORD",
     .doc = "InfluxDB user name."},
    {.name = "INFLUX_PASSWORD",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_STRING,
     .offset = OFF(influx_password),
     .flags = COIN_CFG_SECRET | COIN_CFG_FILE_OK,
     .rule = "text; needs INFLUX_USER",
     .doc = "InfluxDB password."},
    {.name = "INFLUX_TOKEN",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_STRING,
     .offset = OFF(influx_token),
     .flags = COIN_CFG_SECRET | COIN_CFG_FILE_OK,
     .rule = "text; not with INFLUX_USER",
     .doc = "InfluxDB token, instead of user and password."},
    {.name = "EXCHANGE",
     .readers = COIN_CFG_SERVICES | COIN_CFG_COINCTL,
     .type = COIN_CFG_STRING,
     .def = "binance",
     .offset = OFF(exchange),
     .check = coin_exchange_validate,
     .rule = "[a-z0-9_]{1,32}",
     .doc = "Exchange name used in subjects, KV keys, tags and paths."},
    {.name = "EXCHANGE_BASE_URL",
     .readers = COIN_CFG_INGEST,
     .type = COIN_CFG_URL,
     .def = "https://api.binance.com",
     .offset = OFF(exchange_base_url),
     .choices = http_schemes,
     .doc = "Exchange REST API base URL (the replay exchange in tests)."},
    {.name = "SYMBOLS",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_STR_LIST,
     .def = "BTCUSDT,ETHUSDT",
     .offset = OFF(symbols),
     .max = 1000,
     .check = coin_symbol_validate,
     .rule = "[A-Z0-9][A-Z0-9_-]{0,31}",
     .doc = "Symbols to ingest, publish and monitor."},
    {.name = "PRIMARY_TIMEFRAME",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_TF,
     .def = "1h",
     .offset = OFF(primary_timeframe),
     .doc = "Default operating timeframe."},
    {.name = "INGEST_TIMEFRAMES",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_TF_LIST,
     .def_doc = "= `PRIMARY_TIMEFRAME`",
     .offset = OFF(ingest_timeframes),
     .rule = "must include PRIMARY_TIMEFRAME; more than one needs "
             "ENABLE_MULTI_TIMEFRAMES=true",
     .doc = "Timeframes to ingest and publish."},
    {.name = "ENABLE_MULTI_TIMEFRAMES",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_BOOL,
     .def = "false",
     .offset = OFF(enable_multi_timeframes),
     .doc = "Allows INGEST_TIMEFRAMES to list several timeframes."},
    {.name = "WORKER_SCHEDULER_MODE",
     .readers = COIN_CFG_INGEST,
     .type = COIN_CFG_ENUM,
     .def = "boundary",
     .offset = OFF(worker_scheduler_mode),
     .choices = sched_modes,
     .doc = "`boundary`: wake just after each UTC candle boundary; "
            "`poll_loop`: every WORKER_CYCLE_SECONDS."},
    {.name = "WORKER_CYCLE_SECONDS",
     .readers = COIN_CFG_INGEST,
     .type = COIN_CFG_INT,
     .def = "60",
     .offset = OFF(worker_cycle_seconds),
     .min = 1,
     .max = 86400,
     .doc = "Cycle period in poll_loop mode; the budget of one cycle (longer "
            "is an overrun)."},
    {.name = "RUNTIME_METRICS_WINDOW_SIZE",
     .readers = COIN_CFG_INGEST,
     .type = COIN_CFG_INT,
     .def = "240",
     .offset = OFF(runtime_metrics_window_size),
     .min = 1,
     .max = 100000,
     .doc = "Ingest cycles summarised in runtime_metrics.json."},
    {.name = "STATIC_DATA_DIR",
     .readers = COIN_CFG_INGEST | COIN_CFG_PUBLISH | COIN_CFG_MONITOR,
     .type = COIN_CFG_STRING,
     .def = "./site",
     .offset = OFF(static_data_dir),
     .rule = "directory path",
     .doc = "Root of the published static site."},
    {.name = "LOG_LEVEL",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_ENUM,
     .def = "info",
     .offset = OFF(log_level),
     .choices = log_levels,
     .doc = "Minimum level of the JSON log lines on stderr."},
    {.name = "INGEST_HTTP_ADDR",
     .readers = COIN_CFG_INGEST,
     .type = COIN_CFG_HOSTPORT,
     .def = "127.0.0.1:9101",
     .offset = OFF(ingest_http_addr),
     .doc = "coin-ingest's /healthz and /metrics listener."},
    {.name = "PUBLISH_HTTP_ADDR",
     .readers = COIN_CFG_PUBLISH,
     .type = COIN_CFG_HOSTPORT,
     .def = "127.0.0.1:9102",
     .offset = OFF(publish_http_addr),
     .doc = "coin-publish's /healthz and /metrics listener."},
    {.name = "MONITOR_HTTP_ADDR",
     .readers = COIN_CFG_MONITOR | COIN_CFG_COINCTL,
     .type = COIN_CFG_HOSTPORT,
     .def = "127.0.0.1:9103",
     .offset = OFF(monitor_http_addr),
     .doc = "coin-monitor's /status, /metrics and /healthz listener."},
    {.name = "SERVICE_ID",
     .readers = COIN_CFG_SERVICES,
     .type = COIN_CFG_STRING,
     .def_doc = "host name (other chars -> `-`), else `coin`",
     .offset = OFF(service_id),
     .check = coin_cfg_check_service_id,
     .rule = "[A-Za-z0-9_-]{1,64}",
     .doc = "This instance's id (consumer names, lock owners)."},
};

const size_t coin_config_var_count = COIN_ARRAY_LEN(coin_config_vars);
_Static_assert(COIN_ARRAY_LEN(coin_config_vars) <= COIN_CONFIG_MAX_VARS,
               "COIN_CONFIG_MAX_VARS");

static bool reads(const struct coin_cfg_var *v, unsigned reader) {
  return reader == 0 || v->readers == 0 || (v->readers & reader) != 0;
}

size_t coin_config_rows(struct coin_cfg_var *out, unsigned reader) {
  size_t n = 0;
  for (size_t i = 0; i < coin_config_var_count; i++)
    if (reads(&coin_config_vars[i], reader))
      out[n++] = coin_config_vars[i];
  return n;
}

/* The environment as one reader sees it: the shared rows it does not read
 * are unset (so they take their default and are never checked). */
struct reader_env {
  const struct coin_env *env;
  unsigned reader;
};

static const char *reader_get(const char *name, void *ctx) {
  const struct reader_env *re = ctx;
  for (size_t i = 0; i < coin_config_var_count; i++) {
    const struct coin_cfg_var *v = &coin_config_vars[i];
    size_t len = strlen(v->name);
    /* NAME, and NAME_FILE for a secret given as a file */
    if (strncmp(name, v->name, len) == 0 &&
        (name[len] == '\0' || strcmp(name + len, "_FILE") == 0))
      return reads(v, re->reader) ? re->env->get(name, re->env->ctx) : NULL;
  }
  return re->env->get(name, re->env->ctx);
}

/* Index of a core row by name (the table is small and read once). */
static size_t row(const char *name) {
  for (size_t i = 0; i < coin_config_var_count; i++)
    if (strcmp(coin_config_vars[i].name, name) == 0)
      return i;
  abort(); /* a typo in this file, caught by the first test run */
}

/* SERVICE_ID default: the host name with disallowed chars mapped to '-'. */
static char *default_service_id(void) {
  char host[256] = "";
  if (gethostname(host, sizeof(host) - 1) != 0)
    host[0] = '\0';
  host[ID_MAX_CHARS] = '\0';
  for (char *p = host; *p; p++)
    if (coin_cfg_check_service_id((char[]){*p, '\0'}) != 0)
      *p = '-';
  return strdup(host[0] ? host : "coin");
}

static void cross_checks(struct coin_config *c, const struct coin_env *env,
                         const bool *failed, struct coin_cfg_errors *errs) {
  if (!failed[row("NATS_USER")] && !failed[row("NATS_PASSWORD")] &&
      !c->nats_user != !c->nats_password)
    coin_cfg_errors_add(errs,
                        "%s is set but %s is not (rule: NATS_USER and "
                        "NATS_PASSWORD go together)",
                        c->nats_user ? "NATS_USER" : "NATS_PASSWORD",
                        c->nats_user ? "NATS_PASSWORD" : "NATS_USER");
  int nats_auth = (c->nats_user != NULL) + (c->nats_token != NULL) +
                  (c->nats_creds_file != NULL);
  if (!failed[row("NATS_TOKEN")] && !failed[row("NATS_CREDS_FILE")] &&
      nats_auth > 1)
    coin_cfg_errors_add(errs,
                        "NATS_USER, NATS_TOKEN, NATS_CREDS_FILE: %d are "
                        "set (rule: at most one NATS authentication "
                        "method)",
                        nats_auth);
  if (!failed[row("INFLUX_USER")] && !failed[row("INFLUX_PASSWORD")] &&
      !c->influx_user != !c->influx_password)
    coin_cfg_errors_add(errs,
                        "%s is set but %s is not (rule: INFLUX_USER and "
                        "INFLUX_PASSWORD go together)",
                        c->influx_user ? "INFLUX_USER" : "INFLUX_PASSWORD",
                        c->influx_user ? "INFLUX_PASSWORD" : "INFLUX_USER");
  if (!failed[row("INFLUX_TOKEN")] && c->influx_token && c->influx_user)
    coin_cfg_errors_add(errs, "INFLUX_TOKEN and INFLUX_USER are both set "
                              "(rule: at most one InfluxDB authentication "
                              "method)");

  if (failed[row("INGEST_TIMEFRAMES")] || failed[row("PRIMARY_TIMEFRAME")])
    return;
  struct coin_cfg_tf_list *l = &c->ingest_timeframes;
  if (nonempty(env->get("INGEST_TIMEFRAMES", env->ctx)) == NULL) {
    l->tfs[0] = c->primary_timeframe;
    l->n = 1;
    return;
  }
  char list[64] = "";
  for (size_t i = 0; i < l->n; i++) {
    strcat(list, i ? "," : "");
    strcat(list, coin_tf_name(l->tfs[i]));
  }
  if (l->n > 1 && !failed[row("ENABLE_MULTI_TIMEFRAMES")] &&
      !c->enable_multi_timeframes)
    coin_cfg_errors_add(errs,
                        "INGEST_TIMEFRAMES=\"%s\": %zu timeframes but "
                        "ENABLE_MULTI_TIMEFRAMES is false (rule: more than "
                        "one timeframe requires ENABLE_MULTI_TIMEFRAMES=true)",
                        list, l->n);
  bool has_primary = false;
  for (size_t i = 0; i < l->n; i++)
    has_primary |= l->tfs[i] == c->primary_timeframe;
  if (!has_primary)
    coin_cfg_errors_add(errs,
                        "INGEST_TIMEFRAMES=\"%s\": lacks PRIMARY_TIMEFRAME "
                        "\"%s\" (rule: INGEST_TIMEFRAMES includes "
                        "PRIMARY_TIMEFRAME)",
                        list, coin_tf_name(c->primary_timeframe));
}

int coin_config_load(struct coin_config *out, unsigned reader,
                     const struct coin_env *process_env,
                     struct coin_cfg_errors *errs) {
  bool failed[COIN_ARRAY_LEN(coin_config_vars)] = {false};
  struct coin_config c = {0};
  int before = errs->count;
  struct reader_env re = {process_env, reader};
  struct coin_env view = {reader_get, &re};
  const struct coin_env *env = &view;
  load_rows(&c, coin_config_vars, coin_config_var_count, env, errs, failed);
  if (!failed[row("SERVICE_ID")] && c.service_id == NULL) {
    c.service_id = default_service_id();
    if (c.service_id == NULL)
      coin_cfg_errors_add(errs, "SERVICE_ID: out of memory");
  }
  cross_checks(&c, env, failed, errs);
  int added = errs->count - before;
  if (added) {
    coin_config_free(&c);
    return coin_error_set(COIN_EINVAL, "%d configuration problem%s", added,
                          added == 1 ? "" : "s");
  }
  *out = c;
  return 0;
}

void coin_config_free(struct coin_config *cfg) {
  if (cfg == NULL)
    return;
  coin_cfg_free(cfg, coin_config_vars, coin_config_var_count);
  cfg->ingest_timeframes.n = 0;
}

int coin_config_to_json(char **out, const struct coin_config *cfg,
                        unsigned reader) {
  struct coin_cfg_var rows[COIN_CONFIG_MAX_VARS];
  struct coin_cfg_part part = {cfg, rows, coin_config_rows(rows, reader)};
  return coin_cfg_to_json(out, &part, 1);
}
