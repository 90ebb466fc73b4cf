/* jscan.c: strict non-allocating JSON pull scanner (see jscan.h). */
#include "jscan.h"

#include "coin/hmac.h"

#include <stdio.h>
#include <string.h>

enum want {
  W_VALUE,        /* a value (top level, after ':' or ',' in an array) */
  W_VALUE_OR_END, /* after '[' */
  W_KEY_OR_END,   /* after '{' */
  W_KEY,          /* after ',' in an object */
  W_COLON,        /* after a key */
  W_COMMA_OR_END, /* after a value inside a container */
  W_DONE,         /* the top-level value is complete */
};

void jscan_init(struct jscan *s, const char *data, size_t len) {
  memset(s, 0, sizeof(*s));
  s->start = s->p = data;
  s->end = data + len;
  s->want = W_VALUE;
}

static enum jtok fail(struct jscan *s, const char *why) {
  if (s->tok != J_ERR || s->err[0] == '\0')
    snprintf(s->err, sizeof(s->err), "%s", why);
  s->tok = J_ERR;
  return J_ERR;
}

static void skip_ws(struct jscan *s) {
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
    s->p++;
}

static int hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int h = coin_hex_digit((unsigned char)p[i]);
    if (h < 0)
      return -1;
    v = v << 4 | h;
  }
  return v;
}

/* One UTF-8 sequence at p (first byte >= 0x80); its length or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F; /* no surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return n;
}

static enum jtok scan_string(struct jscan *s, enum jtok tok) {
  s->p++; /* opening quote */
  s->text = s->p;
  s->escaped = false;
  while (s->p < s->end) {
    unsigned char c = (unsigned char)*s->p;
    if (c == '"') {
      s->len = (size_t)(s->p - s->text);
      s->p++;
      s->tok = tok;
      return tok;
    }
    if (c < 0x20)
      return fail(s, "control character in a string");
    if (c == '\\') {
      s->escaped = true;
      if (s->end - s->p < 2)
        break;
      char e = s->p[1];
      if (e == 'u') {
        if (s->end - s->p < 6)
          break;
        int cp = hex4(s->p + 2);
        if (cp < 0)
          return fail(s, "bad \\u escape");
        s->p += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          return fail(s, "lone low surrogate escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
            return fail(s, "high surrogate escape without its low half");
          int lo = hex4(s->p + 2);
          if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(s, "high surrogate escape without its low half");
          s->p += 6;
        }
        continue;
      }
      if (!strchr("\"\\/bfnrt", e) || e == '\0')
        return fail(s, "invalid escape in a string");
      s->p += 2;
      continue;
    }
    if (c >= 0x80) {
      size_t n =
          utf8_len((const unsigned char *)s->p, (const unsigned char *)s->end);
      if (n == 0)
        return fail(s, "invalid UTF-8 in a string");
      s->p += n;
      continue;
    }
    s->p++;
  }
  return fail(s, "unterminated string");
}

static enum jtok scan_number(struct jscan *s) {
  const char *p = s->p, *e = s->end;
  bool neg = false, is_int = true, overflow = false;
  uint64_t v = 0;
  s->text = p;
  if (p < e && *p == '-') {
    neg = true;
    p++;
  }
  if (p >= e || *p < '0' || *p > '9')
    return fail(s, "invalid number");
  if (*p == '0') {
    p++;
  } else {
    const uint64_t lim = UINT64_MAX / 10;
    while (p < e && *p >= '0' && *p <= '9') {
      unsigned d = (unsigned)(*p - '0');
      if (v > lim || (v == lim && d > UINT64_MAX % 10))
        overflow = true;
      else
        v = v * 10 + d;
      p++;
    }
  }
  if (p < e && *p == '.') {
    is_int = false;
    p++;
    if (p >= e || *p < '0' || *p > '9')
      return fail(s, "invalid number: digit expected after '.'");
    while (p < e && *p >= '0' && *p <= '9')
      p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    is_int = false;
    p++;
    if (p < e && (*p == '+' || *p == '-'))
      p++;
    if (p >= e || *p < '0' || *p > '9')
      return fail(s, "invalid number: digit expected in exponent");
    while (p < e && *p >= '0' && *p <= '9')
      p++;
  }
  s->len = (size_t)(p - s->text);
  s->p = p;
  s->is_int = is_int && !overflow &&
              (neg ? v <= (uint64_t)INT64_MAX + 1 : v <= (uint64_t)INT64_MAX);
  if (s->is_int)
    s->int_val = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v)
                     : (int64_t)v;
  s->tok = J_NUM;
  return J_NUM;
}

static void after_value(struct jscan *s) {
  s->want = s->depth == 0 ? W_DONE : W_COMMA_OR_END;
}

static enum jtok literal(struct jscan *s, const char *word, enum jtok tok) {
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
    return fail(s, "unexpected character");
  s->p += n;
  s->tok = tok;
  after_value(s);
  return tok;
}

static enum jtok value(struct jscan *s) {
  if (s->p >= s->end)
    return fail(s, "unexpected end of input");
  char c = *s->p;
  if (c == '{' || c == '[') {
    if (s->depth >= JSCAN_MAX_DEPTH)
      return fail(s, "nested too deeply");
    s->stack[s->depth++] = c == '{' ? 'o' : 'a';
    s->p++;
    s->want = c == '{' ? W_KEY_OR_END : W_VALUE_OR_END;
    s->tok = c == '{' ? J_OBJ : J_ARR;
    return s->tok;
  }
  if (c == '"') {
    if (scan_string(s, J_STR) == J_ERR)
      return J_ERR;
    after_value(s);
    return J_STR;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    if (scan_number(s) == J_ERR)
      return J_ERR;
    after_value(s);
    return J_NUM;
  }
  if (c == 't')
    return literal(s, "true", J_TRUE);
  if (c == 'f')
    return literal(s, "false", J_FALSE);
  if (c == 'n')
    return literal(s, "null", J_NULL);
  return fail(s, "unexpected character");
}

static enum jtok close_container(struct jscan *s) {
  bool obj = s->stack[s->depth - 1] == 'o';
  s->depth--;
  s->p++;
  s->tok = obj ? J_OBJ_END : J_ARR_END;
  after_value(s);
  return s->tok;
}

enum jtok jscan_next(struct jscan *s) {
  if (s->tok == J_ERR && s->err[0])
    return J_ERR;
  for (;;) {
    skip_ws(s);
    bool at_end = s->p >= s->end;
    char c = at_end ? '\0' : *s->p;
    switch (s->want) {
    case W_DONE:
      if (!at_end)
        return fail(s, "data after the JSON value");
      s->tok = J_EOF;
      return J_EOF;
    case W_VALUE: return value(s);
    case W_VALUE_OR_END:
      if (c == ']')
        return close_container(s);
      return value(s);
    case W_KEY_OR_END:
      if (c == '}')
        return close_container(s);
      /* fall through */
    case W_KEY:
      if (c != '"')
        return fail(s, at_end ? "unexpected end of input"
                              : "object member name expected");
      if (scan_string(s, J_KEY) == J_ERR)
        return J_ERR;
      s->want = W_COLON;
      return J_KEY;
    case W_COLON:
      if (c != ':')
        return fail(s, at_end ? "unexpected end of input" : "':' expected");
      s->p++;
      s->want = W_VALUE;
      continue;
    case W_COMMA_OR_END: {
      bool obj = s->stack[s->depth - 1] == 'o';
      if (c == ',') {
        s->p++;
        s->want = obj ? W_KEY : W_VALUE;
        continue;
      }
      if (c == (obj ? '}' : ']'))
        return close_container(s);
      return fail(s, at_end ? "unexpected end of input"
                     : obj  ? "',' or '}' expected"
                            : "',' or ']' expected");
    }
    default: return fail(s, "scanner state");
    }
  }
}

int jscan_next_key(struct jscan *s) {
  enum jtok t = jscan_next(s);
  return t == J_KEY ? 1 : t == J_OBJ_END ? 0 : -1;
}

bool jscan_skip(struct jscan *s) {
  if (s->tok != J_OBJ && s->tok != J_ARR)
    return s->tok != J_ERR;
  int depth = s->depth - 1;
  for (;;) {
    enum jtok t = jscan_next(s);
    if (t == J_ERR || t == J_EOF)
      return false;
    if ((t == J_OBJ_END || t == J_ARR_END) && s->depth == depth)
      return true;
  }
}

int jscan_number_row(struct jscan *s, int n, int64_t *first) {
  if (s->tok != J_ARR)
    return 0;
  for (int i = 0; i < n; i++) {
    skip_ws(s);
    if (s->p >= s->end) {
      fail(s, "unexpected end of input");
      return -1;
    }
    char c = *s->p;
    if (!(c == '-' || (c >= '0' && c <= '9')))
      return 0;
    if (scan_number(s) == J_ERR)
      return -1;
    if (i == 0 && first) {
      if (!s->is_int)
        return 0;
      *first = s->int_val;
    }
    skip_ws(s);
    if (s->p >= s->end) {
      fail(s, "unexpected end of input");
      return -1;
    }
    c = *s->p;
    if (i + 1 < n) {
      if (c != ',')
        return c == ']' ? 0 : (fail(s, "',' or ']' expected"), -1);
      s->p++;
    } else if (c != ']') {
      return c == ',' ? 0 : (fail(s, "',' or ']' expected"), -1);
    }
  }
  /* consume the ']' as jscan_next would */
  s->depth--;
  s->p++;
  s->tok = J_ARR_END;
  after_value(s);
  return 1;
}

/* Decodes the current string; returns its length or (size_t)-1 when it
 * does not fit (out_bytes includes the NUL). */
static size_t decode(const struct jscan *s, char *out, size_t out_bytes) {
  size_t n = 0;
  for (size_t i = 0; i < s->len;) {
    char c = s->text[i];
    char buf[4];
    size_t w = 1;
    if (c != '\\') {
      buf[0] = c;
      i++;
    } else {
      char e = s->text[i + 1];
      i += 2;
      switch (e) {
      case 'b': buf[0] = '\b'; break;
      case 'f': buf[0] = '\f'; break;
      case 'n': buf[0] = '\n'; break;
      case 'r': buf[0] = '\r'; break;
      case 't': buf[0] = '\t'; break;
      case 'u': {
        uint32_t cp = (uint32_t)hex4(s->text + i);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo = (uint32_t)hex4(s->text + i + 2);
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) {
          buf[0] = (char)cp;
        } else if (cp < 0x800) {
          buf[0] = (char)(0xC0 | cp >> 6);
          buf[1] = (char)(0x80 | (cp & 0x3F));
          w = 2;
        } else if (cp < 0x10000) {
          buf[0] = (char)(0xE0 | cp >> 12);
          buf[1] = (char)(0x80 | (cp >> 6 & 0x3F));
          buf[2] = (char)(0x80 | (cp & 0x3F));
          w = 3;
        } else {
          buf[0] = (char)(0xF0 | cp >> 18);
          buf[1] = (char)(0x80 | (cp >> 12 & 0x3F));
          buf[2] = (char)(0x80 | (cp >> 6 & 0x3F));
          buf[3] = (char)(0x80 | (cp & 0x3F));
          w = 4;
        }
        break;
      }
      default: buf[0] = e; break; /* " \ / */
      }
    }
    if (n + w + 1 > out_bytes)
      return (size_t)-1;
    memcpy(out + n, buf, w);
    n += w;
  }
  out[n] = '\0';
  return n;
}

bool jscan_is(const struct jscan *s, const char *lit) {
  size_t n = strlen(lit);
  if (!s->escaped)
    return s->len == n && memcmp(s->text, lit, n) == 0;
  char buf[128];
  if (n >= sizeof(buf) || decode(s, buf, sizeof(buf)) == (size_t)-1)
    return false;
  return strcmp(buf, lit) == 0;
}

bool jscan_str(const struct jscan *s, char *out, size_t out_bytes) {
  if (out_bytes == 0)
    return false;
  if (!s->escaped) {
    if (s->len + 1 > out_bytes || memchr(s->text, '\0', s->len))
      return false;
    memcpy(out, s->text, s->len);
    out[s->len] = '\0';
    return true;
  }
  size_t n = decode(s, out, out_bytes);
  return n != (size_t)-1 && strlen(out) == n; /* no embedded NUL */
}

void jscan_error(const struct jscan *s, char *out, size_t out_bytes) {
  int line = 1, col = 1;
  for (const char *q = s->start; q < s->p && q < s->end; q++) {
    if (*q == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  snprintf(out, out_bytes, "line %d col %d: %s", line, col,
           s->err[0] ? s->err : "unexpected content");
}
