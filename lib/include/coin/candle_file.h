/*
 * candle_file.h: loads one candle CSV file `<SYMBOL>-<tf>.csv` (header
 * `open_time_ms,open,high,low,close,volume`) into a compact, ascending array.
 * Parsing is strict: every bad byte is reported as "file:line:column" with the
 * field, the value and the rule it broke. A loaded file is immutable and owned
 * by the caller (coin_candle_file_free); it may be read from many threads.
 */
#ifndef COIN_CANDLE_FILE_H
#define COIN_CANDLE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "coin/candle.h"
#include "coin/timeframe.h"

/* Hard caps: a file larger than this is refused (the biggest real file is
 * ~4 MB), and so is any line longer than COIN_CANDLE_FILE_MAX_LINE_BYTES. */
#define COIN_CANDLE_FILE_MAX_BYTES ((size_t)512 * 1024 * 1024)
#define COIN_CANDLE_FILE_MAX_LINE_BYTES 512

#define COIN_CANDLE_FILE_HEADER "open_time_ms,open,high,low,close,volume"

/* Flags for the loaders. By default every row must pass
 * coin_candle_validate (aligned open time, finite prices > 0,
 * low <= open,close <= high, volume >= 0). */
enum {
  /* Skip the price/volume consistency rules (still: numbers, alignment,
   * ascending unique times). For files that hold deliberately bad rows. */
  COIN_CANDLE_FILE_NO_VALIDATE = 1u << 0,
};

struct coin_candle_file {
  char symbol[33]; /* from the file name; "" when parsed from memory */
  enum coin_tf tf;
  size_t count;             /* number of rows */
  struct coin_candle *rows; /* ascending by open_ms, no duplicates */
};

/* Loads path. The file name must be `<SYMBOL>-<tf>.csv` (symbol rules of
 * coin_symbol_validate, tf one of 1m 1h 1d 1w 1M); it gives symbol and tf.
 * Errors: COIN_ENOTFOUND (no file), COIN_EIO, COIN_ETOOBIG,
 * COIN_EINVAL (bad name), COIN_EDECODE (bad content: "path:line:col: ..."). */
int coin_candle_file_load(struct coin_candle_file **out, const char *path,
                          unsigned flags);

/* Loads `<dir>/<symbol>-<tf>.csv`. */
int coin_candle_file_load_dir(struct coin_candle_file **out, const char *dir,
                              const char *symbol, enum coin_tf tf,
                              unsigned flags);

/* Parses len bytes of CSV text (need not be NUL-terminated) of timeframe tf.
 * name is used in error messages only. symbol is left empty. */
int coin_candle_file_parse(struct coin_candle_file **out, const char *text,
                           size_t len, const char *name, enum coin_tf tf,
                           unsigned flags);

/* Splits a base name `<SYMBOL>-<tf>.csv` (no directory) into its parts.
 * symbol_out needs 33 bytes. Returns 0 or COIN_EINVAL. */
int coin_candle_file_name_parse(char *symbol_out, size_t symbol_out_bytes,
                                enum coin_tf *tf_out, const char *base_name);

/* Index of the first row with open_ms >= t_ms (count when none). */
size_t coin_candle_file_lower_bound(const struct coin_candle_file *f,
                                    int64_t t_ms);

void coin_candle_file_free(struct coin_candle_file *f);

#endif
