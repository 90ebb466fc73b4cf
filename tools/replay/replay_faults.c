/*
 * replay_faults.c: the --faults language and its reproducible decisions.
 * Whether a fault fires for klines request number n is a pure function of
 * (spec, seed, n): a hash of seed, n and the rule's position, never a shared
 * random state, so concurrent requests cannot disturb the sequence.
 * Parsed once at start; read-only afterwards.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coin/error.h"
#include "coin/parse.h"
#include "replay.h"

#define MAX_DELAY_MS 600000
#define DEFAULT_DELAY_MS 2000
#define DEFAULT_DRIP_MS 1000
#define ITEM_BYTES 128

static const char known_kinds[] =
    "429 418 500..599 slow truncate malformed dup invalid reset huge endless "
    "drip gap";

static uint64_t mix64(uint64_t x) {
  /* splitmix64 finaliser */
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

double replay_faults_uniform(uint64_t seed, uint64_t n, uint64_t salt) {
  uint64_t x = mix64(seed ^ mix64(n ^ mix64(salt)));
  return (double)(x >> 11) * 0x1.0p-53;
}

/* Digits only (no sign), as every number of the fault language. */
static int parse_i64(int64_t *out, const char *text) {
  if (!isdigit((unsigned char)text[0]) ||
      coin_parse_i64(out, text, 0, INT64_MAX) != 0)
    return -1;
  return 0;
}

static int parse_u64(uint64_t *out, const char *text) {
  int64_t v;
  if (parse_i64(&v, text) != 0)
    return -1;
  *out = (uint64_t)v;
  return 0;
}

/* gap:SYMBOL/TF/FROM-TO (data time, epoch ms, both inclusive). */
static int parse_gap(struct replay_faults *f, const char *item, char *arg) {
  if (f->ngaps == REPLAY_MAX_GAPS)
    return coin_error_set(COIN_ETOOBIG, "--faults: more than %d gap items",
                          REPLAY_MAX_GAPS);
  struct replay_gap *g = &f->gaps[f->ngaps];
  char *tf_text = strchr(arg, '/');
  char *range = tf_text ? strchr(tf_text + 1, '/') : NULL;
  char *dash = range ? strchr(range + 1, '-') : NULL;
  if (!tf_text || !range || !dash)
    return coin_error_set(COIN_EINVAL,
                          "--faults item \"%s\": want gap:SYMBOL/TF/FROM-TO "
                          "(epoch ms of the data files)",
                          item);
  *tf_text++ = '\0';
  *range++ = '\0';
  *dash++ = '\0';
  if (coin_symbol_validate(arg) < 0)
    return coin_error_wrap(COIN_EINVAL, "--faults item \"%s\"", item);
  if (coin_tf_parse(&g->tf, tf_text) < 0)
    return coin_error_wrap(COIN_EINVAL, "--faults item \"%s\"", item);
  if (parse_i64(&g->from_ms, range) < 0 || parse_i64(&g->to_ms, dash) < 0 ||
      g->from_ms > g->to_ms)
    return coin_error_set(COIN_EINVAL,
                          "--faults item \"%s\": range %s-%s (rule: FROM-TO "
                          "epoch ms, FROM <= TO)",
                          item, range, dash);
  snprintf(g->symbol, sizeof(g->symbol), "%s", arg);
  f->ngaps++;
  return 0;
}

static int parse_kind(struct replay_fault_rule *r, const char *kind) {
  static const struct {
    const char *name;
    enum replay_fault_kind kind;
  } named[] = {{"slow", FAULT_SLOW},
               {"truncate", FAULT_TRUNCATE},
               {"malformed", FAULT_MALFORMED},
               {"dup", FAULT_DUP},
               {"invalid", FAULT_INVALID},
               {"reset", FAULT_RESET},
               {"huge", FAULT_HUGE},
               {"endless", FAULT_ENDLESS},
               {"drip", FAULT_DRIP}};
  for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
    if (strcmp(kind, named[i].name) == 0) {
      r->kind = named[i].kind;
      return 0;
    }
  }
  uint64_t status;
  if (parse_u64(&status, kind) == 0 &&
      (status == 429 || status == 418 || (status >= 500 && status <= 599))) {
    r->kind = FAULT_STATUS;
    r->status = (int)status;
    return 0;
  }
  return -1;
}

static int parse_item(struct replay_faults *f, char *item) {
  char copy[ITEM_BYTES];
  snprintf(copy, sizeof(copy), "%s", item);
  char *colon = strchr(item, ':');
  if (colon == NULL)
    return coin_error_set(COIN_EINVAL,
                          "--faults item \"%s\": want KIND:PROBABILITY or "
                          "KIND:every=N (kinds: %s)",
                          copy, known_kinds);
  *colon = '\0';
  char *arg = colon + 1;
  if (strcmp(item, "gap") == 0)
    return parse_gap(f, copy, arg);
  if (f->nrules == REPLAY_MAX_RULES)
    return coin_error_set(COIN_ETOOBIG, "--faults: more than %d items",
                          REPLAY_MAX_RULES);
  struct replay_fault_rule *r = &f->rules[f->nrules];
  memset(r, 0, sizeof(*r));
  if (parse_kind(r, item) < 0)
    return coin_error_set(COIN_EINVAL,
                          "--faults item \"%s\": unknown kind \"%s\" (kinds: "
                          "%s)",
                          copy, item, known_kinds);
  snprintf(r->name, sizeof(r->name), "%.15s", item);
  char *scope = strchr(arg, '/'); /* KIND:P[@MS]/SYMBOL: that symbol only */
  if (scope) {
    *scope++ = '\0';
    if (coin_symbol_validate(scope) < 0)
      return coin_error_wrap(COIN_EINVAL, "--faults item \"%s\"", copy);
    snprintf(r->symbol, sizeof(r->symbol), "%s", scope);
  }
  char *at = strchr(arg, '@');
  if (at) {
    *at++ = '\0';
    uint64_t ms;
    if (r->kind != FAULT_SLOW && r->kind != FAULT_DRIP)
      return coin_error_set(COIN_EINVAL,
                            "--faults item \"%s\": @MS is only for slow and "
                            "drip",
                            copy);
    if (parse_u64(&ms, at) < 0 || ms > MAX_DELAY_MS ||
        (r->kind == FAULT_DRIP && ms == 0))
      return coin_error_set(COIN_EINVAL,
                            "--faults item \"%s\": delay \"%s\" (rule: "
                            "0..%d ms)",
                            copy, at, MAX_DELAY_MS);
    r->delay_ms = (int)ms;
  } else if (r->kind == FAULT_SLOW) {
    r->delay_ms = DEFAULT_DELAY_MS;
  } else if (r->kind == FAULT_DRIP) {
    r->delay_ms = DEFAULT_DRIP_MS;
  }
  if (strncmp(arg, "every=", 6) == 0) {
    if (parse_u64(&r->every, arg + 6) < 0 || r->every == 0)
      return coin_error_set(COIN_EINVAL,
                            "--faults item \"%s\": every=\"%s\" (rule: "
                            "integer >= 1)",
                            copy, arg + 6);
  } else {
    char *end = NULL;
    errno = 0;
    r->probability = strtod(arg, &end);
    if (arg[0] == '\0' || *end != '\0' || errno != 0 ||
        !(r->probability >= 0 && r->probability <= 1))
      return coin_error_set(COIN_EINVAL,
                            "--faults item \"%s\": probability \"%s\" (rule: "
                            "number in [0, 1] or every=N)",
                            copy, arg);
  }
  f->nrules++;
  return 0;
}

int replay_faults_parse(struct replay_faults *out, const char *spec,
                        uint64_t seed) {
  struct replay_faults f;
  memset(&f, 0, sizeof(f));
  f.seed = seed;
  for (const char *p = spec; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char item[ITEM_BYTES];
    if (len == 0 || len >= sizeof(item))
      return coin_error_set(COIN_EINVAL,
                            "--faults item \"%.*s\": empty or longer than %d "
                            "chars",
                            (int)(len < 60 ? len : 60), p, ITEM_BYTES - 1);
    memcpy(item, p, len);
    item[len] = '\0';
    int rc = parse_item(&f, item);
    if (rc < 0)
      return rc;
    if (!e)
      break;
    p = e + 1;
  }
  *out = f;
  return 0;
}

const struct replay_fault_rule *
replay_faults_decide(const struct replay_faults *f, uint64_t n,
                     const char *symbol) {
  for (size_t i = 0; i < f->nrules; i++) {
    const struct replay_fault_rule *r = &f->rules[i];
    if (r->symbol[0] && strcmp(r->symbol, symbol) != 0)
      continue;
    bool fire = r->every
                    ? n % r->every == 0
                    : replay_faults_uniform(f->seed, n, i + 1) < r->probability;
    if (fire)
      return r;
  }
  return NULL;
}
