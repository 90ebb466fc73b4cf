/*
 * names.c: the names on the bus built from validated tokens (codec.h):
 * series keys and subjects "<prefix>.<exchange>.<symbol>.<tf>" and their
 * parser. A token that could change a subject's meaning ('.', '*', '>',
 * space, empty) never reaches one. Thread-safe: no state.
 */
#include "coin/codec.h"

#include "codec_int.h"
#include "coin/error.h"
#include "coin/fmt.h"

#include <stdio.h>
#include <string.h>

static int check_prefix(const char *prefix) {
  char tok[72];
  const char *p = prefix;
  int rc;
  if (*p == '\0')
    return coin_error_set(COIN_EINVAL,
                          "prefix \"\": empty (rule: dot-separated "
                          "[a-z0-9_]+ tokens)");
  for (;;) {
    size_t n = strcspn(p, ".");
    if (n >= sizeof(tok))
      n = sizeof(tok) - 1; /* check_token then reports the length */
    memcpy(tok, p, n);
    tok[n] = '\0';
    if ((rc = codec_check_prefix_token(tok)) != 0)
      return rc;
    p += strcspn(p, ".");
    if (*p == '\0')
      return 0;
    p++;
  }
}

int coin_codec_series_key(char *out, size_t out_bytes, const char *prefix,
                          const char *exchange, const char *symbol,
                          enum coin_tf tf) {
  char buf[COIN_CODEC_SUBJECT_BYTES + 64];
  int rc;
  if (out == NULL || prefix == NULL || exchange == NULL || symbol == NULL)
    return coin_error_set(COIN_EINVAL, "series key: NULL argument");
  if ((rc = check_prefix(prefix)) != 0 ||
      (rc = coin_exchange_validate(exchange)) != 0 ||
      (rc = coin_symbol_validate(symbol)) != 0)
    return coin_error_wrap(rc, "series key");
  if ((unsigned)tf >= (unsigned)COIN_TF_COUNT)
    return coin_error_set(COIN_EINVAL,
                          "series key: timeframe %d unknown (rule: 1m 1h 1d "
                          "1w 1M)",
                          (int)tf);
  int n = snprintf(buf, sizeof(buf), "%s.%s.%s.%s", prefix, exchange, symbol,
                   coin_tf_name(tf));
  if (n < 0 || (size_t)n >= sizeof(buf))
    return coin_error_set(COIN_EINVAL, "series key: %d chars (rule: <= %zu)", n,
                          sizeof(buf) - 1);
  if ((size_t)n >= out_bytes)
    return coin_error_set(
        COIN_EINVAL, "series key: %d chars do not fit %zu bytes", n, out_bytes);
  memcpy(out, buf, (size_t)n + 1);
  return 0;
}

int coin_codec_subject_candles(char *out, size_t out_bytes,
                               const char *exchange, const char *symbol,
                               enum coin_tf tf) {
  return coin_codec_series_key(out, out_bytes, COIN_SUBJECT_CANDLES_PREFIX,
                               exchange, symbol, tf);
}

int coin_codec_subject_status(char *out, size_t out_bytes, const char *exchange,
                              const char *symbol, enum coin_tf tf) {
  return coin_codec_series_key(out, out_bytes, COIN_SUBJECT_STATUS_PREFIX,
                               exchange, symbol, tf);
}

int coin_codec_subject_alert(char *out, size_t out_bytes, const char *exchange,
                             const char *symbol, enum coin_tf tf) {
  if (out == NULL)
    return coin_error_set(COIN_EINVAL, "alert subject: NULL argument");
  if (exchange == NULL || exchange[0] == '\0') {
    if (symbol != NULL && symbol[0] != '\0')
      return coin_error_set(COIN_EINVAL,
                            "alert subject: symbol without exchange (rule: "
                            "both set, or both empty for a global alert)");
    if (out_bytes < sizeof(COIN_SUBJECT_ALERTS_GLOBAL))
      return coin_error_set(COIN_EINVAL,
                            "alert subject: does not fit %zu bytes", out_bytes);
    memcpy(out, COIN_SUBJECT_ALERTS_GLOBAL, sizeof(COIN_SUBJECT_ALERTS_GLOBAL));
    return 0;
  }
  return coin_codec_series_key(out, out_bytes, COIN_SUBJECT_ALERTS_PREFIX,
                               exchange, symbol, tf);
}

/* Copies the next '.'-separated token of *p into tok (cap bytes). */
static int next_token(char *tok, size_t cap, const char **p, bool last,
                      const char *what, const char *key) {
  char buf[CODEC_SHOWN_BYTES];
  size_t n = strcspn(*p, ".");
  if (n >= cap)
    return coin_error_set(COIN_EINVAL, "key \"%s\": %s token %zu chars long",
                          coin_fmt_shown(buf, sizeof(buf), key), what, n);
  memcpy(tok, *p, n);
  tok[n] = '\0';
  *p += n;
  if (last ? **p != '\0' : **p != '.')
    return coin_error_set(COIN_EINVAL,
                          "key \"%s\": %s (rule: "
                          "<prefix>.<exchange>.<symbol>.<tf>)",
                          coin_fmt_shown(buf, sizeof(buf), key),
                          last ? "extra tokens after the timeframe"
                               : "too few tokens");
  if (!last)
    (*p)++;
  return 0;
}

int coin_codec_series_parse(struct coin_series_id *out, const char *prefix,
                            const char *key) {
  struct coin_series_id id;
  char tf_text[8], buf[CODEC_SHOWN_BYTES];
  int rc;
  if (out == NULL || prefix == NULL || key == NULL)
    return coin_error_set(COIN_EINVAL, "series parse: NULL argument");
  size_t plen = strlen(prefix);
  if (strncmp(key, prefix, plen) != 0 || key[plen] != '.')
    return coin_error_set(COIN_EINVAL, "key \"%s\": does not start with %s.",
                          coin_fmt_shown(buf, sizeof(buf), key), prefix);
  const char *p = key + plen + 1;
  memset(&id, 0, sizeof(id));
  if ((rc = next_token(id.exchange, sizeof(id.exchange), &p, false, "exchange",
                       key)) != 0 ||
      (rc = next_token(id.symbol, sizeof(id.symbol), &p, false, "symbol",
                       key)) != 0 ||
      (rc = next_token(tf_text, sizeof(tf_text), &p, true, "timeframe", key)) !=
          0)
    return rc;
  if ((rc = coin_exchange_validate(id.exchange)) != 0 ||
      (rc = coin_symbol_validate(id.symbol)) != 0 ||
      (rc = coin_tf_parse(&id.tf, tf_text)) != 0)
    return coin_error_wrap(rc, "key \"%s\"",
                           coin_fmt_shown(buf, sizeof(buf), key));
  *out = id;
  return 0;
}
