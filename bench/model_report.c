/*
 * model_report.c: the model benchmark (not a test). Loads the real candle
 * files, leaves one symbol out, runs the purged walk-forward of each model
 * kind on the other symbols (1h + 1d pooled in one model, as coin-train
 * does) and scores, per timeframe: the walk-forward rows of the training
 * symbols, and the held-out symbol's rows predicted by the same fold models
 * with the calibration known before each fold (out of symbol and out of
 * time). Persistence is scored on exactly the same rows. Prints Markdown.
 * Then the out-of-time test (model_report_oot, below): the newest slice of
 * each timeframe's time range, after a purge gap, on a symbol held out of
 * training, rotating the held-out symbol; model vs persistence per
 * timeframe, before and after the shrinkage, with a verdict per target.
 * `model_report load URL [--clone N]` writes the candle files into an
 * InfluxDB (N copies under other symbol names) for the training-job
 * measurement in model_report.sh.
 * Single-threaded; run through bench/model_report.sh.
 */
#include "coin/candle_file.h"
#include "coin/error.h"
#include "coin/features.h"
#include "coin/influx.h"
#include "coin/metrics_eval.h"
#include "coin/model.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D COIN_FEATURES_COUNT

struct group_scores {
  struct coin_score s[COIN_TF_COUNT];
};

struct fold_ctx {
  const struct coin_dataset *test;
  struct group_scores *model;
  struct group_scores *shrunk;
  struct group_scores *persist;
};

/* Rows of one candle file whose target closes at or before target_max_ms
 * and whose newest input candle closes at or after feat_min_ms. */
static int add_rows(struct coin_dataset *ds, const char *dir,
                    const char *symbol, enum coin_tf tf, int64_t target_max_ms,
                    int64_t feat_min_ms) {
  struct coin_candle_file *f = NULL;
  int rc = coin_candle_file_load_dir(&f, dir, symbol, tf, 0);
  if (rc == COIN_ENOTFOUND)
    return 0;
  if (rc)
    return rc;
  size_t series;
  if ((rc = coin_dataset_series_index(&series, ds, symbol, tf)) != 0)
    goto out;
  struct coin_features_builder b;
  coin_features_builder_init(&b, tf);
  for (size_t i = 0; i < f->count; i++) {
    struct coin_feature_row row;
    double target;
    rc = coin_features_builder_push(&b, &row, &target, &f->rows[i]);
    if (rc < 0)
      goto out;
    if (rc == 1) {
      int64_t t_feat = coin_tf_next(tf, row.open_ms);
      int64_t t_target = coin_tf_next(tf, t_feat);
      if (t_target <= target_max_ms && t_feat >= feat_min_ms &&
          (rc = coin_dataset_add(ds, &row, target, series)) != 0)
        goto out;
    }
    rc = 0;
  }
out:
  coin_candle_file_free(f);
  return rc;
}

static int add_file(struct coin_dataset *ds, const char *dir,
                    const char *symbol, enum coin_tf tf) {
  return add_rows(ds, dir, symbol, tf, INT64_MAX, INT64_MIN);
}

/* ---- out of time -----------------------------------------------------------
 * The newest `fraction` of a time range is the test slice. Training rows
 * are those whose target closed at or before the cut (the walk-forward that
 * fits the calibration runs inside them); a test row's newest input candle
 * closes at least (feature window + one target horizon) = 98 candles of
 * its timeframe after the cut, so no input candle of a test row overlaps a
 * training target. The held-out symbol rotates: every symbol with test
 * rows is held out once, its rows predicted by the model fitted on the
 * others. The MAE ratio's 95% interval comes from batch means over time
 * (rows of all symbols sorted by time, cut into 20 batches). */

#define OOT_BATCHES 20
#define T_975_19 2.093024054408263 /* Student t, 0.975, 19 df */
#define OOT_GAP_CANDLES (COIN_FEATURES_LOOKBACK + 1)
#define OOT_KINDS 4

struct oot_row {
  int64_t t;
  double y, raw, shrunk, p;
};

struct oot_rows {
  struct oot_row *v;
  size_t n;
};

/* Room for more rows: a held-out symbol's test rows of one timeframe, counted
 * before they are predicted, so each symbol grows each array once. */
static int oot_reserve(struct oot_rows *r, size_t more) {
  if (more == 0)
    return 0;
  struct oot_row *v = realloc(r->v, (r->n + more) * sizeof(*v));
  if (!v)
    return coin_error_set(COIN_ENOMEM, "out of memory");
  r->v = v;
  return 0;
}

static int oot_row_cmp(const void *a, const void *b) {
  int64_t x = ((const struct oot_row *)a)->t,
          y = ((const struct oot_row *)b)->t;
  return x < y ? -1 : x > y;
}

/* MAE(model) / MAE(persistence) with its 95% interval (batch means over
 * time, delta method); v sorted by t. */
static void ratio_ci(double *ratio, double *lo, double *hi,
                     const struct oot_row *v, size_t n, bool shrunk) {
  double m[OOT_BATCHES] = {0}, p[OOT_BATCHES] = {0}, sm = 0, sp = 0;
  for (size_t i = 0; i < n; i++) {
    size_t b = i * OOT_BATCHES / n;
    double pred = shrunk ? v[i].shrunk : v[i].raw;
    m[b] += fabs(v[i].y - pred);
    p[b] += fabs(v[i].y);
    sm += fabs(v[i].y - pred);
    sp += fabs(v[i].y);
  }
  double r = sm / sp, pbar = sp / OOT_BATCHES, ss = 0;
  for (int b = 0; b < OOT_BATCHES; b++)
    ss += (m[b] - r * p[b]) * (m[b] - r * p[b]);
  double se = sqrt(ss / ((double)OOT_BATCHES * (OOT_BATCHES - 1))) / pbar;
  *ratio = r;
  *lo = r - T_975_19 * se;
  *hi = r + T_975_19 * se;
}

static void oot_score(struct coin_score_summary *out, const struct oot_rows *r,
                      int what) { /* 0 persistence, 1 raw, 2 shrunk */
  struct coin_score s = {0};
  for (size_t i = 0; i < r->n; i++) {
    const struct oot_row *x = &r->v[i];
    coin_score_add(&s,
                   what == 0   ? 0
                   : what == 1 ? x->raw
                               : x->shrunk,
                   what == 0 ? 0.5 : x->p, x->y);
  }
  coin_score_summarize(out, &s);
}

struct oot_exp {
  const char *name;
  enum coin_tf train_tf[3], test_tf[3];
  int n_train_tf, n_test_tf;
};

struct oot_opts {
  const char *dir;
  char (*symbols)[33];
  size_t n_symbols;
  const char *kinds[OOT_KINDS];
  int n_kinds;
  const struct coin_model_params *params;
  int folds;
  double test_fraction;
  double oot_fraction;
};

/* Newest close - oldest open over the symbols' files of tf. */
static int tf_range(int64_t *first, int64_t *last, const char *dir,
                    char (*symbols)[33], size_t n, enum coin_tf tf) {
  *first = INT64_MAX;
  *last = INT64_MIN;
  for (size_t i = 0; i < n; i++) {
    struct coin_candle_file *f = NULL;
    int rc = coin_candle_file_load_dir(&f, dir, symbols[i], tf, 0);
    if (rc == COIN_ENOTFOUND)
      continue;
    if (rc)
      return rc;
    if (f->count) {
      if (f->rows[0].open_ms < *first)
        *first = f->rows[0].open_ms;
      int64_t close = coin_tf_next(tf, f->rows[f->count - 1].open_ms);
      if (close > *last)
        *last = close;
    }
    coin_candle_file_free(f);
  }
  return 0;
}

static void utc_day(char *out, size_t n, int64_t ms) {
  char t[COIN_TF_UTC_TEXT_BYTES];
  coin_tf_format_utc(t, sizeof(t), ms);
  snprintf(out, n, "%.16s", t);
}

static void print_oot_row(const char *tf, const char *model,
                          const struct oot_rows *r, int what) {
  struct coin_score_summary m;
  oot_score(&m, r, what);
  char ratio[64] = "1";
  if (what) {
    double q, lo, hi;
    ratio_ci(&q, &lo, &hi, r->v, r->n, what == 2);
    snprintf(ratio, sizeof(ratio), "%.5f [%.5f, %.5f]", q, lo, hi);
  }
  printf("| %s | %s | %llu | %.6f | %s | %.2f%% [%.2f, %.2f] | %.5f |\n", tf,
         model, (unsigned long long)m.n, m.mae, ratio, 100 * m.dir_acc,
         100 * m.dir_lo, 100 * m.dir_hi, m.brier);
}

static int oot_run(const struct oot_opts *o, const struct oot_exp *e) {
  int rc = 0;
  int64_t first = INT64_MAX, last = INT64_MIN;
  for (int j = 0; j < e->n_test_tf; j++) {
    int64_t f, l;
    if ((rc = tf_range(&f, &l, o->dir, o->symbols, o->n_symbols,
                       e->test_tf[j])) != 0)
      return rc;
    if (f < first)
      first = f;
    if (l > last)
      last = l;
  }
  if (first >= last)
    return 0; /* no data for this experiment */
  int64_t cut = last - (int64_t)((double)(last - first) * o->oot_fraction);
  struct oot_rows rows[OOT_KINDS][COIN_TF_COUNT];
  memset(rows, 0, sizeof(rows));
  /* walk-forward figures that decide serving: per kind, tf, rotation */
  int served[OOT_KINDS][COIN_TF_COUNT] = {{0}};
  int rotations = 0;
  FILE *verdict = NULL;
  char *verdict_text = NULL;
  size_t verdict_len = 0;
  char per_symbol[16384] = "";
  size_t ps_len = 0;
  char d0[24], d1[24], d2[24];
  utc_day(d0, sizeof(d0), first);
  utc_day(d1, sizeof(d1), cut);
  utc_day(d2, sizeof(d2), last);
  printf("\n### Out of time: %s\n\nTime range %s .. %s; training targets "
         "close at or before %s (the newest %.0f%% is the test slice); test "
         "rows start %d candles of their timeframe later (feature window + "
         "one target horizon). Trained on:",
         e->name, d0, d2, d1, 100 * o->oot_fraction, OOT_GAP_CANDLES);
  for (int j = 0; j < e->n_train_tf; j++)
    printf(" %s", coin_tf_name(e->train_tf[j]));
  printf(". Held out in turn:");
  fflush(stdout);
  for (size_t h = 0; h < o->n_symbols && rc == 0; h++) {
    struct coin_dataset train = {0}, test = {0};
    for (int j = 0; j < e->n_test_tf && rc == 0; j++) {
      enum coin_tf tf = e->test_tf[j];
      rc = add_rows(&test, o->dir, o->symbols[h], tf, INT64_MAX,
                    cut + OOT_GAP_CANDLES * coin_tf_nominal_ms(tf));
    }
    if (rc == 0 && test.n == 0) {
      coin_dataset_free(&test);
      continue;
    }
    for (size_t i = 0; i < o->n_symbols && rc == 0; i++)
      for (int j = 0; j < e->n_train_tf && rc == 0 && i != h; j++)
        rc = add_rows(&train, o->dir, o->symbols[i], e->train_tf[j], cut,
                      INT64_MIN);
    if (rc == 0)
      rc = coin_dataset_sort(&train);
    if (rc == 0)
      rc = coin_dataset_sort(&test);
    size_t test_rows[COIN_TF_COUNT] = {0};
    for (size_t i = 0; i < test.n; i++)
      test_rows[test.tf[i]]++;
    rotations++;
    printf(" %s", o->symbols[h]);
    fflush(stdout);
    for (int k = 0; k < o->n_kinds && rc == 0; k++) {
      struct coin_wf_options wo = {.kind = o->kinds[k],
                                   .params = o->params,
                                   .folds = o->folds,
                                   .test_fraction = o->test_fraction};
      struct coin_wf_result r;
      struct coin_model *m = NULL;
      if ((rc = coin_wf_run(&r, &train, &wo)) != 0)
        break;
      /* serving's rule on this model's walk-forward (served predictions) */
      struct coin_score wfm[COIN_TF_COUNT] = {{0}}, wfp[COIN_TF_COUNT] = {{0}};
      for (size_t i = 0; i < train.n; i++)
        if (!isnan(r.p_up[i])) {
          coin_score_add(&wfm[train.tf[i]], r.z_served[i] * train.scale[i],
                         r.p_up[i], train.y[i]);
          coin_score_add(&wfp[train.tf[i]], 0, 0.5, train.y[i]);
        }
      for (int t = 0; t < COIN_TF_COUNT; t++)
        if (wfm[t].n && wfm[t].sum_abs <= wfp[t].sum_abs)
          served[k][t]++;
      struct coin_calibration cal = r.cal;
      coin_wf_result_free(&r);
      if ((rc = coin_model_fit(&m, o->kinds[k], &train, 0, train.n,
                               o->params)) != 0)
        break;
      coin_model_set_calibration(m, &cal);
      struct coin_score sr[COIN_TF_COUNT] = {{0}}, ss[COIN_TF_COUNT] = {{0}},
                        sp[COIN_TF_COUNT] = {{0}};
      for (int t = 0; t < COIN_TF_COUNT && rc == 0; t++)
        rc = oot_reserve(&rows[k][t], test_rows[t]);
      for (size_t i = 0; i < test.n && rc == 0; i++) {
        double z;
        if ((rc = coin_model_predict_z(m, &z, test.x + i * D, 1)) != 0)
          break;
        enum coin_tf tf = (enum coin_tf)test.tf[i];
        struct oot_row x = {.t = test.t_feat_ms[i],
                            .y = test.y[i],
                            .raw = z * test.scale[i],
                            .shrunk = coin_calibration_shrink(&cal, tf, z) *
                                      test.scale[i],
                            .p = coin_calibration_p_up(&cal, tf, z)};
        rows[k][tf].v[rows[k][tf].n++] = x;
        coin_score_add(&sr[tf], x.raw, x.p, x.y);
        coin_score_add(&ss[tf], x.shrunk, x.p, x.y);
        coin_score_add(&sp[tf], 0, 0.5, x.y);
      }
      for (int j = 0; j < e->n_test_tf && rc == 0; j++) {
        enum coin_tf tf = e->test_tf[j];
        struct coin_score_summary a, b, c;
        coin_score_summarize(&a, &sr[tf]);
        coin_score_summarize(&b, &ss[tf]);
        coin_score_summarize(&c, &sp[tf]);
        if (!a.n)
          continue;
        int w = snprintf(
            per_symbol + ps_len, sizeof(per_symbol) - ps_len,
            "| %s | %s | %s | %llu | %.3f | %.4f | %.4f | %.2f%% "
            "| %s |\n",
            o->symbols[h], o->kinds[k], coin_tf_name(tf),
            (unsigned long long)a.n, coin_calibration_shrink_factor(&cal, tf),
            a.mae / c.mae, b.mae / c.mae, 100 * a.dir_acc,
            wfm[tf].n && wfm[tf].sum_abs <= wfp[tf].sum_abs ? "yes" : "no");
        if (w > 0 && (size_t)w < sizeof(per_symbol) - ps_len)
          ps_len += (size_t)w;
      }
      coin_model_free(m);
    }
    coin_dataset_free(&train);
    coin_dataset_free(&test);
  }
  printf(".\n\n");
  if (rc)
    goto out;
  /* one pass over the (tf, kind) cells: the accuracy table goes out now,
   * the verdict table (printed after the per-symbol one) into verdict */
  if (!(verdict = open_memstream(&verdict_text, &verdict_len))) {
    rc = coin_error_set(COIN_ENOMEM, "out of memory");
    goto out;
  }
  printf("| tf | model | n | MAE | MAE / persistence [95%% CI] | directional "
         "accuracy [95%% CI] | Brier |\n|---|---|---|---|---|---|---|\n");
  fprintf(verdict,
          "\nVerdict (the served model: shrunk; targets: MAE <= persistence, "
          "1h direction >= 52%% with the CI's lower bound above 50%%, Brier < "
          "0.25):\n\n| tf | model | MAE <= persistence | direction | Brier < "
          "0.25 | served by the rule |\n|---|---|---|---|---|---|\n");
  for (int j = 0; j < e->n_test_tf; j++) {
    enum coin_tf tf = e->test_tf[j];
    for (int k = 0; k < o->n_kinds; k++) {
      struct oot_rows *r = &rows[k][tf];
      if (!r->n)
        continue;
      qsort(r->v, r->n, sizeof(*r->v), oot_row_cmp);
      char name[64];
      if (k == 0)
        print_oot_row(coin_tf_name(tf), "persistence", r, 0);
      print_oot_row(coin_tf_name(tf), o->kinds[k], r, 1);
      snprintf(name, sizeof(name), "%s + shrink", o->kinds[k]);
      print_oot_row(coin_tf_name(tf), name, r, 2);

      struct coin_score_summary m;
      oot_score(&m, r, 2);
      double q, lo, hi;
      ratio_ci(&q, &lo, &hi, r->v, r->n, true);
      bool dir_met = m.dir_acc >= 0.52 && m.dir_lo > 0.5;
      char dir[96];
      if (tf == COIN_TF_1H)
        snprintf(dir, sizeof(dir), "%s (%.2f%%, lower %.2f%%)",
                 dir_met ? "**met**" : "not met", 100 * m.dir_acc,
                 100 * m.dir_lo);
      else
        snprintf(dir, sizeof(dir), "no target (%.2f%% [%.2f, %.2f])",
                 100 * m.dir_acc, 100 * m.dir_lo, 100 * m.dir_hi);
      fprintf(verdict,
              "| %s | %s + shrink | %s (%.5f [%.5f, %.5f]) | %s | %s (%.5f) | "
              "%d of %d rotations |\n",
              coin_tf_name(tf), o->kinds[k], q <= 1 ? "**met**" : "not met", q,
              lo, hi, dir, m.brier < 0.25 ? "**met**" : "not met", m.brier,
              served[k][tf], rotations);
    }
  }
  if (fclose(verdict) != 0) {
    verdict = NULL;
    rc = coin_error_set(COIN_ENOMEM, "out of memory");
    goto out;
  }
  verdict = NULL;
  printf("\nPer held-out symbol (k: the shrink factor fitted on the "
         "walk-forward; served: walk-forward MAE <= persistence, serving's "
         "rule):\n\n| held out | model | tf | n | k | MAE ratio | MAE ratio "
         "shrunk | direction | served |\n|---|---|---|---|---|---|---|---|---|"
         "\n%s%s",
         per_symbol, verdict_text);
out:
  if (verdict)
    fclose(verdict);
  free(verdict_text);
  for (int k = 0; k < OOT_KINDS; k++)
    for (int t = 0; t < COIN_TF_COUNT; t++)
      free(rows[k][t].v);
  return rc;
}

static int on_fold(void *ud, int block, const struct coin_model *m,
                   const struct coin_calibration *cal, int64_t lo, int64_t hi) {
  struct fold_ctx *c = ud;
  if (block == 0)
    return 0; /* warm-up: calibration only */
  for (size_t i = 0; i < c->test->n; i++) {
    if (c->test->t_feat_ms[i] < lo || c->test->t_feat_ms[i] >= hi)
      continue;
    double z;
    int rc = coin_model_predict_z(m, &z, c->test->x + i * D, 1);
    if (rc)
      return rc;
    enum coin_tf tf = (enum coin_tf)c->test->tf[i];
    double p = coin_calibration_p_up(cal, tf, z);
    coin_score_add(&c->model->s[tf], z * c->test->scale[i], p, c->test->y[i]);
    coin_score_add(&c->shrunk->s[tf],
                   coin_calibration_shrink(cal, tf, z) * c->test->scale[i], p,
                   c->test->y[i]);
    coin_score_add(&c->persist->s[tf], 0, 0.5, c->test->y[i]);
  }
  return 0;
}

static void print_row(const char *what, const char *kind, enum coin_tf tf,
                      const struct coin_score *s) {
  struct coin_score_summary m;
  coin_score_summarize(&m, s);
  if (m.n == 0)
    return;
  printf("| %s | %s | %s | %llu | %.6f | %.6f | %.2f%% [%.2f, %.2f] | "
         "%.5f |\n",
         what, coin_tf_name(tf), kind, (unsigned long long)m.n, m.mae, m.rmse,
         100 * m.dir_acc, 100 * m.dir_lo, 100 * m.dir_hi, m.brier);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Writes every 1h and 1d file into InfluxDB at url, clones times (copy k
 * of SYMBOL is named SYMBOL_Ck, k >= 1). */
static int load_influx(const char *dir, const char *url, int clones) {
  struct coin_influx_options o;
  struct coin_influx *ix = NULL;
  coin_influx_options_init(&o);
  o.url = url;
  int rc = coin_influx_new(&ix, &o);
  if (rc == 0)
    rc = coin_influx_create_db(ix);
  DIR *dh = rc == 0 ? opendir(dir) : NULL;
  struct dirent *de;
  size_t total = 0;
  while (dh && rc == 0 && (de = readdir(dh)) != NULL) {
    char sym[33];
    enum coin_tf tf;
    if (coin_candle_file_name_parse(sym, sizeof(sym), &tf, de->d_name) != 0 ||
        (tf != COIN_TF_1H && tf != COIN_TF_1D))
      continue;
    struct coin_candle_file *f = NULL;
    if ((rc = coin_candle_file_load_dir(&f, dir, sym, tf, 0)) != 0)
      break;
    for (int k = 0; k <= clones && rc == 0; k++) {
      char name[48];
      if (k == 0)
        snprintf(name, sizeof(name), "%s", sym);
      else
        snprintf(name, sizeof(name), "%.28s_C%d", sym, k % 1000);
      rc = coin_influx_write_candles(ix, "binance", name, coin_tf_name(tf),
                                     f->rows, f->count);
      total += f->count;
    }
    coin_candle_file_free(f);
  }
  if (dh)
    closedir(dh);
  coin_influx_free(ix);
  if (rc) {
    fprintf(stderr, "model_report load: %s\n", coin_error_last());
    return 1;
  }
  fprintf(stderr, "model_report load: %zu candles written\n", total);
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = getenv("COIN_SHARED_DATA_DIR");
  if (argc >= 3 && !strcmp(argv[1], "load")) {
    int clones = argc >= 5 && !strcmp(argv[3], "--clone") ? atoi(argv[4]) : 0;
    if (!dir) {
      fprintf(stderr, "model_report: set COIN_SHARED_DATA_DIR\n");
      return 2;
    }
    return load_influx(dir, argv[2], clones);
  }
  const char *test_symbol = "XRPUSDT";
  const char *kinds = "ridge,xgboost";
  int folds = 4;
  bool tune = false;     /* --tune: never look at the held-out symbol */
  bool describe = false; /* print each kind's model fitted on all rows */
  double test_fraction = 0.5;
  double oot_fraction = 0.2; /* the newest share of time: out-of-time test */
  bool in_time = true, oot = true;
  struct coin_model_params params;
  coin_model_params_default(&params);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--data") && i + 1 < argc)
      dir = argv[++i];
    else if (!strcmp(argv[i], "--test-symbol") && i + 1 < argc)
      test_symbol = argv[++i];
    else if (!strcmp(argv[i], "--kinds") && i + 1 < argc)
      kinds = argv[++i];
    else if (!strcmp(argv[i], "--folds") && i + 1 < argc)
      folds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--test-fraction") && i + 1 < argc)
      test_fraction = atof(argv[++i]);
    else if (!strcmp(argv[i], "--tune"))
      tune = true, oot = false;
    else if (!strcmp(argv[i], "--oot-fraction") && i + 1 < argc)
      oot_fraction = atof(argv[++i]);
    else if (!strcmp(argv[i], "--no-oot"))
      oot = false;
    else if (!strcmp(argv[i], "--oot-only"))
      in_time = false;
    else if (!strcmp(argv[i], "--describe"))
      describe = true;
    else if (!strcmp(argv[i], "--ridge-alpha") && i + 1 < argc)
      params.ridge_alpha = atof(argv[++i]);
    else if (!strcmp(argv[i], "--xgb-rounds") && i + 1 < argc)
      params.xgb_rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--xgb-depth") && i + 1 < argc)
      params.xgb_max_depth = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--xgb-eta") && i + 1 < argc)
      params.xgb_eta = atof(argv[++i]);
    else if (!strcmp(argv[i], "--xgb-min-child") && i + 1 < argc)
      params.xgb_min_child_weight = atof(argv[++i]);
    else {
      fprintf(
          stderr,
          "usage: model_report [--data DIR] [--test-symbol SYM] "
          "[--kinds ridge,xgboost] [--folds N] [--test-fraction F] [--tune] "
          "[--ridge-alpha A] [--xgb-rounds N] [--xgb-depth N] "
          "[--xgb-eta E] [--xgb-min-child W] [--oot-fraction F] "
          "[--no-oot | --oot-only]\n");
      return 2;
    }
  }
  if (!dir) {
    fprintf(stderr, "model_report: set COIN_SHARED_DATA_DIR or --data\n");
    return 2;
  }
  struct coin_dataset train = {0}, test = {0};
  DIR *dh = opendir(dir);
  if (!dh) {
    fprintf(stderr, "model_report: cannot open %s\n", dir);
    return 1;
  }
  struct dirent *de;
  char symbols[64][33];
  size_t n_symbols = 0;
  while ((de = readdir(dh)) != NULL && n_symbols < 64) {
    char sym[33];
    enum coin_tf tf;
    if (coin_candle_file_name_parse(sym, sizeof(sym), &tf, de->d_name) != 0 ||
        tf != COIN_TF_1H)
      continue;
    snprintf(symbols[n_symbols++], 33, "%s", sym);
  }
  closedir(dh);
  int rc = 0;
  for (size_t i = 0; i < n_symbols && rc == 0; i++) {
    struct coin_dataset *ds = strcmp(symbols[i], test_symbol) ? &train : &test;
    rc = add_file(ds, dir, symbols[i], COIN_TF_1H);
    if (rc == 0)
      rc = add_file(ds, dir, symbols[i], COIN_TF_1D);
  }
  if (rc == 0)
    rc = coin_dataset_sort(&train);
  if (rc == 0)
    rc = coin_dataset_sort(&test);
  if (rc) {
    fprintf(stderr, "model_report: %s\n", coin_error_last());
    return 1;
  }
  if (!(oot_fraction > 0.02 && oot_fraction < 0.5)) {
    fprintf(stderr, "model_report: --oot-fraction %g (rule: 0.02..0.5)\n",
            oot_fraction);
    return 2;
  }
  if (!in_time)
    goto out_of_time;
  printf("## In time (walk-forward)\n\nTraining symbols:");
  for (size_t i = 0; i < n_symbols; i++)
    if (strcmp(symbols[i], test_symbol))
      printf(" %s", symbols[i]);
  printf(" (%zu rows); held out: %s (%zu rows). Folds: 1 warm-up + %d "
         "scored over the last %.0f%% of rows (expanding window).\n\n",
         train.n, test_symbol, test.n, folds, 100 * test_fraction);
  printf("| rows | tf | model | n | MAE | RMSE | directional accuracy [95%% "
         "CI] | Brier |\n|---|---|---|---|---|---|---|---|\n");

  char kind_list[128];
  snprintf(kind_list, sizeof(kind_list), "%s", kinds);
  bool persistence_done = false;
  for (char *save = NULL, *kind = strtok_r(kind_list, ",", &save); kind;
       kind = strtok_r(NULL, ",", &save)) {
    struct coin_wf_options o = {.kind = kind,
                                .params = &params,
                                .folds = folds,
                                .test_fraction = test_fraction};
    struct group_scores heldout = {0}, heldout_shrunk = {0},
                        heldout_persist = {0};
    struct fold_ctx ctx = {&test, &heldout, &heldout_shrunk, &heldout_persist};
    o.on_fold = tune ? NULL : on_fold;
    o.on_fold_ud = &ctx;
    struct coin_wf_result r;
    double t0 = now_s();
    if ((rc = coin_wf_run(&r, &train, &o)) != 0) {
      fprintf(stderr, "model_report: %s: %s\n", kind, coin_error_last());
      return 1;
    }
    double dt = now_s() - t0;
    struct group_scores wf = {0}, wf_shrunk = {0}, wf_persist = {0};
    for (size_t i = 0; i < train.n; i++) {
      if (isnan(r.p_up[i]))
        continue;
      enum coin_tf tf = (enum coin_tf)train.tf[i];
      coin_score_add(&wf.s[tf], r.z[i] * train.scale[i], r.p_up[i], train.y[i]);
      coin_score_add(&wf_shrunk.s[tf], r.z_served[i] * train.scale[i],
                     r.p_up[i], train.y[i]);
      coin_score_add(&wf_persist.s[tf], 0, 0.5, train.y[i]);
    }
    char shrunk_name[64];
    snprintf(shrunk_name, sizeof(shrunk_name), "%s + shrink", kind);
    for (int tf = 0; tf < COIN_TF_COUNT; tf++) {
      if (!persistence_done)
        print_row("walk-forward", "persistence", (enum coin_tf)tf,
                  &wf_persist.s[tf]);
      print_row("walk-forward", kind, (enum coin_tf)tf, &wf.s[tf]);
      print_row("walk-forward", shrunk_name, (enum coin_tf)tf,
                &wf_shrunk.s[tf]);
    }
    for (int tf = 0; tf < COIN_TF_COUNT && !tune; tf++) {
      if (!persistence_done)
        print_row("held-out symbol", "persistence", (enum coin_tf)tf,
                  &heldout_persist.s[tf]);
      print_row("held-out symbol", kind, (enum coin_tf)tf, &heldout.s[tf]);
      print_row("held-out symbol", shrunk_name, (enum coin_tf)tf,
                &heldout_shrunk.s[tf]);
    }
    persistence_done = true;
    fprintf(stderr,
            "%s: walk-forward %.1f s (fits %.1f s), platt a=%g b=%g, shrink "
            "1h %.3f 1d %.3f\n",
            kind, dt, r.fit_seconds, r.cal.platt_a, r.cal.platt_b,
            coin_calibration_shrink_factor(&r.cal, COIN_TF_1H),
            coin_calibration_shrink_factor(&r.cal, COIN_TF_1D));
    if (describe) {
      struct coin_model *m = NULL;
      char *text = NULL;
      if (coin_model_fit(&m, kind, &train, 0, train.n, &params) == 0 &&
          coin_model_describe(&text, m) == 0)
        fprintf(stderr, "%s\n", text);
      free(text);
      coin_model_free(m);
    }
    coin_wf_result_free(&r);
  }
out_of_time:
  coin_dataset_free(&train);
  coin_dataset_free(&test);
  if (oot) {
    struct oot_opts oo = {.dir = dir,
                          .symbols = symbols,
                          .n_symbols = n_symbols,
                          .params = &params,
                          .folds = folds,
                          .test_fraction = test_fraction,
                          .oot_fraction = oot_fraction};
    char kind_list2[128];
    snprintf(kind_list2, sizeof(kind_list2), "%s", kinds);
    for (char *save = NULL, *kind = strtok_r(kind_list2, ",", &save);
         kind && oo.n_kinds < OOT_KINDS; kind = strtok_r(NULL, ",", &save))
      oo.kinds[oo.n_kinds++] = kind;
    /* 1h + 1d in one model, as coin-train; 1m (BTC and ETH only, a few
     * weeks of 2021) with its own cut, trained on every timeframe */
    const struct oot_exp exps[] = {
        {"1h + 1d", {COIN_TF_1H, COIN_TF_1D}, {COIN_TF_1H, COIN_TF_1D}, 2, 2},
        {"1m", {COIN_TF_1H, COIN_TF_1D, COIN_TF_1M}, {COIN_TF_1M}, 3, 1},
    };
    for (size_t i = 0; i < sizeof(exps) / sizeof(exps[0]); i++)
      if ((rc = oot_run(&oo, &exps[i])) != 0) {
        fprintf(stderr, "model_report: out of time %s: %s\n", exps[i].name,
                coin_error_last());
        return 1;
      }
  }
  return 0;
}
