/*
 * candle_file.c: strict loader for `<SYMBOL>-<tf>.csv` candle files.
 * The whole file is read into memory (coin_file_read, capped), checked line by
 * line and converted into one malloc'd array; every error names
 * "file:line:column", the field, the offending text and the rule.
 * No global state; thread-safe. The caller owns the returned object.
 */
#include "coin/candle_file.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coin/error.h"
#include "coin/file.h"

#define NFIELDS 6
/* Longest number text accepted in one field (the data's longest is ~20). */
#define FIELD_MAX_CHARS 64
/* How much of an offending value is quoted in a message. */
#define SHOWN_CHARS 40

static const char *const field_names[NFIELDS] = {
    "open_time_ms", "open", "high", "low", "close", "volume"};

/* Line being parsed, for error messages. */
struct cursor {
  const char *name;
  size_t line_no;
  const char *line; /* start of the line */
};

static int fail_at(const struct cursor *cur, const char *at, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

static int fail_at(const struct cursor *cur, const char *at, const char *fmt,
                   ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  size_t col = (size_t)(at - cur->line) + 1;
  return coin_error_set(COIN_EDECODE, "%s:%zu:%zu: %s", cur->name, cur->line_no,
                        col, msg);
}

/* Copies at most SHOWN_CHARS of [p, p+n) for quoting, replacing control
 * bytes so the message stays one printable line. */
static const char *shown(char *buf, size_t cap, const char *p, size_t n) {
  size_t k = n < cap - 4 ? n : cap - 4;
  if (k > SHOWN_CHARS)
    k = SHOWN_CHARS;
  for (size_t i = 0; i < k; i++) {
    unsigned char ch = (unsigned char)p[i];
    buf[i] = (ch < 0x20 || ch == 0x7f || ch == '"') ? '?' : (char)ch;
  }
  if (k < n) {
    memcpy(buf + k, "...", 3);
    k += 3;
  }
  buf[k] = '\0';
  return buf;
}

static bool is_digit(char ch) {
  return ch >= '0' && ch <= '9';
}

/* Integer milliseconds: -?[0-9]{1,19} without overflow. */
static int parse_time(int64_t *out, const struct cursor *cur, const char *p,
                      size_t n) {
  char sb[SHOWN_CHARS + 8];
  size_t i = 0;
  bool neg = false;
  if (n > 0 && p[0] == '-') {
    neg = true;
    i = 1;
  }
  if (i == n)
    return fail_at(cur, p,
                   "field open_time_ms \"%s\": empty (rule: integer "
                   "epoch milliseconds)",
                   shown(sb, sizeof(sb), p, n));
  uint64_t v = 0;
  for (; i < n; i++) {
    if (!is_digit(p[i]))
      return fail_at(cur, p + i,
                     "field open_time_ms \"%s\": character '%c' is not a "
                     "digit (rule: integer epoch milliseconds)",
                     shown(sb, sizeof(sb), p, n),
                     (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?');
    unsigned d = (unsigned)(p[i] - '0');
    if (v > (UINT64_C(9223372036854775807) - d) / 10)
      return fail_at(cur, p,
                     "field open_time_ms \"%s\": out of range (rule: fits a "
                     "64-bit integer)",
                     shown(sb, sizeof(sb), p, n));
    v = v * 10 + d;
  }
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 0;
}

/* Decimal: [-+]?digits[.digits]([eE][-+]?digits)? with at least one digit in
 * the mantissa; no inf/nan/hex (strtod would take them). Returns the offset
 * of the first bad character, or n when the text is well formed. */
static size_t decimal_scan(const char *p, size_t n) {
  size_t i = 0, mant = 0;
  if (i < n && (p[i] == '-' || p[i] == '+'))
    i++;
  while (i < n && is_digit(p[i]))
    i++, mant++;
  if (i < n && p[i] == '.') {
    i++;
    while (i < n && is_digit(p[i]))
      i++, mant++;
  }
  if (mant == 0)
    return i < n ? i : 0;
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < n && (p[i] == '-' || p[i] == '+'))
      i++;
    size_t exp_digits = 0;
    while (i < n && is_digit(p[i]))
      i++, exp_digits++;
    if (exp_digits == 0)
      return i;
  }
  return i;
}

static int parse_number(double *out, const struct cursor *cur, int field,
                        const char *p, size_t n) {
  char sb[SHOWN_CHARS + 8];
  char buf[FIELD_MAX_CHARS + 1];
  if (n == 0)
    return fail_at(cur, p, "field %s is empty (rule: decimal number)",
                   field_names[field]);
  if (n > FIELD_MAX_CHARS)
    return fail_at(cur, p, "field %s \"%s\": %zu characters (rule: at most %d)",
                   field_names[field], shown(sb, sizeof(sb), p, n), n,
                   FIELD_MAX_CHARS);
  size_t bad = decimal_scan(p, n);
  if (bad != n)
    return fail_at(cur, p + bad,
                   "field %s \"%s\": not a decimal number (rule: "
                   "[-+]?digits[.digits][e[-+]digits])",
                   field_names[field], shown(sb, sizeof(sb), p, n));
  memcpy(buf, p, n);
  buf[n] = '\0';
  errno = 0;
  double v = strtod(buf, NULL);
  if (!isfinite(v) || errno == ERANGE) {
    /* Underflow to a tiny or zero value is not a price anyone trades at, so
     * it is rejected along with overflow. */
    return fail_at(cur, p,
                   "field %s \"%s\": out of double range (rule: "
                   "finite number)",
                   field_names[field], shown(sb, sizeof(sb), p, n));
  }
  *out = v;
  return 0;
}

/* Parses one data line [p, end) (no newline, CR already stripped). */
static int parse_row(struct coin_candle *out, const struct cursor *cur,
                     const char *end) {
  const char *p = cur->line;
  double nums[NFIELDS - 1];
  int64_t t = 0;
  int rc;
  for (int f = 0; f < NFIELDS; f++) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *fend = comma ? comma : end;
    if (f < NFIELDS - 1 && !comma)
      return fail_at(cur, end,
                     "line has %d fields, want %d (missing %s; rule: "
                     "open_time_ms,open,high,low,close,volume)",
                     f + 1, NFIELDS, field_names[f + 1]);
    if (f == NFIELDS - 1 && comma)
      return fail_at(cur, comma,
                     "more than %d fields (rule: open_time_ms,open,high,low,"
                     "close,volume)",
                     NFIELDS);
    if (f == 0)
      rc = parse_time(&t, cur, p, (size_t)(fend - p));
    else
      rc = parse_number(&nums[f - 1], cur, f, p, (size_t)(fend - p));
    if (rc < 0)
      return rc;
    p = fend + 1;
  }
  out->open_ms = t;
  out->open = nums[0];
  out->high = nums[1];
  out->low = nums[2];
  out->close = nums[3];
  out->volume = nums[4];
  return 0;
}

static int check_header(const struct cursor *cur, const char *end) {
  static const char want[] = COIN_CANDLE_FILE_HEADER;
  char sb[SHOWN_CHARS + 8];
  size_t n = (size_t)(end - cur->line);
  size_t i = 0;
  while (i < n && i < sizeof(want) - 1 && cur->line[i] == want[i])
    i++;
  if (i == n && n == sizeof(want) - 1)
    return 0;
  return fail_at(cur, cur->line + i,
                 "header \"%s\" (rule: first line must be exactly \"%s\")",
                 shown(sb, sizeof(sb), cur->line, n), want);
}

int coin_candle_file_parse(struct coin_candle_file **out, const char *text,
                           size_t len, const char *name, enum coin_tf tf,
                           unsigned flags) {
  int rc = 0;
  struct coin_candle_file *f = NULL;
  struct cursor cur = {
      .name = name ? name : "(memory)", .line_no = 1, .line = text};
  if ((unsigned)tf >= (unsigned)COIN_TF_COUNT)
    return coin_error_set(COIN_EINVAL,
                          "%s: timeframe %d unknown (rule: 1m 1h 1d 1w 1M)",
                          cur.name, (int)tf);
  if (len > COIN_CANDLE_FILE_MAX_BYTES)
    return coin_error_set(COIN_ETOOBIG, "%s: %zu bytes (rule: at most %zu)",
                          cur.name, len, COIN_CANDLE_FILE_MAX_BYTES);
  if (text == NULL || len == 0)
    return coin_error_set(COIN_EDECODE,
                          "%s:1:1: empty file (rule: header \"%s\" required)",
                          cur.name, COIN_CANDLE_FILE_HEADER);

  /* Upper bound on rows: one per newline, plus a last unterminated line. */
  size_t max_rows = 1;
  for (const char *q = text; (q = memchr(q, '\n', len - (size_t)(q - text)));
       q++)
    max_rows++;

  f = calloc(1, sizeof(*f));
  if (f)
    f->rows = malloc(max_rows * sizeof(*f->rows));
  if (!f || !f->rows) {
    rc = coin_error_set(COIN_ENOMEM, "%s: out of memory for %zu rows", cur.name,
                        max_rows);
    goto out;
  }
  f->tf = tf;

  const char *p = text, *stop = text + len;
  size_t prev_line = 0;
  while (p < stop) {
    const char *nl = memchr(p, '\n', (size_t)(stop - p));
    const char *eol = nl ? nl : stop;
    cur.line = p;
    if ((size_t)(eol - p) > COIN_CANDLE_FILE_MAX_LINE_BYTES) {
      rc = fail_at(&cur, p + COIN_CANDLE_FILE_MAX_LINE_BYTES,
                   "line longer than %d bytes (rule: line length cap)",
                   COIN_CANDLE_FILE_MAX_LINE_BYTES);
      goto out;
    }
    const char *end = eol; /* tolerate CRLF: drop one CR before the LF */
    if (end > p && end[-1] == '\r')
      end--;
    if (cur.line_no == 1) {
      rc = check_header(&cur, end);
    } else if (end == p) {
      rc = fail_at(&cur, p,
                   "empty line (rule: one candle per line, no "
                   "blank lines)");
    } else {
      struct coin_candle c;
      rc = parse_row(&c, &cur, end);
      if (rc == 0 && !coin_tf_is_aligned(tf, c.open_ms))
        rc = fail_at(&cur, p,
                     "open_time_ms %" PRId64 " not aligned to %s (candle "
                     "would open at %" PRId64 "; rule: aligned open times)",
                     c.open_ms, coin_tf_name(tf), coin_tf_floor(tf, c.open_ms));
      if (rc == 0 && f->count > 0) {
        int64_t prev = f->rows[f->count - 1].open_ms;
        if (c.open_ms == prev)
          rc = fail_at(&cur, p,
                       "duplicate open_time_ms %" PRId64 " (also on line "
                       "%zu; rule: one row per open time)",
                       c.open_ms, prev_line);
        else if (c.open_ms < prev)
          rc = fail_at(&cur, p,
                       "open_time_ms %" PRId64 " is before %" PRId64
                       " on line %zu (rule: rows sorted ascending)",
                       c.open_ms, prev, prev_line);
      }
      if (rc == 0 && !(flags & COIN_CANDLE_FILE_NO_VALIDATE) &&
          coin_candle_validate(&c, tf, -1) < 0)
        rc = coin_error_wrap(COIN_EDECODE, "%s:%zu:1", cur.name, cur.line_no);
      if (rc == 0) {
        f->rows[f->count++] = c;
        prev_line = cur.line_no;
      }
    }
    if (rc < 0)
      goto out;
    if (!nl)
      break;
    p = nl + 1;
    cur.line_no++;
  }
  *out = f;
  f = NULL;
out:
  coin_candle_file_free(f);
  return rc;
}

int coin_candle_file_name_parse(char *symbol_out, size_t symbol_out_bytes,
                                enum coin_tf *tf_out, const char *base_name) {
  static const char ext[] = ".csv";
  char buf[64];
  if (base_name == NULL)
    return coin_error_set(COIN_EINVAL, "candle file name (null)");
  size_t n = strlen(base_name);
  if (n >= sizeof(buf) || n < sizeof(ext) - 1 ||
      strcmp(base_name + n - (sizeof(ext) - 1), ext) != 0)
    return coin_error_set(COIN_EINVAL,
                          "candle file name \"%.60s\": want <SYMBOL>-<tf>.csv",
                          base_name);
  memcpy(buf, base_name, n - (sizeof(ext) - 1));
  buf[n - (sizeof(ext) - 1)] = '\0';
  char *dash = strrchr(buf, '-'); /* symbols may contain '-' (KRW-BTC) */
  if (dash == NULL)
    return coin_error_set(COIN_EINVAL,
                          "candle file name \"%s\": no '-' before the "
                          "timeframe (want <SYMBOL>-<tf>.csv)",
                          base_name);
  *dash = '\0';
  enum coin_tf tf;
  if (coin_tf_parse(&tf, dash + 1) < 0)
    return coin_error_wrap(COIN_EINVAL, "candle file name \"%s\"", base_name);
  if (coin_symbol_validate(buf) < 0)
    return coin_error_wrap(COIN_EINVAL, "candle file name \"%s\"", base_name);
  if (strlen(buf) + 1 > symbol_out_bytes)
    return coin_error_set(COIN_EINVAL,
                          "candle file name \"%s\": symbol buffer of %zu "
                          "bytes too small",
                          base_name, symbol_out_bytes);
  strcpy(symbol_out, buf);
  *tf_out = tf;
  return 0;
}

int coin_candle_file_load(struct coin_candle_file **out, const char *path,
                          unsigned flags) {
  int rc;
  char *text = NULL;
  size_t len = 0;
  char symbol[33];
  enum coin_tf tf;
  struct coin_candle_file *f = NULL;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  rc = coin_candle_file_name_parse(symbol, sizeof(symbol), &tf, base);
  if (rc < 0)
    goto out;
  rc = coin_file_read(&text, &len, path, COIN_CANDLE_FILE_MAX_BYTES);
  if (rc < 0)
    goto out;
  rc = coin_candle_file_parse(&f, text, len, path, tf, flags);
  if (rc < 0)
    goto out;
  memcpy(f->symbol, symbol, sizeof(symbol));
  *out = f;
out:
  free(text);
  return rc;
}

int coin_candle_file_load_dir(struct coin_candle_file **out, const char *dir,
                              const char *symbol, enum coin_tf tf,
                              unsigned flags) {
  char path[4096];
  if (coin_symbol_validate(symbol) < 0)
    return COIN_EINVAL;
  int n = snprintf(path, sizeof(path), "%s/%s-%s.csv", dir, symbol,
                   coin_tf_name(tf));
  if (n < 0 || (size_t)n >= sizeof(path))
    return coin_error_set(COIN_EINVAL,
                          "candle directory \"%.80s\": path longer than %zu "
                          "bytes",
                          dir, sizeof(path) - 1);
  return coin_candle_file_load(out, path, flags);
}

size_t coin_candle_file_lower_bound(const struct coin_candle_file *f,
                                    int64_t t_ms) {
  return coin_candle_lower_bound(f->rows, f->count, t_ms);
}

void coin_candle_file_free(struct coin_candle_file *f) {
  if (f == NULL)
    return;
  free(f->rows);
  free(f);
}
