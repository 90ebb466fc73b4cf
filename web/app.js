/*
 * app.js: coin-predict's page. Reads manifest.json, then for the chosen
 * series history.json and prediction.json (docs/static-site.md), checks each
 * file against the manifest's sha256 when the browser can, and draws a
 * plain-SVG candlestick chart with the predicted next candle and its band.
 * Blocked states (hard_stale, corrupt, insufficient_data) show why, never
 * numbers. No build step, no dependencies. Refreshes every 30 s.
 */
(function () {
  "use strict";

  var REFRESH_MS = 30000;
  var MAX_CANDLES = 120;
  var TF_ORDER = ["1m", "1h", "1d", "1w", "1M"];
  var STATUS_TEXT = {
    fresh: "fresh",
    soft_stale: "soft stale",
    soft_stale_escalated: "soft stale (escalated)",
    hard_stale: "hard stale",
    hard_stale_escalated: "hard stale (escalated)",
    corrupt: "corrupt",
    insufficient_data: "insufficient data"
  };
  var BLOCKED = { hard_stale: 1, hard_stale_escalated: 1, corrupt: 1, insufficient_data: 1 };
  var REASON_TEXT = {
    no_model: "no champion model is registered yet",
    model_load_failed: "the champion model could not be loaded",
    inference_error: "the model failed while predicting",
    challenger_failing: "the challenger model is failing in shadow",
    model_too_old: "the champion model is older than allowed",
    hard_stale: "the input candles are overdue past the hard threshold",
    hard_stale_escalated: "the input candles have been overdue for a long time",
    corrupt: "an input file failed its integrity check",
    insufficient_data: "there are not enough candles for the model yet",
    input_stale: "the input candles are stale"
  };
  var STATE_EXPLAIN = {
    hard_stale: "The newest candle is overdue past the hard threshold, so this series is blocked: " +
      "no prediction values are shown until fresh candles arrive.",
    hard_stale_escalated: "This series has been hard stale for a long time (escalated). " +
      "No prediction values are shown until fresh candles arrive.",
    corrupt: "A file of this series failed its integrity check. Nothing from it is shown " +
      "until it is published again.",
    insufficient_data: "There is not enough history for this series yet, so there is no prediction.",
    soft_stale: "The newest candle is a little overdue. Values are shown, but may be out of date.",
    soft_stale_escalated: "The newest candle has been overdue for a while (escalated). " +
      "Values are shown, but may be out of date."
  };

  var state = { manifest: null, symbol: null, tf: null, timer: null, lastDraw: null, seq: 0 };

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function statusText(s) { return STATUS_TEXT[s] || s || "unknown"; }
  function baseStatus(s) { return (s || "unknown").replace(/_escalated$/, ""); }
  function setBadge(node, status) {
    node.className = "badge badge-" + baseStatus(status);
    node.textContent = statusText(status);
    node.setAttribute("data-status", status || "unknown");
  }
  function isBlocked(s) { return !!BLOCKED[s]; }
  function fmtTime(ms) {
    if (ms == null || !isFinite(ms)) return "—";
    return new Date(ms).toISOString().replace("T", " ").replace(/:\d\d\.\d{3}Z$/, " UTC");
  }
  function ago(ms) {
    if (ms == null) return "";
    var s = Math.round((Date.now() - ms) / 1000);
    if (s < 0) return "in the future";
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }
  function fmtPrice(v) {
    if (v == null || !isFinite(v)) return "—";
    var a = Math.abs(v);
    var d = a >= 1000 ? 2 : a >= 1 ? 4 : 6;
    return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function fmtPct(v, digits) {
    if (v == null || !isFinite(v)) return "—";
    return (v * 100).toFixed(digits == null ? 2 : digits) + " %";
  }
  function reasonText(r) { return REASON_TEXT[r] || r; }

  /* ---- fetching ------------------------------------------------------- */

  function fetchText(path) {
    return fetch(path + (path.indexOf("?") < 0 ? "?t=" : "&t=") + Date.now(), { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error(path + ": HTTP " + r.status);
        return r.text();
      });
  }
  function sha256Hex(text) {
    if (!(window.crypto && crypto.subtle && window.TextEncoder)) return Promise.resolve(null);
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (buf) {
      return Array.prototype.map.call(new Uint8Array(buf), function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
    }).catch(function () { return null; });
  }
  /* A series file, checked against the manifest entry (path, sha256). A
   * mismatch may be a newer file than our manifest: the caller reloads the
   * manifest once before calling it corrupt. */
  function fetchChecked(entry) {
    return fetchText(entry.path).then(function (text) {
      return sha256Hex(text).then(function (hex) {
        var doc;
        try { doc = JSON.parse(text); } catch (e) {
          return { doc: null, problem: entry.path + " is not valid JSON" };
        }
        if (hex && entry.sha256 && hex !== entry.sha256)
          return { doc: doc, problem: entry.path + " does not match the manifest's sha256", mismatch: true };
        return { doc: doc, problem: null };
      });
    });
  }
  function fileOf(series, name) {
    var files = series.files || [];
    for (var i = 0; i < files.length; i++)
      if (files[i].path && files[i].path.slice(-name.length - 1) === "/" + name) return files[i];
    return {
      path: "v1/" + series.exchange + "/" + series.symbol + "/" + series.timeframe + "/" + name,
      sha256: null
    };
  }

  /* ---- manifest, picker, grid ------------------------------------------ */

  function seriesList() { return (state.manifest && state.manifest.series) || []; }
  function symbols() {
    var seen = {}, out = [];
    seriesList().forEach(function (s) { if (!seen[s.symbol]) { seen[s.symbol] = 1; out.push(s.symbol); } });
    return out.sort();
  }
  function tfsOf(symbol) {
    var have = {};
    seriesList().forEach(function (s) { if (s.symbol === symbol) have[s.timeframe] = s; });
    return TF_ORDER.filter(function (t) { return have[t]; });
  }
  function findSeries(symbol, tf) {
    var l = seriesList();
    for (var i = 0; i < l.length; i++) if (l[i].symbol === symbol && l[i].timeframe === tf) return l[i];
    return null;
  }

  function readHash() {
    var m = /^#([A-Z0-9_-]+)\/(1m|1h|1d|1w|1M)$/.exec(location.hash || "");
    return m ? { symbol: m[1], tf: m[2] } : null;
  }

  function renderPicker() {
    var sel = $("symbol");
    var syms = symbols();
    if (sel.getAttribute("data-list") !== syms.join(",")) {
      sel.textContent = "";
      syms.forEach(function (s) { sel.appendChild(el("option", { value: s }, s)); });
      sel.setAttribute("data-list", syms.join(","));
    }
    sel.value = state.symbol;
    var tabs = $("timeframes");
    tabs.textContent = "";
    tfsOf(state.symbol).forEach(function (tf) {
      var s = findSeries(state.symbol, tf);
      var b = el("button", { role: "tab", type: "button", "data-tf": tf,
        "aria-selected": tf === state.tf ? "true" : "false", title: statusText(s.status) }, tf);
      var dot = el("span", { "class": "dot badge-" + baseStatus(s.status) });
      b.appendChild(dot);
      b.addEventListener("click", function () { select(state.symbol, tf); });
      tabs.appendChild(b);
    });
    var grid = $("series-grid");
    grid.textContent = "";
    seriesList().slice().sort(function (a, b) {
      return a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 :
        TF_ORDER.indexOf(a.timeframe) - TF_ORDER.indexOf(b.timeframe);
    }).forEach(function (s) {
      var t = el("button", { "class": "tile", type: "button", "data-series": s.symbol + "/" + s.timeframe,
        "aria-current": s.symbol === state.symbol && s.timeframe === state.tf ? "true" : "false" });
      var name = el("span", null);
      name.appendChild(el("span", { "class": "name" }, s.symbol));
      name.appendChild(el("span", { "class": "tf" }, s.timeframe));
      t.appendChild(name);
      var b = el("span", null);
      setBadge(b, s.status);
      t.appendChild(b);
      t.addEventListener("click", function () { select(s.symbol, s.timeframe); });
      grid.appendChild(t);
    });
  }

  function renderOverall() {
    var m = state.manifest;
    var o = (m && m.overall) || {};
    setBadge($("overall-badge"), o.status);
    var counts = o.counts || {};
    var parts = Object.keys(counts).map(function (k) { return counts[k] + " " + statusText(k); });
    $("overall-time").textContent = "site generated " + fmtTime(m && m.generated_at_ms) + " (" +
      ago(m && m.generated_at_ms) + ")" + (parts.length ? " · " + parts.join(", ") : "");
  }

  function select(symbol, tf) {
    if (!findSeries(symbol, tf)) {
      var tfs = tfsOf(symbol);
      tf = tfs.indexOf("1h") >= 0 ? "1h" : tfs[0];
    }
    state.symbol = symbol;
    state.tf = tf;
    if (location.hash !== "#" + symbol + "/" + tf) history.replaceState(null, "", "#" + symbol + "/" + tf);
    renderPicker();
    loadSeries();
  }

  /* ---- one series -------------------------------------------------------- */

  function loadSeries(retried) {
    var series = findSeries(state.symbol, state.tf);
    if (!series) return Promise.resolve();
    var seq = ++state.seq;
    return Promise.all([fetchChecked(fileOf(series, "history.json")),
                        fetchChecked(fileOf(series, "prediction.json"))])
      .then(function (res) {
        if (seq !== state.seq) return null;
        if (!retried && (res[0].mismatch || res[1].mismatch))
          return loadManifest().then(function () { return loadSeries(true); });
        renderSeries(series, res[0], res[1]);
        return null;
      })
      .catch(function (e) {
        if (seq !== state.seq) return;
        renderSeries(series, { doc: null, problem: String(e.message || e) }, { doc: null, problem: null });
      });
  }

  function renderSeries(series, hist, pred) {
    var h = hist.doc, p = pred.doc;
    var problem = hist.problem || pred.problem;
    // The badge is the data's freshness (history); a prediction can be
    // blocked on its own (no model, too little history): it gets its own
    // badge, and is never shown fresher than its input.
    var status = problem ? "corrupt" : (h && h.status) || series.status;
    var predStatus = problem ? "corrupt" : (p && p.status) || status;
    if (isBlocked(status)) predStatus = status;
    $("series-title").textContent = series.symbol + " · " + series.timeframe +
      (series.exchange ? " · " + series.exchange : "");
    setBadge($("status-badge"), status);
    var pb = $("prediction-badge");
    pb.hidden = !p || predStatus === status;
    if (!pb.hidden) {
      setBadge(pb, predStatus);
      pb.textContent = "prediction: " + statusText(predStatus);
    }
    var degraded = (p && p.degraded) || series.degraded;
    var reasons = (p && p.degraded_reasons) || series.degraded_reasons || [];
    var db = $("degraded-badge");
    db.hidden = !degraded;
    db.textContent = degraded ? "degraded: " + (reasons.length ? reasons.map(reasonText).join("; ") : "yes") : "";

    var notice = $("notice");
    var explain = problem ? "This series cannot be trusted right now: " + problem + "." : STATE_EXPLAIN[status];
    notice.hidden = !explain;
    notice.textContent = explain || "";
    notice.className = "notice" + (isBlocked(status) ? " blocked" : "");

    var lastMs = (h && h.last_candle_open_ms) != null ? h.last_candle_open_ms : series.last_candle_open_ms;
    $("last-candle").textContent = lastMs != null ? fmtTime(lastMs) + " (" + ago(lastMs) + ")" : "none";
    var genMs = (p && p.generated_at_ms) || (h && h.generated_at_ms);
    $("generated-at").textContent = genMs ? fmtTime(genMs) + " (" + ago(genMs) + ")" : "—";
    var model = p && p.model;
    $("model").textContent = model ? model.version + " (" + model.kind + ")" : "none";

    state.lastDraw = { h: problem ? null : h, p: problem ? null : p, status: status, problem: problem };
    drawChart();
    renderPrediction(p, predStatus, problem);
    renderQuality(p, predStatus, problem);
  }

  function renderPrediction(p, status, problem) {
    var box = $("prediction");
    box.textContent = "";
    var reason = problem ? "corrupt" : (p && p.blocked_reason) || (isBlocked(status) ? status : null);
    var hasValues = !problem && p && !isBlocked(status) && p.predicted_close != null;
    if (!hasValues) {
      box.appendChild(el("p", { "class": "blocked-reason", "data-testid": "blocked" },
        "No prediction: " + reasonText(reason || "no_model") + "."));
      if (p && p.target_open_ms) box.appendChild(el("p", { "class": "muted" },
        "It would be for the candle opening " + fmtTime(p.target_open_ms) + "."));
      return;
    }
    var up = p.direction === "up";
    box.appendChild(el("div", { "class": "big " + (up ? "up-text" : "down-text"), "data-testid": "predicted-close" },
      fmtPrice(p.predicted_close)));
    var kv = el("div", { "class": "kv" });
    function row(k, v, cls) {
      kv.appendChild(el("span", { "class": "k" }, k));
      kv.appendChild(el("span", cls ? { "class": cls } : null, v));
    }
    row("candle", fmtTime(p.target_open_ms));
    row("return", (p.predicted_return >= 0 ? "+" : "") + fmtPct(p.predicted_return, 3), up ? "up-text" : "down-text");
    row("direction", (up ? "▲ up" : "▼ down") + (p.direction_probability != null ?
      " · p = " + p.direction_probability.toFixed(2) : ""));
    if (p.band) row(Math.round((p.band.level || 0) * 100) + " % band",
      fmtPrice(p.band.low) + " – " + fmtPrice(p.band.high));
    if (status !== "fresh") row("warning", statusText(status) + ": values may be out of date", "down-text");
    box.appendChild(kv);
  }

  function renderQuality(p, status, problem) {
    var box = $("quality");
    box.textContent = "";
    var wf = !problem && p && p.walk_forward;
    if (!wf) {
      box.appendChild(el("p", { "class": "muted" }, p && p.model ?
        "No walk-forward figures for this model yet." : "No model, so no figures."));
      return;
    }
    var kv = el("div", { "class": "kv" });
    function row(k, v, cls) {
      kv.appendChild(el("span", { "class": "k" }, k));
      kv.appendChild(el("span", cls ? { "class": cls } : null, v));
    }
    row("MAE (model)", fmtPrice(wf.mae));
    row("MAE (persistence)", fmtPrice(wf.persistence_mae));
    if (wf.mae != null && wf.persistence_mae) {
      var gain = 1 - wf.mae / wf.persistence_mae;
      row("vs persistence", (gain >= 0 ? "better by " : "worse by ") + fmtPct(Math.abs(gain), 1),
        gain >= 0 ? "up-text" : "down-text");
    }
    row("direction hit rate", fmtPct(wf.directional_accuracy, 1));
    row("evaluated candles", String(wf.n));
    box.appendChild(kv);
    box.appendChild(el("p", { "class": "muted" },
      "Persistence = \"the next close equals the last close\". A model that does not beat it is not worth much."));
  }

  /* ---- chart ------------------------------------------------------------ */

  function drawChart() {
    var d = state.lastDraw;
    var root = $("chart");
    var empty = $("chart-empty");
    while (root.firstChild) root.removeChild(root.firstChild);
    if (!d) return;
    var candles = (d.h && d.h.candles) || [];
    if (d.problem || d.status === "corrupt" || candles.length === 0) {
      empty.hidden = false;
      empty.textContent = d.problem ? "Not shown: " + d.problem + "." :
        d.status === "corrupt" ? "Not shown: the data of this series is corrupt." :
        "No candles yet for this series.";
      return;
    }
    empty.hidden = true;
    candles = candles.slice(-MAX_CANDLES);
    var p = d.p;
    var showPred = p && !isBlocked(d.status) && p.predicted_close != null;
    var rect = root.getBoundingClientRect();
    var W = Math.max(320, Math.round(rect.width)), H = Math.max(200, Math.round(rect.height));
    root.setAttribute("viewBox", "0 0 " + W + " " + H);
    var padL = 8, padR = 78, padT = 14, padB = 26;
    var slots = candles.length + (showPred ? 2 : 1);
    var cw = (W - padL - padR) / slots;
    var lo = Infinity, hi = -Infinity;
    candles.forEach(function (c) { lo = Math.min(lo, c[3]); hi = Math.max(hi, c[2]); });
    if (showPred) {
      var bl = p.band ? p.band.low : p.predicted_close, bh = p.band ? p.band.high : p.predicted_close;
      lo = Math.min(lo, bl, p.predicted_close);
      hi = Math.max(hi, bh, p.predicted_close);
    }
    if (hi <= lo) { hi = lo + 1; }
    var span = hi - lo;
    lo -= span * 0.04; hi += span * 0.04;
    function y(v) { return padT + (hi - v) / (hi - lo) * (H - padT - padB); }
    function x(i) { return padL + (i + 0.5) * cw; }

    // Price grid and labels.
    for (var g = 0; g <= 4; g++) {
      var v = lo + (hi - lo) * g / 4, yy = y(v);
      root.appendChild(svg("line", { "class": "grid-line", x1: padL, x2: W - padR, y1: yy, y2: yy }));
      var t = svg("text", { "class": "axis-text", x: W - padR + 6, y: yy + 4 });
      t.textContent = fmtPrice(v);
      root.appendChild(t);
    }
    // Time labels: about five.
    var step = Math.max(1, Math.ceil(candles.length / 5));
    for (var i = 0; i < candles.length; i += step) {
      var tt = svg("text", { "class": "axis-text", x: x(i), y: H - 8, "text-anchor": "middle" });
      var dt = new Date(candles[i][0]).toISOString();
      tt.textContent = state.tf === "1m" || state.tf === "1h" ? dt.slice(5, 16).replace("T", " ") : dt.slice(0, 10);
      root.appendChild(tt);
    }
    // Candles.
    var bw = Math.max(1, Math.min(14, cw * 0.7));
    candles.forEach(function (c, i) {
      var up = c[4] >= c[1];
      var g2 = svg("g", { "class": up ? "up" : "down" });
      g2.appendChild(svg("line", { x1: x(i), x2: x(i), y1: y(c[2]), y2: y(c[3]), "stroke-width": 1 }));
      var top = y(Math.max(c[1], c[4])), bot = y(Math.min(c[1], c[4]));
      g2.appendChild(svg("rect", { x: x(i) - bw / 2, y: top, width: bw, height: Math.max(1, bot - top) }));
      var title = svg("title", {});
      title.textContent = new Date(c[0]).toISOString() + "  O " + fmtPrice(c[1]) + "  H " + fmtPrice(c[2]) +
        "  L " + fmtPrice(c[3]) + "  C " + fmtPrice(c[4]) + "  V " + c[5];
      g2.appendChild(title);
      root.appendChild(g2);
    });
    // The predicted next candle: band, dashed body from the last close, close mark.
    if (showPred) {
      var j = candles.length + 0.5;
      var last = candles[candles.length - 1][4];
      var g3 = svg("g", { "data-testid": "prediction-mark" });
      if (p.band) {
        g3.appendChild(svg("rect", { "class": "pred-band", x: x(j) - cw * 0.9, width: cw * 1.8,
          y: y(p.band.high), height: Math.max(1, y(p.band.low) - y(p.band.high)) }));
      }
      var ptop = y(Math.max(last, p.predicted_close)), pbot = y(Math.min(last, p.predicted_close));
      g3.appendChild(svg("rect", { "class": "pred", x: x(j) - bw / 2, y: ptop, width: bw, height: Math.max(1, pbot - ptop) }));
      g3.appendChild(svg("line", { "class": "pred-close", x1: x(j) - cw * 0.9, x2: x(j) + cw * 0.9,
        y1: y(p.predicted_close), y2: y(p.predicted_close) }));
      var pt = svg("title", {});
      pt.textContent = "predicted close " + fmtPrice(p.predicted_close) +
        (p.band ? "  band " + fmtPrice(p.band.low) + " – " + fmtPrice(p.band.high) : "");
      g3.appendChild(pt);
      root.appendChild(g3);
    }
    if (isBlocked(d.status)) {
      root.appendChild(svg("rect", { "class": "stale-cover", x: 0, y: 0, width: W - padR, height: H }));
      var st = svg("text", { "class": "stale-text", x: (W - padR) / 2, y: padT + 22, "text-anchor": "middle" });
      st.textContent = statusText(d.status).toUpperCase() + " — no prediction";
      root.appendChild(st);
    }
  }

  /* ---- system: monitor and ingest files --------------------------------- */

  function loadSystem() {
    var box = $("system");
    return Promise.all([
      fetchText("status.json").then(JSON.parse).catch(function () { return null; }),
      fetchText("runtime_metrics.json").then(JSON.parse).catch(function () { return null; })
    ]).then(function (r) {
      var st = r[0], rm = r[1];
      var parts = [];
      if (st) {
        var list = Array.isArray(st) ? st : st.series || [];
        var alerting = list.filter(function (s) { return s.last_alert && s.last_alert.status === "firing"; }).length;
        parts.push("monitor: " + list.length + " series, " + alerting + " alerting, updated " +
          ago(st.generated_at_ms || st.updated_at_ms));
      } else {
        parts.push("monitor: no status.json");
      }
      if (rm && rm.summary) {
        var s = rm.summary;
        parts.push("ingest cycles: p50 " + (s.p50_elapsed_seconds != null ? s.p50_elapsed_seconds.toFixed(2) : "—") +
          " s, p95 " + (s.p95_elapsed_seconds != null ? s.p95_elapsed_seconds.toFixed(2) : "—") +
          " s, overruns " + fmtPct(s.overrun_rate || 0, 1) + " of " + s.samples);
      } else {
        parts.push("ingest: no runtime_metrics.json");
      }
      box.textContent = parts.join(" · ");
    });
  }

  /* ---- main loop ----------------------------------------------------------- */

  function loadManifest() {
    return fetchText("manifest.json").then(function (text) {
      state.manifest = JSON.parse(text);
      renderOverall();
    });
  }

  function refresh() {
    return loadManifest().then(function () {
      var syms = symbols();
      if (!syms.length) {
        $("series-title").textContent = "No series published yet";
        setBadge($("status-badge"), "insufficient_data");
        return null;
      }
      var want = readHash() || { symbol: state.symbol, tf: state.tf };
      var sym = want.symbol && syms.indexOf(want.symbol) >= 0 ? want.symbol : syms[0];
      select(sym, want.tf || "1h");
      return loadSystem();
    }).catch(function (e) {
      setBadge($("overall-badge"), "unknown");
      $("overall-badge").textContent = "site unavailable";
      $("overall-time").textContent = String(e.message || e);
    });
  }

  $("symbol").addEventListener("change", function (ev) { select(ev.target.value, state.tf); });
  window.addEventListener("hashchange", function () {
    var w = readHash();
    if (w && (w.symbol !== state.symbol || w.tf !== state.tf)) select(w.symbol, w.tf);
  });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawChart, 100);
  });
  refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
})();
