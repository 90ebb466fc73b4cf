/*
 * redact.c: URL and error-text redaction (see redact.h). Works on bytes; a
 * URL is split into scheme, authority, path, query and fragment by the
 * characters that end them, without validating it (a malformed URL must
 * still not leak).
 */
#include "coin/redact.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct out {
  char *p;
  size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n) {
  for (size_t i = 0; i < n && o->len + 1 < o->cap; i++)
    o->p[o->len++] = s[i];
  if (o->cap)
    o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s) {
  put(o, s, strlen(s));
}

static bool secret_key(const char *k, size_t n) {
  static const char *const names[] = {
      "token",      "key",          "secret", "password",
      "pass",       "passwd",       "pwd",    "sig",
      "signature",  "auth",         "code",   "api_key",
      "apikey",     "access_token", "jwt",    "session",
      "credential", "credentials",  NULL};
  for (int i = 0; names[i]; i++) {
    size_t ln = strlen(names[i]);
    if (n == ln && strncasecmp(k, names[i], n) == 0)
      return true;
    /* x_token, x-key, webhookSecret...: a suffix after a separator */
    if (n > ln + 1 && strncasecmp(k + n - ln, names[i], ln) == 0 &&
        (k[n - ln - 1] == '_' || k[n - ln - 1] == '-' || k[n - ln - 1] == '.' ||
         (islower((unsigned char)k[n - ln - 1]) &&
          isupper((unsigned char)k[n - ln]))))
      return true;
  }
  return false;
}

/* A path segment that is a credential rather than a name. */
static bool token_segment(const char *s, size_t n) {
  if (n < 16)
    return false;
  bool alpha = false, digit = false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (isdigit(c))
      digit = true;
    else if (isalpha(c))
      alpha = true;
    else if (c != '_' && c != '-')
      return false;
  }
  return alpha && digit;
}

/* One URL s[0..n). */
static void redact_one(struct out *o, const char *s, size_t n) {
  const char *end = s + n;
  const char *sch = NULL;
  for (const char *q = s; q + 2 < end; q++)
    if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
      sch = q;
      break;
    }
  const char *auth = sch ? sch + 3 : s;
  put(o, s, (size_t)(auth - s));
  /* authority: up to the first '/', '?' or '#' */
  const char *aend = auth;
  while (aend < end && *aend != '/' && *aend != '?' && *aend != '#')
    aend++;
  const char *at = NULL;
  for (const char *q = auth; q < aend; q++)
    if (*q == '@')
      at = q;
  if (at) {
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon) {
      put(o, auth, (size_t)(colon + 1 - auth));
      puts_(o, "***");
    } else {
      puts_(o, "***");
    }
    put(o, at, (size_t)(aend - at));
  } else {
    put(o, auth, (size_t)(aend - auth));
  }
  /* path */
  const char *p = aend;
  const char *pend = p;
  while (pend < end && *pend != '?' && *pend != '#')
    pend++;
  bool services = false;
  while (p < pend) {
    /* p at '/' (or the first byte when there is no authority) */
    const char *seg = p;
    if (*seg == '/')
      seg++;
    const char *send = seg;
    while (send < pend && *send != '/')
      send++;
    put(o, p, (size_t)(seg - p));
    if (services) {
      puts_(o, "***");
      p = pend; /* everything after /services/ is the token */
      break;
    }
    if (token_segment(seg, (size_t)(send - seg)))
      puts_(o, "***");
    else
      put(o, seg, (size_t)(send - seg));
    if ((size_t)(send - seg) == 8 && !strncmp(seg, "services", 8) &&
        send < pend)
      services = true;
    p = send;
  }
  /* query: key=value pairs */
  if (p < end && *p == '?') {
    put(o, "?", 1);
    p++;
    while (p < end && *p != '#') {
      const char *pe = p;
      while (pe < end && *pe != '&' && *pe != '#')
        pe++;
      const char *eq = memchr(p, '=', (size_t)(pe - p));
      if (eq && secret_key(p, (size_t)(eq - p))) {
        put(o, p, (size_t)(eq + 1 - p));
        puts_(o, "***");
      } else if (!eq && token_segment(p, (size_t)(pe - p))) {
        puts_(o, "***");
      } else {
        put(o, p, (size_t)(pe - p));
      }
      p = pe;
      if (p < end && *p == '&') {
        put(o, "&", 1);
        p++;
      }
    }
  }
  if (p < end) /* fragment: may hold a token too (OAuth implicit flows) */
    puts_(o, "#***");
}

void coin_redact_urls(char *out, size_t out_bytes, const char *urls) {
  struct out o = {out, out_bytes, 0};
  if (out_bytes == 0)
    return;
  out[0] = '\0';
  if (urls == NULL)
    return;
  for (const char *p = urls;;) {
    const char *c = strchr(p, ',');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    redact_one(&o, p, n);
    if (c == NULL)
      break;
    put(&o, ",", 1);
    p = c + 1;
  }
}

static bool url_end(char c) {
  return c == '\0' || isspace((unsigned char)c) || c == '"' || c == '\'' ||
         c == '>' || c == ',' || c == ')' || c == ']';
}

void coin_redact_text(char *out, size_t out_bytes, const char *text) {
  struct out o = {out, out_bytes, 0};
  if (out_bytes == 0)
    return;
  out[0] = '\0';
  if (text == NULL)
    return;
  const char *p = text;
  while (*p) {
    const char *sch = strstr(p, "://");
    if (sch == NULL) {
      puts_(&o, p);
      break;
    }
    /* the scheme: letters, digits, '+', '-', '.' before "://" */
    const char *start = sch;
    while (start > p &&
           (isalnum((unsigned char)start[-1]) || start[-1] == '+' ||
            start[-1] == '-' || start[-1] == '.'))
      start--;
    put(&o, p, (size_t)(start - p));
    const char *e = sch + 3;
    while (!url_end(*e))
      e++;
    redact_one(&o, start, (size_t)(e - start));
    p = e;
  }
}
