// Bench mode of the dashboard's browser test (test_dashboard.sh --bench):
// against a verifier serving DASH_HOSTS hosts, prints the API latency of
// the fleet view's page queries and, in real headless Chromium, the first
// contentful paint and the time until the fleet table shows its first page.
// Prints figures; asserts nothing (a bench, not a test).
import {chromium} from 'playwright-core';
import {mkdtempSync, rmSync} from 'node:fs';
import https from 'node:https';
import {tmpdir} from 'node:os';
import path from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run tests/integration/test_dashboard.sh --bench`);
  return v;
};
const URL_ = env('DASH_URL');
const ADMIN = env('DASH_ADMIN');
const HOSTS = Number(env('DASH_HOSTS'));
const EXE = process.env.DASH_CHROMIUM || '/usr/bin/chromium';
const PROFILE = process.env.DASH_PROFILE || mkdtempSync(path.join(tmpdir(), 'attest-chromium-'));
const RUNS = Number(process.env.DASH_BENCH_RUNS || 5);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const median = (a) => { const s = a.slice().sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
const fmt = (ms) => ms.toFixed(1).padStart(7) + ' ms';

const ctx = await chromium.launchPersistentContext(PROFILE, {
  executablePath: EXE, args: ARGS, headless: true, ignoreHTTPSErrors: true,
  viewport: {width: 1280, height: 800}, locale: 'en-GB', timezoneId: 'UTC',
});
try {
  // The API: each query RUNS x 4 times on one kept-alive connection, from
  // node itself (not through the browser), so the figure is the verifier's.
  const agent = new https.Agent({keepAlive: true, maxSockets: 1, rejectUnauthorized: false});
  const get = (q) => new Promise((resolve, reject) => {
    const t0 = performance.now();
    https.get(URL_ + '/api/v1/hosts?' + q, {agent, headers: {Authorization: 'Bearer ' + ADMIN}}, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        if (res.statusCode !== 200) reject(new Error(`GET /hosts?${q}: ${res.statusCode} ${body}`));
        else resolve([performance.now() - t0, body.length, JSON.parse(body)]);
      });
    }).on('error', reject);
  });
  const last = Math.max(0, Math.ceil(HOSTS / 100) - 1) * 100;
  const queries = [
    ['page 1, trust state (the default view)', 'sort=trust&order=asc&limit=100&offset=0'],
    ['last page, trust state', `sort=trust&order=asc&limit=100&offset=${last}`],
    ['page 1, last attested newest first', 'sort=last_attested&order=desc&limit=100&offset=0'],
    ['page 1, name Z to A', 'sort=name&order=desc&limit=100&offset=0'],
    ['red only', 'trust=red&sort=trust&order=asc&limit=100&offset=0'],
    ['search "fleet-0999"', 'q=fleet-0999&sort=trust&order=asc&limit=100&offset=0'],
  ];
  await get(queries[0][1]); // connection and caches warm
  console.log(`api: GET /api/v1/hosts at ${HOSTS} hosts, ${RUNS * 4} requests each, kept-alive TLS`);
  for (const [label, q] of queries) {
    const ts = [];
    let bytes = 0, total = 0;
    for (let i = 0; i < RUNS * 4; i++) { const [t, b, j] = await get(q); ts.push(t); bytes = b; total = j.total; }
    console.log(`api  ${label.padEnd(40)} p50 ${fmt(median(ts))}  max ${fmt(Math.max(...ts))}  ` +
      `(total ${total}, ${(bytes / 1024).toFixed(0)} kB)`);
  }
  // What the fleet view fetched on every refresh before it paged on the server.
  {
    const t0 = performance.now();
    let bytes = 0;
    for (let off = 0; off < HOSTS; off += 1000) bytes += (await get(`limit=1000&offset=${off}`))[1];
    console.log(`api  ${'the whole fleet by 1000 (the old view)'.padEnd(40)} once ${fmt(performance.now() - t0)}  ` +
      `(${Math.ceil(HOSTS / 1000)} requests, ${(bytes / 1024).toFixed(0)} kB)`);
  }
  agent.destroy();

  // The browser: sign in once, then RUNS reloads (the token is kept in the
  // tab). Times are from the navigation's start, read in the page.
  const page = await ctx.newPage();
  const rows = Math.min(100, HOSTS);
  const tableAt = () => page.waitForFunction((n) => document.querySelectorAll('#fleet-rows tr[data-host]').length >= n &&
    performance.now(), rows, {polling: 'raf', timeout: 60000}).then((h) => h.jsonValue());
  await page.goto(URL_ + '/#/fleet');
  await page.locator('form#signin-form input[name="token"]').fill(ADMIN);
  const t0 = performance.now();
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.locator('#fleet-rows tr[data-host]').nth(rows - 1).waitFor({timeout: 60000});
  console.log(`page sign in to the fleet table (${rows} rows)            ${fmt(performance.now() - t0)}`);
  const fcp = [], table = [];
  for (let i = 0; i < RUNS; i++) {
    await page.reload({waitUntil: 'commit'});
    table.push(await tableAt());
    fcp.push(await page.evaluate(() => new Promise((resolve) => {
      // Buffered: the paint happened before this observer was made.
      new PerformanceObserver((l) => {
        const e = l.getEntries().find((x) => x.name === 'first-contentful-paint');
        if (e) resolve(e.startTime);
      }).observe({type: 'paint', buffered: true});
      setTimeout(() => resolve(NaN), 2000);
    })));
  }
  console.log(`page first contentful paint (median of ${RUNS} loads)       ${fmt(median(fcp))}`);
  console.log(`page time to the fleet table, ${rows} rows (median of ${RUNS})  ${fmt(median(table))}  ` +
    `(min ${fmt(Math.min(...table))}, max ${fmt(Math.max(...table))})`);
  console.log(`dashboard|${HOSTS}|${median(fcp).toFixed(0)}|${median(table).toFixed(0)}|` +
    `${median(table) < 1000 ? 'first paint under 1 s' : 'first paint OVER 1 s'}`);
} finally {
  await ctx.close();
  if (!process.env.DASH_PROFILE) rmSync(PROFILE, {recursive: true, force: true}); // ours to remove
}
