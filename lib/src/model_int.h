/*
 * model_int.h: the inside of the model module: what one model kind
 * implements (model_<kind>.c) and the little-endian byte helpers the
 * artifact format uses. Learner state is opaque to model.c.
 */
#ifndef COIN_MODEL_INT_H
#define COIN_MODEL_INT_H

#include "coin/model.h"

#include <stddef.h>
#include <stdint.h>

/* A learner sees standardized targets and float features; it never sees
 * candles, symbols or the calibration. */
struct model_kind {
  const char *name; /* [a-z0-9_]{1,32} */
  /* Fits on n rows of d floats x (row-major) and targets y. */
  int (*fit)(void **out, const float *x, const double *y, size_t n, size_t d,
             const struct coin_model_params *p);
  /* n predictions into out. */
  int (*predict)(const void *state, double *out, const float *x, size_t n,
                 size_t d);
  /* The learner's bytes (malloc'd). */
  int (*save)(const void *state, uint8_t **out, size_t *out_len);
  /* COIN_EDECODE with a reason when the bytes are not a learner of this
   * kind with d features. */
  int (*load)(void **out, const uint8_t *data, size_t len, size_t d);
  /* A JSON object describing the learner (malloc'd). */
  int (*describe)(const void *state, char **out);
  void (*free)(void *state);
  /* Extra bytes per row a fit holds at its peak (copies, gradients). */
  size_t fit_bytes_per_row;
};

/* A kind's table is its functions by name: <prefix>_fit, <prefix>_predict,
 * <prefix>_save, <prefix>_load, <prefix>_describe, <prefix>_free (static in
 * model_<kind>.c). */
#define MODEL_OPS(prefix, kind_name, bytes_per_row)                            \
  {                                                                            \
    .name = (kind_name), .fit = prefix##_fit, .predict = prefix##_predict,     \
    .save = prefix##_save, .load = prefix##_load,                              \
    .describe = prefix##_describe, .free = prefix##_free,                      \
    .fit_bytes_per_row = (bytes_per_row),                                      \
  }

extern const struct model_kind model_kind_ridge;
extern const struct model_kind model_kind_xgboost;

/* ---- bytes -------------------------------------------------------------- */

struct model_buf {
  uint8_t *p;
  size_t len, cap;
  int err; /* sticky: first failure */
};

void model_buf_put(struct model_buf *b, const void *data, size_t len);
void model_buf_u32(struct model_buf *b, uint32_t v);
void model_buf_u64(struct model_buf *b, uint64_t v);
void model_buf_f64(struct model_buf *b, double v);

struct model_rd {
  const uint8_t *p;
  size_t len, off;
  bool bad; /* sticky: read past the end */
};

void model_rd_get(struct model_rd *r, void *out, size_t len);
uint32_t model_rd_u32(struct model_rd *r);
uint64_t model_rd_u64(struct model_rd *r);
double model_rd_f64(struct model_rd *r);

#endif
