/*
 * fmt.h: number text shared by every writer of JSON, line protocol and logs,
 * so a double is printed one way everywhere: the shortest decimal that reads
 * back to exactly the same double. Pure functions; thread-safe.
 */
#ifndef COIN_FMT_H
#define COIN_FMT_H

#include <stdbool.h>
#include <stddef.h>

#define COIN_FMT_DOUBLE_BYTES 32

/* "%.15g", "%.16g" or "%.17g", the first that strtod reads back exactly
 * (DBL_DIG = 15: a double with a shorter decimal form prints it at 15, since
 * %g drops trailing zeros). "0.1", "29000.01", "1e-05", "0.30000000000000004".
 * Non-finite values print "nan", "inf" or "-inf" (JSON and line protocol
 * callers check isfinite first). A '.' is always the decimal point, whatever
 * the locale. out holds COIN_FMT_DOUBLE_BYTES; returns the length. */
size_t coin_fmt_double(char *out, double v);

/* Untrusted text for an error line, into buf (bufsize >= 8): at most
 * bufsize - 4 chars, control and non-ASCII bytes and '"' shown as '?',
 * "..." when cut, so the line stays one printable line. Returns buf. */
const char *coin_fmt_shown(char *buf, size_t bufsize, const char *text);

/* The same text by "%.Ng" and strtod only, without the fast path (tests
 * compare the two). */
size_t coin_fmt_double_slow(char *out, double v);

/* Reads a plain decimal ("-?digits[.digits]", at most 15 digits) exactly as
 * strtod would, without strtod: false (out not written) for anything else,
 * which the caller hands to strtod. */
bool coin_fmt_parse_decimal(double *out, const char *s);

#endif
