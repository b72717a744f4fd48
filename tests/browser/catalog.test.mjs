// The dashboard's software catalog page, a host's named boot components and
// a policy's what-if panel, in headless Chromium (playwright-core), against
// the verifier and hosts tests/integration/test_catalog_policy.sh started
// (CAT_* variables).
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run tests/integration/test_catalog_policy.sh`);
  return v;
};
const URL_ = env('CAT_URL');
const TOKEN = env('CAT_TOKEN');
const SHOTS = env('CAT_SHOTS');
const EXE = process.env.CAT_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let ctx, page;
const errors = [];
const PROFILE = mkdtempSync(path.join(tmpdir(), 'attest-chromium-'));
before(async () => {
  ctx = await chromium.launchPersistentContext(PROFILE, {
    executablePath: EXE, args: ARGS, headless: true, ignoreHTTPSErrors: true,
    viewport: {width: 1280, height: 900}, locale: 'en-GB', timezoneId: 'UTC',
  });
  page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(URL_ + '/');
  await page.locator('form#signin-form input[name="token"]').fill(TOKEN);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.locator('#top').waitFor({state: 'visible'});
});
after(async () => {
  if (ctx) await ctx.close();
  rmSync(PROFILE, {recursive: true, force: true}); // the profile this test made
});

test('the catalog page lists the imported packages with their signers', async () => {
  await page.getByRole('link', {name: 'Software catalog'}).click();
  const table = page.locator('#catalog-table');
  await table.waitFor();
  const kernels = table.locator('tr[data-kind="kernel"]');
  assert.equal(await kernels.count(), 2);
  const text = await kernels.first().innerText();
  assert.match(text, /linux-image-6\.1\.0-\d+-amd64/);
  assert.match(text, /CN=Debian Secure Boot Signer 2022 - linux/);
  assert.equal(await table.locator('tr[data-kind="shim"]').count(), 1);
  await page.screenshot({path: path.join(SHOTS, 'catalog.png'), fullPage: true});
});

test('a host shows its boot components named by the catalog', async () => {
  await page.goto(URL_ + '/#/host/h');
  const list = page.locator('#components');
  await list.waitFor();
  const kernel = list.locator('li[data-kind="kernel"]');
  assert.match(await kernel.innerText(), /^kernel: linux-image-6\.1\.0-\d+-amd64 .*, Debian, signed by CN=Debian Secure Boot Signer 2022 - linux · approved by rule debian-kernels/);
  await page.goto(URL_ + '/#/host/u');
  await page.locator('#components li[data-in-catalog="false"]').waitFor();
  assert.match(await page.locator('#components li[data-in-catalog="false"]').innerText(), /Not in the catalog/);
  await page.locator('#software').screenshot({path: path.join(SHOTS, 'host-components.png')});
});

test('the policy page says which hosts would change colour', async () => {
  await page.goto(URL_ + '/#/policy/learned');
  await page.locator('#whatif-run').click();
  const res = page.locator('#whatif-result');
  await res.locator('li[data-host="h"]').waitFor();
  assert.equal(await res.locator('li[data-host="h"]').getAttribute('data-would-be'), 'red');
  assert.match(await res.innerText(), /CONFIGURATION_NOT_APPROVED/);
  await page.locator('#whatif').screenshot({path: path.join(SHOTS, 'policy-whatif.png')});
  assert.deepEqual(errors, []);
});
