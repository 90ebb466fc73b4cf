/*
 * parse.c: the strict parsers of coin/parse.h.
 */
#include "coin/parse.h"

#include "coin/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int coin_parse_i64(int64_t *out, const char *text, int64_t min, int64_t max) {
  const char *digits = text + (*text == '-' || *text == '+');
  if (!isdigit((unsigned char)*digits))
    return coin_error_set(COIN_EINVAL, "not an integer");
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (*end != '\0')
    return coin_error_set(COIN_EINVAL, "not an integer (trailing \"%.16s\")",
                          end);
  if (errno == ERANGE || v < min || v > max)
    return coin_error_set(COIN_EINVAL, "out of range");
  *out = v;
  return 0;
}

int coin_parse_double(double *out, const char *text, double min, double max) {
  if (*text == '\0' || !(*text == '-' || *text == '+' || *text == '.' ||
                         isdigit((unsigned char)*text)))
    return coin_error_set(COIN_EINVAL, "not a number");
  if (strpbrk(text, "xX")) /* strtod would read hexadecimal */
    return coin_error_set(COIN_EINVAL, "not a decimal number");
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (*end != '\0' || !isfinite(v))
    return coin_error_set(COIN_EINVAL, "not a finite decimal number");
  if (errno == ERANGE || v < min || v > max)
    return coin_error_set(COIN_EINVAL, "out of range");
  *out = v;
  return 0;
}

int coin_parse_name(const char *text, const char *const *names, size_t n) {
  for (size_t i = 0; text && i < n; i++)
    if (strcmp(text, names[i]) == 0)
      return (int)i;
  return -1;
}

int coin_parse_enum(int *out, const char *what, const char *text,
                    const char *const *names, size_t n, const char *hint) {
  int i = coin_parse_name(text, names, n);
  if (i >= 0) {
    *out = i;
    return 0;
  }
  char want[512];
  size_t len = 0;
  for (size_t k = 0; k < n && len < sizeof(want); k++)
    len += (size_t)snprintf(want + len, sizeof(want) - len, " %s", names[k]);
  if (text == NULL)
    return coin_error_set(COIN_EINVAL, "%s (null): want one of%s%s%s%s", what,
                          want, hint ? " (" : "", hint ? hint : "",
                          hint ? ")" : "");
  return coin_error_set(COIN_EINVAL, "%s \"%.40s\": want one of%s%s%s%s", what,
                        text, want, hint ? " (" : "", hint ? hint : "",
                        hint ? ")" : "");
}
