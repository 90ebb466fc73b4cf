/*
 * parse_time.c: coin_parse_time of coin/parse.h, apart from the number and
 * name parsers because it needs the calendar (timeframe.c), which itself
 * parses its names with coin_parse_enum.
 */
#include "coin/parse.h"

#include "coin/error.h"
#include "coin/timeframe.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Reads exactly n digits at *p into *v; advances *p. */
static bool take_digits(const char **p, int n, int *v) {
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return false;
    x = x * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *v = x;
  return true;
}

/* The calendar's own month length (timeframe.c). */
static int days_in_month(int y, int m) {
  return (int)(coin_tf_length_ms(COIN_TF_1MO, coin_tf_from_civil(y, m, 1)) /
               COIN_DAY_MS);
}

int coin_parse_time(int64_t *out, const char *text, int64_t now_ms) {
  if (!strcmp(text, "now")) {
    *out = now_ms;
    return 0;
  }
  size_t n = strspn(text, "0123456789");
  if (n > 0 && n == strlen(text)) {
    if (n > 15)
      goto bad; /* past year 33658 */
    *out = strtoll(text, NULL, 10);
    return 0;
  }
  const char *p = text;
  int y, mo, d, h = 0, mi = 0, s = 0;
  if (!take_digits(&p, 4, &y) || *p++ != '-' || !take_digits(&p, 2, &mo) ||
      *p++ != '-' || !take_digits(&p, 2, &d))
    goto bad;
  if (*p == 'T' || *p == ' ') {
    p++;
    if (!take_digits(&p, 2, &h) || *p++ != ':' || !take_digits(&p, 2, &mi))
      goto bad;
    if (*p == ':') {
      p++;
      if (!take_digits(&p, 2, &s))
        goto bad;
    }
  }
  if (*p == 'Z')
    p++;
  if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
      d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
    goto bad;
  *out = coin_tf_from_civil(y, mo, d) + h * COIN_HOUR_MS + mi * COIN_MINUTE_MS +
         s * INT64_C(1000);
  return 0;
bad:
  return coin_error_set(COIN_EINVAL,
                        "not a time (rule: now, epoch milliseconds, "
                        "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z], UTC)");
}
