/*
 * app.js: coin-predict's page. Reads manifest.json, then for the chosen
 * series history.json, prediction.json and track_record.json (site contract
 * v2), checks each file against the manifest's sha256 when the browser can,
 * and draws plain-SVG charts: candles with volume and the predicted next
 * candle, and the track record (predicted vs realized closes).
 *
 * Validity is judged now, not when the files were written: every artifact
 * says when it turns soft_stale and hard_stale (soft_stale_at_ms,
 * hard_stale_at_ms), and the page re-evaluates that every second against a
 * clock corrected to the server's (HTTP Date header of the latest response),
 * so a site whose writer died still tells the truth without a reload.
 * status.json (the monitor) overrides a series when it is newer and worse.
 * Blocked states (hard_stale*, corrupt, insufficient_data) show why, never
 * numbers. No build step, no dependencies. Refetches every 30 s.
 */
(function () {
  "use strict";

  var REFRESH_MS = 30000;
  var TICK_MS = 1000;
  var MAX_CANDLES = 120;
  var TF_ORDER = ["1m", "1h", "1d", "1w", "1M"];
  var TF_MS = { "1m": 60000, "1h": 3600000, "1d": 86400000, "1w": 604800000 };
  // Order of badness (contract v2). Unknown states rank as blocked.
  var RANK = { fresh: 0, soft_stale: 1, soft_stale_escalated: 2, hard_stale: 3,
    hard_stale_escalated: 4, insufficient_data: 5, corrupt: 6 };
  var STATUS_TEXT = {
    fresh: "fresh",
    soft_stale: "soft stale",
    soft_stale_escalated: "soft stale (escalated)",
    hard_stale: "hard stale",
    hard_stale_escalated: "hard stale (escalated)",
    corrupt: "corrupt",
    insufficient_data: "insufficient data"
  };
  // prediction_status tokens and degraded reasons, as a person reads them.
  var REASON_TEXT = {
    no_model: "no champion model is registered yet",
    not_evaluated: "the model was not evaluated on this timeframe, so it is not served here",
    worse_than_persistence: "the model did not beat \"no change\" (persistence) on this timeframe in its walk-forward, so it is not served here",
    insufficient_data: "there are not enough candles for the model yet",
    model_load_failed: "the champion model could not be loaded",
    inference_error: "the model failed while predicting",
    hard_stale: "the input candles are overdue past the hard threshold",
    hard_stale_escalated: "the input candles have been overdue for a long time",
    corrupt: "an input file failed its integrity check",
    challenger_failing: "the challenger model is failing in shadow",
    model_too_old: "the champion model is older than allowed",
    champion_underperforming: "the champion model did significantly worse than \"no change\" (persistence) on this series' candles of the last 7 days (see its track record)",
    input_stale: "the input candles are stale"
  };
  var TOKEN_SHORT = {
    no_model: "no model", not_evaluated: "not evaluated", insufficient_data: "insufficient data",
    worse_than_persistence: "worse than persistence",
    model_load_failed: "model load failed", inference_error: "inference error",
    hard_stale: "hard stale", corrupt: "corrupt"
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

  var state = {
    manifest: null, status: null, metrics: null, symbol: null, tf: null,
    view: null, viewId: 0, seq: 0, panelKey: null, pickerKey: null, fetchError: null,
    clockOffsetMs: 0, clockFromServer: false
  };

  /* ---- small helpers ------------------------------------------------------ */

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  // Writes only on change: the 1 s tick must not make screen readers chatter.
  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
  function setAttr(node, k, v) { if (node.getAttribute(k) !== v) node.setAttribute(k, v); }
  function statusText(s) { return STATUS_TEXT[s] || s || "unknown"; }
  function baseStatus(s) {
    s = (s || "unknown").replace(/_escalated$/, "");
    return STATUS_TEXT[s] ? s : "unknown";
  }
  function setBadge(node, status, text) {
    var cls = "badge badge-" + baseStatus(status);
    if (node.className !== cls) node.className = cls;
    setText(node, text != null ? text : statusText(status));
    setAttr(node, "data-status", status || "unknown");
  }
  function rank(s) { return Object.prototype.hasOwnProperty.call(RANK, s) ? RANK[s] : RANK.insufficient_data; }
  function worst(a, b) { return rank(b) > rank(a) ? b : a; }
  function isBlocked(s) { return rank(s) >= RANK.hard_stale; }
  function reasonText(r) { return REASON_TEXT[r] || String(r).replace(/_/g, " "); }
  function num(v) { return typeof v === "number" && isFinite(v); }

  /* ---- the clock, corrected to the server ---------------------------------- */

  // now = local clock + (server Date - local clock at receipt). Date has 1 s
  // resolution, so this runs up to 1 s behind the server: the page may call a
  // file stale up to ~2 s late (with the 1 s tick), never early.
  function now() { return Date.now() + state.clockOffsetMs; }
  function noteServerTime(r) {
    var d = r.headers.get("Date");
    if (!d) return;
    var ms = Date.parse(d);
    if (!isFinite(ms)) return;
    var age = parseInt(r.headers.get("Age") || "0", 10); // a cache's copy is this much older
    if (age > 0) ms += age * 1000;
    state.clockOffsetMs = ms - Date.now();
    state.clockFromServer = true;
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function fmtTime(ms) {
    if (ms == null || !isFinite(ms)) return "—";
    return new Date(ms).toISOString().replace("T", " ").replace(/:\d\d\.\d{3}Z$/, " UTC");
  }
  // "12:34:56 UTC" today (server time), else with the date.
  function fmtSecs(ms) {
    if (ms == null || !isFinite(ms)) return "—";
    var iso = new Date(ms).toISOString();
    return (iso.slice(0, 10) === new Date(now()).toISOString().slice(0, 10) ? "" : iso.slice(0, 10) + " ") +
      iso.slice(11, 19) + " UTC";
  }
  // "06:00 UTC" when the day is today (server time), else the full date.
  function fmtShort(ms) {
    if (ms == null || !isFinite(ms)) return "—";
    var iso = new Date(ms).toISOString();
    if (iso.slice(0, 10) === new Date(now()).toISOString().slice(0, 10)) return iso.slice(11, 16) + " UTC";
    return fmtTime(ms);
  }
  function ago(ms) {
    if (ms == null || !isFinite(ms)) return "";
    var s = Math.round((now() - ms) / 1000);
    if (s < 0) return "in the future";
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }
  function fmtPrice(v) {
    if (!num(v)) return "—";
    var a = Math.abs(v);
    var d = a >= 1000 ? 2 : a >= 1 ? 4 : 6;
    return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function fmtPct(v, digits) {
    if (!num(v)) return "—";
    return (v * 100).toFixed(digits == null ? 2 : digits) + " %";
  }
  function fmtVol(v) {
    if (!num(v)) return "—";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return v.toFixed(a >= 10 ? 0 : 2);
  }

  /* ---- validity: each file's own, evaluated now ------------------------------ */

  function timeState(doc, t) {
    if (!doc) return "fresh";
    if (num(doc.hard_stale_at_ms) && t > doc.hard_stale_at_ms) return "hard_stale";
    if (num(doc.soft_stale_at_ms) && t > doc.soft_stale_at_ms) return "soft_stale";
    return "fresh";
  }
  function statusNow(doc, t) {
    var ts = timeState(doc, t);
    return doc && doc.status ? worst(doc.status, ts) : ts;
  }
  // Calendar arithmetic: the open of the candle after the one opening at openMs.
  function nextOpen(tf, openMs) {
    if (!num(openMs)) return null;
    if (tf === "1M") {
      var d = new Date(openMs);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
    return TF_MS[tf] ? openMs + TF_MS[tf] : null;
  }
  function lastCloseOf(doc, series, tf) {
    var src = doc && doc.last_candle_open_ms != null ? doc : series;
    if (!src) return null;
    if (num(src.last_candle_close_ms)) return src.last_candle_close_ms;
    return nextOpen(tf, src.last_candle_open_ms);
  }

  function monitorEntry(series) {
    var st = state.status;
    var list = st && (Array.isArray(st) ? st : st.series);
    if (!list) return null;
    for (var i = 0; i < list.length; i++) {
      var m = list[i];
      if (m.symbol === series.symbol && m.timeframe === series.timeframe &&
          (!m.exchange || !series.exchange || m.exchange === series.exchange)) return m;
    }
    return null;
  }
  // The monitor's view of a series counts when status.json is newer than
  // the series file and its status now is worse (contract v2).
  function monitorOverride(series, status, fileGenMs, t) {
    var st = state.status;
    if (!st || !num(st.generated_at_ms) || !(st.generated_at_ms > (fileGenMs || 0))) return null;
    var m = monitorEntry(series);
    if (!m) return null;
    var ms = statusNow({ status: m.status || m.state, soft_stale_at_ms: m.soft_stale_at_ms,
      hard_stale_at_ms: m.hard_stale_at_ms }, t);
    return rank(ms) > rank(status) ? ms : null;
  }

  // A series that is not open in the panel: its manifest entry (the manifest
  // is written after the files, so its generated_at bounds theirs).
  function entryStatus(series, t) {
    var v = state.view;
    if (v && v.series.symbol === series.symbol && v.series.timeframe === series.timeframe &&
        v.series.exchange === series.exchange) return evaluate(v, t).dataStatus;
    var s = statusNow(series, t);
    var m = monitorOverride(series, s, state.manifest && state.manifest.generated_at_ms, t);
    return m || s;
  }

  function predictionToken(p) {
    if (!p) return null;
    if (p.prediction_status) return p.prediction_status;
    if (p.predicted_close != null) return "served";           // v1 file
    return p.blocked_reason || "insufficient_data";
  }

  /* Everything the panel shows about the open series at instant t. */
  function evaluate(v, t) {
    var h = v.hist.doc, p = v.pred.doc;
    var problem = v.hist.problem || v.pred.problem;
    var r = { problem: problem, dataStatus: null, byMonitor: false, timeDriven: null,
      predStatus: null, token: predictionToken(p), showValues: false, reason: null };
    if (problem) {
      r.dataStatus = r.predStatus = "corrupt";
      r.reason = "corrupt";
      return r;
    }
    var own = h ? statusNow(h, t) : statusNow(v.series, t);
    if (h && rank(own) > rank(h.status || "fresh")) r.timeDriven = own;
    var mon = monitorOverride(v.series, own, h ? h.generated_at_ms : 0, t);
    r.dataStatus = mon || own;
    r.byMonitor = !!mon;
    r.predStatus = p ? worst(statusNow(p, t), r.dataStatus) : r.dataStatus;
    r.showValues = !!p && r.token === "served" && num(p.predicted_close) && !isBlocked(r.predStatus);
    if (!r.showValues) {
      if (isBlocked(r.predStatus)) r.reason = r.predStatus;
      else if (r.token && r.token !== "served") r.reason = r.token;
      else r.reason = p ? "insufficient_data" : null;
    }
    return r;
  }

  /* ---- fetching ------------------------------------------------------------ */

  function fetchText(path) {
    return fetch(path + (path.indexOf("?") < 0 ? "?t=" : "&t=") + Date.now(), { cache: "no-store" })
      .then(function (r) {
        noteServerTime(r);
        if (!r.ok) {
          var e = new Error(path + ": HTTP " + r.status);
          e.httpStatus = r.status;
          throw e;
        }
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
  /* A series file, checked against the manifest entry (path, sha256; during
   * an update also previous_sha256). A mismatch may be a newer file than our
   * manifest: the caller reloads the manifest once before calling it corrupt. */
  function fetchChecked(entry) {
    return fetchText(entry.path).then(function (text) {
      return sha256Hex(text).then(function (hex) {
        var doc;
        try { doc = JSON.parse(text); } catch (e) {
          return { doc: null, problem: entry.path + " is not valid JSON" };
        }
        if (hex && entry.sha256 && hex !== entry.sha256 && hex !== entry.previous_sha256)
          return { doc: doc, problem: entry.path + " does not match the manifest's sha256", mismatch: true };
        return { doc: doc, problem: null };
      });
    });
  }
  function listedFile(series, name) {
    var files = series.files || [];
    for (var i = 0; i < files.length; i++)
      if (files[i].path && files[i].path.slice(-name.length - 1) === "/" + name) return files[i];
    return null;
  }
  function fileOf(series, name) {
    return listedFile(series, name) || {
      path: "v1/" + series.exchange + "/" + series.symbol + "/" + series.timeframe + "/" + name,
      sha256: null
    };
  }

  /* ---- manifest, picker, overview ---------------------------------------------- */

  function seriesList() { return (state.manifest && state.manifest.series) || []; }
  function seriesId(s) { return s.symbol + "/" + s.timeframe; }
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
  function sortedSeries() {
    return seriesList().slice().sort(function (a, b) {
      return a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 :
        TF_ORDER.indexOf(a.timeframe) - TF_ORDER.indexOf(b.timeframe);
    });
  }

  function readHash() {
    var m = /^#([A-Z0-9_-]+)\/(1m|1h|1d|1w|1M)$/.exec(location.hash || "");
    return m ? { symbol: m[1], tf: m[2] } : null;
  }

  // Builds the symbol list, tabs and tiles when their structure changes;
  // updateIndicators() refreshes their states in place every second.
  function renderPicker() {
    var sel = $("symbol");
    var syms = symbols();
    if (sel.getAttribute("data-list") !== syms.join(",")) {
      clear(sel);
      syms.forEach(function (s) { sel.appendChild(el("option", { value: s }, s)); });
      sel.setAttribute("data-list", syms.join(","));
    }
    if (sel.value !== state.symbol) sel.value = state.symbol;
    var key = state.symbol + "|" + tfsOf(state.symbol).join(",") + "|" + sortedSeries().map(seriesId).join(",");
    if (key !== state.pickerKey) {
      state.pickerKey = key;
      var tabs = $("timeframes");
      clear(tabs);
      tfsOf(state.symbol).forEach(function (tf) {
        var b = el("button", { role: "tab", type: "button", "data-tf": tf }, tf);
        b.appendChild(el("span", { "class": "dot", "aria-hidden": "true" }));
        b.appendChild(el("span", { "class": "sr-only" }, ""));
        b.addEventListener("click", function () { select(state.symbol, tf); });
        tabs.appendChild(b);
      });
      var grid = $("series-grid");
      clear(grid);
      sortedSeries().forEach(function (s) {
        var t = el("button", { "class": "tile", type: "button", "data-series": seriesId(s) });
        var name = el("span", null);
        name.appendChild(el("span", { "class": "name" }, s.symbol));
        name.appendChild(el("span", { "class": "tf" }, s.timeframe));
        t.appendChild(name);
        t.appendChild(el("span", { "class": "badge" }));
        t.addEventListener("click", function () { select(s.symbol, s.timeframe); });
        grid.appendChild(t);
      });
    }
    updateIndicators(now());
  }

  function updateIndicators(t) {
    var tabs = $("timeframes").querySelectorAll("button[data-tf]");
    Array.prototype.forEach.call(tabs, function (b) {
      var tf = b.getAttribute("data-tf");
      var s = findSeries(state.symbol, tf);
      if (!s) return;
      var st = entryStatus(s, t);
      setAttr(b, "aria-selected", tf === state.tf ? "true" : "false");
      setAttr(b, "title", statusText(st));
      var dot = b.querySelector(".dot");
      var cls = "dot badge-" + baseStatus(st);
      if (dot.className !== cls) dot.className = cls;
      dot.setAttribute("data-status", st);
      setText(b.querySelector(".sr-only"), " (" + statusText(st) + ")");
    });
    var tiles = $("series-grid").querySelectorAll(".tile");
    Array.prototype.forEach.call(tiles, function (tile) {
      var id = tile.getAttribute("data-series").split("/");
      var s = findSeries(id[0], id[1]);
      if (!s) return;
      setAttr(tile, "aria-current", id[0] === state.symbol && id[1] === state.tf ? "true" : "false");
      setBadge(tile.querySelector(".badge"), entryStatus(s, t));
    });
  }

  function renderOverall(t) {
    var m = state.manifest;
    if (!m) return;
    var o = m.overall || {};
    var st = statusNow(o, t);
    var so = state.status && state.status.overall;
    if (so && num(state.status.generated_at_ms) && state.status.generated_at_ms > (m.generated_at_ms || 0)) {
      var ms = statusNow(so, t);
      if (rank(ms) > rank(st)) st = ms;
    }
    setBadge($("overall-badge"), st);
    var counts = {}, order = [];
    seriesList().forEach(function (s) {
      var x = entryStatus(s, t);
      if (!counts[x]) { counts[x] = 0; order.push(x); }
      counts[x]++;
    });
    order.sort(function (a, b) { return rank(a) - rank(b); });
    var parts = order.map(function (k) { return counts[k] + " " + statusText(k); });
    // A failed refetch leaves the last manifest in place: it keeps being
    // judged by its own instants, and the page says it could not refresh.
    setText($("overall-time"), "site generated " + fmtTime(m.generated_at_ms) + " (" +
      ago(m.generated_at_ms) + ")" + (parts.length ? " · " + parts.join(", ") : "") +
      (state.fetchError ? " · refresh failed: " + state.fetchError : ""));
    var ds = m.data_source;
    var banner = $("source-banner");
    var recorded = !!(ds && ds.kind === "recorded");
    if (banner.hidden === recorded) banner.hidden = !recorded;
    if (recorded) setText(banner, "Recorded data: " + (ds.note ||
      "these candles are recorded Binance candles replayed with shifted times (demo), not live market data."));
  }

  function renderClock() {
    var off = state.clockOffsetMs;
    var node = $("clock");
    node.setAttribute("data-offset-ms", String(Math.round(off)));
    var rel;
    if (!state.clockFromServer) rel = "no Date header seen yet: using this browser's clock";
    else if (Math.abs(off) < 2000) rel = "this browser's clock agrees with the server";
    else {
      var a = Math.abs(off) / 1000;
      // minutes rounded once, then split: 1 h 59.6 min is "2 h 0 min", never "1 h 60 min"
      var mins = Math.round(a / 60);
      var txt = mins >= 60 ? Math.floor(mins / 60) + " h " + (mins % 60) + " min" :
        a >= 90 ? mins + " min" : Math.round(a) + " s";
      rel = "this browser's clock is " + txt + (off < 0 ? " ahead" : " behind") + "; the server's is used";
    }
    setText(node, "server time " + fmtSecs(now()) + " (from the HTTP Date header; " + rel + ")");
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

  /* ---- one series ------------------------------------------------------------ */

  function loadSeries(retried) {
    var series = findSeries(state.symbol, state.tf);
    if (!series) return Promise.resolve();
    var seq = ++state.seq;
    var trEntry = listedFile(series, "track_record.json");
    var track = trEntry ? fetchChecked(trEntry).catch(function (e) {
      // A missing track record is not an error: there is none yet.
      return e && e.httpStatus === 404 ? { missing: true } : { doc: null, problem: String(e.message || e) };
    }) : Promise.resolve({ missing: true });
    return Promise.all([fetchChecked(fileOf(series, "history.json")),
                        fetchChecked(fileOf(series, "prediction.json")), track])
      .then(function (res) {
        if (seq !== state.seq) return null;
        if (!retried && (res[0].mismatch || res[1].mismatch || res[2].mismatch))
          return loadManifest().then(function () { return loadSeries(true); });
        setView(series, res[0], res[1], res[2]);
        return null;
      })
      .catch(function (e) {
        if (seq !== state.seq) return;
        setView(series, { doc: null, problem: String(e.message || e) }, { doc: null, problem: null },
          { missing: true });
      });
  }

  function setView(series, hist, pred, track) {
    state.view = { series: series, hist: hist, pred: pred, track: track, id: ++state.viewId };
    state.panelKey = null;
    render();
  }

  function render() {
    var t = now();
    renderOverall(t);
    updateIndicators(t);
    if (state.view) renderPanel(state.view, t);
    renderClock();
  }

  function renderPanel(v, t) {
    var series = v.series, h = v.hist.doc, p = v.pred.doc;
    var ev = evaluate(v, t);
    var trStatus = v.track.doc && !v.track.problem ? statusNow(v.track.doc, t) : null;
    setText($("series-title"), series.symbol + " · " + series.timeframe +
      (series.exchange ? " · " + series.exchange : ""));
    setBadge($("status-badge"), ev.dataStatus);

    var pb = $("prediction-badge");
    var pbText = null, pbStatus = null;
    if (p && !isBlocked(ev.dataStatus)) {
      if (ev.token && ev.token !== "served" && !isBlocked(ev.predStatus)) {
        pbText = "prediction: " + (TOKEN_SHORT[ev.token] || reasonText(ev.token));
        pbStatus = ev.token;
      } else if (ev.predStatus !== ev.dataStatus) {
        pbText = "prediction: " + statusText(ev.predStatus);
        pbStatus = ev.predStatus;
      }
    }
    if (pb.hidden !== !pbText) pb.hidden = !pbText;
    if (pbText) {
      setBadge(pb, RANK[pbStatus] != null ? pbStatus : "insufficient_data", pbText);
      setAttr(pb, "data-status", pbStatus);
    }
    var degraded = (p && p.degraded) || series.degraded;
    var reasons = (p && p.degraded_reasons) || series.degraded_reasons || [];
    var db = $("degraded-badge");
    if (db.hidden !== !degraded) db.hidden = !degraded;
    setText(db, degraded ? "degraded: " + (reasons.length ? reasons.map(reasonText).join("; ") : "yes") : "");

    var lastClose = ev.problem ? null : lastCloseOf(h, series, series.timeframe);
    setText($("last-candle"), lastClose != null ? "closed " + fmtShort(lastClose) + " (" + ago(lastClose) + ")" :
      ev.problem ? "—" : "none");
    var genMs = (p && p.generated_at_ms) || (h && h.generated_at_ms);
    setText($("generated-at"), genMs ? fmtTime(genMs) + " (" + ago(genMs) + ")" : "—");
    var model = !ev.problem && p && p.model;
    setText($("model"), model ? model.version + " (" + model.kind + ")" : "none");

    // The rest changes only with the evaluated states (or new files).
    var key = [v.id, ev.dataStatus, ev.predStatus, ev.showValues, ev.reason, ev.byMonitor,
      ev.timeDriven, trStatus].join("|");
    if (key === state.panelKey) return;
    state.panelKey = key;
    renderNotice(v, ev);
    drawChart();
    renderPrediction(v, ev);
    renderQuality(v, ev);
    renderTrack(v, trStatus);
  }

  function renderNotice(v, ev) {
    var notice = $("notice");
    var h = v.hist.doc;
    var explain;
    if (ev.problem) explain = "This series cannot be trusted right now: " + ev.problem + ".";
    else if (ev.byMonitor) explain = "The monitor (status.json, " + fmtTime(state.status.generated_at_ms) +
      ") sees this series as " + statusText(ev.dataStatus) + ", worse than its files say. " +
      (STATE_EXPLAIN[ev.dataStatus] || "");
    else {
      explain = STATE_EXPLAIN[ev.dataStatus] || "";
      if (explain && ev.timeDriven && h) {
        var at = ev.timeDriven === "hard_stale" ? h.hard_stale_at_ms : h.soft_stale_at_ms;
        explain += " (" + statusText(ev.timeDriven) + " since " + fmtSecs(at) +
          ": nothing newer was published.)";
      }
      if (explain && baseStatus(ev.dataStatus) === "soft_stale" && h && num(h.hard_stale_at_ms))
        explain += " It turns hard stale at " + fmtSecs(h.hard_stale_at_ms) + " unless newer data arrives.";
    }
    notice.hidden = !explain;
    notice.textContent = explain || "";
    notice.className = "notice" + (isBlocked(ev.dataStatus) ? " blocked" : "");
  }

  function kvBox() {
    var kv = el("div", { "class": "kv" });
    kv.row = function (k, v, cls, attrs) {
      kv.appendChild(el("span", { "class": "k" }, k));
      var a = attrs || {};
      if (cls) a["class"] = cls;
      kv.appendChild(el("span", a, v));
    };
    return kv;
  }

  function renderPrediction(v, ev) {
    var box = $("prediction");
    clear(box);
    var p = v.pred.doc;
    if (!ev.showValues) {
      var why = reasonText(ev.reason || "insufficient_data");
      if (ev.byMonitor && isBlocked(ev.dataStatus)) why += " (the monitor says so)";
      else if (ev.reason === "hard_stale" && p && num(p.hard_stale_at_ms) && now() > p.hard_stale_at_ms &&
               p.prediction_status === "served")
        why += "; this prediction expired at " + fmtSecs(p.hard_stale_at_ms);
      box.appendChild(el("p", { "class": "blocked-reason", "data-testid": "blocked" },
        "No prediction: " + why + "."));
      if (!ev.problem && p && p.target_open_ms) box.appendChild(el("p", { "class": "muted" },
        "It would be for the candle opening " + fmtTime(p.target_open_ms) + "."));
      return;
    }
    var up = p.direction === "up";
    box.appendChild(el("div", { "class": "big " + (up ? "up-text" : "down-text"), "data-testid": "predicted-close" },
      fmtPrice(p.predicted_close)));
    var kv = kvBox();
    kv.row("candle", fmtTime(p.target_open_ms));
    if (num(p.predicted_return))
      kv.row("return", (p.predicted_return >= 0 ? "+" : "") + fmtPct(p.predicted_return, 3), up ? "up-text" : "down-text");
    kv.row("direction", (up ? "▲ up" : "▼ down") + (num(p.direction_probability) ?
      " · p = " + p.direction_probability.toFixed(2) : ""));
    if (p.band) kv.row(Math.round((p.band.level || 0) * 100) + " % band",
      fmtPrice(p.band.low) + " – " + fmtPrice(p.band.high));
    if (num(p.hard_stale_at_ms)) kv.row("valid until", fmtSecs(p.hard_stale_at_ms));
    if (ev.predStatus !== "fresh")
      kv.row("warning", statusText(ev.predStatus) + ": values may be out of date", "down-text");
    box.appendChild(kv);
  }

  // walk_forward errors are log returns (docs/models.md) unless a file says otherwise.
  function fmtErr(v, units) { return units === "price" ? fmtPrice(v) : fmtPct(v, 2); }

  function renderQuality(v, ev) {
    var box = $("quality");
    clear(box);
    var p = v.pred.doc, tf = v.series.timeframe;
    if (ev.problem || !p) {
      box.appendChild(el("p", { "class": "muted" }, ev.problem ? "Not shown: the files of this series are not trustworthy." : "—"));
      return;
    }
    var wf = p.walk_forward;
    var model = p.model || ev.token === "not_evaluated";
    if (!model && ev.token === "no_model") {
      box.appendChild(el("p", { "class": "muted", "data-testid": "quality-none" }, "No model, so no figures."));
      return;
    }
    if (!wf || wf.timeframe !== tf || p.evaluated_on_timeframe === false) {
      box.appendChild(el("p", { "class": "muted", "data-testid": "quality-none" }, wf || p.evaluated_on_timeframe === false ?
        "Not evaluated on this timeframe (" + tf + "): figures measured on other timeframes do not apply here." :
        "Not evaluated on this timeframe (" + tf + ") yet: no walk-forward figures."));
      return;
    }
    var kv = kvBox();
    kv.row("timeframe", wf.timeframe);
    kv.row("MAE (model)", fmtErr(wf.mae, wf.units));
    kv.row("MAE (persistence)", fmtErr(wf.persistence_mae, wf.units));
    if (num(wf.mae) && num(wf.persistence_mae) && wf.persistence_mae > 0) {
      var gain = 1 - wf.mae / wf.persistence_mae;
      kv.row("vs persistence", (gain >= 0 ? "better by " : "worse by ") + fmtPct(Math.abs(gain), 1),
        gain >= 0 ? "up-text" : "down-text");
    }
    kv.row("direction hit rate", fmtPct(wf.directional_accuracy, 1));
    kv.row("evaluated candles", String(wf.n));
    box.appendChild(kv);
    box.appendChild(el("p", { "class": "muted" },
      "Errors of the predicted log return. Persistence = \"the next close equals the last close\". " +
      "A model that does not beat it is not worth much."));
  }

  /* ---- track record -------------------------------------------------------- */

  function renderTrack(v, trStatus) {
    var box = $("track");
    var badge = $("track-badge");
    clear(box);
    var tr = v.track;
    if (tr.missing || (!tr.doc && !tr.problem)) {
      badge.hidden = true;
      box.appendChild(el("p", { "class": "muted", "data-testid": "track-empty" },
        "No track record yet: no prediction of this series has been recorded."));
      return;
    }
    badge.hidden = false;
    if (tr.problem) {
      setBadge(badge, "corrupt");
      box.appendChild(el("p", { "class": "blocked-reason" }, "Not shown: " + tr.problem + "."));
      return;
    }
    setBadge(badge, trStatus);
    var doc = tr.doc;
    var rows = (doc.rows || []).filter(function (r) { return r && num(r.target_open_ms); });
    if (!rows.length || trStatus === "insufficient_data" || trStatus === "corrupt") {
      box.appendChild(el("p", { "class": "muted", "data-testid": "track-empty" },
        trStatus === "corrupt" ? "Not shown: the track record is corrupt." :
          "No track record yet: no prediction of this series has been recorded."));
      return;
    }
    if (trStatus !== "fresh")
      box.appendChild(el("p", { "class": "notice" }, "Not updated since " + fmtTime(doc.generated_at_ms) +
        " (" + statusText(trStatus) + "): rows and windows are as of then."));
    var wrap = el("div", { "class": "track-wrap" });
    var chart = svg("svg", { id: "track-chart", role: "img",
      "aria-label": "Predicted and realized closes of the last " + rows.length + " candles" });
    wrap.appendChild(chart);
    box.appendChild(wrap);
    var legend = el("p", { "class": "legend muted" });
    legend.appendChild(el("span", { "class": "lg lg-pred", "aria-hidden": "true" }));
    legend.appendChild(document.createTextNode(" predicted close  "));
    legend.appendChild(el("span", { "class": "lg lg-real", "aria-hidden": "true" }));
    legend.appendChild(document.createTextNode(" realized close  "));
    legend.appendChild(el("span", { "class": "lg lg-pending", "aria-hidden": "true" }));
    legend.appendChild(document.createTextNode(" pending (not closed yet)"));
    box.appendChild(legend);
    state.trackRows = rows;
    drawTrack();

    var pending = rows.filter(function (r) { return r.realized_close == null; });
    if (pending.length) {
      var pl = el("p", { "class": "muted", "data-testid": "track-pending" });
      pl.textContent = pending.length + " pending: " + pending.slice(-3).map(function (r) {
        return fmtShort(r.target_open_ms) + " predicted " + fmtPrice(r.predicted_close) +
          (r.direction ? (r.direction === "up" ? " ▲" : " ▼") : "");
      }).join(", ") + (pending.length > 3 ? ", …" : "") + " (realized once the candle closes)";
      box.appendChild(pl);
    }

    var wins = doc.windows || [];
    var units = doc.units || "log_return";
    var scroller = el("div", { "class": "table-scroll" });
    var table = el("table", { "class": "windows", "data-testid": "track-windows" });
    table.appendChild(el("caption", null, "Realized errors of the predicted " +
      (units === "log_return" ? "log return" : units) + ", against persistence"));
    var thead = el("thead");
    var hr = el("tr");
    ["window", "n", "MAE vs persistence (ratio)", "hit rate (95 % CI)"].forEach(function (hd) {
      hr.appendChild(el("th", { scope: "col" }, hd));
    });
    thead.appendChild(hr);
    table.appendChild(thead);
    var tb = el("tbody");
    wins.forEach(function (w) {
      var tr2 = el("tr", { "data-window": w.window });
      tr2.appendChild(el("th", { scope: "row" }, w.window));
      tr2.appendChild(el("td", { "data-testid": "n" }, num(w.n) ? String(w.n) : "0"));
      var mae = !w.n || !num(w.mae) ? "no realized rows yet" :
        fmtErr(w.mae, units === "price" ? "price" : null) + " vs " + fmtErr(w.persistence_mae, units === "price" ? "price" : null) +
        (num(w.mae_ratio) ? " (" + w.mae_ratio.toFixed(2) + (w.mae_ratio < 1 ? ", better" : w.mae_ratio > 1 ? ", worse" : "") + ")" : "");
      tr2.appendChild(el("td", { "data-testid": "mae", "class": num(w.mae_ratio) ? (w.mae_ratio < 1 ? "up-text" : "down-text") : "" }, mae));
      var hit = !num(w.hit_rate) ? "—" : fmtPct(w.hit_rate, 1) +
        (w.hit_rate_ci95 && num(w.hit_rate_ci95[0]) ? " (" + (w.hit_rate_ci95[0] * 100).toFixed(1) + "–" +
          (w.hit_rate_ci95[1] * 100).toFixed(1) + " %)" : "") +
        (num(w.directional_n) ? ", " + (num(w.hits) ? w.hits + " of " : "") + w.directional_n : "");
      tr2.appendChild(el("td", { "data-testid": "hit" }, hit));
      tb.appendChild(tr2);
    });
    table.appendChild(tb);
    scroller.appendChild(table);
    if (wins.length) box.appendChild(scroller);
  }

  function drawTrack() {
    var root = $("track-chart");
    var rows = state.trackRows;
    if (!root || !rows) return;
    clear(root);
    var rect = root.getBoundingClientRect();
    var W = Math.max(280, Math.round(rect.width)), H = Math.max(120, Math.round(rect.height));
    root.setAttribute("viewBox", "0 0 " + W + " " + H);
    var padL = 8, padR = 78, padT = 10, padB = 22;
    var lo = Infinity, hi = -Infinity;
    rows.forEach(function (r) {
      [r.predicted_close, r.realized_close].forEach(function (x) {
        if (num(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
      });
    });
    if (!isFinite(lo)) return;
    if (hi <= lo) { hi = lo * 1.001 + 1e-9; lo = lo * 0.999; }
    var sp = hi - lo;
    lo -= sp * 0.06; hi += sp * 0.06;
    var n = rows.length, cw = (W - padL - padR) / Math.max(1, n);
    function x(i) { return padL + (i + 0.5) * cw; }
    function y(vv) { return padT + (hi - vv) / (hi - lo) * (H - padT - padB); }
    [hi - (hi - lo) * 0.06, lo + (hi - lo) * 0.06].forEach(function (vv) {
      root.appendChild(svg("line", { "class": "grid-line", x1: padL, x2: W - padR, y1: y(vv), y2: y(vv) }));
      root.appendChild(svg("text", { "class": "axis-text", x: W - padR + 6, y: y(vv) + 4 }, fmtPrice(vv)));
    });
    root.appendChild(svg("text", { "class": "axis-text", x: x(0), y: H - 6 }, fmtShort(rows[0].target_open_ms)));
    root.appendChild(svg("text", { "class": "axis-text", x: x(n - 1), y: H - 6, "text-anchor": "end" },
      fmtShort(rows[n - 1].target_open_ms)));
    // Realized closes: a line through consecutive realized rows, and dots.
    var pts = [];
    rows.forEach(function (r, i) {
      if (num(r.realized_close)) pts.push(x(i).toFixed(1) + "," + y(r.realized_close).toFixed(1));
      else if (pts.length) { root.appendChild(svg("polyline", { "class": "tr-line", points: pts.join(" ") })); pts = []; }
    });
    if (pts.length) root.appendChild(svg("polyline", { "class": "tr-line", points: pts.join(" ") }));
    rows.forEach(function (r, i) {
      var tip = fmtTime(r.target_open_ms) + ": predicted " + fmtPrice(r.predicted_close) +
        (num(r.realized_close) ? ", realized " + fmtPrice(r.realized_close) +
          (r.hit === true ? " (direction right)" : r.hit === false ? " (direction wrong)" : "") : ", pending");
      if (num(r.realized_close)) {
        var rd = svg("circle", { "class": "tr-real", "data-testid": "track-real", cx: x(i), cy: y(r.realized_close), r: 2 });
        rd.appendChild(svg("title", {}, tip));
        root.appendChild(rd);
      }
      if (num(r.predicted_close)) {
        var pend = !num(r.realized_close);
        var pd = svg("circle", { "class": pend ? "tr-pred tr-pending" : "tr-pred", "data-testid": "track-pred",
          "data-pending": pend ? "true" : "false", cx: x(i), cy: y(r.predicted_close), r: pend ? 4 : 3 });
        pd.appendChild(svg("title", {}, tip));
        root.appendChild(pd);
        if (pend && i === n - 1)
          root.appendChild(svg("text", { "class": "axis-text", x: x(i) + 7, y: y(r.predicted_close) + 4 }, "pending"));
      }
    });
  }

  /* ---- candle chart ------------------------------------------------------------ */

  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
  }

  function drawChart() {
    var v = state.view;
    var root = $("chart");
    var empty = $("chart-empty");
    clear(root);
    if (!v) return;
    var ev = evaluate(v, now());
    var h = ev.problem ? null : v.hist.doc;
    var candles = ((h && h.candles) || []).filter(function (c) {
      return c && num(c[0]) && num(c[1]) && num(c[2]) && num(c[3]) && num(c[4]);
    });
    if (ev.problem || ev.dataStatus === "corrupt" || candles.length === 0) {
      empty.hidden = false;
      empty.textContent = ev.problem ? "Not shown: " + ev.problem + "." :
        ev.dataStatus === "corrupt" ? "Not shown: the data of this series is corrupt." :
        "No candles yet for this series.";
      return;
    }
    empty.hidden = true;
    candles = candles.slice(-MAX_CANDLES);
    var p = ev.showValues ? v.pred.doc : null;
    var tf = v.series.timeframe;
    var rect = root.getBoundingClientRect();
    var W = Math.max(300, Math.round(rect.width)), H = Math.max(200, Math.round(rect.height));
    root.setAttribute("viewBox", "0 0 " + W + " " + H);
    var padL = 8, padR = 78, padT = 14, padB = 24, gap = 10;
    var volH = Math.max(36, Math.round(H * 0.18));
    var priceBot = H - padB - volH - gap, volTop = priceBot + gap, volBot = H - padB;
    var slots = candles.length + (p ? 2 : 1);
    var cw = (W - padL - padR) / slots;

    // Price axis: the candles' range. The prediction and its band may widen it
    // by at most 15 % of that range (a huge band is drawn clipped, not allowed
    // to squash the candles); volume has its own panel; never below 0 when
    // every price is positive.
    var cLo = Infinity, cHi = -Infinity;
    candles.forEach(function (c) { cLo = Math.min(cLo, c[3]); cHi = Math.max(cHi, c[2]); });
    var cSpan = cHi - cLo > 0 ? cHi - cLo : Math.max(Math.abs(cHi) * 0.01, 1e-9);
    var lo = cLo, hi = cHi, ext = cSpan * 0.15;
    if (p) {
      [p.predicted_close, p.band && p.band.low, p.band && p.band.high].forEach(function (x) {
        if (!num(x)) return;
        lo = Math.min(lo, Math.max(x, cLo - ext));
        hi = Math.max(hi, Math.min(x, cHi + ext));
      });
    }
    if (hi <= lo) { hi = lo + cSpan; }
    var padV = (hi - lo) * 0.04;
    lo -= padV; hi += padV;
    if (cLo >= 0 && lo < 0) lo = 0;
    function y(val) { return padT + (hi - val) / (hi - lo) * (priceBot - padT); }
    function yc(val) { return Math.max(padT, Math.min(priceBot, y(val))); }
    function x(i) { return padL + (i + 0.5) * cw; }

    // Price grid and labels at round values inside the axis.
    var step = niceStep((hi - lo) / 4);
    for (var g = Math.ceil(lo / step) * step, k = 0; g <= hi + 1e-9 * step && k < 12; g += step, k++) {
      var yy = y(g);
      root.appendChild(svg("line", { "class": "grid-line", x1: padL, x2: W - padR, y1: yy, y2: yy }));
      root.appendChild(svg("text", { "class": "axis-text price-label", "data-value": String(g),
        x: W - padR + 6, y: yy + 4 }, fmtPrice(g)));
    }
    // Time labels: one per ~110 px (about five on a desktop).
    var nLabels = Math.max(2, Math.min(5, Math.floor((W - padL - padR) / 110)));
    var tstep = Math.max(1, Math.ceil(candles.length / nLabels));
    for (var i = 0; i < candles.length; i += tstep) {
      var dt = new Date(candles[i][0]).toISOString();
      root.appendChild(svg("text", { "class": "axis-text", x: i === 0 ? padL : x(i), y: H - 7,
        "text-anchor": i === 0 ? "start" : "middle" },
        tf === "1m" || tf === "1h" ? dt.slice(5, 16).replace("T", " ") : tf === "1M" ? dt.slice(0, 7) : dt.slice(0, 10)));
    }
    // Candles.
    var bw = Math.max(1, Math.min(14, cw * 0.7));
    candles.forEach(function (c, j) {
      var up = c[4] >= c[1];
      var g2 = svg("g", { "class": up ? "up" : "down" });
      g2.appendChild(svg("line", { x1: x(j), x2: x(j), y1: y(c[2]), y2: y(c[3]), "stroke-width": 1 }));
      var top = y(Math.max(c[1], c[4])), bot = y(Math.min(c[1], c[4]));
      g2.appendChild(svg("rect", { x: x(j) - bw / 2, y: top, width: bw, height: Math.max(1, bot - top) }));
      g2.appendChild(svg("title", {}, new Date(c[0]).toISOString() + "  O " + fmtPrice(c[1]) + "  H " +
        fmtPrice(c[2]) + "  L " + fmtPrice(c[3]) + "  C " + fmtPrice(c[4]) + "  V " + c[5]));
      root.appendChild(g2);
    });
    // Volume: its own strip and scale under the candles.
    var vmax = 0;
    candles.forEach(function (c) { if (num(c[5]) && c[5] > vmax) vmax = c[5]; });
    root.appendChild(svg("line", { "class": "grid-line", x1: padL, x2: W - padR, y1: volTop - gap / 2, y2: volTop - gap / 2 }));
    root.appendChild(svg("text", { "class": "axis-text", x: W - padR + 6, y: volTop + 8 }, "vol " + fmtVol(vmax)));
    var vg = svg("g", { "class": "volume", "data-testid": "volume" });
    candles.forEach(function (c, j) {
      var vol = num(c[5]) && c[5] > 0 ? c[5] : 0;
      var hgt = vmax > 0 ? vol / vmax * (volBot - volTop) : 0;
      var r = svg("rect", { "class": "vol " + (c[4] >= c[1] ? "up" : "down"), "data-testid": "volume-bar",
        x: x(j) - bw / 2, y: volBot - hgt, width: bw, height: Math.max(hgt, vol > 0 ? 0.5 : 0) });
      vg.appendChild(r);
    });
    root.appendChild(vg);
    // The predicted next candle: band (clipped to the axis), dashed body from
    // the last close, close mark.
    if (p) {
      var jj = candles.length + 0.5;
      var last = candles[candles.length - 1][4];
      var g3 = svg("g", { "data-testid": "prediction-mark" });
      if (p.band && num(p.band.low) && num(p.band.high)) {
        var bt = yc(p.band.high), bb = yc(p.band.low);
        g3.appendChild(svg("rect", { "class": "pred-band", x: x(jj) - cw * 0.9, width: cw * 1.8,
          y: bt, height: Math.max(1, bb - bt) }));
        if (p.band.low < lo) g3.appendChild(svg("text", { "class": "axis-text", x: x(jj), y: priceBot - 3,
          "text-anchor": "middle" }, "▼"));
        if (p.band.high > hi) g3.appendChild(svg("text", { "class": "axis-text", x: x(jj), y: padT + 9,
          "text-anchor": "middle" }, "▲"));
      }
      var pc = p.predicted_close;
      var ptop = yc(Math.max(last, pc)), pbot = yc(Math.min(last, pc));
      g3.appendChild(svg("rect", { "class": "pred", x: x(jj) - bw / 2, y: ptop, width: bw, height: Math.max(1, pbot - ptop) }));
      g3.appendChild(svg("line", { "class": "pred-close", x1: x(jj) - cw * 0.9, x2: x(jj) + cw * 0.9,
        y1: yc(pc), y2: yc(pc) }));
      g3.appendChild(svg("title", {}, "predicted close " + fmtPrice(pc) +
        (p.band ? "  band " + fmtPrice(p.band.low) + " – " + fmtPrice(p.band.high) : "")));
      root.appendChild(g3);
    }
    if (isBlocked(ev.dataStatus)) {
      root.appendChild(svg("rect", { "class": "stale-cover", x: 0, y: 0, width: W - padR, height: H }));
      root.appendChild(svg("text", { "class": "stale-text", x: (W - padR) / 2, y: padT + 22, "text-anchor": "middle" },
        statusText(ev.dataStatus).toUpperCase() + " — no prediction"));
    }
  }

  /* ---- system: monitor and ingest files ------------------------------------ */

  function loadSystem() {
    return Promise.all([
      fetchText("status.json").then(JSON.parse).catch(function () { return null; }),
      fetchText("runtime_metrics.json").then(JSON.parse).catch(function () { return null; })
    ]).then(function (r) {
      state.status = r[0];
      state.metrics = r[1];
      state.panelKey = null;
      renderSystem();
      render();
    });
  }

  function renderSystem() {
    var st = state.status, rm = state.metrics;
    var parts = [];
    if (st) {
      var list = Array.isArray(st) ? st : st.series || [];
      var alerting = list.filter(function (s) { return s.last_alert && s.last_alert.status === "firing"; }).length;
      parts.push("monitor: " + list.length + " series, " + alerting + " alerting, updated " +
        fmtTime(st.generated_at_ms || st.updated_at_ms));
    } else {
      parts.push("monitor: no status.json");
    }
    if (rm && rm.summary) {
      var s = rm.summary;
      parts.push("ingest cycles: p50 " + (num(s.p50_elapsed_seconds) ? s.p50_elapsed_seconds.toFixed(2) : "—") +
        " s, p95 " + (num(s.p95_elapsed_seconds) ? s.p95_elapsed_seconds.toFixed(2) : "—") +
        " s, overruns " + fmtPct(s.overrun_rate || 0, 1) + " of " + s.samples);
    } else {
      parts.push("ingest: no runtime_metrics.json");
    }
    setText($("system"), parts.join(" · "));
  }

  /* ---- model lifecycle: manifest.json "model" ------------------------------- */

  var VIA_TEXT = {
    bootstrap: "first champion, on walk-forward evidence (bootstrap)",
    automatic: "promoted automatically on shadow evidence",
    manual: "promoted by an operator",
    rollback: "champion again after a rollback of its successor",
    unknown: "how it was promoted is not recorded"
  };
  var EVENT_TEXT = {
    registered: "registered", promoted: "promoted", refused: "refused by the gate",
    rolled_back: "rolled back to", retired: "retired", training_failed: "training failed"
  };

  function renderLifecycle() {
    var m = state.manifest && state.manifest.model;
    var roles = $("lifecycle-roles"), events = $("lifecycle-events");
    clear(roles);
    clear(events);
    if (!m) {
      roles.appendChild(el("li", { "class": "muted" }, "the model registry has not been read yet"));
      return;
    }
    var c = m.champion, ch = m.challenger;
    if (c) {
      roles.appendChild(el("li", { "data-testid": "lifecycle-champion" },
        "champion " + c.version + (c.kind ? " (" + c.kind + ")" : "") +
        (num(c.since_ms) ? ", since " + fmtTime(c.since_ms) + " (" + ago(c.since_ms) + ")" : "") +
        ": " + (VIA_TEXT[c.promoted_via] || c.promoted_via)));
    } else {
      roles.appendChild(el("li", { "data-testid": "lifecycle-champion" }, "no champion model yet"));
    }
    if (ch) {
      var shadow = num(ch.shadow_realized)
        ? ch.shadow_realized + (num(ch.shadow_needed) ? " of " + ch.shadow_needed + " needed" : "") +
          " realized predictions"
        : "realized predictions not counted yet";
      roles.appendChild(el("li", null, "challenger " + ch.version + " in shadow since " +
        fmtTime(ch.registered_at_ms) + ": " + shadow));
    } else {
      roles.appendChild(el("li", { "class": "muted" }, "no challenger in shadow"));
    }
    if (m.previous) roles.appendChild(el("li", { "class": "muted" }, "previous champion " + m.previous));
    var list = m.events || [];
    if (m.events_undecodable) events.appendChild(el("li", { "class": "muted" }, "the event log could not be read"));
    else if (!list.length) events.appendChild(el("li", { "class": "muted" }, "none yet"));
    list.slice(0, 8).forEach(function (e) {
      var what = (EVENT_TEXT[e.kind] || e.kind) + (e.version ? " " + e.version : "");
      var why = e.reason ? " — " + (e.reason.length > 240 ? e.reason.slice(0, 240) + "…" : e.reason) : "";
      events.appendChild(el("li", null, fmtTime(e.at_ms) + " " + what + why));
    });
  }

  /* ---- main loop -------------------------------------------------------------- */

  function loadManifest() {
    return fetchText("manifest.json").then(function (text) {
      state.manifest = JSON.parse(text);
      state.fetchError = null;
      renderOverall(now());
      renderLifecycle();
    });
  }

  function refresh() {
    return loadManifest().then(function () {
      var syms = symbols();
      if (!syms.length) {
        $("series-title").textContent = "No series published yet";
        setBadge($("status-badge"), "insufficient_data");
        return loadSystem();
      }
      var want = readHash() || { symbol: state.symbol, tf: state.tf };
      var sym = want.symbol && syms.indexOf(want.symbol) >= 0 ? want.symbol : syms[0];
      select(sym, want.tf || "1h");
      return loadSystem();
    }).catch(function (e) {
      state.fetchError = String(e.message || e);
      if (state.manifest) { render(); return; }
      setBadge($("overall-badge"), "unknown", "site unavailable");
      $("overall-time").textContent = state.fetchError;
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
    resizeTimer = setTimeout(function () { drawChart(); drawTrack(); }, 100);
  });
  refresh();
  setInterval(refresh, REFRESH_MS);
  // Validity is a function of time: re-judge every second, no refetch needed.
  setInterval(function () { if (state.manifest) render(); }, TICK_MS);
})();
