// The attest dashboard in real headless Chromium (playwright-core driving
// /usr/bin/chromium), against a real verifier with simulated hosts started by
// tests/integration/test_dashboard.sh, which passes everything in DASH_*.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run tests/integration/test_dashboard.sh`);
  return v;
};
const URL_ = env('DASH_URL');
const ADMIN = env('DASH_ADMIN');
const VIEWER = env('DASH_VIEWER');
const SHOTS = env('DASH_SHOTS');
const SIM = env('DASH_SIM');
const GOOD_DIR = env('DASH_GOOD_DIR');
const FLEETLIB = env('DASH_FLEETLIB'); // tests/integration/fleetlib.sh
const DB = env('DASH_DB');             // the verifier's database (SQLite path or PostgreSQL URL)
const EXE = process.env.DASH_CHROMIUM || '/usr/bin/chromium';
const PROFILE = process.env.DASH_PROFILE || mkdtempSync(path.join(tmpdir(), 'attest-chromium-'));

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let ctx;
let admin; // the admin's tab

before(async () => {
  // A fresh profile directory: nothing remembered from an earlier run.
  ctx = await chromium.launchPersistentContext(PROFILE, {
    executablePath: EXE, args: ARGS, headless: true, ignoreHTTPSErrors: true,
    viewport: {width: 1280, height: 800}, locale: 'en-GB', timezoneId: 'UTC',
  });
});
after(async () => {
  if (ctx) await ctx.close();
  if (!process.env.DASH_PROFILE) rmSync(PROFILE, {recursive: true, force: true}); // ours to remove
});

async function apiCall(method, p, token, data) {
  const r = await ctx.request.fetch(URL_ + '/api/v1' + p, {
    method, headers: {Authorization: 'Bearer ' + token}, data,
  });
  return {status: r.status(), body: await r.json()};
}

async function signIn(page, token) {
  await page.goto(URL_ + '/');
  await page.locator('form#signin-form input[name="token"]').fill(token);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.locator('#top').waitFor({state: 'visible'});
}

// Poll fn until it returns a truthy value (the views redraw asynchronously).
async function until(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('timed out waiting for ' + what + ' (last: ' + JSON.stringify(last) + ')');
}

const rowNames = (page) => page.locator('#fleet-rows tr[data-host]')
  .evaluateAll((rs) => rs.map((r) => r.dataset.host));

// The fleet table shows exactly the page the API answers for this query.
async function showsApi(page, query) {
  const want = (await apiCall('GET', '/hosts?' + query, ADMIN)).body;
  const names = want.hosts.map((x) => x.name);
  await until(async () => JSON.stringify(await rowNames(page)) === JSON.stringify(names),
    'the fleet table to show GET /hosts?' + query);
  return want;
}
const hashOf = (page) => decodeURIComponent(new URL(page.url()).hash);

const errors = [];
function watch(page, who) {
  page.on('pageerror', (e) => errors.push(`${who}: ${e.message}`));
  page.on('console', (m) => {
    // A 403 we provoke on purpose is logged by Chromium as a failed resource.
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) errors.push(`${who}: ${m.text()}`);
  });
}

test('admin signs in; the fleet shows one green and one red host', async () => {
  admin = await ctx.newPage();
  watch(admin, 'admin');
  await signIn(admin, ADMIN);
  await admin.locator('tr[data-host="good"][data-trust="green"]').waitFor();
  await admin.locator('tr[data-host="nosb"][data-trust="red"]').waitFor();
  assert.equal(await admin.locator('tr[data-host]').count(), 2);
  // Words, not colour alone.
  assert.match(await admin.locator('tr[data-host="nosb"]').innerText(), /Not trusted/);
  assert.match(await admin.locator('tr[data-host="good"]').innerText(), /Trusted/);
  // Each host's mode (issue 17): these agents listen, the verifier calls them.
  assert.match(await admin.locator('tr[data-host="good"] [data-mode="pull"]').innerText(), /pull/);
  assert.equal(await admin.locator('[data-count="green"] .n').innerText(), '1');
  assert.equal(await admin.locator('[data-count="red"] .n').innerText(), '1');
  assert.match(await admin.locator('#who-role').innerText(), /Admin/);
  // The header shows the fleet's coverage: both hosts have a fresh verdict
  // (red counts: the host is watched), so 100 %, no fleet alarm.
  // The verifier reads the coverage every few seconds and the header polls
  // it: wait until the reading counts both hosts (a reading taken before
  // they were added says "0 of 0").
  const cov = admin.locator('header #coverage');
  await cov.waitFor();
  for (let i = 0; i < 60 && !/2 of 2 enabled/.test(await cov.getAttribute('title') || ''); i++)
    await admin.waitForTimeout(500);
  assert.match(await cov.innerText(), /^Coverage 100%$/);
  assert.equal(await cov.getAttribute('data-coverage'), '1');
  assert.match(await cov.getAttribute('title'), /2 of 2 enabled hosts have a verdict younger than its validity/);
  // The token is kept for this tab only.
  const stored = await admin.evaluate(() => [sessionStorage.getItem('attest.token'), localStorage.length]);
  assert.deepEqual(stored, [ADMIN, 0]);
  // Filter and search.
  await admin.locator('#fleet-search').fill('nos');
  await admin.locator('tr[data-host="good"]').waitFor({state: 'detached'});
  assert.equal(await admin.locator('tr[data-host]').count(), 1);
  await admin.locator('#fleet-search').fill('');
  await admin.locator('tr[data-host="good"]').waitFor();
  // Filters are asked of the server now: wait for the answer, not the click.
  await admin.locator('[data-count="red"]').click();
  await admin.locator('tr[data-host="good"]').waitFor({state: 'detached'});
  assert.equal(await admin.locator('tr[data-host]').count(), 1);
  await admin.locator('[data-count="red"]').click();
  await admin.locator('tr[data-host="good"]').waitFor();
  await admin.locator('#fleet-sort').selectOption('state');
  await until(async () => (await rowNames(admin)).join() === 'nosb,good', 'red first');
  await admin.screenshot({path: path.join(SHOTS, 'fleet.png')});
  await admin.setViewportSize({width: 400, height: 800});
  await admin.screenshot({path: path.join(SHOTS, 'fleet-narrow.png'), fullPage: true});
  await admin.setViewportSize({width: 1280, height: 800});
});

test('the red host shows why, with the evidence', async () => {
  await admin.getByRole('link', {name: 'nosb', exact: true}).click();
  const reason = admin.locator('#reasons li.reason[data-code="SECURE_BOOT_DISABLED"]');
  await reason.waitFor();
  const text = await reason.innerText();
  assert.match(text, /Secure Boot is disabled \(the SecureBoot variable measured in event \d+ is 0\)/);
  assert.match(text, /SECURE_BOOT_DISABLED/);
  // The advice comes from the verifier's reason table (GET /api/v1/reasons).
  assert.match(text, /Enable UEFI Secure Boot in the firmware setup and reboot the host\./);
  assert.match(await admin.locator('#security').innerText(), /Not trusted/);
  // The event log browser highlights the SecureBoot event.
  const div = admin.locator('#eventlog tr.diverges');
  assert.ok(await div.count() >= 1, 'no diverging event highlighted');
  assert.match(await div.first().innerText(), /EV_EFI_VARIABLE_DRIVER_CONFIG[\s\S]*SecureBoot/);
  // TPM, Secure Boot, PCRs are filled in.
  assert.match(await admin.locator('#tpm').innerText(), /Certified TPM\s+Yes/);
  assert.match(await admin.locator('#secure-boot').innerText(), /Disabled/);
  assert.ok(await admin.locator('#pcrs tbody tr').count() >= 8);
  await admin.screenshot({path: path.join(SHOTS, 'host-red-security.png')});
  await admin.screenshot({path: path.join(SHOTS, 'host-red-full.png'), fullPage: true});
  // Keyboard: the event link in the reason moves focus to the event's row.
  await reason.getByRole('link', {name: /^event \d+$/}).focus();
  await admin.keyboard.press('Enter');
  const focused = await admin.evaluate(() => document.activeElement && document.activeElement.dataset.event);
  assert.ok(focused !== undefined, 'Enter on the event link did not focus the event row');
});

test('the software view marks what the evidence does not prove (issue 12)', async () => {
  await admin.evaluate(() => { location.hash = '#/host/good'; });
  const sw = admin.locator('#software');
  // Boot loader paths are the log's labels: shown, marked, with the reason.
  const bl = sw.locator('.not-verified[data-field="boot_loader"]');
  await bl.waitFor();
  const blText = await bl.innerText();
  assert.match(blText, /Not verified/);
  assert.match(blText, /shimx64\.efi/);
  assert.match(blText, /not their names/);
  // The default policy quotes PCR 8: grub's command line is a proven fact.
  assert.equal(await sw.locator('.not-verified[data-field="kernel_cmdline"]').count(), 0);
  assert.match(await sw.innerText(), /Kernel command line\s+\/boot\/vmlinuz[^\n]*console=ttyS0/);
  // The agent's own report says so.
  assert.match(await sw.innerText(), /Operating system\s+[^\n]+\(reported by the agent\)/);
  await sw.scrollIntoViewIfNeeded();
  await admin.screenshot({path: path.join(SHOTS, 'host-software.png')});
});

test('approving a host configuration shows what will be approved first', async () => {
  await admin.goto(URL_ + '/#/host/good');
  await admin.locator('#host-view[data-trust="green"] #security').waitFor();
  await admin.getByRole('button', {name: 'Approve this configuration…'}).click();
  await admin.getByRole('button', {name: 'Show what will be approved'}).click();
  await admin.locator('#approve-preview ul.learned li').first().waitFor();
  assert.ok(await admin.locator('#approve-preview ul.learned li').count() > 0);
  assert.ok(await admin.getByRole('button', {name: 'Approve', exact: true}).isVisible());
  await admin.keyboard.press('Escape'); // closes the dialog, nothing approved
  const pols = await apiCall('GET', '/policies', ADMIN);
  assert.equal(pols.body.policies.filter((p) => p.name.startsWith('good-')).length, 0);
});

test('a viewer sees everything, cannot acknowledge, and sees the 403 if it tries', async () => {
  const v = await ctx.newPage(); // its own sessionStorage
  watch(v, 'viewer');
  await signIn(v, VIEWER);
  assert.match(await v.locator('#who-role').innerText(), /Viewer/);
  await v.locator('tr[data-host="nosb"][data-trust="red"]').waitFor();
  await v.goto(URL_ + '/#/alarms');
  const row = v.locator('#alarm-table tr[data-alarm-host="nosb"]');
  await row.waitFor();
  assert.match(await v.locator('#notify-table').innerText(), /No notification targets/);
  const ack = row.getByRole('button', {name: /Acknowledge alarm/});
  assert.ok(await ack.isDisabled(), 'the viewer can press Acknowledge');
  // A client that ignores the hint still meets the API's refusal, shown as such.
  await ack.evaluate((b) => b.removeAttribute('disabled'));
  await ack.click();
  const t = v.locator('.toast.error');
  await t.waitFor();
  assert.match(await t.innerText(), /Refused \(403 FORBIDDEN\).*admin token/);
  const al = await apiCall('GET', '/alarms?host=nosb', ADMIN);
  assert.equal(al.body.alarms[0].acked_at, null);
  await v.close();
});

test('an admin acknowledges the red host\'s alarm', async () => {
  await admin.goto(URL_ + '/#/alarms');
  const row = admin.locator('#alarm-table tr[data-alarm-host="nosb"]');
  await row.waitFor();
  await row.getByRole('link', {name: 'nosb'}).waitFor(); // linked to the host
  await row.getByRole('button', {name: /Acknowledge alarm/}).click();
  await admin.locator('#alarm-table tr[data-alarm-host="nosb"][data-acked="true"]').waitFor();
  assert.match(await admin.locator('#alarm-table tr[data-alarm-host="nosb"]').innerText(), /Acknowledged by admin/);
  const al = await apiCall('GET', '/alarms?host=nosb', ADMIN);
  assert.equal(al.body.alarms[0].acked_by, 'admin');
});

test('a host turning red appears without a reload', async () => {
  await admin.goto(URL_ + '/#/fleet');
  await admin.locator('tr[data-host="good"][data-trust="green"]').waitFor();
  await admin.evaluate(() => { window.__sameDocument = 'yes'; });
  // Tamper: extend PCR 4 behind the log's back, then attest now.
  execFileSync(SIM, ['extend', GOOD_DIR, '4', 'ab'.repeat(32)], {stdio: 'ignore'});
  const r = await apiCall('POST', '/hosts/good/attest', ADMIN);
  assert.equal(r.status, 202);
  await admin.locator('tr[data-host="good"][data-trust="red"]').waitFor({timeout: 20000});
  assert.equal(await admin.evaluate(() => window.__sameDocument), 'yes', 'the page was reloaded');
  assert.equal(await admin.locator('[data-count="red"] .n').innerText(), '2');
  // The reason names PCR 4 on the host's page.
  await admin.getByRole('link', {name: 'good', exact: true}).click();
  const reason = admin.locator('#reasons li.reason[data-code="EVENTLOG_REPLAY_MISMATCH"]');
  await reason.waitFor();
  assert.match(await reason.innerText(), /PCR 4/);
  assert.ok(await admin.locator('#pcrs tr.diverges[data-pcr="4"]').count() >= 1);
});

test('a fleet of 252 hosts is paged, filtered and sorted by the server; the URL keeps the view', async () => {
  const fleet = (...a) => execFileSync('bash', [FLEETLIB, DB, ...a], {stdio: ['ignore', 'ignore', 'inherit']});
  fleet('fill', '250');
  const asked = [];
  const onReq = (r) => { if (r.url().includes('/api/v1/hosts?')) asked.push(new URL(r.url()).searchParams); };
  admin.on('request', onReq);
  await admin.goto(URL_ + '/#/fleet');
  await admin.locator('#fleet-pager[data-page="1"][data-pages="3"]').waitFor();
  // Default: trust state, red first; one page of 100 of the 252.
  let r = await showsApi(admin, 'sort=trust&order=asc&limit=100&offset=0');
  assert.equal(r.total, 252);
  assert.equal(await admin.locator('#fleet-rows tr[data-host]').count(), 100);
  assert.equal(await admin.locator('#fleet-rows tr[data-host]').first().getAttribute('data-trust'), 'red');
  // The tiles count the whole fleet (the server's counts), not the page.
  for (const k of ['green', 'red', 'unknown', 'connected', 'disconnected', 'not_responding'])
    assert.equal(await admin.locator(`[data-count="${k}"] .n`).innerText(), String(r.counts[k]), k);
  assert.equal(r.counts.total, 252);
  assert.match(await admin.locator('#fleet-summary').innerText(), /252 host\(s\), 1–100 shown/);
  // Next, next: the server's pages 2 and 3; the last has 52 hosts and no next.
  await admin.locator('#fleet-pager').getByRole('button', {name: 'Next page'}).click();
  await admin.locator('#fleet-pager[data-page="2"]').waitFor();
  assert.match(hashOf(admin), /page=2/);
  await showsApi(admin, 'sort=trust&order=asc&limit=100&offset=100');
  await admin.locator('#fleet-pager').getByRole('button', {name: 'Next page'}).click();
  await admin.locator('#fleet-pager[data-page="3"]').waitFor();
  r = await showsApi(admin, 'sort=trust&order=asc&limit=100&offset=200');
  assert.equal(r.hosts.length, 52);
  assert.ok(await admin.locator('#fleet-pager').getByRole('button', {name: 'Next page'}).isDisabled());
  // A filter starts again at page 1 and counts its matches.
  await admin.locator('[data-count="red"]').click();
  await until(async () => /trust=red/.test(hashOf(admin)) && !/page=/.test(hashOf(admin)), 'trust=red in the URL');
  r = await showsApi(admin, 'trust=red&sort=trust&order=asc&limit=100&offset=0');
  assert.ok(r.total >= 25 && r.total <= 27, 'red hosts: ' + r.total);
  assert.equal(await admin.locator('#fleet-pager').count(), 0);
  assert.match(await admin.locator('#fleet-summary').innerText(), new RegExp(r.total + ' of 252 host'));
  // A host's page leads back to the same filtered view.
  await admin.locator('#fleet-rows tr[data-host="nosb"] th a').click(); // has evidence (no 404)
  await admin.locator('#host-view').waitFor();
  await admin.getByRole('link', {name: '← Fleet'}).click();
  await admin.locator('[data-count="red"][aria-pressed="true"]').waitFor();
  assert.match(hashOf(admin), /trust=red/);
  await showsApi(admin, 'trust=red&sort=trust&order=asc&limit=100&offset=0');
  await admin.locator('[data-count="red"]').click();
  await admin.locator('#fleet-search').fill('FLEET-0012');
  r = await showsApi(admin, 'q=FLEET-0012&sort=trust&order=asc&limit=100&offset=0');
  assert.equal(r.total, 10);
  await admin.locator('#fleet-search').fill('');
  // The Host header sorts by name; pressed again, Z to A.
  await admin.locator('button.th-sort[data-sort="name"]').click();
  await showsApi(admin, 'sort=name&order=asc&limit=100&offset=0');
  await admin.locator('button.th-sort[data-sort="name"]').click();
  r = await showsApi(admin, 'sort=name&order=desc&limit=100&offset=0');
  assert.equal(r.hosts[0].name, 'nosb');
  assert.match(hashOf(admin), /sort=name&order=desc/);
  // Every request the view made asked the server for one page, never the fleet.
  admin.off('request', onReq);
  assert.ok(asked.length > 5, 'requests seen: ' + asked.length);
  for (const p of asked) assert.equal(p.get('limit'), '100', 'asked for ' + p.toString());

  // The URL is the view: a new tab opened on a link shows that page.
  const link = URL_ + '/#/fleet?trust=green&connection=connected&sort=last_attested&order=desc&page=2';
  const t = await ctx.newPage();
  watch(t, 'link');
  await t.goto(link);
  await t.locator('form#signin-form input[name="token"]').fill(VIEWER);
  await t.getByRole('button', {name: 'Sign in'}).click();
  await t.locator('#fleet-pager[data-page="2"]').waitFor();
  r = await showsApi(t, 'trust=green&connection=connected&sort=last_attested&order=desc&limit=100&offset=100');
  assert.ok(r.hosts.length > 0 && r.hosts.every((x) => x.trust === 'green' && x.connection === 'connected'));
  assert.equal(await t.locator('#fleet-trust').inputValue(), 'green');
  assert.equal(await t.locator('#fleet-conn').inputValue(), 'connected');
  assert.equal(await t.locator('#fleet-sort').inputValue(), 'attested');
  await t.screenshot({path: path.join(SHOTS, 'fleet-252-filtered.png')});
  await t.close();

  // Approved configurations count their hosts on the server and link to
  // the fleet view filtered by the policy.
  await admin.goto(URL_ + '/#/policies');
  const def = admin.locator('#policy-table tr[data-policy="default"]');
  await def.waitFor();
  assert.equal(await def.getAttribute('data-hosts'), '252');
  await def.getByRole('link', {name: '247 more'}).click();
  await admin.locator('#fleet-policy[data-policy="default"]').waitFor();
  assert.match(hashOf(admin), /policy=default/);
  r = await showsApi(admin, 'policy=default&sort=trust&order=asc&limit=100&offset=0');
  assert.equal(r.total, 252);
  await admin.locator('#fleet-policy').click(); // removes the filter
  await until(async () => !/policy=/.test(hashOf(admin)), 'the policy filter removed');
  await admin.goto(URL_ + '/#/policy/default');
  await admin.locator('#policy-hosts[data-hosts="252"]').waitFor();
  assert.equal(await admin.locator('#policy-hosts li[data-host]').count(), 100);
  assert.equal(await admin.locator('#policy-hosts li[data-host]').first().getAttribute('data-trust'), 'red');

  // A host changing colour moves while the page is shown (no reload): sorted
  // red first, fleet-00249 turning red joins page 1 and the red tile counts it.
  await admin.goto(URL_ + '/#/fleet');
  await admin.locator('#fleet-pager[data-page="1"]').waitFor();
  await admin.evaluate(() => { window.__sameDocument = 'yes'; });
  const red0 = Number(await admin.locator('[data-count="red"] .n').innerText());
  assert.equal(await admin.locator('tr[data-host="fleet-00249"]').count(), 0);
  fleet('sql', "UPDATE hosts SET trust_state = 'red', updated_at = updated_at + 1 WHERE name = 'fleet-00249'");
  await admin.locator('tr[data-host="fleet-00249"][data-trust="red"]').waitFor({timeout: 20000});
  await until(async () => Number(await admin.locator('[data-count="red"] .n').innerText()) === red0 + 1, 'red + 1');
  await showsApi(admin, 'sort=trust&order=asc&limit=100&offset=0');
  assert.equal(await admin.evaluate(() => window.__sameDocument), 'yes', 'the page was reloaded');
  await admin.screenshot({path: path.join(SHOTS, 'fleet-252.png')});
});

test('sign out forgets the token', async () => {
  await admin.getByRole('button', {name: 'Sign out'}).click();
  await admin.locator('#signin-form input[name="token"]').waitFor();
  assert.equal(await admin.evaluate(() => sessionStorage.getItem('attest.token')), null);
  assert.deepEqual(errors, [], 'errors in the page: ' + errors.join('; '));
});
