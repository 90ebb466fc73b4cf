/*
 * features.c: the one feature pipeline (features.h). Every number a model
 * sees is computed by coin_features_compute from a window of closed candles;
 * the training builder only manages the window and calls the same function,
 * so training and serving produce bit-identical rows. Thread-safe: the only
 * shared state is the schema hash, computed once under pthread_once.
 */
#include "coin/features.h"

#include "coin/error.h"
#include "coin/hmac.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define L COIN_FEATURES_LOOKBACK
#define N_RET (L - 1)    /* returns in a window: 96 */
#define SHORT 24         /* short window (volatility, range, volume) */
#define RSI_N 14         /* RSI-like balance window */
#define SCALE_FLOOR 1e-6 /* smallest volatility used as a unit */
#define VOLUME_EPS 1e-12 /* keeps log volume ratios finite at volume 0 */
#define TWO_PI 6.283185307179586

static const char *const names[COIN_FEATURES_COUNT] = {
    "ret_1",   "ret_2",      "ret_4",      "ret_8",     "ret_24",
    "ret_96",  "log_vol_24", "vol_ratio",  "range_1",   "range_24",
    "body",    "upper_wick", "lower_wick", "volume_24", "volume_96",
    "rsi_14",  "close_pos",  "hour_sin",   "hour_cos",  "dow_sin",
    "dow_cos", "tf_1m",      "tf_1h",      "tf_1d",     "tf_1w",
    "tf_1M",
};

/* Every definition in one text: the hash of this text names the schema. */
static const char schema_text[] =
    "coin-features v1\n"
    "lookback=97 candles; r_k = log(close[t-k+1]/close[t-k]), k=1..96\n"
    "scale = max(1e-6, sqrt(mean(r_1..r_24 ^2))); clip = +-10\n"
    "ret_h (h=1,2,4,8,24,96) = clip(sum(r_1..r_h) / (scale*sqrt(h)))\n"
    "log_vol_24 = log(scale)\n"
    "vol_ratio = log(scale / max(1e-6, sqrt(mean(r_1..r_96 ^2))))\n"
    "range_1 = clip(log(high/low) / scale); range_24 = clip(mean over 24 "
    "candles of log(high/low) / scale)\n"
    "body = clip(log(close/open)/scale); upper_wick = "
    "clip(log(high/max(open,close))/scale); lower_wick = "
    "clip(log(min(open,close)/low)/scale)\n"
    "volume_w (w=24,96) = clip(log((v + 1e-12) / (mean(v over w) + 1e-12)))\n"
    "rsi_14 = gains/(gains+losses) - 0.5 over r_1..r_14 (0 when flat)\n"
    "close_pos = (close - min low 24)/(max high 24 - min low 24) - 0.5 (0 when "
    "flat)\n"
    "hour_sin/cos: fractional UTC hour of the target candle's open, 1m and 1h "
    "only (else 0)\n"
    "dow_sin/cos: UTC weekday (Monday=0) of the target candle's open, 1m 1h 1d "
    "only (else 0)\n"
    "tf_*: one-hot of the timeframe (1m 1h 1d 1w 1M)\n"
    "columns: ret_1 ret_2 ret_4 ret_8 ret_24 ret_96 log_vol_24 vol_ratio "
    "range_1 range_24 body upper_wick lower_wick volume_24 volume_96 rsi_14 "
    "close_pos hour_sin hour_cos dow_sin dow_cos tf_1m tf_1h tf_1d tf_1w "
    "tf_1M\n"
    "target = log(next close / close), learners see clip(target/scale, +-8)\n";

static pthread_once_t hash_once = PTHREAD_ONCE_INIT;
static char hash_hex[65];

static void compute_hash(void) {
  /* A failing libcrypto leaves an all-zero hash, which matches no model:
   * the safe failure. */
  if (coin_sha256_hex(hash_hex, schema_text, sizeof(schema_text) - 1) != 0) {
    memset(hash_hex, '0', 64);
    hash_hex[64] = '\0';
  }
}

const char *coin_features_name(size_t i) {
  return i < COIN_FEATURES_COUNT ? names[i] : NULL;
}

const char *coin_features_schema_hash(void) {
  pthread_once(&hash_once, compute_hash);
  return hash_hex;
}

const char *coin_features_schema_text(void) {
  return schema_text;
}

static double clip(double v) {
  if (v > COIN_FEATURES_CLIP)
    return COIN_FEATURES_CLIP;
  if (v < -COIN_FEATURES_CLIP)
    return -COIN_FEATURES_CLIP;
  return v;
}

static int check_candle(const struct coin_candle *c, size_t i) {
  if (!(isfinite(c->open) && isfinite(c->high) && isfinite(c->low) &&
        isfinite(c->close) && isfinite(c->volume)))
    return coin_error_set(COIN_EINVAL,
                          "features: candle %zu (open_ms %lld): non-finite "
                          "value (rule: finite prices and volume)",
                          i, (long long)c->open_ms);
  if (!(c->low > 0 && c->open > 0 && c->close > 0 && c->high >= c->low))
    return coin_error_set(COIN_EINVAL,
                          "features: candle %zu (open_ms %lld): low %.17g "
                          "high %.17g open %.17g close %.17g (rule: prices > "
                          "0, high >= low)",
                          i, (long long)c->open_ms, c->low, c->high, c->open,
                          c->close);
  if (!(c->volume >= 0))
    return coin_error_set(COIN_EINVAL,
                          "features: candle %zu (open_ms %lld): volume %.17g "
                          "(rule: >= 0)",
                          i, (long long)c->open_ms, c->volume);
  return 0;
}

static double rms(const double *r, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++)
    s += r[k] * r[k];
  double v = sqrt(s / (double)n);
  return v > SCALE_FLOOR ? v : SCALE_FLOOR;
}

static double volume_rel(const struct coin_candle *w, size_t n_window) {
  double s = 0;
  for (size_t k = 0; k < n_window; k++)
    s += w[L - 1 - k].volume;
  double mean = s / (double)n_window;
  return clip(log((w[L - 1].volume + VOLUME_EPS) / (mean + VOLUME_EPS)));
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int coin_features_compute(struct coin_feature_row *out, enum coin_tf tf,
                          const struct coin_candle *candles, size_t n) {
  int rc;
  if (out == NULL || (candles == NULL && n > 0))
    return coin_error_set(COIN_EINVAL, "features: NULL argument");
  if ((unsigned)tf >= COIN_TF_COUNT)
    return coin_error_set(COIN_EINVAL, "features: timeframe %d unknown",
                          (int)tf);
  if (n < L)
    return coin_error_set(COIN_EINVAL,
                          "features: %zu candles, need %d (rule: lookback; "
                          "%zu missing)",
                          n, L, (size_t)L - n);
  const struct coin_candle *w = candles + (n - L);
  for (size_t i = 0; i < L; i++) {
    if ((rc = check_candle(&w[i], n - L + i)) != 0)
      return rc;
    if (i > 0 && w[i].open_ms <= w[i - 1].open_ms)
      return coin_error_set(COIN_EINVAL,
                            "features: candle %zu open_ms %lld not after %lld "
                            "(rule: strictly ascending)",
                            n - L + i, (long long)w[i].open_ms,
                            (long long)w[i - 1].open_ms);
  }

  /* r[k]: the k-th newest one-candle log return (k = 0 newest). */
  double r[N_RET];
  for (size_t k = 0; k < N_RET; k++)
    r[k] = log(w[L - 1 - k].close / w[L - 2 - k].close);
  double scale = rms(r, SHORT);
  double scale_long = rms(r, N_RET);

  struct coin_feature_row row;
  memset(&row, 0, sizeof(row));
  static const size_t horizons[6] = {1, 2, 4, 8, 24, 96};
  double cum = 0;
  size_t k = 0;
  for (size_t h = 0; h < 6; h++) {
    for (; k < horizons[h]; k++)
      cum += r[k];
    row.x[h] = clip(cum / (scale * sqrt((double)horizons[h])));
  }
  row.x[6] = log(scale);
  row.x[7] = log(scale / scale_long);

  const struct coin_candle *c = &w[L - 1];
  row.x[8] = clip(log(c->high / c->low) / scale);
  double range_sum = 0, lo = w[L - 1].low, hi = w[L - 1].high;
  for (size_t j = 0; j < SHORT; j++) {
    const struct coin_candle *cj = &w[L - 1 - j];
    range_sum += log(cj->high / cj->low);
    if (cj->low < lo)
      lo = cj->low;
    if (cj->high > hi)
      hi = cj->high;
  }
  row.x[9] = clip(range_sum / SHORT / scale);
  double top = c->open > c->close ? c->open : c->close;
  double bottom = c->open < c->close ? c->open : c->close;
  row.x[10] = clip(log(c->close / c->open) / scale);
  /* high < max(open, close) only in inconsistent data; clip keeps it sane */
  row.x[11] = clip(log(c->high / top) / scale);
  row.x[12] = clip(log(bottom / c->low) / scale);
  row.x[13] = volume_rel(w, SHORT);
  row.x[14] = volume_rel(w, N_RET);

  double gains = 0, losses = 0;
  for (size_t j = 0; j < RSI_N; j++) {
    if (r[j] > 0)
      gains += r[j];
    else
      losses -= r[j];
  }
  row.x[15] = gains + losses > 0 ? gains / (gains + losses) - 0.5 : 0.0;
  row.x[16] = hi > lo ? (c->close - lo) / (hi - lo) - 0.5 : 0.0;

  int64_t target = coin_tf_next(tf, c->open_ms);
  if (tf == COIN_TF_1M || tf == COIN_TF_1H) {
    int64_t in_day = target - floor_div(target, COIN_DAY_MS) * COIN_DAY_MS;
    double hour = (double)in_day / (double)COIN_HOUR_MS;
    row.x[17] = sin(TWO_PI * hour / 24.0);
    row.x[18] = cos(TWO_PI * hour / 24.0);
  }
  if (tf == COIN_TF_1M || tf == COIN_TF_1H || tf == COIN_TF_1D) {
    int64_t days = floor_div(target, COIN_DAY_MS);
    int64_t dow = ((days + 3) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
    row.x[19] = sin(TWO_PI * (double)dow / 7.0);
    row.x[20] = cos(TWO_PI * (double)dow / 7.0);
  }
  row.x[21 + (int)tf] = 1.0;

  row.scale = scale;
  row.open_ms = c->open_ms;
  row.close = c->close;
  *out = row;
  return 0;
}

/* ---- training's builder ------------------------------------------------- */

void coin_features_builder_init(struct coin_features_builder *b,
                                enum coin_tf tf) {
  memset(b, 0, sizeof(*b));
  b->tf = tf;
}

static const struct coin_candle *ring_at(const struct coin_features_builder *b,
                                         size_t i) {
  /* i = 0 is the oldest held candle */
  return &b->ring[(b->head + L - b->n + i) % L];
}

int coin_features_builder_push(struct coin_features_builder *b,
                               struct coin_feature_row *row, double *target,
                               const struct coin_candle *c) {
  int rc;
  if (b == NULL || row == NULL || target == NULL || c == NULL)
    return coin_error_set(COIN_EINVAL, "features builder: NULL argument");
  if ((rc = check_candle(c, 0)) != 0)
    return rc;
  const struct coin_candle *prev = b->n ? ring_at(b, b->n - 1) : NULL;
  if (prev && c->open_ms <= prev->open_ms)
    return coin_error_set(COIN_EINVAL,
                          "features builder: open_ms %lld not after %lld "
                          "(rule: strictly ascending)",
                          (long long)c->open_ms, (long long)prev->open_ms);
  int ready = 0;
  if (prev && b->n == L && c->open_ms == coin_tf_next(b->tf, prev->open_ms)) {
    struct coin_candle window[L];
    for (size_t i = 0; i < L; i++)
      window[i] = *ring_at(b, i);
    if ((rc = coin_features_compute(row, b->tf, window, L)) != 0)
      return rc;
    *target = log(c->close / prev->close);
    ready = 1;
  }
  b->ring[b->head] = *c;
  b->head = (b->head + 1) % L;
  if (b->n < L)
    b->n++;
  return ready;
}
