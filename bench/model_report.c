/*
 * model_report.c: the model benchmark (not a test). Loads the real candle
 * files, leaves one symbol out, runs the purged walk-forward of each model
 * kind on the other symbols (1h + 1d pooled in one model, as coin-train
 * does) and scores, per timeframe: the walk-forward rows of the training
 * symbols, and the held-out symbol's rows predicted by the same fold models
 * with the calibration known before each fold (out of symbol and out of
 * time). Persistence is scored on exactly the same rows. Prints Markdown.
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
  struct group_scores *persist;
};

static int add_file(struct coin_dataset *ds, const char *dir,
                    const char *symbol, enum coin_tf tf) {
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
    if (rc == 1 && (rc = coin_dataset_add(ds, &row, target, series)) != 0)
      goto out;
    rc = 0;
  }
out:
  coin_candle_file_free(f);
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
      tune = true;
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
          "[--xgb-eta E] [--xgb-min-child W]\n");
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
  printf("Training symbols:");
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
    struct group_scores heldout = {0}, heldout_persist = {0};
    struct fold_ctx ctx = {&test, &heldout, &heldout_persist};
    o.on_fold = tune ? NULL : on_fold;
    o.on_fold_ud = &ctx;
    struct coin_wf_result r;
    double t0 = now_s();
    if ((rc = coin_wf_run(&r, &train, &o)) != 0) {
      fprintf(stderr, "model_report: %s: %s\n", kind, coin_error_last());
      return 1;
    }
    double dt = now_s() - t0;
    struct group_scores wf = {0}, wf_persist = {0};
    for (size_t i = 0; i < train.n; i++) {
      if (isnan(r.p_up[i]))
        continue;
      enum coin_tf tf = (enum coin_tf)train.tf[i];
      coin_score_add(&wf.s[tf], r.z[i] * train.scale[i], r.p_up[i], train.y[i]);
      coin_score_add(&wf_persist.s[tf], 0, 0.5, train.y[i]);
    }
    for (int tf = 0; tf < COIN_TF_COUNT; tf++) {
      if (!persistence_done)
        print_row("walk-forward", "persistence", (enum coin_tf)tf,
                  &wf_persist.s[tf]);
      print_row("walk-forward", kind, (enum coin_tf)tf, &wf.s[tf]);
    }
    for (int tf = 0; tf < COIN_TF_COUNT && !tune; tf++) {
      if (!persistence_done)
        print_row("held-out symbol", "persistence", (enum coin_tf)tf,
                  &heldout_persist.s[tf]);
      print_row("held-out symbol", kind, (enum coin_tf)tf, &heldout.s[tf]);
    }
    persistence_done = true;
    fprintf(stderr, "%s: walk-forward %.1f s (fits %.1f s), platt a=%g b=%g\n",
            kind, dt, r.fit_seconds, r.cal.platt_a, r.cal.platt_b);
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
  coin_dataset_free(&train);
  coin_dataset_free(&test);
  return 0;
}
