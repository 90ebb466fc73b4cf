// first_prediction_check.js PORT SITE_DIR: the browser half of
// tests/web/test_first_prediction.sh. Opens #BTCUSDT/1h of the demo's page
// (nginx on 127.0.0.1:PORT) in Debian's headless chromium (playwright-core)
// as a newcomer does right after `make demo`, and checks that the page shows
// what the files on disk (SITE_DIR) hold: a predicted close with values (the
// number prediction.json announces, as app.js prints it), the champion's
// version in the model field, no "no champion model" text, and no page
// errors. Exit 0 = every check passed.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const [port, siteDir] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}/`;
let failed = 0;
function check(name, cond, detail) {
  console.log(`${cond ? "ok" : "FAIL"} - ${name}${detail !== undefined ? " (" + detail + ")" : ""}`);
  if (!cond) failed++;
}
// What the page prints for a price (web/app.js fmtPrice).
function fmtPrice(v) {
  const a = Math.abs(v);
  const d = a >= 1000 ? 2 : a >= 1 ? 4 : 6;
  return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

(async () => {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "coin-first-chromium-"));
  let browser = null;
  const errors = [];
  try {
    browser = await chromium.launchPersistentContext(userDir, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1280, height: 1000 },
    });
    const page = browser.pages()[0] || (await browser.newPage());
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(base + "#BTCUSDT/1h", { waitUntil: "load" });
    await page.waitForFunction(() => {
      const m = document.getElementById("model");
      return !!document.querySelector("#prediction [data-testid=predicted-close]") &&
        m && m.textContent && m.textContent !== "—" && m.textContent !== "none";
    }, null, { timeout: 30000 }).catch(() => {});
    const seen = await page.evaluate(() => ({
      close: (document.querySelector("#prediction [data-testid=predicted-close]") || {}).textContent || "",
      model: (document.getElementById("model") || {}).textContent || "",
      body: document.body.innerText,
    }));
    const p = JSON.parse(fs.readFileSync(path.join(siteDir, "v1/binance/BTCUSDT/1h/prediction.json"), "utf8"));
    check("prediction.json on disk has a predicted close", typeof p.predicted_close === "number",
      String(p.predicted_close));
    check("the page shows the predicted close", seen.close.includes(fmtPrice(p.predicted_close)),
      `page "${seen.close.trim()}", file ${p.predicted_close}`);
    const version = p.model && p.model.version;
    check("the page names the champion", !!version && seen.model.includes(version),
      `page "${seen.model}", file ${version}`);
    check("no 'no champion model' text", !seen.body.includes("no champion model is registered yet"));
    check("no page errors", errors.length === 0, errors.join("; "));
  } catch (e) {
    check("browser run", false, e.message);
  } finally {
    if (browser) await browser.close().catch(() => {});
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
})();
