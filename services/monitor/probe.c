/* probe.c: the availability probe. Its own thread fetches the site over HTTP
 * as a user does, at MONITOR_SITE_URL, every MONITOR_PROBE_INTERVAL_SECONDS:
 * manifest.json (a site artifact by lib/site.h), then a rotating sample of
 * MON_PROBE_SAMPLE files it lists, each checked for the announced size and
 * sha256 (or, during a transition, the announced previous ones, as site.c
 * accepts them) and, for the history and prediction documents, for their
 * announced validity: a file served past its hard_stale instant is bad. A
 * probe is good or bad with a one-line reason; the SLI (probe_sli.c) is
 * good/all per window against MONITOR_PROBE_SLO, and each multi-window burn
 * rule raises the global alert CoinSiteAvailabilityBurn (target = the rule's
 * name). The SLI is kept in memory: a restart starts it empty (the first
 * evaluation resolves any burn alert a previous process left firing).
 *
 * Never logged or shown: the URL's user-info (requests use it; texts carry
 * the redacted URL or only paths). */
#include "monitor_int.h"

#include "coin/clock.h"
#include "coin/error.h"
#include "coin/hmac.h"
#include "coin/jbuf.h"
#include "coin/log.h"
#include "coin/redact.h"
#include "coin/site.h"
#include "jscan.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MON_PROBE_SAMPLE 3
#define MON_PROBE_MAX_FILES 4096
#define MON_PROBE_ALERT "CoinSiteAvailabilityBurn"

/* The SLI windows reported (status.json, /metrics). */
static const struct {
  const char *name;
  int minutes;
} windows[] = {
    {"5m", 5},     {"30m", 30},  {"1h", 60},    {"6h", 360},
    {"24h", 1440}, {"3d", 4320}, {"7d", 10080}, {"30d", PROBE_SLI_MINUTES}};
#define N_WINDOWS (sizeof(windows) / sizeof(windows[0]))

struct mon_probe {
  struct monitor *m;
  char *url;              /* base URL as configured ("/"-terminated) */
  char log_url[512];      /* redacted */
  int64_t interval_ms;    /* MONITOR_PROBE_INTERVAL_SECONDS */
  double slo;             /* MONITOR_PROBE_SLO */
  struct coin_http *http; /* used by the probe thread only */
  pthread_t thread;
  bool started;
  atomic_bool stop;
  size_t cursor; /* rotation of the sample (probe thread only) */
  struct mon_listed_file *files;

  pthread_mutex_t lock; /* everything below */
  struct probe_sli sli;
  uint64_t good_total, bad_total;
  bool have_last;
  bool last_good;
  char last_reason[320];
  int64_t last_ms;
  double last_seconds;
  bool evaluated; /* burn rules evaluated once (first call resolves) */
  bool firing[PROBE_BURN_RULES];
};

static void reason(char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reason(char *out, size_t n, const char *fmt, ...) {
  char raw[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof(raw), fmt, ap);
  va_end(ap);
  coin_redact_text(out, n, raw); /* library texts may echo the URL */
}

/* ---- manifest: the files it lists --------------------------------------- */

static bool path_ok(const char *p) {
  if (p[0] == '\0' || p[0] == '/' || strstr(p, "..") != NULL)
    return false;
  for (; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-' ||
          *p == '/'))
      return false;
  return true;
}

static bool sha_ok(const char *s) {
  if (strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

/* Reads one "files" element (the '{' was read) and checks it; 0, or -1
 * with why set. */
static int take_file(struct jscan *js, struct mon_listed_file *f, char *why,
                     size_t wn) {
  if (site_take_listed_file(js, f) != 0) {
    jscan_error(js, why, wn);
    return -1;
  }
  if (!path_ok(f->path)) {
    snprintf(why, wn,
             "manifest.json: a files[].path is not a relative path of "
             "[A-Za-z0-9._/-] (\"%.60s\")",
             f->path);
    return -1;
  }
  if (f->bytes < 0 || !sha_ok(f->sha)) {
    snprintf(why, wn,
             "manifest.json: %s: bytes (integer >= 0) and sha256 (64 "
             "lower-case hex) required",
             f->path);
    return -1;
  }
  if ((f->prev_bytes != -1 || f->has_prev_sha) &&
      (f->prev_bytes < 0 || !sha_ok(f->prev_sha))) {
    snprintf(why, wn,
             "manifest.json: %s: previous_bytes and previous_sha256 go "
             "together",
             f->path);
    return -1;
  }
  return 0;
}

/* A file take_file accepted is listed with its previous size and digest
 * too (a transition manifest). */
static bool has_prev(const struct mon_listed_file *f) {
  return f->prev_bytes >= 0;
}

/* The files listed under series[].files; count, or -1 with why set. */
static int list_files(struct mon_probe *p, const char *buf, size_t len,
                      char *why, size_t wn) {
  struct jscan js;
  char err[160];
  int n = 0;
  jscan_init(&js, buf, len);
  for (;;) {
    enum jtok t = jscan_next(&js);
    if (t == J_EOF)
      return n;
    if (t == J_ERR) {
      jscan_error(&js, err, sizeof(err));
      snprintf(why, wn, "manifest.json: JSON error %s", err);
      return -1;
    }
    if (t != J_KEY || !jscan_is(&js, "files"))
      continue;
    t = jscan_next(&js);
    if (t != J_ARR) {
      if (t == J_OBJ || t == J_ARR)
        jscan_skip(&js);
      continue;
    }
    for (;;) {
      t = jscan_next(&js);
      if (t == J_ARR_END)
        break;
      if (t != J_OBJ) {
        snprintf(why, wn, "manifest.json: a files[] element is not an object");
        return -1;
      }
      if (n >= MON_PROBE_MAX_FILES) {
        snprintf(why, wn, "manifest.json: more than %d files",
                 MON_PROBE_MAX_FILES);
        return -1;
      }
      if (take_file(&js, &p->files[n], why, wn) != 0)
        return -1;
      n++;
    }
  }
}

/* ---- one probe ---------------------------------------------------------- */

static int get(struct mon_probe *p, struct coin_http_response *r,
               const char *path, char *why, size_t wn) {
  size_t ul = strlen(p->url);
  char *url = malloc(ul + strlen(path) + 1);
  if (url == NULL) {
    snprintf(why, wn, "%s: out of memory", path);
    return -1;
  }
  memcpy(url, p->url, ul);
  strcpy(url + ul, path);
  memset(r, 0, sizeof(*r));
  int rc = coin_http_request(p->http, r, "GET", url, NULL, NULL, 0);
  free(url);
  if (rc != 0) {
    reason(why, wn, "%s: %s (%s)", path,
           rc == COIN_ETIMEOUT  ? "timed out"
           : rc == COIN_ETOOBIG ? "larger than MONITOR_MAX_FILE_BYTES"
                                : "unreachable",
           coin_error_last());
    coin_http_response_clear(r);
    return -1;
  }
  if (r->status != 200) {
    snprintf(why, wn, "%s: HTTP %ld", path, r->status);
    coin_http_response_clear(r);
    return -1;
  }
  return 0;
}

static bool is_document(const char *path) {
  const char *base = strrchr(path, '/');
  enum coin_site_file f;
  base = base ? base + 1 : path;
  return coin_site_file_parse(&f, base) == 0 &&
         (f == COIN_SITE_HISTORY || f == COIN_SITE_PREDICTION);
}

/* Fetches and checks one listed file; true when good. */
static bool check_file(struct mon_probe *p, const struct mon_listed_file *f,
                       int64_t now_ms, char *why, size_t wn) {
  struct coin_http_response r;
  if (get(p, &r, f->path, why, wn) != 0)
    return false;
  char hex[COIN_SHA256_HEX_BYTES];
  bool ok = true;
  if (coin_sha256_hex(hex, r.body, r.body_len) != 0) {
    snprintf(why, wn, "%s: sha256 failed", f->path);
    ok = false;
  } else {
    bool cur = (int64_t)r.body_len == f->bytes && strcmp(hex, f->sha) == 0;
    bool prev = has_prev(f) && (int64_t)r.body_len == f->prev_bytes &&
                strcmp(hex, f->prev_sha) == 0;
    if (!cur && !prev) {
      if ((int64_t)r.body_len != f->bytes && !has_prev(f))
        snprintf(why, wn, "%s: %zu bytes served, manifest announces %lld",
                 f->path, r.body_len, (long long)f->bytes);
      else
        snprintf(why, wn,
                 "%s: sha256 %.12s... served does not match the manifest",
                 f->path, hex);
      ok = false;
    }
  }
  if (ok && is_document(f->path)) {
    struct coin_site_head h;
    if (coin_site_read_head(&h, r.body, r.body_len) != 0) {
      reason(why, wn, "%s: %s", f->path, coin_error_last());
      ok = false;
    } else if (coin_site_validity_now(&h.v, now_ms) == COIN_STATE_HARD_STALE &&
               h.v.hard_at_ms >= 0 && now_ms > h.v.hard_at_ms) {
      char at[COIN_TF_UTC_TEXT_BYTES];
      if (coin_tf_format_utc(at, sizeof(at), h.v.hard_at_ms) != 0)
        snprintf(at, sizeof(at), "%lld ms", (long long)h.v.hard_at_ms);
      snprintf(why, wn, "%s: served past its hard_stale instant %s", f->path,
               at);
      ok = false;
    }
  }
  coin_http_response_clear(&r);
  return ok;
}

/* One probe at now_ms; true when good, else why says what failed. */
static bool probe_once(struct mon_probe *p, int64_t now_ms, char *why,
                       size_t wn) {
  struct coin_http_response r;
  if (get(p, &r, "manifest.json", why, wn) != 0)
    return false;
  struct coin_site_head h;
  if (coin_site_read_head(&h, r.body, r.body_len) != 0) {
    reason(why, wn, "manifest.json: %s", coin_error_last());
    coin_http_response_clear(&r);
    return false;
  }
  int n = list_files(p, r.body, r.body_len, why, wn);
  coin_http_response_clear(&r);
  if (n < 0)
    return false;
  if (n == 0) {
    snprintf(why, wn, "manifest.json: lists no files");
    return false;
  }
  int k = n < MON_PROBE_SAMPLE ? n : MON_PROBE_SAMPLE;
  size_t first = p->cursor % (size_t)n;
  p->cursor = first + (size_t)k;
  for (int i = 0; i < k; i++)
    if (!check_file(p, &p->files[(first + (size_t)i) % (size_t)n], now_ms, why,
                    wn))
      return false;
  snprintf(why, wn, "ok: manifest and %d of %d files", k, n);
  return true;
}

/* ---- SLI and alerts ----------------------------------------------------- */

/* A rule needs the short window half covered by probes (a fresh start's
 * first bad probe is not a page). */
static bool covered(const struct mon_probe *p, int64_t now_ms,
                    const struct probe_burn_rule *r) {
  uint64_t g, a;
  probe_sli_window(&p->sli, now_ms, r->short_minutes, &g, &a);
  int64_t want = (int64_t)r->short_minutes * 60000 / p->interval_ms / 2;
  return (int64_t)a >= (want > 1 ? want : 1);
}

/* Counts one probe result and evaluates the burn rules (raising or
 * resolving CoinSiteAvailabilityBurn); the probe thread calls it. */
static void probe_record(struct mon_probe *p, int64_t now_ms, bool good,
                         const char *why, double seconds) {
  bool change[PROBE_BURN_RULES] = {false};
  bool firing[PROBE_BURN_RULES];
  double lr[PROBE_BURN_RULES], sr[PROBE_BURN_RULES];
  pthread_mutex_lock(&p->lock);
  probe_sli_record(&p->sli, now_ms, good);
  if (good)
    p->good_total++;
  else
    p->bad_total++;
  p->have_last = true;
  p->last_good = good;
  snprintf(p->last_reason, sizeof(p->last_reason), "%s", why);
  p->last_ms = now_ms;
  p->last_seconds = seconds;
  for (int i = 0; i < PROBE_BURN_RULES; i++) {
    firing[i] = probe_burn_firing(&p->sli, now_ms, p->slo, &probe_burn_rules[i],
                                  &lr[i], &sr[i]) &&
                covered(p, now_ms, &probe_burn_rules[i]);
    change[i] = !p->evaluated || firing[i] != p->firing[i];
    p->firing[i] = firing[i];
  }
  p->evaluated = true;
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < PROBE_BURN_RULES; i++) {
    if (!change[i])
      continue;
    const struct probe_burn_rule *r = &probe_burn_rules[i];
    char summary[256];
    snprintf(summary, sizeof(summary),
             "site availability burns the error budget of SLO %.4g: %.1fx "
             "over %dm and %.1fx over %dm (threshold %.4gx)",
             p->slo, lr[i], r->long_minutes, sr[i], r->short_minutes, r->rate);
    mon_global_set(p->m, MON_PROBE_ALERT, r->name, r->severity, firing[i],
                   now_ms, summary);
  }
}

/* ---- thread ------------------------------------------------------------- */

static void *probe_main(void *arg) {
  struct mon_probe *p = arg;
  int64_t next = coin_mono_ms();
  while (!atomic_load(&p->stop) && !p->m->stop) {
    int64_t now = coin_mono_ms();
    if (now < next) {
      int64_t slice = next - now < 100 ? next - now : 100;
      struct timespec ts = {.tv_sec = 0, .tv_nsec = slice * 1000000L};
      nanosleep(&ts, NULL);
      continue;
    }
    next += p->interval_ms;
    if (next < now)
      next = now + p->interval_ms; /* fell behind: no burst */
    char why[320];
    int64_t wall = coin_now_ms();
    bool good = probe_once(p, wall, why, sizeof(why));
    double secs = (double)(coin_mono_ms() - now) / 1000.0;
    bool was_good = true, had = false;
    pthread_mutex_lock(&p->lock);
    had = p->have_last;
    was_good = p->last_good;
    pthread_mutex_unlock(&p->lock);
    if (!good && (!had || was_good))
      COIN_LOG_WARN("site probe bad", COIN_LOG_STR("url", p->log_url),
                    COIN_LOG_STR("reason", why));
    else if (good && had && !was_good)
      COIN_LOG_INFO("site probe good again", COIN_LOG_STR("url", p->log_url));
    probe_record(p, wall, good, why, secs);
  }
  return NULL;
}

int probe_new(struct mon_probe **out, struct monitor *m, const char *url,
              int64_t interval_seconds, double slo) {
  *out = NULL;
  struct mon_probe *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return coin_error_set(COIN_ENOMEM, "site probe: out of memory");
  p->m = m;
  p->interval_ms = (interval_seconds > 0 ? interval_seconds : 1) * 1000;
  p->slo = slo;
  pthread_mutex_init(&p->lock, NULL);
  probe_sli_init(&p->sli);
  atomic_init(&p->stop, false);
  if (url != NULL) {
    p->url = strdup(url);
    p->files = calloc(MON_PROBE_MAX_FILES, sizeof(*p->files));
    if (p->url == NULL || p->files == NULL) {
      probe_free(p);
      return coin_error_set(COIN_ENOMEM, "site probe: out of memory");
    }
    coin_redact_urls(p->log_url, sizeof(p->log_url), url);
  }
  *out = p;
  return 0;
}

int probe_start(struct mon_probe *p) {
  if (p == NULL || p->url == NULL)
    return 0; /* MONITOR_SITE_URL unset: no probe */
  int64_t max_bytes = p->m && p->m->cfg ? p->m->cfg->max_file_bytes : 0;
  struct coin_http_opts o = {
      .connect_timeout_ms = 5000,
      .timeout_ms = p->interval_ms < 10000 ? 10000 : p->interval_ms,
      .max_body_bytes = max_bytes > 0 ? (size_t)max_bytes : 0,
      .user_agent = "coin-monitor-probe"};
  int rc = coin_http_new(&p->http, &o);
  if (rc != 0)
    return rc;
  if (pthread_create(&p->thread, NULL, probe_main, p) != 0)
    return coin_error_set(COIN_EINTERNAL, "site probe: thread start failed");
  p->started = true;
  COIN_LOG_INFO("site probe", COIN_LOG_STR("url", p->log_url),
                COIN_LOG_INT("interval_seconds", p->interval_ms / 1000),
                COIN_LOG_DBL("slo", p->slo));
  return 0;
}

void probe_free(struct mon_probe *p) {
  if (p == NULL)
    return;
  if (p->started) {
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
  }
  coin_http_free(p->http);
  pthread_mutex_destroy(&p->lock);
  free(p->files);
  free(p->url);
  free(p);
}

/* ---- reporting ---------------------------------------------------------- */

/* Good and all probes of each reported window at now_ms (under p->lock). */
struct window_count {
  uint64_t good, all;
};

static void count_windows(struct window_count out[N_WINDOWS],
                          struct mon_probe *p, int64_t now_ms) {
  for (size_t i = 0; i < N_WINDOWS; i++)
    probe_sli_window(&p->sli, now_ms, windows[i].minutes, &out[i].good,
                     &out[i].all);
}

/* good/all, or NaN (printed null) without probes. */
static double sli_of(const struct window_count *w) {
  return w->all > 0 ? (double)w->good / (double)w->all : NAN;
}

void probe_metrics(struct coin_jbuf *b, struct mon_probe *p, int64_t now_ms) {
  if (p == NULL || p->url == NULL)
    return;
  pthread_mutex_lock(&p->lock);
  struct window_count w[N_WINDOWS];
  count_windows(w, p, now_ms);
  coin_jbuf_printf(b,
                   "# HELP coin_monitor_probe_total Site availability probes "
                   "by result.\n"
                   "# TYPE coin_monitor_probe_total counter\n"
                   "coin_monitor_probe_total{result=\"good\"} %llu\n"
                   "coin_monitor_probe_total{result=\"bad\"} %llu\n",
                   (unsigned long long)p->good_total,
                   (unsigned long long)p->bad_total);
  coin_jbuf_printf(b, "# HELP coin_monitor_probe_sli Good probes / all "
                      "probes per window (absent: no probes).\n"
                      "# TYPE coin_monitor_probe_sli gauge\n");
  for (size_t i = 0; i < N_WINDOWS; i++)
    if (w[i].all > 0)
      coin_jbuf_printf(b, "coin_monitor_probe_sli{window=\"%s\"} %.9g\n",
                       windows[i].name, sli_of(&w[i]));
  coin_jbuf_printf(b, "# HELP coin_monitor_probe_burn_rate Error budget burn "
                      "rate per window ((bad/all)/(1-SLO)).\n"
                      "# TYPE coin_monitor_probe_burn_rate gauge\n");
  for (size_t i = 0; i < N_WINDOWS; i++)
    coin_jbuf_printf(b, "coin_monitor_probe_burn_rate{window=\"%s\"} %.9g\n",
                     windows[i].name,
                     probe_burn_rate(w[i].good, w[i].all, p->slo));
  coin_jbuf_printf(b,
                   "# HELP coin_monitor_probe_slo The availability SLO "
                   "(MONITOR_PROBE_SLO).\n"
                   "# TYPE coin_monitor_probe_slo gauge\n"
                   "coin_monitor_probe_slo %.9g\n",
                   p->slo);
  coin_jbuf_printf(b, "# HELP coin_monitor_probe_burn_alert 1 while the burn "
                      "rule fires (CoinSiteAvailabilityBurn).\n"
                      "# TYPE coin_monitor_probe_burn_alert gauge\n");
  for (int i = 0; i < PROBE_BURN_RULES; i++)
    coin_jbuf_printf(b, "coin_monitor_probe_burn_alert{rule=\"%s\"} %d\n",
                     probe_burn_rules[i].name, p->firing[i] ? 1 : 0);
  coin_jbuf_printf(b,
                   "# HELP coin_monitor_probe_last_duration_seconds Duration "
                   "of the last probe.\n"
                   "# TYPE coin_monitor_probe_last_duration_seconds gauge\n"
                   "coin_monitor_probe_last_duration_seconds %.6f\n"
                   "# HELP coin_monitor_probe_last_good 1 when the last "
                   "probe was good.\n"
                   "# TYPE coin_monitor_probe_last_good gauge\n"
                   "coin_monitor_probe_last_good %d\n",
                   p->last_seconds, p->have_last && p->last_good ? 1 : 0);
  pthread_mutex_unlock(&p->lock);
}

void probe_status_json(struct coin_jbuf *b, struct mon_probe *p,
                       int64_t now_ms) {
  coin_jbuf_key(b, "probe");
  if (p == NULL || p->url == NULL) {
    coin_jbuf_puts(b, "null,");
    return;
  }
  pthread_mutex_lock(&p->lock);
  struct window_count w[N_WINDOWS];
  count_windows(w, p, now_ms);
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kstr(b, "url", p->log_url);
  coin_jbuf_kint(b, "interval_seconds", p->interval_ms / 1000);
  coin_jbuf_knum(b, "slo", p->slo);
  coin_jbuf_key(b, "last");
  if (p->have_last) {
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kstr(b, "result", p->last_good ? "good" : "bad");
    coin_jbuf_kstr(b, "reason", p->last_reason);
    coin_jbuf_ktime(b, "at", p->last_ms);
    coin_jbuf_kint(b, "at_ms", p->last_ms);
    coin_jbuf_key(b, "duration_seconds");
    coin_jbuf_num(b, p->last_seconds);
    coin_jbuf_putn(b, "},", 2);
  } else {
    coin_jbuf_puts(b, "null,");
  }
  coin_jbuf_key(b, "totals");
  coin_jbuf_putn(b, "{", 1);
  coin_jbuf_kint(b, "good", (int64_t)p->good_total);
  coin_jbuf_kint(b, "bad", (int64_t)p->bad_total);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
  coin_jbuf_key(b, "windows");
  coin_jbuf_putn(b, "{", 1);
  for (size_t i = 0; i < N_WINDOWS; i++) {
    coin_jbuf_key(b, windows[i].name);
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kint(b, "good", (int64_t)w[i].good);
    coin_jbuf_kint(b, "all", (int64_t)w[i].all);
    coin_jbuf_knum(b, "sli", sli_of(&w[i]));
    coin_jbuf_key(b, "burn_rate");
    coin_jbuf_num(b, probe_burn_rate(w[i].good, w[i].all, p->slo));
    coin_jbuf_putn(b, "},", 2);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
  coin_jbuf_key(b, "burn_rules");
  coin_jbuf_putn(b, "[", 1);
  for (int i = 0; i < PROBE_BURN_RULES; i++) {
    const struct probe_burn_rule *r = &probe_burn_rules[i];
    coin_jbuf_putn(b, "{", 1);
    coin_jbuf_kstr(b, "rule", r->name);
    coin_jbuf_kint(b, "long_minutes", r->long_minutes);
    coin_jbuf_kint(b, "short_minutes", r->short_minutes);
    coin_jbuf_knum(b, "threshold", r->rate);
    coin_jbuf_kstr(b, "severity", coin_codec_severity_name(r->severity));
    coin_jbuf_kbool(b, "firing", p->firing[i]);
    coin_jbuf_trim_comma(b);
    coin_jbuf_putn(b, "},", 2);
  }
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "],", 2);
  coin_jbuf_trim_comma(b);
  coin_jbuf_putn(b, "},", 2);
  pthread_mutex_unlock(&p->lock);
}
