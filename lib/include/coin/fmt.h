/*
 * fmt.h: number text shared by every writer of JSON, line protocol and logs,
 * so a double is printed one way everywhere: the shortest decimal that reads
 * back to exactly the same double. Pure functions; thread-safe.
 */
#ifndef COIN_FMT_H
#define COIN_FMT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define COIN_FMT_DOUBLE_BYTES 32
#define COIN_FMT_FIXED8_BYTES 330 /* "%.8f" of -DBL_MAX fits */

/* "%.15g", "%.16g" or "%.17g", the first that strtod reads back exactly
 * (DBL_DIG = 15: a double with a shorter decimal form prints it at 15, since
 * %g drops trailing zeros). "0.1", "29000.01", "1e-05", "0.30000000000000004".
 * Non-finite values print "nan", "inf" or "-inf" (JSON and line protocol
 * callers check isfinite first). A '.' is always the decimal point, whatever
 * the locale. out holds COIN_FMT_DOUBLE_BYTES; returns the length. */
size_t coin_fmt_double(char *out, double v);

/* The text an exchange sends a price or quantity in (Binance's klines): a
 * plain decimal, never an exponent, for any value that is an exact decimal
 * of at most 17 places with fewer than 2^53 units ("29000.01", "0.00001",
 * "12"); other values (computed sums) the shortest "%.Ng" that reads back
 * exactly, N <= 17. Zero (either sign) and non-finite values print "0". It
 * differs from coin_fmt_double, which follows %g (1e-05, -0, 1e+15) as
 * JSON and line protocol readers accept it, where a client of the replay
 * exchange expects the exchange's plain digits. out holds
 * COIN_FMT_DOUBLE_BYTES; returns the length. */
size_t coin_fmt_decimal(char *out, double v);

/* Exactly 8 decimals, as Binance prints computed amounts ("1234.50000000"):
 * for 0 <= v < 9e18 by integer arithmetic (the fraction rounded once, to the
 * nearest 1e-8), else by "%.8f" (non-finite: "0.00000000"). out holds
 * COIN_FMT_FIXED8_BYTES; returns the length. */
size_t coin_fmt_fixed8(char *out, double v);

/* Decimal places of the plain text of v by coin_fmt_decimal: 0 for integers
 * and non-finite values, 17 when v is no short exact decimal. */
int coin_fmt_decimal_places(double v);

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

/* vsnprintf into out[n], then every line break turned into a space: one
 * line, always (a newline from a dependency's text or a decoded name would
 * split a log line or an error report). */
void coin_fmt_vline(char *out, size_t n, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
