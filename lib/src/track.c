/* track.c: track record arithmetic (see track.h). */
#include "coin/track.h"

#include <math.h>
#include <string.h>

#define Z95 1.959963984540054

bool coin_track_row_errors(const struct coin_track_row *r, double *out_ret,
                           double *out_abs_error, double *out_persist_error,
                           int *out_hit) {
  if (!r->realized || !(r->input_close > 0) || !(r->realized_close > 0) ||
      !isfinite(r->predicted_return))
    return false;
  double ret = log(r->realized_close / r->input_close);
  if (!isfinite(ret))
    return false;
  *out_ret = ret;
  *out_abs_error = fabs(r->predicted_return - ret);
  *out_persist_error = fabs(ret);
  *out_hit = ret == 0 ? -1 : ((r->predicted_return > 0) == (ret > 0));
  return true;
}

void coin_track_window(struct coin_track_window *out,
                       const struct coin_track_row *rows, size_t n,
                       int64_t from_ms) {
  double sum = 0, psum = 0, dsum = 0, dsq = 0;
  memset(out, 0, sizeof(*out));
  out->from_ms = from_ms;
  for (size_t i = 0; i < n; i++) {
    double ret, e, pe;
    int hit;
    if (rows[i].target_open_ms < from_ms ||
        !coin_track_row_errors(&rows[i], &ret, &e, &pe, &hit))
      continue;
    out->n++;
    sum += e;
    psum += pe;
    dsum += e - pe;
    dsq += (e - pe) * (e - pe);
    if (hit >= 0) {
      out->directional_n++;
      out->hits += hit;
    }
  }
  double k = (double)out->n;
  out->mae = out->n ? sum / k : NAN;
  out->persistence_mae = out->n ? psum / k : NAN;
  out->mae_ratio = out->n && psum > 0 ? sum / psum : NAN;
  out->diff_lo = out->diff_hi = NAN;
  if (out->n >= 2) {
    double mean = dsum / k;
    double var = (dsq - k * mean * mean) / (k - 1);
    double half = Z95 * sqrt(var > 0 ? var : 0) / sqrt(k);
    out->diff_lo = mean - half;
    out->diff_hi = mean + half;
  }
  out->hit_rate = out->hit_lo = out->hit_hi = NAN;
  if (out->directional_n > 0) {
    double dn = (double)out->directional_n, p = (double)out->hits / dn;
    double z2 = Z95 * Z95, den = 1 + z2 / dn;
    double center = (p + z2 / (2 * dn)) / den;
    double half = Z95 * sqrt(p * (1 - p) / dn + z2 / (4 * dn * dn)) / den;
    out->hit_rate = p;
    out->hit_lo = center - half;
    out->hit_hi = center + half;
  }
}

enum coin_track_verdict coin_track_judge(const struct coin_track_window *w,
                                         int64_t min_n) {
  if (min_n < 2)
    min_n = 2;
  if (w->n < min_n || !isfinite(w->diff_lo))
    return COIN_TRACK_TOO_FEW;
  return w->diff_lo > 0 ? COIN_TRACK_WORSE : COIN_TRACK_OK;
}

const char *coin_track_verdict_name(enum coin_track_verdict v) {
  switch (v) {
  case COIN_TRACK_OK: return "ok";
  case COIN_TRACK_WORSE: return "worse_than_persistence";
  case COIN_TRACK_TOO_FEW: break;
  }
  return "too_few";
}
