// e2e_check.js PORT SITE_DIR PUBLISH_PID COINCTL: the browser half of
// tests/web/test_site_e2e.sh, against the real stack (scripts/demo.sh) whose
// page and site nginx serves on 127.0.0.1:PORT and whose coin-publish runs as
// PUBLISH_PID, writing SITE_DIR. Opens #BTCUSDT/1m in Debian's headless
// chromium (playwright-core), sees it fresh, SIGKILLs coin-publish at an idle
// moment (not while it writes), reads the validity instants from the
// history.json left on disk, and checks: the status badge turns soft_stale
// within [soft_stale_at, +5 s] and hard_stale within [hard_stale_at, +5 s]
// (host clock = nginx's clock; the page corrects its own with the Date
// header), no prediction numbers at hard_stale, and `COINCTL site --dir
// SITE_DIR` says NOW soft_stale (exit 0) just after the soft instant and NOW
// hard_stale (exit 3) just after the hard one. Exit 0 = every check passed.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFile } = require("child_process");
const { chromium } = require("playwright-core");

const [port, siteDir, publishPidArg, coinctl] = process.argv.slice(2);
const publishPid = Number(publishPidArg);
const base = `http://127.0.0.1:${port}/`;
const SERIES = "v1/binance/BTCUSDT/1m";
const WINDOW_MS = 5000; // the page may be this late, never early
let passed = 0;
let failed = 0;

function check(name, cond, detail) {
  if (cond) {
    passed++;
    console.log(`ok - ${name}${detail !== undefined ? " (" + detail + ")" : ""}`);
  } else {
    failed++;
    console.log(`FAIL - ${name}${detail !== undefined ? ": " + detail : ""}`);
  }
  return !!cond;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const sleepUntil = (t) => sleep(t - Date.now());
function readJSON(rel) {
  try {
    return JSON.parse(fs.readFileSync(path.join(siteDir, rel), "utf8"));
  } catch (e) {
    return null;
  }
}
const iso = (ms) => new Date(ms).toISOString();
// What the page prints for a price (web/app.js fmtPrice).
function fmtPrice(v) {
  const a = Math.abs(v);
  const d = a >= 1000 ? 2 : a >= 1 ? 4 : 6;
  return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}
// State letter of a process (R, S, Z, ...), or null when it is gone.
function procState(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ")[0];
  } catch (e) {
    return null;
  }
}

// coinctl site --dir SITE_DIR: exit code and the rows of the 1m series.
function coinctlSite() {
  return new Promise((resolve) => {
    const t = Date.now();
    execFile(coinctl, ["site", "--dir", siteDir], { env: Object.assign({}, process.env, { NO_COLOR: "1" }),
      timeout: 10000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      const rows = {};
      for (const line of String(stdout).split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length >= 4 && f[1].startsWith(SERIES + "/")) rows[path.basename(f[1])] = { written: f[2], now: f[3] };
      }
      resolve({ t, code, rows, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function fileRows(r) {
  return ["history.json", "prediction.json", "track_record.json"]
    .map((f) => `${f}: ${r.rows[f] ? r.rows[f].written + " -> " + r.rows[f].now : "missing"}`).join("; ");
}

(async () => {
  const t0 = Date.now();
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "coin-e2e-chromium-"));
  let browser = null;
  const problems = [];
  const notes = [];
  try {
    browser = await chromium.launchPersistentContext(userDir, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
      ],
      viewport: { width: 1280, height: 1000 },
    });
    const page = browser.pages()[0] || (await browser.newPage());
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") notes.push(`console error: ${m.text()}`);
    });
    // When the page asked for the 1m history, and the server's clock (Date
    // header, 1 s resolution) against ours.
    const histRequests = [];
    const dateOffsets = [];
    page.on("request", (r) => {
      if (r.url().includes(`/${SERIES}/history.json`)) histRequests.push(Date.now());
    });
    page.on("response", (r) => {
      const d = Date.parse(r.headers()["date"] || "");
      if (isFinite(d)) dateOffsets.push(d - Date.now());
      if (r.status() >= 400) notes.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    // Every change of the badge's data-status, timed in the page as it happens.
    await page.addInitScript(() => {
      window.__badge = [];
      document.addEventListener("DOMContentLoaded", () => {
        const b = document.getElementById("status-badge");
        if (!b) return;
        const rec = () => {
          const s = b.getAttribute("data-status");
          const l = window.__badge[window.__badge.length - 1];
          if (!l || l.s !== s) window.__badge.push({ s, t: Date.now() });
        };
        rec();
        new MutationObserver(rec).observe(b, { attributes: true, attributeFilter: ["data-status"] });
      });
    });
    const sample = () => page.evaluate(() => ({
      st: document.getElementById("status-badge").getAttribute("data-status"),
      title: document.getElementById("series-title").textContent,
      values: !!document.querySelector("#prediction [data-testid=predicted-close]"),
      mark: !!document.querySelector("#chart [data-testid=prediction-mark]"),
      blocked: (document.querySelector("#prediction [data-testid=blocked]") || {}).textContent || null,
      prediction: document.getElementById("prediction").textContent,
      notice: document.getElementById("notice").textContent,
    }));

    // 1. The page at #BTCUSDT/1m, fresh. (It refetches every 30 s, so a copy
    // from just before a minute's rewrite may be stale for a while: wait.)
    await page.goto(base + "#BTCUSDT/1m", { waitUntil: "load" });
    let fresh = true;
    try {
      await page.waitForFunction(() => {
        const t = document.getElementById("series-title").textContent;
        const b = document.getElementById("status-badge").getAttribute("data-status");
        return t.startsWith("BTCUSDT · 1m") && b === "fresh";
      }, null, { timeout: 40000, polling: 100 });
    } catch (e) {
      fresh = false;
    }
    const s0 = await sample();
    if (!check("page shows BTCUSDT · 1m fresh while coin-publish runs", fresh, JSON.stringify(s0))) throw new Error("stop");
    console.log(`# before the kill: prediction values ${s0.values ? "shown" : "not shown (" + (s0.blocked || "") + ")"}`);
    const off = dateOffsets.length ? dateOffsets[dateOffsets.length - 1] : null;
    check("nginx's clock (HTTP Date) is this host's", off !== null && off > -2000 && off < 1000, `${off} ms`);

    // 2. SIGKILL coin-publish when it is idle: 8..50 s after a minute
    // boundary, the final manifest on disk and the 1m files of this minute.
    check("PUBLISH_PID is coin-publish", (() => {
      try { return fs.readFileSync(`/proc/${publishPid}/comm`, "utf8").trim() === "coin-publish"; } catch (e) { return false; }
    })(), publishPid);
    const idleBy = Date.now() + 75000;
    let idle = false;
    while (Date.now() < idleBy) {
      const now = Date.now();
      const phase = now % 60000;
      const m = readJSON("manifest.json"), h = readJSON(`${SERIES}/history.json`);
      if (phase >= 8000 && phase <= 50000 && m && m.update_in_progress === false && h &&
          h.generated_at_ms >= now - phase && h.status === "fresh" && now < h.soft_stale_at_ms) {
        idle = true;
        break;
      }
      await sleep(200);
    }
    if (!check("coin-publish wrote this minute's 1m files and is idle", idle)) throw new Error("stop");
    process.kill(publishPid, "SIGKILL");
    const killAt = Date.now();
    while (Date.now() < killAt + 3000 && !["Z", "X", null].includes(procState(publishPid))) await sleep(50);
    check("coin-publish is dead after SIGKILL", ["Z", "X", null].includes(procState(publishPid)),
      `state ${procState(publishPid)}`);
    console.log(`# killed coin-publish (${publishPid}) at ${iso(killAt)}`);

    // 3. What the files left on disk announce.
    const h = readJSON(`${SERIES}/history.json`);
    const p = readJSON(`${SERIES}/prediction.json`);
    const tr = readJSON(`${SERIES}/track_record.json`);
    const man = readJSON("manifest.json");
    if (!check("history.json, prediction.json, track_record.json and manifest.json parse after the kill",
      h && p && tr && man)) throw new Error("stop");
    const softAt = h.soft_stale_at_ms, hardAt = h.hard_stale_at_ms;
    console.log(`# history.json (written ${h.generated_at}, last candle closes ${h.last_candle_close}): ` +
      `soft_stale_at ${h.soft_stale_at}, hard_stale_at ${h.hard_stale_at}`);
    check("history.json written fresh, before the kill, with both instants ahead",
      h.status === "fresh" && h.generated_at_ms < killAt && Number.isInteger(softAt) && Number.isInteger(hardAt) &&
      killAt < softAt && softAt < hardAt, `${h.status}, soft in ${softAt - killAt} ms, hard in ${hardAt - killAt} ms`);
    check("instants = close of the next candle + 5 s / + 15 s",
      softAt === h.last_candle_close_ms + 60000 + 5000 && hardAt === h.last_candle_close_ms + 60000 + 15000,
      `close ${h.last_candle_close_ms}, soft ${softAt}, hard ${hardAt}`);
    const entry = (man.series || []).find((s) => s.symbol === "BTCUSDT" && s.timeframe === "1m");
    check("prediction.json, track_record.json and the manifest entry announce the same instants",
      p.soft_stale_at_ms === softAt && p.hard_stale_at_ms === hardAt && tr.soft_stale_at_ms === softAt &&
      tr.hard_stale_at_ms === hardAt && entry && entry.soft_stale_at_ms === softAt && entry.hard_stale_at_ms === hardAt,
      `prediction ${p.soft_stale_at_ms}/${p.hard_stale_at_ms}, track ${tr.soft_stale_at_ms}/${tr.hard_stale_at_ms}, ` +
      `manifest ${entry && entry.soft_stale_at_ms}/${entry && entry.hard_stale_at_ms}`);
    if (man.update_in_progress !== false) notes.push("the manifest on disk after the kill is a transition manifest");
    const served = p.prediction_status === "served" && typeof p.predicted_close === "number";
    console.log(`# prediction.json on disk: prediction_status ${p.prediction_status}` +
      (served ? `, predicted_close ${p.predicted_close}` : ""));

    // 4. The page holds the final files (it refetches every 30 s).
    const syncBy = Date.now() + 35000;
    while (Date.now() < syncBy && !histRequests.some((t) => t > h.generated_at_ms + 500)) await sleep(100);
    const fetchedAt = histRequests.find((t) => t > h.generated_at_ms + 500);
    check("the page fetched the final history.json before the soft instant",
      fetchedAt !== undefined && fetchedAt < softAt - 1500, fetchedAt ? `${softAt - fetchedAt} ms before` : "never");
    await sleep(1500);
    const s1 = await sample();
    const mark = await page.evaluate(() => window.__badge.length);
    check("page still fresh after the kill, before the soft instant", s1.st === "fresh" && Date.now() < softAt,
      `${s1.st}, ${softAt - Date.now()} ms before soft`);
    if (served) check("prediction numbers shown while fresh", s1.values && s1.mark, JSON.stringify(s1));

    // 5. Soft: coinctl just after the instant; the page within 5 s.
    const samples = [];
    const sampler = (async () => {
      while (Date.now() < hardAt + WINDOW_MS + 1000) {
        try { samples.push(Object.assign({ t: Date.now() }, await sample())); } catch (e) { /* navigation */ }
        await sleep(200);
      }
    })();
    await sleepUntil(softAt + 1500);
    const cs = await coinctlSite();
    check("coinctl site after soft_stale_at: exit 0", cs.code === 0, `exit ${cs.code} ${cs.stderr.trim()}`);
    check("coinctl site after soft_stale_at: 1m files WRITTEN fresh, NOW soft_stale",
      ["history.json", "prediction.json", "track_record.json"].every((f) => cs.rows[f] &&
        cs.rows[f].written === "fresh" && cs.rows[f].now === "soft_stale"), fileRows(cs));
    if (cs.code !== 0 || !cs.rows["history.json"]) console.log(cs.stdout.replace(/^/gm, "# "));

    // 6. Hard: the same.
    await sleepUntil(hardAt + 1500);
    const ch = await coinctlSite();
    check("coinctl site after hard_stale_at: exit 3", ch.code === 3, `exit ${ch.code} ${ch.stderr.trim()}`);
    check("coinctl site after hard_stale_at: 1m files WRITTEN fresh, NOW hard_stale",
      ["history.json", "prediction.json", "track_record.json"].every((f) => ch.rows[f] &&
        ch.rows[f].written === "fresh" && ch.rows[f].now === "hard_stale"), fileRows(ch));
    if (ch.code !== 3 || !ch.rows["history.json"]) console.log(ch.stdout.replace(/^/gm, "# "));
    await sampler;

    // 7. The badge's transitions after the page held the final files.
    const changes = (await page.evaluate(() => window.__badge)).slice(mark);
    console.log("# badge after the kill: " + (changes.map((c) => `${c.s} at ${iso(c.t)}`).join(", ") || "no change"));
    const soft = changes.find((c) => c.s !== "fresh");
    const hard = changes.find((c) => c.s === "hard_stale");
    const dSoft = soft ? soft.t - softAt : null, dHard = hard ? hard.t - hardAt : null;
    console.log(`# measured: soft_stale shown ${dSoft} ms after soft_stale_at, hard_stale shown ${dHard} ms after hard_stale_at`);
    check("badge turns soft_stale first, within [soft_stale_at, +5 s]",
      soft && soft.s === "soft_stale" && dSoft >= 0 && dSoft <= WINDOW_MS,
      soft ? `${soft.s} ${dSoft} ms after soft_stale_at` : "never left fresh");
    check("then hard_stale within [hard_stale_at, +5 s], nothing else in between",
      hard && dHard >= 0 && dHard <= WINDOW_MS && changes.length >= 2 &&
      changes.slice(changes.indexOf(soft) + 1).every((c) => c.s === "hard_stale"),
      hard ? `${dHard} ms after hard_stale_at; ${changes.map((c) => c.s).join(" -> ")}` : "never hard_stale");
    const atSoft = samples.filter((x) => x.t > (soft ? soft.t : softAt) && x.t < hardAt && x.st === "soft_stale");
    if (served) check("prediction numbers still shown while soft_stale (served with a warning)",
      atSoft.length > 0 && atSoft.every((x) => x.values), `${atSoft.filter((x) => x.values).length}/${atSoft.length} samples`);
    const atHard = samples.filter((x) => x.t > (hard ? hard.t + 500 : hardAt + WINDOW_MS));
    const last = await sample();
    atHard.push(Object.assign({ t: Date.now() }, last));
    const numText = served ? fmtPrice(p.predicted_close) : null;
    check("no prediction numbers at hard_stale (no predicted close, no mark on the chart, the reason instead)",
      last.st === "hard_stale" && atHard.every((x) => !x.values && !x.mark && x.blocked && /No prediction/.test(x.blocked) &&
        (!numText || !x.prediction.includes(numText))), JSON.stringify(last));
    check("the page says why: hard stale since the announced instant", /hard stale/i.test(last.notice) ||
      /hard stale/i.test(last.blocked || ""), last.notice);
    check("no JavaScript error on the page", problems.length === 0, problems.join("; "));
  } catch (e) {
    if (e.message !== "stop") check("e2e run", false, e.stack || String(e));
  } finally {
    if (browser) await browser.close().catch(() => {});
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  for (const n of notes) console.log(`# note: ${n}`);
  console.log(`${passed} passed, ${failed} failed (${Math.round((Date.now() - t0) / 1000)} s in the browser)`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
})();
