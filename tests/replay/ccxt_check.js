// ccxt_check.js: a real Binance client (ccxt 4, public spot API only) against
// coin-replay-exchange. Usage: node ccxt_check.js PORT DATA_DIR
// Loads markets from exchangeInfo, then checks that fetchOHLCV returns exactly
// the CSV rows shifted by the replay's shift, and that the newest row is the
// still-open candle. Exits 1 with one "FAIL: ..." line on any mismatch.
'use strict';

const fs = require('fs');
const path = require('path');
const ccxt = require('ccxt');

const HOUR_MS = 3600000;

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

function readCsv(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines[0] !== 'open_time_ms,open,high,low,close,volume')
    fail(`${file}: unexpected header "${lines[0]}"`);
  return lines.slice(1).filter((l) => l !== '').map((l) => l.split(',').map(Number));
}

async function main() {
  const [port, dataDir] = process.argv.slice(2);
  if (!port || !dataDir) fail('usage: node ccxt_check.js PORT DATA_DIR');
  const origin = `http://127.0.0.1:${port}`;

  const ex = new ccxt.binance({
    enableRateLimit: false,
    timeout: 10000,
    options: {
      fetchMarkets: ['spot'], // exchangeInfo only: no futures/options hosts
      fetchCurrencies: false, // sapi, needs keys
      adjustForTimeDifference: false,
    },
  });
  // ccxt sends every public spot call (exchangeInfo, klines, time) to
  // urls.api.public; nothing here may leave 127.0.0.1.
  ex.urls.api.public = `${origin}/api/v3`;
  ex.urls.api.private = `${origin}/api/v3`;
  ex.urls.api.v1 = `${origin}/api/v1`;

  const markets = await ex.loadMarkets();
  const m = markets['BTC/USDT'];
  if (!m) fail(`BTC/USDT missing from markets: ${Object.keys(markets).join(' ')}`);
  if (!m.spot || !m.active || m.id !== 'BTCUSDT' || m.base !== 'BTC' || m.quote !== 'USDT')
    fail(`BTC/USDT market parsed wrongly: ${JSON.stringify({ spot: m.spot, active: m.active, id: m.id })}`);
  if (Object.keys(markets).length !== 7) fail(`want 7 markets, got ${Object.keys(markets).length}`);

  const t0 = Date.now();
  const serverTime = await ex.fetchTime();
  if (Math.abs(serverTime - t0) > 5000) fail(`fetchTime ${serverTime} far from local ${t0}`);

  const stats = await (await fetch(`${origin}/__replay/stats`)).json();
  const shift = stats.shifts.BTCUSDT['1h'];
  if (!Number.isInteger(shift) || shift % (7 * 24 * HOUR_MS) !== 0)
    fail(`shift ${shift} is not whole weeks`);

  const rows = readCsv(path.join(dataDir, 'BTCUSDT-1h.csv'));
  const first = rows.length - 5000; // 2022, all closed
  const since = rows[first][0] + shift;
  const got = await ex.fetchOHLCV('BTC/USDT', '1h', since, 100);
  if (got.length !== 100) fail(`fetchOHLCV returned ${got.length} rows, want 100`);
  for (let i = 0; i < got.length; i++) {
    const want = rows[first + i].slice();
    want[0] += shift;
    for (let k = 0; k < 6; k++) {
      if (got[i][k] !== want[k])
        fail(`row ${i} field ${k}: ccxt ${got[i][k]} != csv ${want[k]} (row ${JSON.stringify(got[i])})`);
    }
  }

  // Newest rows: the last one is the open candle (open <= now < open + 1h).
  const before = Date.now();
  const latest = await ex.fetchOHLCV('BTC/USDT', '1h', undefined, 5);
  const after = Date.now();
  if (latest.length !== 5) fail(`latest: ${latest.length} rows, want 5`);
  const open = latest[4][0];
  if (!(open <= after && before < open + HOUR_MS))
    fail(`latest row opens at ${open}, not the open candle at ${before}..${after}`);
  for (let i = 0; i < 4; i++)
    if (latest[i][0] + HOUR_MS > before) fail(`row ${i} (${latest[i][0]}) is not closed`);

  // An unknown symbol is a ccxt BadSymbol before any request is made.
  try {
    await ex.fetchOHLCV('NOPE/USDT', '1h');
    fail('NOPE/USDT did not throw');
  } catch (e) {
    if (!(e instanceof ccxt.BadSymbol)) fail(`NOPE/USDT threw ${e.constructor.name}: ${e.message}`);
  }
  console.log(`ok: ccxt ${ccxt.version} loaded ${Object.keys(markets).length} markets, ` +
    `fetchOHLCV matched 100 CSV rows shifted by ${shift / (7 * 24 * HOUR_MS)} weeks`);
}

main().catch((e) => fail(`${e.constructor.name}: ${e.message}`));
