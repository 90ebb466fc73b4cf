/* fmt.c: shortest round-trip text of a double (see fmt.h). */
#include "coin/fmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t coin_fmt_double(char *out, double v) {
  if (!isfinite(v))
    return (size_t)snprintf(out, COIN_FMT_DOUBLE_BYTES, "%s",
                            isnan(v) ? "nan"
                            : v > 0  ? "inf"
                                     : "-inf");
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(out, COIN_FMT_DOUBLE_BYTES, "%.*g", prec, v);
    /* A locale with a decimal comma must not leak into any format. */
    for (char *p = out; *p; p++)
      if (*p == ',')
        *p = '.';
    double back = strtod(out, NULL);
    if (memcmp(&back, &v, sizeof(v)) == 0)
      break;
  }
  return (size_t)n;
}

const char *coin_fmt_shown(char *buf, size_t bufsize, const char *text) {
  size_t i = 0;
  for (; text[i] && i + 4 < bufsize; i++) {
    unsigned char ch = (unsigned char)text[i];
    buf[i] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? (char)ch : '?';
  }
  if (text[i]) {
    memcpy(buf + i, "...", 3);
    i += 3;
  }
  buf[i] = '\0';
  return buf;
}
