/*
 * parse.h: strict text-to-number and text-to-time parsers, one way for
 * everyone who reads values typed by a person (configuration, coin-train's
 * and coinctl's flags, the replay's options). The whole text is the value:
 * no spaces, no trailing bytes, decimal only (no hexadecimal, inf or nan).
 * Each returns 0, or COIN_EINVAL with only the reason as the error text
 * ("not an integer", "out of range", ...): the caller names the field.
 */
#ifndef COIN_PARSE_H
#define COIN_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* An optional sign and decimal digits, in [min, max]. */
int coin_parse_i64(int64_t *out, const char *text, int64_t min, int64_t max);

/* A finite decimal number ("12", "-0.5", ".25", "1e3"), in [min, max]. */
int coin_parse_double(double *out, const char *text, double min, double max);

/* A UTC time in epoch milliseconds from "now" (now_ms), epoch milliseconds,
 * "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS][Z]" (a space may stand for the T);
 * years from 1970, real calendar days. */
int coin_parse_time(int64_t *out, const char *text, int64_t now_ms);

/* The index of text in names[0..n) (exact, case-sensitive), or -1; sets no
 * error text: the caller says what it wanted. */
int coin_parse_name(const char *text, const char *const *names, size_t n);

/* coin_parse_name as a checked parser: the index in *out, or COIN_EINVAL
 * with "<what> \"<text>\": want one of <names...> (<hint>)" (hint may be
 * NULL). */
int coin_parse_enum(int *out, const char *what, const char *text,
                    const char *const *names, size_t n, const char *hint);

#endif
