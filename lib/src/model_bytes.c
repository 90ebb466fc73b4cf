/*
 * model_bytes.c: the little-endian byte writer and reader of model artifacts
 * (model_int.h: model_buf grows and remembers its first error, model_rd
 * turns bad on the first short read), shared by model.c and the learners.
 */
#include "model_int.h"

#include "coin/error.h"

#include <stdlib.h>
#include <string.h>

void model_buf_put(struct model_buf *b, const void *data, size_t len) {
  if (b->err)
    return;
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len)
      cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      b->err = COIN_ENOMEM;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (len)
    memcpy(b->p + b->len, data, len);
  b->len += len;
}

void model_buf_u32(struct model_buf *b, uint32_t v) {
  uint8_t s[4];
  for (int i = 0; i < 4; i++)
    s[i] = (uint8_t)(v >> (8 * i));
  model_buf_put(b, s, 4);
}

void model_buf_u64(struct model_buf *b, uint64_t v) {
  uint8_t s[8];
  for (int i = 0; i < 8; i++)
    s[i] = (uint8_t)(v >> (8 * i));
  model_buf_put(b, s, 8);
}

void model_buf_f64(struct model_buf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  model_buf_u64(b, u);
}

void model_rd_get(struct model_rd *r, void *out, size_t len) {
  if (r->bad || len > r->len - r->off) {
    r->bad = true;
    memset(out, 0, len);
    return;
  }
  memcpy(out, r->p + r->off, len);
  r->off += len;
}

uint32_t model_rd_u32(struct model_rd *r) {
  uint8_t s[4];
  model_rd_get(r, s, 4);
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)s[i] << (8 * i);
  return v;
}

uint64_t model_rd_u64(struct model_rd *r) {
  uint8_t s[8];
  model_rd_get(r, s, 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)s[i] << (8 * i);
  return v;
}

double model_rd_f64(struct model_rd *r) {
  uint64_t u = model_rd_u64(r);
  double v;
  memcpy(&v, &u, 8);
  return v;
}
