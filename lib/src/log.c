/*
 * log.c: JSON-lines logger. Each line is built in a private buffer (stack,
 * growing to the heap up to COIN_LOG_LINE_MAX_BYTES), then written with one
 * fwrite + fflush under a process-wide mutex. Strings are escaped for JSON and
 * invalid UTF-8 is replaced by U+FFFD, so every line parses.
 */
#include "coin/log.h"
#include "coin/clock.h"

#include "coin/fmt.h"
#include "coin/redact.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coin/parse.h"
#include "coin/timeframe.h"

#define SVC_MAX_BYTES 64
#define STACK_LINE_BYTES 2048
/* Room always kept free for `,"truncated":true}` + '\n'. */
#define CLOSE_RESERVE_BYTES 24

atomic_int coin_log_min_level_ = COIN_LOG_LEVEL_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_out;                        /* NULL = stderr; under log_lock */
static char log_svc[SVC_MAX_BYTES] = "coin"; /* under log_lock */

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};

void coin_log_init(const char *svc, enum coin_log_level level, FILE *out) {
  pthread_mutex_lock(&log_lock);
  snprintf(log_svc, sizeof(log_svc), "%s", svc ? svc : "coin");
  log_out = out;
  pthread_mutex_unlock(&log_lock);
  coin_log_set_level(level);
}

void coin_log_set_level(enum coin_log_level level) {
  atomic_store_explicit(&coin_log_min_level_, (int)level, memory_order_relaxed);
}

int coin_log_level_parse(enum coin_log_level *out, const char *text) {
  int i;
  int rc = coin_parse_enum(&i, "log level", text, level_names,
                           COIN_LOG_LEVEL_ERROR + 1, NULL);
  if (rc == 0)
    *out = (enum coin_log_level)i;
  return rc;
}

const char *coin_log_level_name(enum coin_log_level level) {
  if ((unsigned)level > COIN_LOG_LEVEL_OFF)
    return "?";
  return level_names[level];
}

/* ---- line buffer with a hard cap ---------------------------------------- */

struct line {
  char *p;
  size_t len;
  size_t cap;
  bool heap;
  bool full; /* something did not fit: the line ends "truncated":true */
  char stack[STACK_LINE_BYTES];
};

/* Makes room for n more bytes, keeping CLOSE_RESERVE_BYTES free. */
static bool reserve(struct line *l, size_t n) {
  if (l->full)
    return false;
  size_t need = l->len + n + CLOSE_RESERVE_BYTES;
  if (need <= l->cap)
    return true;
  if (need > COIN_LOG_LINE_MAX_BYTES) {
    l->full = true;
    return false;
  }
  size_t ncap = l->cap * 2;
  while (ncap < need)
    ncap *= 2;
  if (ncap > COIN_LOG_LINE_MAX_BYTES)
    ncap = COIN_LOG_LINE_MAX_BYTES;
  char *np = l->heap ? realloc(l->p, ncap) : malloc(ncap);
  if (np == NULL) {
    l->full = true;
    return false;
  }
  if (!l->heap)
    memcpy(np, l->p, l->len);
  l->p = np;
  l->cap = ncap;
  l->heap = true;
  return true;
}

static bool put(struct line *l, const char *s, size_t n) {
  if (!reserve(l, n))
    return false;
  memcpy(l->p + l->len, s, n);
  l->len += n;
  return true;
}

static bool puts_(struct line *l, const char *s) {
  return put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (of at most n bytes), or 0. Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    return 0;
  return len;
}

/* Appends s as a quoted JSON string. If it does not fit, as much as fits is
 * written and the quote is still closed (the reserve guarantees room). */
static bool put_json_string(struct line *l, const char *s) {
  if (!put(l, "\"", 1))
    return false;
  const unsigned char *u = (const unsigned char *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    unsigned char c = u[i];
    char esc[8];
    const char *out = esc;
    size_t out_len;
    size_t step = 1;
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c, out_len = 2;
    } else if (c < 0x20 || c == 0x7f) {
      switch (c) {
      case '\n': out = "\\n", out_len = 2; break;
      case '\r': out = "\\r", out_len = 2; break;
      case '\t': out = "\\t", out_len = 2; break;
      case '\b': out = "\\b", out_len = 2; break;
      case '\f': out = "\\f", out_len = 2; break;
      default: snprintf(esc, sizeof(esc), "\\u%04x", c); out_len = 6;
      }
    } else if (c < 0x80) {
      out = (const char *)u + i, out_len = 1;
    } else {
      step = utf8_len(u + i, n - i);
      if (step == 0) {
        out = "\xef\xbf\xbd", out_len = 3, step = 1; /* U+FFFD */
      } else {
        out = (const char *)u + i, out_len = step;
      }
    }
    if (!put(l, out, out_len))
      break;
    i += step;
  }
  /* The last successful put left the reserve free: the quote fits. */
  l->p[l->len++] = '"';
  return true;
}

static bool put_key(struct line *l, const char *key) {
  return puts_(l, ",") && put_json_string(l, key) && !l->full && puts_(l, ":");
}

/* Shortest text that reads back as the same double; JSON has no NaN/inf. */
static void put_double(struct line *l, double v) {
  char buf[COIN_FMT_DOUBLE_BYTES];
  if (!isfinite(v)) {
    puts_(l, "null");
    return;
  }
  coin_fmt_double(buf, v);
  puts_(l, buf);
}

static void put_field(struct line *l, const struct coin_log_field *f) {
  char buf[48];
  size_t mark = l->len;
  if (!put_key(l, f->key ? f->key : "")) {
    l->len = mark; /* no half keys */
    return;
  }
  switch (f->kind) {
  case COIN_LOG_KIND_STR: {
    /* A string cut short is kept (closed); one never opened is dropped. A
     * value holding a URL (an error text echoing one) loses its secrets
     * here whatever the caller did (coin/redact.h). */
    const char *v = f->v.s;
    char *red = NULL;
    if (v && strstr(v, "://")) {
      size_t cap = strlen(v) + 64;
      red = malloc(cap);
      if (red) {
        coin_redact_text(red, cap, v);
        v = red;
      } else {
        v = "(value with a URL, not shown: out of memory)";
      }
    }
    if (!(v ? put_json_string(l, v) : puts_(l, "null")))
      l->len = mark;
    free(red);
    return;
  }
  case COIN_LOG_KIND_INT:
    snprintf(buf, sizeof(buf), "%" PRId64, f->v.i);
    puts_(l, buf);
    break;
  case COIN_LOG_KIND_UINT:
    snprintf(buf, sizeof(buf), "%" PRIu64, f->v.u);
    puts_(l, buf);
    break;
  case COIN_LOG_KIND_DBL: put_double(l, f->v.d); break;
  case COIN_LOG_KIND_BOOL: puts_(l, f->v.b ? "true" : "false"); break;
  case COIN_LOG_KIND_RAW:
    /* All or nothing: half a JSON value would break the line. */
    if (!puts_(l, f->v.s && f->v.s[0] ? f->v.s : "null"))
      l->len = mark;
    break;
  case COIN_LOG_KIND_TIME:
    if (f->v.i < 0) /* -1 and the like: "none yet", never 1969-12-31 */
      puts_(l, "null");
    else if (coin_tf_format_utc(buf, sizeof(buf), f->v.i) == 0)
      put_json_string(l, buf);
    else {
      snprintf(buf, sizeof(buf), "%" PRId64, f->v.i);
      puts_(l, buf);
    }
    break;
  default: puts_(l, "null");
  }
  /* A key without its value: drop the partial field, keep the JSON valid. */
  if (l->full)
    l->len = mark;
}

static int build(struct line *l, enum coin_log_level level, int64_t ts_ms,
                 const char *svc, const char *msg,
                 const struct coin_log_field *fields, size_t n_fields) {
  char ts[COIN_TF_UTC_TEXT_BYTES];
  l->p = l->stack;
  l->len = 0;
  l->cap = sizeof(l->stack);
  l->heap = false;
  l->full = false;
  if (coin_tf_format_utc(ts, sizeof(ts), ts_ms) != 0)
    snprintf(ts, sizeof(ts), "invalid");
  puts_(l, "{\"ts\":\"");
  puts_(l, ts);
  puts_(l, "\",\"level\":\"");
  puts_(l, coin_log_level_name(level));
  puts_(l, "\",\"svc\":");
  put_json_string(l, svc);
  puts_(l, ",\"msg\":");
  put_json_string(l, msg ? msg : ""); /* messages are literals */
  for (size_t i = 0; i < n_fields && !l->full; i++)
    put_field(l, &fields[i]);
  /* The reserve guarantees the closing bytes fit. */
  const char *tail = l->full ? ",\"truncated\":true}\n" : "}\n";
  size_t tail_len = strlen(tail);
  memcpy(l->p + l->len, tail, tail_len);
  l->len += tail_len;
  return 0;
}

int coin_log_format(char **out, enum coin_log_level level, int64_t ts_ms,
                    const char *msg, const struct coin_log_field *fields,
                    size_t n_fields) {
  struct line l;
  char svc[SVC_MAX_BYTES];
  pthread_mutex_lock(&log_lock);
  memcpy(svc, log_svc, sizeof(svc));
  pthread_mutex_unlock(&log_lock);
  build(&l, level, ts_ms, svc, msg, fields, n_fields);
  char *s = malloc(l.len + 1);
  if (s == NULL) {
    if (l.heap)
      free(l.p);
    return coin_error_set(COIN_ENOMEM, "log: line of %zu bytes", l.len);
  }
  memcpy(s, l.p, l.len);
  s[l.len] = '\0';
  if (l.heap)
    free(l.p);
  *out = s;
  return 0;
}

void coin_log_write(enum coin_log_level level, const char *msg,
                    const struct coin_log_field *fields, size_t n_fields) {
  struct line l;
  int64_t ts = coin_now_ms();
  pthread_mutex_lock(&log_lock);
  /* Built under the lock: svc is stable and the stack buffer is private. The
   * formatting is cheap next to the write it protects. */
  build(&l, level, ts, log_svc, msg, fields, n_fields);
  FILE *f = log_out ? log_out : stderr;
  fwrite(l.p, 1, l.len, f);
  fflush(f);
  pthread_mutex_unlock(&log_lock);
  if (l.heap)
    free(l.p);
}
