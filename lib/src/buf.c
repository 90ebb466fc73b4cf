/* buf.c: the capped growable byte buffer (see buf.h). The allocation grows
 * by doubling from MIN_ALLOC_BYTES and never beyond the cap plus the NUL.
 * coin_grow applies the same rule to arrays of items. */
#include "coin/buf.h"

#include "coin/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_ALLOC_BYTES 256
#define SMALL_PRINTF_BYTES 256

void coin_buf_init(struct coin_buf *b, size_t cap_bytes) {
  memset(b, 0, sizeof(*b));
  b->cap_bytes = cap_bytes;
}

void coin_buf_free(struct coin_buf *b) {
  if (b) {
    free(b->p);
    coin_buf_init(b, b->cap_bytes);
  }
}

void coin_buf_reset(struct coin_buf *b) {
  b->len = 0;
  if (b->p)
    b->p[0] = '\0';
}

/* Room for more bytes after len, plus the NUL. */
static int reserve(struct coin_buf *b, size_t more) {
  if (more > b->cap_bytes - b->len)
    return coin_error_set(COIN_ETOOBIG,
                          "buffer would hold %zu bytes, cap is %zu",
                          b->len + more, b->cap_bytes);
  size_t need = b->len + more + 1;
  if (need <= b->alloc_bytes)
    return 0;
  size_t alloc = b->alloc_bytes ? b->alloc_bytes : MIN_ALLOC_BYTES;
  while (alloc < need)
    alloc *= 2;
  if (alloc - 1 > b->cap_bytes) /* not cap + 1: the cap may be SIZE_MAX */
    alloc = b->cap_bytes + 1;
  char *p = realloc(b->p, alloc);
  if (!p)
    return coin_error_set(COIN_ENOMEM, "out of memory (%zu bytes)", alloc);
  if (!b->p)
    p[0] = '\0';
  b->p = p;
  b->alloc_bytes = alloc;
  return 0;
}

int coin_buf_add(struct coin_buf *b, const void *data, size_t len) {
  int rc = reserve(b, len);
  if (rc)
    return rc;
  if (len)
    memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = '\0';
  return 0;
}

int coin_buf_adds(struct coin_buf *b, const char *s) {
  return coin_buf_add(b, s, strlen(s));
}

int coin_buf_vaddf(struct coin_buf *b, const char *fmt, va_list ap) {
  char small[SMALL_PRINTF_BYTES];
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  int rc = 0;
  if (n < 0) {
    rc = coin_error_set(COIN_EINTERNAL, "vsnprintf failed");
    goto out;
  }
  if ((size_t)n < sizeof(small)) {
    rc = coin_buf_add(b, small, (size_t)n);
    goto out;
  }
  if ((rc = reserve(b, (size_t)n)))
    goto out;
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
  b->len += (size_t)n;
out:
  va_end(again);
  return rc;
}

int coin_buf_addf(struct coin_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = coin_buf_vaddf(b, fmt, ap);
  va_end(ap);
  return rc;
}

void coin_buf_truncate(struct coin_buf *b, size_t len) {
  if (len >= b->len)
    return;
  b->len = len;
  b->p[len] = '\0';
}

const char *coin_buf_ptr(const struct coin_buf *b) {
  return b->p ? b->p : "";
}

size_t coin_buf_len(const struct coin_buf *b) {
  return b->len;
}

int coin_buf_take(char **out, size_t *out_len, struct coin_buf *b) {
  int rc = reserve(b, 0);
  if (rc)
    return rc;
  *out = b->p;
  if (out_len)
    *out_len = b->len;
  b->p = NULL;
  b->len = 0;
  b->alloc_bytes = 0;
  return 0;
}

int coin_grow(void *items, size_t *cap, size_t need, size_t item_size,
              size_t max_items) {
  if (need <= *cap)
    return 0;
  if (need > max_items)
    return coin_error_set(COIN_ETOOBIG, "more than %zu items", max_items);
  if (need > SIZE_MAX / item_size)
    return coin_error_set(COIN_ENOMEM, "out of memory (%zu items of %zu bytes)",
                          need, item_size);
  size_t n = *cap ? *cap : COIN_GROW_MIN_ITEMS;
  while (n < need && n <= SIZE_MAX / 2)
    n *= 2;
  if (n < need)
    n = need;
  if (n > max_items)
    n = max_items;
  if (n > SIZE_MAX / item_size)
    n = SIZE_MAX / item_size; /* still >= need */
  /* items points at a T *: its pointer is read and written as bytes, so no
   * object is accessed through a void * of another type */
  void *old;
  memcpy(&old, items, sizeof(old));
  void *p = realloc(old, n * item_size);
  if (!p)
    return coin_error_set(COIN_ENOMEM, "out of memory (%zu items of %zu bytes)",
                          n, item_size);
  memcpy(items, &p, sizeof(p));
  *cap = n;
  return 0;
}
