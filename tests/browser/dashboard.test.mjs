// The attest dashboard in real headless Chromium (playwright-core driving
// /usr/bin/chromium), against a real verifier with simulated hosts started by
// tests/integration/test_dashboard.sh, which passes everything in DASH_*.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync} from 'node:fs';
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
after(async () => { if (ctx) await ctx.close(); });

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
  assert.equal(await admin.locator('[data-count="green"] .n').innerText(), '1');
  assert.equal(await admin.locator('[data-count="red"] .n').innerText(), '1');
  assert.match(await admin.locator('#who-role').innerText(), /Admin/);
  // The token is kept for this tab only.
  const stored = await admin.evaluate(() => [sessionStorage.getItem('attest.token'), localStorage.length]);
  assert.deepEqual(stored, [ADMIN, 0]);
  // Filter and search.
  await admin.locator('#fleet-search').fill('nos');
  await admin.locator('tr[data-host="good"]').waitFor({state: 'detached'});
  assert.equal(await admin.locator('tr[data-host]').count(), 1);
  await admin.locator('#fleet-search').fill('');
  await admin.locator('[data-count="red"]').click();
  assert.equal(await admin.locator('tr[data-host]').count(), 1);
  await admin.locator('[data-count="red"]').click();
  await admin.locator('#fleet-sort').selectOption('state');
  assert.equal(await admin.locator('tr[data-host]').first().getAttribute('data-host'), 'nosb');
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

test('sign out forgets the token', async () => {
  await admin.getByRole('button', {name: 'Sign out'}).click();
  await admin.locator('#signin-form input[name="token"]').waitFor();
  assert.equal(await admin.evaluate(() => sessionStorage.getItem('attest.token')), null);
  assert.deepEqual(errors, [], 'errors in the page: ' + errors.join('; '));
});
