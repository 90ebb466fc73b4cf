/*
 * site.c: what users see. Reads STATIC_DATA_DIR/manifest.json (again only
 * when its inode, size or times changed, or MONITOR_VERIFY_SECONDS passed),
 * checks each listed file's size and sha256, scans history.json (every byte
 * validated, last candle picked out) and prediction.json (degraded). A
 * file is read, hashed and scanned again only when its identity changed or
 * its verification aged out, so a pass over unchanged files costs a stat
 * per file. JSON is scanned with jscan (no tree, no allocation).
 * Thread model: the pass thread only, under m->lock for the series fields.
 */
#include "monitor_int.h"

#include "coin/candle.h"
#include "coin/error.h"
#include "coin/fmt.h"
#include "coin/site.h"
#include "jscan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void ident_of(struct mon_file_ident *id, const struct stat *st) {
  id->dev = (uint64_t)st->st_dev;
  id->ino = (uint64_t)st->st_ino;
  id->size = (int64_t)st->st_size;
  id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  id->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static bool ident_same(const struct mon_file_ident *a,
                       const struct mon_file_ident *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static bool ident_same_cache(const struct mon_file_ident *id,
                             const struct mon_file_cache *c) {
  return c->valid && ident_same(id, &c->id);
}

static void cache_clear(struct mon_file_cache *c) {
  free(c->err);
  memset(c, 0, sizeof(*c));
}

void site_entry_clear(struct mon_manifest_entry *e) {
  free(e->err);
  e->err = NULL;
  for (size_t i = 0; i < MON_MAX_FILES; i++) {
    free(e->cache[i].err);
    e->cache[i].err = NULL;
  }
}

/* Reads a whole regular file through one descriptor, so the identity and the
 * bytes belong together even if the file is replaced meanwhile. */
static int read_whole(char **out, size_t *out_len, struct mon_file_ident *id,
                      int dirfd, const char *path, int64_t max_bytes) {
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  char *buf = NULL;
  int rc = 0;
  if (fd < 0)
    return coin_error_set(errno == ENOENT ? COIN_ENOTFOUND : COIN_EIO, "%s",
                          strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = coin_error_set(COIN_EIO, "fstat: %s", strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = coin_error_set(COIN_EIO, "not a regular file");
    goto out;
  }
  if ((int64_t)st.st_size > max_bytes) {
    rc = coin_error_set(COIN_ETOOBIG,
                        "%lld bytes (rule: at most MONITOR_MAX_FILE_BYTES "
                        "%lld)",
                        (long long)st.st_size, (long long)max_bytes);
    goto out;
  }
  ident_of(id, &st);
  size_t want = (size_t)st.st_size, got = 0;
  buf = malloc(want + 1);
  if (buf == NULL) {
    rc = coin_error_set(COIN_ENOMEM, "out of memory");
    goto out;
  }
  while (got < want) {
    ssize_t n = read(fd, buf + got, want - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = coin_error_set(COIN_EIO, "read: %s", strerror(errno));
      goto out;
    }
    if (n == 0)
      break; /* truncated under us: hash what is there */
    got += (size_t)n;
  }
  buf[got] = '\0';
  id->size = (int64_t)got;
  *out = buf;
  *out_len = got;
  buf = NULL;
out:
  free(buf);
  close(fd);
  return rc;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* 64 lower-case hex digits into 32 bytes. */
static bool hex_sha(uint8_t out[COIN_SHA256_BYTES], const char *s) {
  if (strlen(s) != 2 * COIN_SHA256_BYTES)
    return false;
  for (size_t i = 0; i < COIN_SHA256_BYTES; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static enum mon_file_kind kind_of(const char *name) {
  enum coin_site_file f;
  if (coin_site_file_parse(&f, name) != 0)
    return MON_FILE_OTHER;
  return f == COIN_SITE_HISTORY      ? MON_FILE_HISTORY
         : f == COIN_SITE_PREDICTION ? MON_FILE_PREDICTION
                                     : MON_FILE_OTHER; /* hashed only */
}

/* v1/<exchange>/<symbol>/<tf>/ of a series. */
static void series_dir(char *out, size_t n, const struct monitor *m,
                       const struct mon_series *s) {
  if (coin_site_series_dir(out, n - 1, m->cfg->core.exchange, s->symbol,
                           s->tf) != 0)
    snprintf(out, n, "v1/?/"); /* configured tokens were validated at start */
  else
    strcat(out, "/");
}

/* ---- scanning helpers --------------------------------------------------- */

static void set_err(char **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(char **err, const char *fmt, ...) {
  char buf[MON_DETAIL_BYTES];
  va_list ap;
  va_start(ap, fmt);
  coin_fmt_vline(buf, sizeof(buf), fmt, ap); /* names may hold a "\n" */
  va_end(ap);
  free(*err);
  *err = strdup(buf);
}

static void json_err(char **err, const struct jscan *js, const char *what) {
  char where[160];
  jscan_error(js, where, sizeof(where));
  set_err(err, "%s: JSON error %s", what, where);
}

/* The identity fields every series artifact carries. */
struct ids {
  int64_t schema;
  char exchange[40], symbol[40], timeframe[8];
};

/* Handles key (already read) when it is one of the identity fields;
 * returns 1 when consumed, 0 when not an identity key, -1 on error. */
static int take_id(struct jscan *js, struct ids *ids) {
  char *dst = NULL;
  size_t n = 0;
  if (jscan_is(js, "schema_version")) {
    enum jtok t = jscan_next(js);
    if (t == J_NUM && js->is_int)
      ids->schema = js->int_val;
    else if (!jscan_skip(js))
      return -1;
    return t == J_ERR ? -1 : 1;
  }
  if (jscan_is(js, "exchange")) {
    dst = ids->exchange;
    n = sizeof(ids->exchange);
  } else if (jscan_is(js, "symbol")) {
    dst = ids->symbol;
    n = sizeof(ids->symbol);
  } else if (jscan_is(js, "timeframe")) {
    dst = ids->timeframe;
    n = sizeof(ids->timeframe);
  } else {
    return 0;
  }
  enum jtok t = jscan_next(js);
  if (t == J_STR) {
    if (!jscan_str(js, dst, n))
      snprintf(dst, n, "?");
    return 1;
  }
  snprintf(dst, n, "?");
  return t == J_ERR || !jscan_skip(js) ? -1 : 1;
}

static bool check_ids(char **err, const struct ids *ids,
                      const struct monitor *m, const struct mon_series *s,
                      const char *what) {
  if (ids->schema < 1 || ids->schema > COIN_SITE_SCHEMA_VERSION) {
    set_err(err, "%s: schema_version is not in 1..%d", what,
            COIN_SITE_SCHEMA_VERSION);
    return false;
  }
  if (strcmp(ids->exchange, m->cfg->core.exchange) != 0 ||
      strcmp(ids->symbol, s->symbol) != 0 ||
      strcmp(ids->timeframe, coin_tf_name(s->tf)) != 0) {
    set_err(err,
            "%s: names series %.32s/%.32s/%.4s, not %s/%s/%s (rule: "
            "exchange, symbol and timeframe of its path)",
            what, ids->exchange[0] ? ids->exchange : "?",
            ids->symbol[0] ? ids->symbol : "?",
            ids->timeframe[0] ? ids->timeframe : "?", m->cfg->core.exchange,
            s->symbol, coin_tf_name(s->tf));
    return false;
  }
  return true;
}

/* degraded_reasons: an array of strings (unknown reasons are ignored: a
 * newer publish may know more). The '[' was read. */
static int take_reasons(struct jscan *js, unsigned *out, char **err,
                        const char *what) {
  unsigned bits = 0;
  for (size_t i = 0;; i++) {
    enum jtok t = jscan_next(js);
    if (t == J_ARR_END)
      break;
    if (t == J_ERR)
      return -1;
    if (t != J_STR) {
      set_err(err, "%s: degraded_reasons[%zu] is not a string", what, i);
      return -2;
    }
    char tok[72];
    unsigned bit;
    if (jscan_str(js, tok, sizeof(tok)) &&
        coin_degraded_reason_parse(&bit, tok) == 0)
      bits |= bit;
  }
  *out = bits;
  return 0;
}

/* ---- history.json and prediction.json ------------------------------------ */

/* Takes one member of an artifact that is not an identity field (its key
 * was read): 0 when taken, -1 on a JSON error, -2 when the value broke a
 * rule (*err says which). */
typedef int (*take_member_fn)(struct jscan *js, void *ctx, char **err,
                              const char *what);

/* Walks a series artifact: one top-level object, identity fields into ids,
 * every other member to take, then the end of the text and the identity
 * check. True when all held; else c->err says why. */
static bool walk_artifact(struct mon_file_cache *c, const struct monitor *m,
                          const struct mon_series *s, const char *what,
                          const char *buf, size_t len, take_member_fn take,
                          void *ctx) {
  struct jscan js;
  struct ids ids = {.schema = -1};
  jscan_init(&js, buf, len);
  enum jtok t = jscan_next(&js);
  if (t != J_OBJ) {
    if (t == J_ERR)
      json_err(&c->err, &js, what);
    else
      set_err(&c->err, "%s: not a JSON object", what);
    return false;
  }
  for (;;) {
    int r = jscan_next_key(&js);
    if (r == 0)
      break;
    if (r < 0)
      goto json_error;
    r = take_id(&js, &ids);
    if (r < 0)
      goto json_error;
    if (r > 0)
      continue;
    r = take(&js, ctx, &c->err, what);
    if (r == -1)
      goto json_error;
    if (r < 0)
      return false;
  }
  if (jscan_next(&js) != J_EOF)
    goto json_error;
  return check_ids(&c->err, &ids, m, s, what);
json_error:
  json_err(&c->err, &js, what);
  return false;
}

/* What history.json's candles hold. */
struct history_scan {
  enum coin_tf tf;
  bool have_candles;
  int64_t prev; /* the last open time read */
  int64_t n;
};

static int take_candles(struct jscan *js, void *ctx, char **err,
                        const char *what) {
  struct history_scan *h = ctx;
  if (!jscan_is(js, "candles")) {
    enum jtok t = jscan_next(js);
    return t == J_ERR || !jscan_skip(js) ? -1 : 0;
  }
  enum jtok t = jscan_next(js);
  if (t == J_ERR)
    return -1;
  if (t != J_ARR) {
    set_err(err, "%s: candles is not an array", what);
    return -2;
  }
  h->have_candles = true;
  for (size_t i = 0;; i++) {
    t = jscan_next(js);
    if (t == J_ARR_END)
      break;
    if (t == J_ERR)
      return -1;
    int64_t open = 0;
    int row = t == J_ARR ? jscan_number_row(js, 6, &open) : 0;
    if (row < 0)
      return -1;
    if (row == 0) {
      set_err(err, "%s: candles[%zu] is not [open_ms, o, h, l, c, v]", what, i);
      return -2;
    }
    if (open <= h->prev || !coin_tf_is_aligned(h->tf, open)) {
      set_err(err,
              "%s: candles[%zu] open time %lld %s (rule: strictly "
              "ascending %s open times)",
              what, i, (long long)open,
              open <= h->prev ? "not after the previous" : "not aligned",
              coin_tf_name(h->tf));
      return -2;
    }
    h->prev = open;
    h->n++;
  }
  return 0;
}

static void parse_history(struct mon_file_cache *c, const struct monitor *m,
                          const struct mon_series *s, const char *buf,
                          size_t len) {
  const char *what = "history.json";
  struct history_scan h = {.tf = s->tf, .prev = INT64_MIN};
  c->parse_ok = false;
  c->last_open_ms = -1;
  c->n_candles = 0;
  if (!walk_artifact(c, m, s, what, buf, len, take_candles, &h))
    return;
  if (!h.have_candles) {
    set_err(&c->err, "%s: candles missing", what);
    return;
  }
  c->n_candles = h.n;
  c->last_open_ms = h.n > 0 ? h.prev : -1;
  c->parse_ok = true;
}

/* What prediction.json says of its degradation. */
struct prediction_scan {
  int degraded; /* -1 absent, -2 not a bool */
  unsigned reasons;
};

static int take_degraded(struct jscan *js, void *ctx, char **err,
                         const char *what) {
  struct prediction_scan *ps = ctx;
  bool is_deg = jscan_is(js, "degraded");
  bool is_reasons = !is_deg && jscan_is(js, "degraded_reasons");
  enum jtok t = jscan_next(js);
  if (t == J_ERR)
    return -1;
  if (is_deg) {
    ps->degraded = t == J_TRUE ? 1 : t == J_FALSE ? 0 : -2;
    return jscan_skip(js) ? 0 : -1;
  }
  if (is_reasons && t == J_ARR)
    return take_reasons(js, &ps->reasons, err, what);
  return jscan_skip(js) ? 0 : -1;
}

static void parse_prediction(struct mon_file_cache *c, const struct monitor *m,
                             const struct mon_series *s, const char *buf,
                             size_t len) {
  const char *what = "prediction.json";
  struct prediction_scan ps = {.degraded = -1};
  c->parse_ok = false;
  if (!walk_artifact(c, m, s, what, buf, len, take_degraded, &ps))
    return;
  if (ps.degraded < 0) {
    set_err(&c->err, "%s: degraded is not true or false", what);
    return;
  }
  c->degraded = ps.degraded == 1;
  c->reasons = ps.reasons;
  c->parse_ok = true;
}

/* The validity the history file announces (lib/site.h reader), shown in
 * status.json next to the monitor's own evaluation. A file whose shared
 * members break the contract is unusable like any other parse error. */
static void read_announced(struct mon_file_cache *c, const char *buf,
                           size_t len) {
  struct coin_site_head h;
  c->announced_soft_ms = c->announced_hard_ms = -1;
  if (!c->parse_ok)
    return;
  if (coin_site_read_head(&h, buf, len) != 0) {
    c->parse_ok = false;
    set_err(&c->err, "history.json: %.160s", coin_error_last());
    return;
  }
  c->announced_soft_ms = h.v.soft_at_ms;
  c->announced_hard_ms = h.v.hard_at_ms;
}

void site_parse_file(struct mon_file_cache *c, const struct monitor *m,
                     const struct mon_series *s, enum mon_file_kind kind,
                     const char *buf, size_t len) {
  if (kind == MON_FILE_HISTORY) {
    parse_history(c, m, s, buf, len);
    read_announced(c, buf, len);
  } else if (kind == MON_FILE_PREDICTION) {
    parse_prediction(c, m, s, buf, len);
  } else {
    c->parse_ok = true; /* listed and hashed; its content is not ours */
  }
}

/* ---- manifest.json ------------------------------------------------------ */

/* One series item as read, before it is matched to a series. */
struct item {
  struct ids ids;
  char status[32];
  int degraded; /* -1 absent, -2 not a bool */
  unsigned reasons;
  int64_t last_open_ms; /* -1 null/absent, -2 malformed */
  int64_t publish_wm_ms;
  int n_files; /* -1: files missing or not an array */
  struct mon_listed_file files[MON_MAX_FILES];
  char *err; /* a schema problem of this item */
};

int site_take_listed_file(struct jscan *js, struct mon_listed_file *f) {
  memset(f, 0, sizeof(*f));
  f->bytes = -1;
  f->prev_bytes = -1;
  for (;;) {
    int k = jscan_next_key(js);
    if (k <= 0)
      return k;
    int which = jscan_is(js, "path")              ? 1
                : jscan_is(js, "bytes")           ? 2
                : jscan_is(js, "sha256")          ? 3
                : jscan_is(js, "previous_bytes")  ? 4
                : jscan_is(js, "previous_sha256") ? 5
                                                  : 0;
    enum jtok t = jscan_next(js);
    if (t == J_ERR)
      return -1;
    if (which == 1 && t == J_STR && !jscan_str(js, f->path, sizeof(f->path)))
      snprintf(f->path, sizeof(f->path), "?");
    if (which == 2 && t == J_NUM && js->is_int && js->int_val >= 0)
      f->bytes = js->int_val;
    if (which == 3 && t == J_STR && !jscan_str(js, f->sha, sizeof(f->sha)))
      f->sha[0] = '\0';
    if (which == 4)
      f->prev_bytes = t == J_NUM && js->is_int && js->int_val >= 0 ? js->int_val
                      : t == J_NULL                                ? -1
                                                                   : -2;
    if (which == 5 && t != J_NULL) {
      f->has_prev_sha = true;
      if (t != J_STR || !jscan_str(js, f->prev_sha, sizeof(f->prev_sha)))
        f->prev_sha[0] = '\0';
    }
    if (!jscan_skip(js))
      return -1;
  }
}

/* Reads one "files" element object (the '{' was read) into the item; the
 * ones past MON_MAX_FILES are scanned and make the item bad. */
static int take_file(struct jscan *js, struct item *it, size_t idx) {
  struct mon_listed_file f;
  if (site_take_listed_file(js, &f) != 0)
    return -1;
  if (it->n_files < MON_MAX_FILES)
    it->files[it->n_files++] = f;
  else if (it->err == NULL)
    set_err(&it->err, "files[%zu]: more than %d files", idx, MON_MAX_FILES);
  return 0;
}

static int take_item(struct jscan *js, struct item *it) {
  for (;;) {
    int r = jscan_next_key(js);
    if (r <= 0)
      return r;
    enum jtok t;
    r = take_id(js, &it->ids);
    if (r < 0)
      return -1;
    if (r > 0)
      continue;
    if (jscan_is(js, "status")) {
      t = jscan_next(js);
      if (t != J_STR || !jscan_str(js, it->status, sizeof(it->status)))
        snprintf(it->status, sizeof(it->status), "?");
    } else if (jscan_is(js, "degraded")) {
      t = jscan_next(js);
      it->degraded = t == J_TRUE ? 1 : t == J_FALSE ? 0 : -2;
    } else if (jscan_is(js, "degraded_reasons")) {
      t = jscan_next(js);
      if (t == J_ARR) {
        int rr = take_reasons(js, &it->reasons, &it->err, "degraded_reasons");
        if (rr == -1)
          return -1;
        if (rr < 0 && !jscan_skip(js))
          return -1;
        continue;
      }
      if (t != J_NULL && it->err == NULL)
        set_err(&it->err, "degraded_reasons is not an array");
    } else if (jscan_is(js, "last_candle_open_ms") ||
               jscan_is(js, "publish_watermark_ms")) {
      bool last = jscan_is(js, "last_candle_open_ms");
      t = jscan_next(js);
      int64_t v = t == J_NUM && js->is_int ? js->int_val
                  : t == J_NULL            ? -1
                                           : -2;
      if (last)
        it->last_open_ms = v;
      else
        it->publish_wm_ms = v < 0 ? -1 : v;
    } else if (jscan_is(js, "files")) {
      t = jscan_next(js);
      if (t == J_ARR) {
        it->n_files = 0;
        for (size_t i = 0;; i++) {
          t = jscan_next(js);
          if (t == J_ARR_END)
            break;
          if (t == J_OBJ) {
            if (take_file(js, it, i) != 0)
              return -1;
            continue;
          }
          if (t == J_ERR || !jscan_skip(js))
            return -1;
          if (it->err == NULL)
            set_err(&it->err, "files[%zu] is not an object", i);
        }
        continue;
      }
    } else {
      t = jscan_next(js);
    }
    if (t == J_ERR || !jscan_skip(js))
      return -1;
  }
}

/* Matches an item to its series and makes it the series' entry, keeping
 * what was verified about files that are still listed. */
static void merge_item(struct monitor *m, struct item *it, size_t idx,
                       uint32_t gen) {
  enum coin_tf tf;
  if (strcmp(it->ids.exchange, m->cfg->core.exchange) != 0 ||
      coin_tf_parse(&tf, it->ids.timeframe) != 0)
    return;
  ssize_t k = mon_series_find(m, it->ids.symbol, tf);
  if (k < 0)
    return; /* not ours to watch */
  struct mon_series *s = &m->series[k];
  if (s->man.gen == gen) {
    s->man.bad = true;
    set_err(&s->man.err, "manifest.json: series[%zu]: %s/%s listed twice", idx,
            s->symbol, coin_tf_name(tf));
    return;
  }
  struct mon_manifest_entry e;
  char dir[COIN_CODEC_SUBJECT_BYTES];
  memset(&e, 0, sizeof(e));
  e.gen = gen;
  e.last_open_ms = it->last_open_ms;
  e.publish_wm_ms = it->publish_wm_ms;
  e.degraded = it->degraded == 1;
  e.reasons = it->reasons;
  series_dir(dir, sizeof(dir), m, s);
  size_t dl = strlen(dir);
  bool history = false;
  if (it->err) {
    set_err(&e.err, "manifest.json: series[%zu]: %s", idx, it->err);
  } else if (coin_codec_state_parse(&e.site_status, it->status) != 0) {
    set_err(&e.err,
            "manifest.json: series[%zu]: status is not a freshness "
            "state",
            idx);
  } else if (it->degraded < 0) {
    set_err(&e.err,
            "manifest.json: series[%zu]: degraded is not true or "
            "false",
            idx);
  } else if (it->last_open_ms == -2) {
    set_err(&e.err,
            "manifest.json: series[%zu]: last_candle_open_ms is not "
            "an integer or null",
            idx);
  } else if (it->n_files < 0) {
    set_err(&e.err, "manifest.json: series[%zu]: files is not an array", idx);
  }
  for (int i = 0; !e.err && i < it->n_files; i++) {
    const char *path = it->files[i].path;
    const char *name = path + dl;
    bool ok = strncmp(path, dir, dl) == 0 && strlen(name) > 0 &&
              strlen(name) < MON_FILE_NAME_BYTES;
    for (const char *p = name; ok && *p; p++)
      ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
    ok = ok && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
    if (!ok) {
      set_err(&e.err,
              "manifest.json: series[%zu]: files[%d].path \"%.80s\" "
              "(rule: %s<name of [A-Za-z0-9._-]>)",
              idx, i, path, dir);
      break;
    }
    if (it->files[i].bytes < 0) {
      set_err(&e.err,
              "manifest.json: series[%zu]: files[%d].bytes is not a "
              "size",
              idx, i);
      break;
    }
    struct mon_file *f = &e.files[e.n_files++];
    if (!hex_sha(f->sha256, it->files[i].sha)) {
      set_err(&e.err,
              "manifest.json: series[%zu]: files[%d].sha256 is not "
              "64 lower-case hex digits",
              idx, i);
      break;
    }
    if (it->files[i].has_prev_sha || it->files[i].prev_bytes != -1) {
      if (it->files[i].prev_bytes < 0 ||
          !hex_sha(f->previous_sha256, it->files[i].prev_sha)) {
        set_err(&e.err,
                "manifest.json: series[%zu]: files[%d]: previous_bytes and "
                "previous_sha256 go together (a size and 64 lower-case hex "
                "digits)",
                idx, i);
        break;
      }
      f->has_previous = true;
      f->previous_bytes = it->files[i].prev_bytes;
    }
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->kind = kind_of(name);
    f->bytes = it->files[i].bytes;
    history |= f->kind == MON_FILE_HISTORY;
  }
  if (!e.err && !history)
    set_err(&e.err,
            "manifest.json: series[%zu]: no history.json among its "
            "files",
            idx);
  e.bad = e.err != NULL;
  if (e.bad)
    e.n_files = 0;
  for (size_t i = 0; i < e.n_files; i++)
    for (size_t j = 0; j < s->man.n_files; j++)
      if (strcmp(e.files[i].name, s->man.files[j].name) == 0) {
        e.cache[i] = s->man.cache[j];
        s->man.cache[j].err = NULL; /* moved */
        break;
      }
  site_entry_clear(&s->man);
  s->man = e;
}

/* Scans the manifest, merging each series item; 0, or -1 with
 * m->manifest_err set (the whole file is bad). */
static int parse_manifest(struct monitor *m, const char *buf, size_t len,
                          uint32_t gen) {
  struct jscan js;
  int64_t schema = -1;
  bool have_series = false;
  struct item it;
  jscan_init(&js, buf, len);
  memset(&it, 0, sizeof(it));
  if (jscan_next(&js) != J_OBJ)
    goto bad;
  for (;;) {
    int k = jscan_next_key(&js);
    if (k == 0)
      break;
    if (k < 0)
      goto bad;
    enum jtok t;
    if (jscan_is(&js, "schema_version") || jscan_is(&js, "generated_at_ms")) {
      bool sv = jscan_is(&js, "schema_version");
      t = jscan_next(&js);
      if (t == J_NUM && js.is_int) {
        if (sv)
          schema = js.int_val;
        else
          m->man_generated_ms = js.int_val;
      }
      if (t == J_ERR || !jscan_skip(&js))
        goto bad;
      continue;
    }
    if (!jscan_is(&js, "series")) {
      t = jscan_next(&js);
      if (t == J_ERR || !jscan_skip(&js))
        goto bad;
      continue;
    }
    if (jscan_next(&js) != J_ARR) {
      if (js.tok == J_ERR)
        goto bad;
      goto schema;
    }
    have_series = true;
    for (size_t i = 0;; i++) {
      t = jscan_next(&js);
      if (t == J_ARR_END)
        break;
      if (t != J_OBJ)
        goto bad_or_schema;
      memset(&it, 0, sizeof(it));
      it.last_open_ms = -1;
      it.publish_wm_ms = -1;
      it.degraded = -1;
      it.n_files = -1;
      if (take_item(&js, &it) != 0)
        goto bad;
      enum coin_tf tf;
      if (coin_exchange_validate(it.ids.exchange) != 0 ||
          coin_symbol_validate(it.ids.symbol) != 0 ||
          coin_tf_parse(&tf, it.ids.timeframe) != 0) {
        snprintf(m->manifest_err, sizeof(m->manifest_err),
                 "manifest.json: series[%zu] lacks a valid exchange, symbol "
                 "or timeframe",
                 i);
        goto fail;
      }
      merge_item(m, &it, i, gen);
      free(it.err);
      it.err = NULL;
    }
  }
  if (jscan_next(&js) != J_EOF)
    goto bad;
  if (schema < 1 || schema > COIN_SITE_SCHEMA_VERSION || !have_series)
    goto schema;
  return 0;
bad_or_schema:
  if (js.tok != J_ERR)
    goto schema;
bad : {
  char where[160];
  jscan_error(&js, where, sizeof(where));
  snprintf(m->manifest_err, sizeof(m->manifest_err),
           "manifest.json: JSON error %s", where);
  goto fail;
}
schema:
  snprintf(m->manifest_err, sizeof(m->manifest_err),
           "manifest.json: not an object with schema_version 1..%d and a "
           "series array",
           COIN_SITE_SCHEMA_VERSION);
fail:
  free(it.err);
  return -1;
}

int site_parse_manifest(struct monitor *m, const char *buf, size_t len,
                        uint32_t gen) {
  return parse_manifest(m, buf, len, gen);
}

/* Opens STATIC_DATA_DIR for this pass (a directory that is replaced is
 * followed). */
static void open_site(struct monitor *m) {
  if (m->site_fd >= 0)
    close(m->site_fd);
  m->site_fd =
      open(m->cfg->core.static_data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

void site_load_manifest(struct monitor *m, int64_t now_ms) {
  struct stat st;
  struct mon_file_ident id;
  open_site(m);
  if (m->site_fd < 0 || fstatat(m->site_fd, COIN_SITE_MANIFEST, &st, 0) != 0) {
    if (errno == ENOENT) {
      m->manifest_state = MON_MANIFEST_MISSING;
      snprintf(m->manifest_err, sizeof(m->manifest_err),
               "manifest.json not written yet (publish has not run)");
    } else {
      m->manifest_state = MON_MANIFEST_BAD;
      snprintf(m->manifest_err, sizeof(m->manifest_err), "manifest.json: %s",
               strerror(errno));
    }
    m->man_id.ino = 0;
    return;
  }
  ident_of(&id, &st);
  if (m->manifest_state != MON_MANIFEST_MISSING &&
      ident_same(&m->man_id, &id) &&
      now_ms - m->man_loaded_ms < m->cfg->verify_seconds * 1000)
    return; /* unchanged */

  char *buf = NULL;
  size_t len = 0;
  int rc = read_whole(&buf, &len, &id, m->site_fd, COIN_SITE_MANIFEST,
                      m->cfg->max_file_bytes);
  atomic_fetch_add(&m->c.manifest_loads, 1);
  m->man_id = id;
  m->man_loaded_ms = now_ms;
  if (rc == COIN_ENOTFOUND) {
    m->manifest_state = MON_MANIFEST_MISSING;
    snprintf(m->manifest_err, sizeof(m->manifest_err),
             "manifest.json not written yet (publish has not run)");
  } else if (rc != 0) {
    m->manifest_state = MON_MANIFEST_BAD;
    snprintf(m->manifest_err, sizeof(m->manifest_err), "manifest.json: %s",
             coin_error_last());
  } else {
    /* every attempt gets its own generation, so entries a failed attempt
     * touched never count as listed by a later one */
    uint32_t gen = ++m->man_gen;
    if (parse_manifest(m, buf, len, gen) != 0) {
      m->manifest_state = MON_MANIFEST_BAD;
    } else {
      m->manifest_state = MON_MANIFEST_OK;
      m->manifest_err[0] = '\0';
    }
  }
  free(buf);
}

/* ---- per-series files --------------------------------------------------- */

enum verdict { FILE_OK = 0, FILE_CORRUPT = 1, FILE_PENDING = 2 };

static int64_t ns_to_ms(int64_t ns) {
  return ns / 1000000;
}

/* A mismatch on something written within the grace period may be publish
 * between writing a file and the manifest: confirm it later. */
static enum verdict mismatch(struct monitor *m, struct mon_series *s,
                             int64_t file_mtime_ms, int64_t now_ms) {
  int64_t newest = ns_to_ms(m->man_id.mtime_ns);
  if (file_mtime_ms > newest)
    newest = file_mtime_ms;
  int64_t until = newest + m->cfg->corrupt_grace_ms;
  if (now_ms < until) {
    if (s->recheck_at_ms == 0 || until < s->recheck_at_ms)
      s->recheck_at_ms = until + 20;
    return FILE_PENDING;
  }
  return FILE_CORRUPT;
}

static void hex8(char out[17], const uint8_t *sha) {
  coin_hex_encode(out, sha, 8);
}

static enum verdict verify_file(struct monitor *m, struct mon_series *s,
                                size_t i, int64_t now_ms) {
  struct mon_file *f = &s->man.files[i];
  struct mon_file_cache *c = &s->man.cache[i];
  char path[COIN_CODEC_SUBJECT_BYTES + MON_FILE_NAME_BYTES];
  struct stat st;
  struct mon_file_ident id;
  series_dir(path, sizeof(path), m, s);
  size_t dl = strlen(path);
  snprintf(path + dl, sizeof(path) - dl, "%s", f->name);
  if (fstatat(m->site_fd, path, &st, 0) != 0) {
    c->valid = false;
    snprintf(s->detail, sizeof(s->detail),
             "%.140s: listed in manifest.json but %s", path,
             errno == ENOENT ? "missing" : strerror(errno));
    return mismatch(m, s, 0, now_ms);
  }
  ident_of(&id, &st);
  int64_t mtime_ms = ns_to_ms(id.mtime_ns);
  if (id.size != f->bytes &&
      !(f->has_previous && id.size == f->previous_bytes)) {
    snprintf(s->detail, sizeof(s->detail),
             "%.140s: %lld bytes, manifest.json says %lld", path,
             (long long)id.size, (long long)f->bytes);
    return mismatch(m, s, mtime_ms, now_ms);
  }
  if (!ident_same_cache(&id, c) ||
      now_ms - c->verified_ms >= m->cfg->verify_seconds * 1000) {
    char *buf = NULL;
    size_t len = 0;
    int rc =
        read_whole(&buf, &len, &id, m->site_fd, path, m->cfg->max_file_bytes);
    if (rc != 0) {
      c->valid = false;
      snprintf(s->detail, sizeof(s->detail), "%.140s: %.100s", path,
               coin_error_last());
      return rc == COIN_ENOTFOUND ? mismatch(m, s, 0, now_ms) : FILE_CORRUPT;
    }
    cache_clear(c);
    c->id = id;
    c->verified_ms = now_ms;
    c->valid = coin_sha256(c->sha256, buf, len) == 0;
    atomic_fetch_add(&m->c.files_hashed, 1);
    atomic_fetch_add(&m->c.bytes_hashed, len);
    if (c->valid) {
      site_parse_file(c, m, s, f->kind, buf, len);
    }
    free(buf);
    mtime_ms = ns_to_ms(id.mtime_ns);
    if (!c->valid) {
      snprintf(s->detail, sizeof(s->detail), "%.140s: cannot hash: %.80s", path,
               coin_error_last());
      return FILE_CORRUPT;
    }
    if (c->id.size != f->bytes &&
        !(f->has_previous && c->id.size == f->previous_bytes)) {
      snprintf(s->detail, sizeof(s->detail),
               "%.140s: %lld bytes, manifest.json says %lld", path,
               (long long)c->id.size, (long long)f->bytes);
      return mismatch(m, s, mtime_ms, now_ms);
    }
  }
  /* a transition manifest lists the new and the previous content: publish
   * is between the two and either is what users may see */
  if (memcmp(c->sha256, f->sha256, COIN_SHA256_BYTES) != 0 &&
      !(f->has_previous &&
        memcmp(c->sha256, f->previous_sha256, COIN_SHA256_BYTES) == 0)) {
    char got[17], want[17];
    hex8(got, c->sha256);
    hex8(want, f->sha256);
    snprintf(s->detail, sizeof(s->detail),
             "%.140s: sha256 %s... differs from manifest.json's %s...", path,
             got, want);
    return mismatch(m, s, mtime_ms, now_ms);
  }
  if (!c->parse_ok) {
    /* the right bytes (the hash matches) but unusable: corrupt at once */
    snprintf(s->detail, sizeof(s->detail), "%.60s%s", path,
             c->err ? c->err + strcspn(c->err, ":") : ": unreadable");
    return FILE_CORRUPT;
  }
  return FILE_OK;
}

static int64_t candles_between(enum coin_tf tf, int64_t after_ms,
                               int64_t upto_ms) {
  if (upto_ms <= after_ms)
    return 0;
  return coin_tf_count(tf, coin_tf_next(tf, after_ms), upto_ms);
}

static void describe(struct mon_series *s) {
  char t_next[COIN_TF_UTC_TEXT_BYTES] = "?", t_wm[COIN_TF_UTC_TEXT_BYTES] = "?";
  enum coin_tf tf = s->tf;
  int64_t site = s->last_open_ms;
  s->publish_lag_candles = site >= 0 && s->ingest_wm_ms >= 0
                               ? candles_between(tf, site, s->ingest_wm_ms)
                               : -1;
  s->site_lag_candles = site >= 0 && s->publish_wm_ms >= 0
                            ? candles_between(tf, site, s->publish_wm_ms)
                            : -1;
  s->site_ahead = site >= 0 && s->ingest_wm_ms >= 0 && site > s->ingest_wm_ms;
  s->cause = NULL;
  enum coin_fresh_state st = s->fresh.state;
  if (st != COIN_STATE_SOFT_STALE && st != COIN_STATE_HARD_STALE) {
    if (s->site_ahead && s->detail[0] == '\0')
      snprintf(s->detail, sizeof(s->detail),
               "site shows candles beyond the ingest watermark (rule: publish "
               "never exposes a candle beyond it)");
    return;
  }
  if (s->ingest_wm_ms < 0 || s->ingest_wm_ms <= site)
    s->cause = "ingest";
  else if (s->publish_wm_ms >= 0 && s->publish_wm_ms > site)
    s->cause = "site";
  else
    s->cause = "publish";
  coin_tf_format_utc(t_next, sizeof(t_next), coin_tf_next(tf, site));
  if (s->ingest_wm_ms >= 0)
    coin_tf_format_utc(t_wm, sizeof(t_wm), s->ingest_wm_ms);
  const char *why =
      !strcmp(s->cause, "ingest")
          ? (s->ingest_wm_ms < 0 ? "no ingest watermark in KV"
                                 : "ingest has stored nothing newer")
      : !strcmp(s->cause, "site")
          ? "publish watermark is ahead of the files users see"
          : "ingest is ahead, publish has not written it";
  snprintf(
      s->detail, sizeof(s->detail),
      "candle %s overdue %llds (%lld missing); %s (ingest watermark %s, "
      "%lld candles ahead of the site)",
      t_next, (long long)(s->fresh.overdue_ms / 1000),
      (long long)s->fresh.missing_candles, why, t_wm,
      (long long)(s->publish_lag_candles < 0 ? 0 : s->publish_lag_candles));
}

/* Details quote file content (names, paths): keep them printable ASCII, so
 * any cut is safe and alerts always pass the codec's UTF-8 rule. */
static void ascii_only(char *text) {
  for (unsigned char *p = (unsigned char *)text; *p; p++)
    if (*p < 0x20 || *p > 0x7e)
      *p = '?';
}

/* The observation fields a pending (unconfirmed) pass must not disturb. */
struct obs_saved {
  int64_t last_open_ms, n_candles;
  bool observed, degraded_known, obs_degraded;
  unsigned obs_reasons;
  char detail[MON_DETAIL_BYTES];
  int64_t announced_soft_ms, announced_hard_ms;
};

void site_observe(struct monitor *m, struct mon_series *s, int64_t now_ms) {
  bool corrupt = false;
  struct obs_saved saved = {
      s->last_open_ms,     s->n_candles,   s->observed, s->degraded_known,
      s->obs_degraded,     s->obs_reasons, "",          s->announced_soft_ms,
      s->announced_hard_ms};
  memcpy(saved.detail, s->detail, sizeof(saved.detail));
  s->observed = true;
  s->pending = false;
  s->recheck_at_ms = 0;
  s->last_open_ms = -1;
  s->n_candles = 0;
  s->announced_soft_ms = s->announced_hard_ms = -1;
  s->degraded_known = false;
  s->obs_degraded = false;
  s->obs_reasons = 0;
  s->detail[0] = '\0';

  bool listed = s->man.gen == m->man_gen && m->man_gen != 0;
  if (m->manifest_state == MON_MANIFEST_MISSING) {
    snprintf(s->detail, sizeof(s->detail), "%s", m->manifest_err);
  } else if (m->manifest_state == MON_MANIFEST_BAD) {
    corrupt = true;
    snprintf(s->detail, sizeof(s->detail), "%s", m->manifest_err);
  } else if (!listed) {
    snprintf(s->detail, sizeof(s->detail),
             "not listed in manifest.json (publish has not written it)");
  } else if (s->man.bad) {
    corrupt = true;
    snprintf(s->detail, sizeof(s->detail), "%s",
             s->man.err ? s->man.err : "manifest.json: bad entry");
  } else {
    s->degraded_known = true;
    s->obs_degraded = s->man.degraded;
    s->obs_reasons = s->man.reasons;
    for (size_t i = 0; i < s->man.n_files && !corrupt; i++) {
      enum verdict v = verify_file(m, s, i, now_ms);
      if (v == FILE_CORRUPT)
        corrupt = true;
      else if (v == FILE_PENDING)
        s->pending = true;
    }
    if (s->pending && !corrupt) {
      /* confirm at recheck_at_ms; until then the last observation stands */
      s->observed = saved.observed;
      s->last_open_ms = saved.last_open_ms;
      s->n_candles = saved.n_candles;
      s->degraded_known = saved.degraded_known;
      s->obs_degraded = saved.obs_degraded;
      s->obs_reasons = saved.obs_reasons;
      s->announced_soft_ms = saved.announced_soft_ms;
      s->announced_hard_ms = saved.announced_hard_ms;
      memcpy(s->detail, saved.detail, sizeof(s->detail));
      return;
    }
    bool history_previous = false; /* still the content before the update */
    for (size_t i = 0; i < s->man.n_files && !corrupt; i++) {
      const struct mon_file_cache *c = &s->man.cache[i];
      const struct mon_file *f = &s->man.files[i];
      if (f->kind == MON_FILE_HISTORY) {
        s->last_open_ms = c->last_open_ms;
        s->n_candles = c->n_candles;
        s->announced_soft_ms = c->announced_soft_ms;
        s->announced_hard_ms = c->announced_hard_ms;
        history_previous = f->has_previous &&
                           memcmp(c->sha256, f->sha256, COIN_SHA256_BYTES) != 0;
      } else if (s->man.files[i].kind == MON_FILE_PREDICTION) {
        s->obs_degraded |= c->degraded;
        s->obs_reasons |= c->reasons;
      }
    }
    if (!corrupt && !history_previous && s->man.last_open_ms >= 0 &&
        s->last_open_ms >= 0 && s->man.last_open_ms != s->last_open_ms) {
      corrupt = true;
      snprintf(s->detail, sizeof(s->detail),
               "manifest.json says last candle %lld, history.json holds %lld "
               "(rule: they agree)",
               (long long)s->man.last_open_ms, (long long)s->last_open_ms);
    }
    if (corrupt) {
      s->degraded_known = false;
      s->last_open_ms = -1;
      s->n_candles = 0;
    } else if (s->last_open_ms < 0) {
      snprintf(s->detail, sizeof(s->detail), "history.json holds no candle");
    }
  }
  struct coin_freshness_input in = {.tf = s->tf,
                                    .last_open_ms = s->last_open_ms,
                                    .n_candles = s->n_candles,
                                    .corrupt = corrupt};
  coin_freshness_eval(&s->fresh, &m->cfg->policy, &in, now_ms);
  describe(s);
  ascii_only(s->detail);
}
