// web_check.js PORT OUT_DIR SITE_DIR: drives Debian's headless chromium
// (through playwright-core) over the fixture site (make_fixture.py, served
// from SITE_DIR on 127.0.0.1:PORT) and checks what a person would: the page
// renders, symbol and timeframe switch, every state says why instead of
// showing numbers, validity is judged live (a series turns soft then hard
// stale at the instants its files announce, without a reload) by a clock
// corrected with the HTTP Date header (the browser's clock is shifted by
// +2 h for the whole run), volume and a sane price axis, the track record,
// the recorded-data banner, <noscript>, the 390 px layout, axe-core (0
// serious/critical) and a clean console. Writes screenshots into OUT_DIR
// and prints their paths. Exit 0 = all checks passed.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const { chromium } = require("playwright-core");

const [port, outDir, siteDir] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}/`;
const PY = process.env.PYTHON || "python3";
const FIXTURE = path.join(__dirname, "make_fixture.py");
const SHIFT_MS = 2 * 3600 * 1000; // the browser's clock runs 2 h ahead of the server
let passed = 0;
let failed = 0;

function check(name, cond, detail) {
  if (cond) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`FAIL - ${name}${detail !== undefined ? ": " + detail : ""}`);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const readJSON = (rel) => JSON.parse(fs.readFileSync(path.join(siteDir, rel), "utf8"));
const seriesFile = (sym, tf, name) => readJSON(`v1/binance/${sym}/${tf}/${name}`);

// Waits until the panel shows symbol/tf (with the given status unless null).
async function waitSeries(page, symbol, tf, status) {
  await page.waitForFunction(
    ([s, t, st]) => {
      const title = document.getElementById("series-title").textContent;
      const b = document.getElementById("status-badge").getAttribute("data-status");
      return title.startsWith(`${s} · ${t}`) && (st === null || b === st);
    },
    [symbol, tf, status],
    { timeout: 10000 }
  ).catch(async (e) => {
    const shown = await page.evaluate(() => document.getElementById("series-title").textContent + " [" +
      document.getElementById("status-badge").getAttribute("data-status") + "]").catch(() => "?");
    throw new Error(`waiting for ${symbol} ${tf} [${status === null ? "any" : status}], page shows ${shown}: ${e.message.split("\n")[0]}`);
  });
}
const text = (page, sel) => page.$eval(sel, (e) => e.textContent);

// Price labels of the candle chart, and the candles' low/high.
async function axisWithin(page, sym, tf, name) {
  const h = seriesFile(sym, tf, "history.json");
  const cs = h.candles.slice(-120);
  const lo = Math.min(...cs.map((c) => c[3]));
  const hi = Math.max(...cs.map((c) => c[2]));
  const span = hi - lo;
  const labels = await page.$$eval("#chart .price-label", (l) => l.map((e) => Number(e.getAttribute("data-value"))));
  const okRange = labels.length >= 3 && labels.every((v) => v >= lo - 0.2 * span && v <= hi + 0.2 * span);
  check(`${name}: price axis labels within the candles' range (+20 % pad)`, okRange,
    `labels ${labels.join(", ")}; candles ${lo}..${hi}`);
  check(`${name}: price axis never below 0`, labels.every((v) => v >= 0), labels.join(", "));
}

// Volume bars: one per candle, in their own strip below every candle.
async function volumeOk(page, n, name) {
  const r = await page.evaluate(() => {
    const bars = Array.from(document.querySelectorAll("#chart [data-testid=volume-bar]"));
    const candleBottom = Math.max(...Array.from(document.querySelectorAll("#chart g.up, #chart g.down"))
      .map((g) => g.getBoundingClientRect().bottom));
    const barTop = Math.min(...bars.map((b) => b.getBoundingClientRect().top));
    const tall = bars.filter((b) => Number(b.getAttribute("height")) > 0.5).length;
    return { n: bars.length, candleBottom, barTop, tall };
  });
  check(`${name}: ${n} volume bars`, r.n === n && r.tall > n / 2, JSON.stringify(r));
  check(`${name}: volume strip below the candles`, r.barTop >= r.candleBottom - 0.5, JSON.stringify(r));
}

async function axeCheck(page, axePath, label) {
  await page.addScriptTag({ path: axePath });
  const v = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((x) => ({ id: x.id, impact: x.impact, nodes: x.nodes.length,
      targets: x.nodes.slice(0, 4).map((n) => n.target.join(" ")) }));
  });
  const bad = v.filter((x) => x.impact === "serious" || x.impact === "critical");
  console.log(`# axe ${label}: ${v.length} violation rule(s): ` +
    (v.map((x) => `${x.id}/${x.impact}x${x.nodes}`).join(", ") || "none"));
  check(`axe-core ${label}: 0 serious or critical violations`, bad.length === 0, JSON.stringify(bad));
}

function fmtUTC(ms) { return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC"; }
// What the page prints for an instant: "HH:MM UTC" today, else the full date.
function shortUTC(ms) {
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 10) === new Date().toISOString().slice(0, 10) ? iso.slice(11, 16) + " UTC" : fmtUTC(ms);
}

(async () => {
  let axePath;
  try {
    axePath = require.resolve("axe-core/axe.min.js");
  } catch (e) {
    check("axe-core installed", false, e.message);
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(1);
  }
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "coin-web-chromium-"));
  const browser = await chromium.launchPersistentContext(userDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
      "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1280, height: 1000 },
    colorScheme: "light",
  });
  const problems = [];
  const shots = [];
  let navigating = false;
  const t0 = Date.now();
  try {
    const page = browser.pages()[0] || (await browser.newPage());
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => {
      // A refetch cut short by our own navigation is not the page's fault.
      if (navigating && /ERR_ABORTED/.test((r.failure() || {}).errorText || "")) return;
      problems.push(`request failed: ${r.url()} ${(r.failure() || {}).errorText || ""}`);
    });
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    let manifestFetches = 0;
    page.on("request", (r) => { if (/\/manifest\.json/.test(r.url())) manifestFetches++; });
    const go = async (url) => {
      navigating = true;
      try { await page.goto(url, { waitUntil: "load" }); } finally { navigating = false; }
    };

    // 0. The browser's clock is 2 h ahead of the server for the whole run:
    // every judgement below holds only if the page uses the Date header.
    check("playwright has page.clock (>= 1.45)", !!(browser.clock && browser.clock.setSystemTime));
    await browser.clock.setSystemTime(Date.now() + SHIFT_MS);

    // 1. Live validity. The DOGEUSDT 1h files say: soft stale 4 s, hard stale
    // 8 s after now. Rewrite the site so "now" is this instant, then watch.
    execFileSync(PY, [FIXTURE, siteDir, "--live-anchor-ms", String(Date.now())]);
    const doge = readJSON("manifest.json").series.find((s) => s.symbol === "DOGEUSDT" && s.timeframe === "1h");
    const softAt = doge.soft_stale_at_ms, hardAt = doge.hard_stale_at_ms;
    const dogeHist = seriesFile("DOGEUSDT", "1h", "history.json");
    check("fixture: live series files announce the same instants as the manifest",
      dogeHist.soft_stale_at_ms === softAt && dogeHist.hard_stale_at_ms === hardAt);
    await go(base + "#DOGEUSDT/1h");
    await waitSeries(page, "DOGEUSDT", "1h", "fresh");
    await page.waitForSelector("[data-testid=predicted-close]", { timeout: 5000 });
    const loadedAt = Date.now();
    const fetchesAtLoad = manifestFetches;
    const skew = (await page.evaluate(() => Date.now())) - Date.now();
    check("browser clock runs 2 h ahead of the server", Math.abs(skew - SHIFT_MS) < 60000, skew);
    const off = Number(await page.$eval("#clock", (e) => e.getAttribute("data-offset-ms")));
    check("page corrects its clock from the HTTP Date header", Math.abs(off + SHIFT_MS) < 3000, off);
    check("live series: fresh with values right after load", loadedAt < softAt, `${softAt - loadedAt} ms before soft`);
    const seen = {};
    let sample;
    while (Date.now() < hardAt + 6000) {
      sample = await page.evaluate(() => ({
        st: document.getElementById("status-badge").getAttribute("data-status"),
        values: !!document.querySelector("[data-testid=predicted-close]"),
        mark: !!document.querySelector("#chart [data-testid=prediction-mark]"),
        tile: document.querySelector(".tile[data-series='DOGEUSDT/1h'] .badge").getAttribute("data-status"),
        dot: document.querySelector("#timeframes button[data-tf='1h'] .dot").getAttribute("data-status"),
        prediction: document.getElementById("prediction").textContent,
        notice: document.getElementById("notice").textContent,
      }));
      const t = Date.now();
      if (!seen[sample.st]) seen[sample.st] = Object.assign({ t }, sample);
      if (sample.st === "hard_stale" && !sample.values && !sample.mark) break;
      await sleep(100);
    }
    const s = seen.soft_stale, h = seen.hard_stale;
    console.log(`# live: soft stale seen ${s ? s.t - softAt : "-"} ms after soft_stale_at, ` +
      `hard stale ${h ? h.t - hardAt : "-"} ms after hard_stale_at (browser clock +${SHIFT_MS / 3600000} h)`);
    check("live: soft stale within 5 s after soft_stale_at (not before)",
      s && s.t >= softAt - 100 && s.t <= softAt + 5000, s ? `${s.t - softAt} ms after` : "never soft");
    check("live: values still shown while soft stale", s && s.values && s.mark);
    check("live: hard stale within 5 s after hard_stale_at (not before)",
      h && h.t >= hardAt - 100 && h.t <= hardAt + 5000, h ? `${h.t - hardAt} ms after` : "never hard");
    check("live: prediction values disappear at hard stale",
      sample.st === "hard_stale" && !sample.values && !sample.mark && /No prediction/.test(sample.prediction),
      JSON.stringify(sample));
    check("live: hard stale explained with its instant", /hard stale since \d\d:\d\d:\d\d UTC/.test(sample.notice), sample.notice);
    check("live: tile and tab dot follow", sample.tile === "hard_stale" && sample.dot === "hard_stale",
      `${sample.tile} ${sample.dot}`);
    check("live: no reload needed (manifest not refetched)", manifestFetches === fetchesAtLoad,
      `${manifestFetches - fetchesAtLoad} refetches`);

    // 2. Renders: first symbol, 1h by default, fresh (its hard_stale_at is
    // less than 2 h away: a page using the browser's clock says hard stale).
    await go(base);
    await waitSeries(page, "BTCUSDT", "1h", "fresh");
    check("BTCUSDT 1h fresh although the browser clock is 2 h ahead (server Date used)", true);
    const nCandles = await page.$$eval("#chart g.up, #chart g.down", (l) => l.length);
    check("chart draws 120 candles", nCandles === 120, nCandles);
    await volumeOk(page, 120, "1h");
    await axisWithin(page, "BTCUSDT", "1h", "1h");
    check("predicted candle and band drawn", (await page.$("#chart [data-testid=prediction-mark] .pred-band")) !== null);
    const close = await text(page, "[data-testid=predicted-close]");
    check("predicted close shown as a number", /^[0-9,]+\.[0-9]{2}$/.test(close), close);
    const quality = await text(page, "#quality");
    check("walk-forward on 1h vs persistence shown", /persistence/.test(quality) && /better by 11\.5 %/.test(quality) &&
      /0\.4\d %/.test(quality), quality);
    check("model version shown", (await text(page, "#model")).includes("ridge-20260101-001"));
    check("generated_at shown", /UTC/.test(await text(page, "#generated-at")));
    check("overall badge is the worst state now",
      (await page.$eval("#overall-badge", (e) => e.getAttribute("data-status"))) === "insufficient_data");
    check("no degraded badge on a healthy series", await page.$eval("#degraded-badge", (e) => e.hidden));
    check("no separate prediction badge when it agrees", await page.$eval("#prediction-badge", (e) => e.hidden));
    const banner = await page.$eval("#source-banner", (e) => ({ shown: !e.hidden && e.offsetHeight > 0, t: e.textContent }));
    check("recorded-data banner visible with the manifest's note", banner.shown &&
      /^Recorded data: these candles are recorded Binance candles replayed with shifted times \(demo\), not live market data\.$/.test(banner.t),
      JSON.stringify(banner));
    {
      const hb = seriesFile("BTCUSDT", "1h", "history.json");
      const lc = await text(page, "#last-candle");
      const m = /^closed (.+ UTC) \((\d+) (s|min) ago\)$/.exec(lc);
      const age = (Date.now() - hb.last_candle_close_ms) / 1000;
      const shown = m ? (m[3] === "s" ? Number(m[2]) : Number(m[2]) * 60) : NaN;
      check("last candle: close time (not open) and its age", m && m[1] === shortUTC(hb.last_candle_close_ms) &&
        Math.abs(shown - age) <= (m[3] === "s" ? 3 : 61), `${lc} (close ${fmtUTC(hb.last_candle_close_ms)}, age ${Math.round(age)} s)`);
    }
    {
      const tr = seriesFile("BTCUSDT", "1h", "track_record.json");
      const got = await page.evaluate(() => ({
        pred: document.querySelectorAll("#track-chart [data-testid=track-pred]").length,
        pending: document.querySelectorAll("#track-chart [data-testid=track-pred][data-pending=true]").length,
        real: document.querySelectorAll("#track-chart [data-testid=track-real]").length,
        pendingText: (document.querySelector("[data-testid=track-pending]") || {}).textContent || "",
        badge: document.getElementById("track-badge").getAttribute("data-status"),
        rows: Array.from(document.querySelectorAll("[data-testid=track-windows] tbody tr")).map((r) => ({
          w: r.getAttribute("data-window"), n: r.querySelector("[data-testid=n]").textContent,
          mae: r.querySelector("[data-testid=mae]").textContent, hit: r.querySelector("[data-testid=hit]").textContent })),
      }));
      const nPending = tr.rows.filter((r) => r.realized_close === null).length;
      check("track record: predicted dot per row, realized dot per closed row",
        got.pred === tr.rows.length && got.real === tr.rows.length - nPending, JSON.stringify(got));
      check("track record: pending rows shown as pending", nPending === 1 && got.pending === nPending &&
        /1 pending: .*predicted/.test(got.pendingText), got.pendingText);
      check("track record: its own badge", got.badge === "fresh", got.badge);
      const wantRows = tr.windows.map((w) => w.window).join(",");
      check("track record: windows table 24h/7d/30d", got.rows.map((r) => r.w).join(",") === wantRows && wantRows === "24h,7d,30d",
        JSON.stringify(got.rows));
      const allOk = tr.windows.every((w, i) => {
        const r = got.rows[i];
        return r && r.n === String(w.n) && r.mae.includes(`(${w.mae_ratio.toFixed(2)}`) && r.mae.includes(" vs ") &&
          r.hit.includes(`(${(w.hit_rate_ci95[0] * 100).toFixed(1)}–${(w.hit_rate_ci95[1] * 100).toFixed(1)} %)`) &&
          r.hit.includes(`${(w.hit_rate * 100).toFixed(1)} %`);
      });
      check("track record: n, MAE vs persistence (ratio), hit rate with 95 % CI", allOk, JSON.stringify(got.rows));
    }
    await page.screenshot({ path: path.join(outDir, "web-fresh.png"), fullPage: true });
    shots.push("web-fresh.png");
    await axeCheck(page, axePath, "desktop 1280 px (light)");
    await page.emulateMedia({ colorScheme: "dark" });
    await axeCheck(page, axePath, "desktop 1280 px (dark)");
    await page.screenshot({ path: path.join(outDir, "web-dark.png"), fullPage: false });
    shots.push("web-dark.png");
    await page.emulateMedia({ colorScheme: "light" });

    // 3. Timeframe switch: 1d is soft stale, values shown with a warning.
    await page.click("#timeframes button[data-tf='1d']");
    await waitSeries(page, "BTCUSDT", "1d", "soft_stale");
    check("timeframe switch to 1d: soft stale badge", true);
    const notice1d = await text(page, "#notice");
    check("soft stale: notice explains and says when it turns hard",
      /overdue/.test(notice1d) && /turns hard stale at (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d UTC/.test(notice1d), notice1d);
    check("soft stale: values still shown", (await page.$("[data-testid=predicted-close]")) !== null);
    check("soft stale: warning row", /may be out of date/.test(await text(page, "#prediction")));
    check("hash follows the selection", (await page.evaluate(() => location.hash)) === "#BTCUSDT/1d");
    check("no track record listed: says so, not an error", /No track record yet/.test(await text(page, "#track")));

    // 4. 1m: the champion was not evaluated on 1m: not served, and the
    // walk-forward figures the file carries (from 1h) are not shown.
    await page.click("#timeframes button[data-tf='1m']");
    await waitSeries(page, "BTCUSDT", "1m", null);
    const p1m = await text(page, "#prediction");
    check("not_evaluated: readable reason",
      /No prediction: the model was not evaluated on this timeframe, so it is not served here\./.test(p1m), p1m);
    check("not_evaluated: own prediction badge",
      (await page.$eval("#prediction-badge", (e) => (e.hidden ? "" : e.textContent))) === "prediction: not evaluated");
    const q1m = await text(page, "#quality");
    check("model quality: figures of another timeframe not shown",
      /Not evaluated on this timeframe \(1m\)/.test(q1m) && !/better by|hit rate/.test(q1m), q1m);

    // 5. 1M: prices 20000-60000, a band far below: the axis stays with the data.
    await page.click("#timeframes button[data-tf='1M']");
    await waitSeries(page, "BTCUSDT", "1M", "fresh");
    await axisWithin(page, "BTCUSDT", "1M", "1M");
    await volumeOk(page, 100, "1M");
    check("1M: prediction (band clipped) drawn", (await page.$("#chart [data-testid=prediction-mark] .pred-band")) !== null);
    {
      const hm = seriesFile("BTCUSDT", "1M", "history.json");
      const d = new Date(hm.last_candle_open_ms);
      const closeMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      const lc = await text(page, "#last-candle");
      check("1M: no last_candle_close in the file -> month end from the calendar",
        hm.last_candle_close_ms === undefined && lc.startsWith(`closed ${shortUTC(closeMs)} (`), lc);
    }
    check("1M: walk-forward measured on 1M shown", /better by/.test(await text(page, "#quality")));
    await page.screenshot({ path: path.join(outDir, "web-1M.png"), fullPage: false });
    shots.push("web-1M.png");

    // 6. Symbol switch: ETHUSDT keeps 1d -> insufficient data, blocked.
    await page.click("#timeframes button[data-tf='1d']");
    await waitSeries(page, "BTCUSDT", "1d", null);
    await page.selectOption("#symbol", "ETHUSDT");
    await waitSeries(page, "ETHUSDT", "1d", "insufficient_data");
    check("symbol switch keeps the timeframe: insufficient data", true);
    const blockedText = await text(page, "#prediction");
    check("insufficient data: says why", /not enough candles/.test(blockedText), blockedText);
    check("insufficient data: no numbers", !/[0-9]/.test(blockedText.replace(/for the candle opening.*$/, "")), blockedText);
    check("insufficient data: empty chart explained",
      await page.$eval("#chart-empty", (e) => !e.hidden && /No candles/.test(e.textContent)));

    // 7. ETHUSDT 1h: hard stale, blocked, says why; the monitor's "soft
    // stale" is better than the file and is ignored.
    await page.click("#timeframes button[data-tf='1h']");
    await waitSeries(page, "ETHUSDT", "1h", "hard_stale");
    check("hard stale badge (the monitor's better view ignored)", (await text(page, "#status-badge")) === "hard stale");
    const hs = await text(page, "#prediction");
    check("hard stale: no prediction, reason given", /No prediction: the input candles are overdue/.test(hs), hs);
    check("hard stale: no predicted close element", (await page.$("[data-testid=predicted-close]")) === null);
    check("hard stale: no prediction mark on the chart", (await page.$("#chart [data-testid=prediction-mark]")) === null);
    check("hard stale: chart overlay says so", /HARD STALE/.test(await text(page, "#chart")));
    check("hard stale: blocked notice", await page.$eval("#notice", (e) => !e.hidden && e.classList.contains("blocked")));
    const lcEth = await text(page, "#last-candle");
    check("last candle age counts from its close (server clock)", /^closed .* \((9|10|11) h ago\)$/.test(lcEth), lcEth);
    await page.screenshot({ path: path.join(outDir, "web-stale.png"), fullPage: true });
    shots.push("web-stale.png");

    // 8. Degraded: SOLUSDT 1h fresh, no model -> degraded badge, no values.
    await page.click(".tile[data-series='SOLUSDT/1h']");
    await waitSeries(page, "SOLUSDT", "1h", "fresh");
    const deg = await page.$eval("#degraded-badge", (e) => (e.hidden ? "" : e.textContent));
    check("degraded flag with its reason", /degraded: no champion model/.test(deg), deg);
    check("no model: blocked, no numbers", (await page.$("[data-testid=predicted-close]")) === null);
    check("no model: readable reason", /No prediction: no champion model is registered yet\./.test(await text(page, "#prediction")));
    const pbadge = await page.$eval("#prediction-badge", (e) => (e.hidden ? "" : e.textContent));
    check("data fresh, prediction not served: own badge", pbadge === "prediction: no model", pbadge);
    check("data fresh: no blocked notice", await page.$eval("#notice", (e) => e.hidden));
    check("no model: no quality figures", /No model/.test(await text(page, "#quality")));

    // 9. The monitor (status.json newer than the files) says hard stale.
    await page.selectOption("#symbol", "LTCUSDT");
    await waitSeries(page, "LTCUSDT", "1h", "hard_stale");
    check("monitor newer and worse: its status is used", true);
    check("monitor override: explained", /monitor/.test(await text(page, "#notice")));
    check("monitor override: values hidden", (await page.$("[data-testid=predicted-close]")) === null &&
      (await page.$("#chart [data-testid=prediction-mark]")) === null);
    check("monitor override: tile follows",
      (await page.$eval(".tile[data-series='LTCUSDT/1h'] .badge", (e) => e.getAttribute("data-status"))) === "hard_stale");

    // 10. A file that does not match the manifest is shown as corrupt.
    await page.selectOption("#symbol", "XRPUSDT");
    await waitSeries(page, "XRPUSDT", "1h", "corrupt");
    check("sha256 mismatch shown as corrupt", true);
    check("corrupt: chart replaced by the reason",
      await page.$eval("#chart-empty", (e) => !e.hidden && /does not match the manifest/.test(e.textContent)));

    // 11. Overview grid, deep link, system line.
    const tile = await page.$eval(".tile[data-series='ETHUSDT/1h'] .badge", (e) => e.textContent);
    check("grid tile shows the stale series", tile === "hard stale", tile);
    const dogeTile = await page.$eval(".tile[data-series='DOGEUSDT/1h'] .badge", (e) => e.getAttribute("data-status"));
    check("grid tile of the live series: hard stale from its manifest entry", dogeTile === "hard_stale", dogeTile);
    await go(base + "?deep#BTCUSDT/1h");
    await waitSeries(page, "BTCUSDT", "1h", "fresh");
    check("deep link #BTCUSDT/1h (fresh load)", true);
    await page.waitForFunction(() => /monitor:/.test(document.getElementById("system").textContent), null, { timeout: 5000 });
    const sys = await text(page, "#system");
    check("system line reads status.json and runtime_metrics.json",
      /monitor: 10 series, 2 alerting/.test(sys) && /p95 1\.20 s/.test(sys), sys);
    const clk = await text(page, "#clock");
    check("clock line says the browser is 2 h ahead", /browser's clock is 2 h 0 min ahead/.test(clk), clk);
    await page.screenshot({ path: path.join(outDir, "web-screenshot.png"), fullPage: false });
    shots.push("web-screenshot.png");

    // 12. Phone layout: the chart starts on the first screen.
    // (a new URL: a hash-only goto would not reload the page)
    await page.setViewportSize({ width: 390, height: 844 });
    await go(base + "?phone#BTCUSDT/1h");
    await waitSeries(page, "BTCUSDT", "1h", "fresh");
    await page.waitForSelector("#chart [data-testid=prediction-mark]", { timeout: 5000 });
    const box = await page.$eval("#chart", (e) => { const r = e.getBoundingClientRect(); return { top: r.top, bottom: r.bottom }; });
    check("390x844: the chart starts within the first screen", box.top < 844, JSON.stringify(box));
    const sw = await page.evaluate(() => document.documentElement.scrollWidth);
    check("390x844: no horizontal scrolling", sw <= 390, sw);
    await page.screenshot({ path: path.join(outDir, "web-mobile.png"), fullPage: false });
    shots.push("web-mobile.png");
    await axeCheck(page, axePath, "phone 390 px");

    // 13. <noscript> explains the JSON layout.
    const html = fs.readFileSync(path.join(siteDir, "index.html"), "utf8");
    const ns = (/<noscript>([\s\S]*?)<\/noscript>/.exec(html) || [])[1] || "";
    check("index.html has <noscript> with links and the JSON layout",
      /href="manifest\.json"/.test(ns) && /href="status\.json"/.test(ns) &&
      /v1\/&lt;exchange&gt;\/&lt;symbol&gt;\/&lt;tf&gt;\//.test(ns) &&
      /history\.json/.test(ns) && /prediction\.json/.test(ns) && /track_record\.json/.test(ns), ns.slice(0, 200));
    check("the served page carries the <noscript>", (await page.$("noscript")) !== null);
  } catch (e) {
    check("browser run", false, e.stack || e.message);
  } finally {
    await browser.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  check("no console errors, failed requests or HTTP errors", problems.length === 0, problems.join(" | "));
  for (const f of shots) {
    const p = path.join(outDir, f);
    if (fs.existsSync(p)) console.log(`screenshot: ${p}`);
  }
  console.log(`${passed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(failed === 0 ? 0 : 1);
})();
