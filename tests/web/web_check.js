// web_check.js PORT OUT_DIR: drives Debian's headless chromium (through
// playwright-core) over the fixture site served on 127.0.0.1:PORT and checks
// what a person would: the page renders, symbol and timeframe switch, stale
// and blocked series say why instead of showing numbers, a hash mismatch is
// shown as corrupt, and the console stays clean. Writes screenshots into
// OUT_DIR and prints their paths. Exit 0 = all checks passed.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const port = process.argv[2];
const outDir = process.argv[3];
const base = `http://127.0.0.1:${port}/`;
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

async function badge(page) {
  return page.$eval("#status-badge", (e) => e.getAttribute("data-status"));
}

// Waits until the panel shows symbol/tf with the given status.
async function waitSeries(page, symbol, tf, status) {
  await page.waitForFunction(
    ([s, t, st]) => {
      const title = document.getElementById("series-title").textContent;
      const b = document.getElementById("status-badge").getAttribute("data-status");
      return title.startsWith(`${s} · ${t}`) && b === st;
    },
    [symbol, tf, status],
    { timeout: 10000 }
  );
}

(async () => {
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
  });
  const problems = [];
  try {
    const page = browser.pages()[0] || (await browser.newPage());
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });

    await page.goto(base, { waitUntil: "load" });

    // 1. Renders: first symbol, 1h by default, fresh, chart with candles and
    // the predicted candle, numbers in the prediction card.
    await waitSeries(page, "BTCUSDT", "1h", "fresh");
    check("renders BTCUSDT 1h fresh", true);
    const nCandles = await page.$$eval("#chart g.up, #chart g.down", (l) => l.length);
    check("chart draws 120 candles", nCandles === 120, nCandles);
    check("predicted candle and band drawn", (await page.$("#chart [data-testid=prediction-mark] .pred-band")) !== null);
    const close = await page.$eval("[data-testid=predicted-close]", (e) => e.textContent);
    check("predicted close shown as a number", /^[0-9,]+\.[0-9]{2}$/.test(close), close);
    const quality = await page.$eval("#quality", (e) => e.textContent);
    check("walk-forward vs persistence shown", /persistence/.test(quality) && /better by 11\.5 %/.test(quality), quality);
    check("model version shown", (await page.$eval("#model", (e) => e.textContent)).includes("ridge-20260101-001"));
    check("generated_at shown", /UTC/.test(await page.$eval("#generated-at", (e) => e.textContent)));
    check("overall badge is the worst state", (await page.$eval("#overall-badge", (e) => e.getAttribute("data-status"))) === "insufficient_data");
    check("no degraded badge on a healthy series", await page.$eval("#degraded-badge", (e) => e.hidden));
    check("no separate prediction badge when it agrees", await page.$eval("#prediction-badge", (e) => e.hidden));
    await page.screenshot({ path: path.join(outDir, "web-fresh.png"), fullPage: true });

    // 2. Timeframe switch: 1d is soft stale, values shown with a warning.
    await page.click("#timeframes button[data-tf='1d']");
    await waitSeries(page, "BTCUSDT", "1d", "soft_stale");
    check("timeframe switch to 1d: soft stale badge", true);
    check("soft stale: notice explains", await page.$eval("#notice", (e) => !e.hidden && /overdue/.test(e.textContent)));
    check("soft stale: values still shown", (await page.$("[data-testid=predicted-close]")) !== null);
    check("soft stale: warning row", /may be out of date/.test(await page.$eval("#prediction", (e) => e.textContent)));
    check("hash follows the selection", (await page.evaluate(() => location.hash)) === "#BTCUSDT/1d");

    // 3. Symbol switch: ETHUSDT keeps 1d -> insufficient data, blocked.
    await page.selectOption("#symbol", "ETHUSDT");
    await waitSeries(page, "ETHUSDT", "1d", "insufficient_data");
    check("symbol switch keeps the timeframe: insufficient data", true);
    const blockedText = await page.$eval("#prediction", (e) => e.textContent);
    check("insufficient data: says why", /not enough candles/.test(blockedText), blockedText);
    check("insufficient data: no numbers", !/[0-9]/.test(blockedText.replace(/for the candle opening.*$/, "")), blockedText);
    check("insufficient data: empty chart explained", await page.$eval("#chart-empty", (e) => !e.hidden && /No candles/.test(e.textContent)));

    // 4. The stale fixture: ETHUSDT 1h hard stale, blocked, says why.
    await page.click("#timeframes button[data-tf='1h']");
    await waitSeries(page, "ETHUSDT", "1h", "hard_stale");
    check("stale badge shown for the stale series", (await page.$eval("#status-badge", (e) => e.textContent)) === "hard stale");
    const hs = await page.$eval("#prediction", (e) => e.textContent);
    check("hard stale: no prediction, reason given", /No prediction: the input candles are overdue/.test(hs), hs);
    check("hard stale: no predicted close element", (await page.$("[data-testid=predicted-close]")) === null);
    check("hard stale: no prediction mark on the chart", (await page.$("#chart [data-testid=prediction-mark]")) === null);
    check("hard stale: chart overlay says so", /HARD STALE/.test(await page.$eval("#chart", (e) => e.textContent)));
    check("hard stale: blocked notice", await page.$eval("#notice", (e) => !e.hidden && e.classList.contains("blocked")));
    check("last candle age shown", /1[0-2] h ago/.test(await page.$eval("#last-candle", (e) => e.textContent)));
    await page.screenshot({ path: path.join(outDir, "web-stale.png"), fullPage: true });

    // 5. Degraded: SOLUSDT 1h fresh, no model -> degraded badge, no values.
    await page.click(".tile[data-series='SOLUSDT/1h']");
    await waitSeries(page, "SOLUSDT", "1h", "fresh");
    const deg = await page.$eval("#degraded-badge", (e) => (e.hidden ? "" : e.textContent));
    check("degraded flag with its reason", /degraded: no champion model/.test(deg), deg);
    check("no model: blocked, no numbers", (await page.$("[data-testid=predicted-close]")) === null);
    const pbadge = await page.$eval("#prediction-badge", (e) => (e.hidden ? "" : e.textContent));
    check("data fresh, prediction blocked: own badge", pbadge === "prediction: insufficient data", pbadge);
    check("data fresh: no blocked notice", await page.$eval("#notice", (e) => e.hidden));

    // 6. A file that does not match the manifest is shown as corrupt.
    await page.selectOption("#symbol", "XRPUSDT");
    await waitSeries(page, "XRPUSDT", "1h", "corrupt");
    check("sha256 mismatch shown as corrupt", true);
    check("corrupt: chart replaced by the reason",
      await page.$eval("#chart-empty", (e) => !e.hidden && /does not match the manifest/.test(e.textContent)));

    // 7. Overview grid and deep link.
    const tile = await page.$eval(".tile[data-series='ETHUSDT/1h'] .badge", (e) => e.textContent);
    check("grid tile shows the stale series", tile === "hard stale", tile);
    await page.goto(base + "#BTCUSDT/1h", { waitUntil: "load" });
    await waitSeries(page, "BTCUSDT", "1h", "fresh");
    check("deep link #BTCUSDT/1h", true);
    check("system line reads status.json and runtime_metrics.json",
      /monitor: 6 series, 1 alerting/.test(await page.$eval("#system", (e) => e.textContent)) &&
      /p95 1\.20 s/.test(await page.$eval("#system", (e) => e.textContent)));
    await page.screenshot({ path: path.join(outDir, "web-screenshot.png"), fullPage: false });
  } catch (e) {
    check("browser run", false, e.message);
  } finally {
    await browser.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  check("no console errors, failed requests or HTTP errors", problems.length === 0, problems.join(" | "));
  for (const f of ["web-screenshot.png", "web-fresh.png", "web-stale.png"]) {
    const p = path.join(outDir, f);
    if (fs.existsSync(p)) console.log(`screenshot: ${p}`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
