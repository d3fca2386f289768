// manager.mjs -- the dashboard (SetHandler xport-manager) in a real
// headless Chromium, driven by playwright-core: what t/42_manager.t
// cannot see over plain HTTP. Run by that test, which prepares the server
// side (the gate, an archive with bad rows) and reads this script's
// output line by line:
//
//   ok - NAME / not ok - NAME      one check each (TAP without numbers)
//   # TEXT                         a diagnostic
//   @gate-release ID               the export ID has been asked to cancel
//                                  while the gate holds it: let the gate go
//   @download PATH ID              the archive of export ID, saved at PATH
//   @import ID                     a dry run the page started (its target
//                                  must be left unchanged)
//
// The first failed check ends the run (later steps build on earlier ones)
// with a screenshot under XPORT_MGR_OUT. Every wait is for a state of the
// page (a selector, a record), never for a time.
//
// Environment (set by t/42_manager.t):
//   XPORT_MGR_URL         the dashboard on the main server (Basic auth)
//   XPORT_MGR_GATE_URL    the same Location on host xport_gate
//   XPORT_MGR_TARGET_URL  the same Location on an empty import target
//   XPORT_MGR_TOK_URL     a dashboard behind AuthType xport-token
//   XPORT_MGR_TOK_KEY     alice's API key there
//   XPORT_MGR_USER        the user (password: the same)
//   XPORT_MGR_BAD         an archive whose rows the target rejects
//   XPORT_MGR_OUT         where downloads and screenshots go
//   XPORT_NPM_BROWSER     the directory playwright-core is installed in
//   CHROMIUM              the browser (default /usr/bin/chromium)
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

const env = process.env;
const require = createRequire(path.join(env.XPORT_NPM_BROWSER, 'package.json'));
const { chromium } = require('playwright-core');

const USER = env.XPORT_MGR_USER || 'alice';
const OUT = env.XPORT_MGR_OUT;
const WAIT = 60000;
const URLS = {
  main: env.XPORT_MGR_URL, gate: env.XPORT_MGR_GATE_URL,
  target: env.XPORT_MGR_TARGET_URL, tok: env.XPORT_MGR_TOK_URL,
};
const ORIGINS = new Set(Object.values(URLS).map((u) => new URL(u).origin));

let browser, failed = false, shots = 0;
const pages = [];
const external = [], cspErrors = [], pageErrors = [];

function say(line) { process.stdout.write(line + '\n'); }
function diag(text) { String(text).split('\n').forEach((l) => say('# ' + l)); }

class Failure extends Error {}
function assert(cond, what) { if (!cond) { throw new Failure(what); } }

async function screenshot(name) {
  for (const p of pages) {
    if (p.isClosed()) { continue; }
    const file = path.join(OUT, `${name}-${++shots}.png`);
    await p.screenshot({ path: file, fullPage: true }).catch(() => {});
    diag(`screenshot: ${file}`);
  }
}

// One check: ok, or not ok with why, a screenshot of every open page,
// and the end of the run.
async function check(name, fn) {
  try {
    await fn();
    say(`ok - ${name}`);
  } catch (e) {
    say(`not ok - ${name}`);
    diag(e instanceof Failure ? e.message : (e && e.stack) || String(e));
    failed = true;
    await screenshot('failed');
    throw e;
  }
}

function watch(page) {
  pages.push(page);
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && !ORIGINS.has(u.origin)) { external.push(r.url()); }
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) { cspErrors.push(m.text()); }
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return page;
}

async function open(context, url) {
  const page = watch(await context.newPage());
  const res = await page.goto(url);
  assert(res && res.status() === 200, `GET ${url}: ${res && res.status()}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT });
  return page;
}

// The record of a job as the API below the page has it (the context's
// credentials), or null when it answers otherwise.
async function record(page, kind, id) {
  const res = await page.request.get(`${new URL(page.url()).origin}${base(page)}/${kind}/${id}`);
  return res.status() === 200 ? res.json() : null;
}

function base(page) { return new URL(page.url()).pathname.replace(/\/$/, ''); }

const row = (page, id) => page.locator(`tr[data-id="${id}"]`);

async function waitStatus(page, id, status) {
  await page.waitForSelector(`tr[data-id="${id}"][data-status="${status}"]`, { timeout: WAIT });
}

// Submit a form and return the record the API answered with (202).
async function submit(page, button, pathEnd) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(pathEnd),
                         { timeout: WAIT }),
    page.getByRole('button', { name: button }).click(),
  ]);
  const body = await res.text();
  assert(res.status() === 202, `POST ${pathEnd}: ${res.status()} ${body}`);
  return JSON.parse(body);
}

async function launch() {
  const executablePath = env.CHROMIUM || '/usr/bin/chromium';
  try {
    return await chromium.launch({ executablePath, chromiumSandbox: true });
  } catch (e) {
    // root, or no user namespaces in this container: no sandbox then
    diag(`chromium without its sandbox (${String(e.message).split('\n')[0]})`);
    return chromium.launch({ executablePath, chromiumSandbox: false });
  }
}

// ------------------------------------------------------------- the steps

async function pageBasics(page) {
  await check('the page loads, titled, with its script running', async () => {
    assert((await page.title()) === 'Exports and imports', `title: ${await page.title()}`);
    const mode = await page.locator('#mode').getAttribute('data-mode');
    assert(['polling', 'live', 'reconnecting'].includes(mode), `update mode: ${mode}`);
    diag(`updates: ${mode} (${await page.locator('#mode').textContent()})`);
  });
  await check('every form control has a label, every button a name', async () => {
    for (const l of ['Filter', 'Format', 'Since (optional)', 'Until (optional)',
                     'Closure: add every row the selected rows reference', 'Archive or file',
                     'Existing rows', 'Sections (optional)',
                     'Dry run: check everything and count the changes, write nothing']) {
      assert((await page.getByLabel(l, { exact: true }).count()) === 1, `no control labelled "${l}"`);
    }
    const bad = await page.evaluate(() => [
      ...Array.from(document.querySelectorAll('input, select, textarea'))
        .filter((e) => !e.labels || !e.labels.length).map((e) => e.outerHTML),
      ...Array.from(document.querySelectorAll('button, a'))
        .filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim())).map((e) => e.outerHTML),
    ]);
    assert(bad.length === 0, `unlabelled: ${bad.join(' ')}`);
  });
}

async function exportToCompletion(page) {
  let rec;
  await check('an export started from the form reaches 100 % without a reload', async () => {
    await page.evaluate(() => { window.xportMarker = 42; });
    let navigations = 0;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) { navigations++; } });
    await page.getByLabel('Filter', { exact: true }).fill('users\nbots');
    await page.getByLabel('Format', { exact: true }).selectOption('tar.gz');
    rec = await submit(page, 'Start export', '/exports');
    await row(page, rec.id).waitFor({ timeout: WAIT });
    await waitStatus(page, rec.id, 'completed');
    const bar = row(page, rec.id).locator('progress');
    assert((await bar.getAttribute('value')) === '100', `bar at ${await bar.getAttribute('value')}`);
    const text = await row(page, rec.id).textContent();
    assert(/100\.0 %/.test(text) && /completed/.test(text), `row: ${text}`);
    assert((await page.evaluate(() => window.xportMarker)) === 42, 'the page was reloaded');
    assert(navigations === 0, `${navigations} navigation(s)`);
  });
  return rec;
}

function tarGzNames(bytes) {
  const tar = zlib.gunzipSync(bytes);
  const names = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const name = tar.subarray(off, off + 100).toString('latin1').replace(/\0.*$/s, '');
    if (!name) { break; }
    assert(tar.subarray(off + 257, off + 262).toString('latin1') === 'ustar', `entry ${name}: not ustar`);
    names.push(name);
    const size = parseInt(tar.subarray(off + 124, off + 136).toString('latin1').trim(), 8);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

async function download(page, rec) {
  let file;
  await check('the Download link saves the archive', async () => {
    const done = await record(page, 'exports', rec.id);
    const [dl] = await Promise.all([
      page.waitForEvent('download', { timeout: WAIT }),
      row(page, rec.id).getByRole('link', { name: /^Download export/ }).click(),
    ]);
    assert(/\.tar\.gz$/.test(dl.suggestedFilename()), `file name ${dl.suggestedFilename()}`);
    file = path.join(OUT, `export-${rec.id}.tar.gz`);
    await dl.saveAs(file);
    const bytes = fs.readFileSync(file);
    assert(bytes.length === done.file_size, `${bytes.length} bytes, the record says ${done.file_size}`);
    assert(bytes[0] === 0x1f && bytes[1] === 0x8b, 'not gzip');
    const names = tarGzNames(bytes);
    assert(names.join(' ') === 'manifest.json data/users.ndjson data/bots.ndjson',
           `entries: ${names.join(' ')}`);
    say(`@download ${file} ${rec.id}`);
  });
  return file;
}

async function dryRun(page, file) {
  await check('the archive uploaded as a dry run shows the changes it would make', async () => {
    await page.getByLabel('Archive or file', { exact: true }).setInputFiles(file);
    const dry = page.getByLabel(/^Dry run/);
    assert(await dry.isChecked(), 'dry run is not the default');
    await page.getByLabel('Existing rows', { exact: true }).selectOption('update');
    const rec = await submit(page, 'Upload and import', '/imports');
    assert(rec.dry_run === true, `dry_run ${rec.dry_run}`);
    say(`@import ${rec.id}`);
    await waitStatus(page, rec.id, 'completed');
    const done = await record(page, 'imports', rec.id);
    for (const sec of ['users', 'bots']) {
      const c = done.changes[sec];
      assert(c && c.created > 0, `${sec}: ${JSON.stringify(c)}`);
      const li = row(page, rec.id).locator(`li[data-section="${sec}"]`);
      const text = await li.textContent();
      assert(text.includes(`${c.created.toLocaleString('en-US')} created`) ||
             text.includes(`${c.created} created`), `${sec}: "${text}" (created ${c.created})`);
    }
    assert(/dry run/.test(await row(page, rec.id).textContent()), 'not shown as a dry run');
  });
}

async function rowErrors(page) {
  await check('an import whose rows are refused lists their errors', async () => {
    await page.getByLabel('Archive or file', { exact: true }).setInputFiles(env.XPORT_MGR_BAD);
    const rec = await submit(page, 'Upload and import', '/imports');
    await waitStatus(page, rec.id, 'failed');
    const done = await record(page, 'imports', rec.id);
    assert(done.error_messages.length >= 2, `errors: ${JSON.stringify(done.error_messages)}`);
    const details = row(page, rec.id).locator('details.errors');
    const summary = await details.locator('summary').textContent();
    assert(summary === `${done.errors_total} errors`, `summary "${summary}"`);
    if (!(await details.evaluate((d) => d.open))) { await details.locator('summary').click(); }
    const items = await details.locator('li').allTextContents();
    assert(JSON.stringify(items) === JSON.stringify(done.error_messages),
           `listed ${JSON.stringify(items)}, the record has ${JSON.stringify(done.error_messages)}`);
    assert(await details.locator('li').first().isVisible(), 'the errors are not visible');
  });
}

async function cancelHeld(page) {
  await check('a job held by the gate is cancelled from its row', async () => {
    await page.getByLabel('Filter', { exact: true }).fill('gated');
    await page.getByLabel('Format', { exact: true }).selectOption('ndjson');
    const rec = await submit(page, 'Start export', '/exports');
    await page.waitForFunction((id) => {
      const tr = document.querySelector(`tr[data-id="${id}"]`);
      return tr && tr.dataset.status === 'running' && Number(tr.querySelector('progress').value) > 0;
    }, rec.id, { timeout: WAIT });
    const cancel = row(page, rec.id).getByRole('button', { name: /^Cancel export/ });
    await Promise.all([
      page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith(rec.id), { timeout: WAIT }),
      cancel.click(),
    ]);
    assert(await cancel.isDisabled(), 'Cancel stays enabled while cancelling');
    say(`@gate-release ${rec.id}`);
    await waitStatus(page, rec.id, 'cancelled');
    assert(await cancel.isHidden(), 'a cancelled job still offers Cancel');
    assert(await row(page, rec.id).getByRole('link', { name: /^Download/ }).isHidden(),
           'a cancelled export offers a download');
  });
}

async function deleteJob(page, rec) {
  await check('Delete asks first, then removes the job', async () => {
    const del = row(page, rec.id).getByRole('button', { name: /^Delete export/ });
    page.once('dialog', (d) => d.dismiss());
    await del.click();
    assert((await row(page, rec.id).count()) === 1, 'removed although the dialog was dismissed');
    assert((await record(page, 'exports', rec.id)) !== null, 'deleted although dismissed');
    page.once('dialog', (d) => d.accept());
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().endsWith(rec.id),
                           { timeout: WAIT }),
      del.click(),
    ]);
    await row(page, rec.id).waitFor({ state: 'detached', timeout: WAIT });
    assert((await record(page, 'exports', rec.id)) === null, 'the API still has it');
  });
}

// The event stream (another branch builds it): faked here, so that the
// page's handling of `event: status` / `event: progress` is seen whatever
// the server has.
async function eventStream(context) {
  await check('records from the event stream update the rows', async () => {
    const page = watch(await context.newPage());
    const id = 'f'.repeat(32), now = new Date().toISOString();
    const rec = (status, done) => ({
      _id: id, id, kind: 'export', api: 'native', status, filter: 'users', format: 'tar.gz',
      user_id: USER, count: {}, progress: { done, total: 1000, percentage: done / 10 },
      duration: 1.5, file_size: null, sha256: null, finished: false, success: false,
      error_messages: [], errors_total: 0, path: 'x.tar.gz', source_system: null,
      correlation_id: null, createdAt: '2099-01-01T00:00:00.000Z', updatedAt: now,
    });
    const ev = (n, type, r) => `id: ${id}:${n}\nevent: ${type}\ndata: ${JSON.stringify(r)}\n\n`;
    await page.route(/\/events$/, (route) => route.fulfill({
      status: 200, contentType: 'text/event-stream', headers: { 'Cache-Control': 'no-store' },
      body: 'retry: 3600000\n\n' + ev(1, 'status', rec('running', 250)) +
            ev(2, 'progress', rec('running', 600)),
    }));
    await page.goto(URLS.main);
    await page.waitForFunction((i) => {
      const tr = document.querySelector(`tr[data-id="${i}"]`);
      return tr && tr.querySelector('progress').value === 60;
    }, id, { timeout: WAIT });
    const text = await row(page, id).textContent();
    assert(/running/.test(text) && /60\.0 %/.test(text), `row: ${text}`);
    await page.close();
  });
}

async function tokenAuth() {
  await check('behind AuthType xport-token the page lists and starts jobs', async () => {
    const ctx = await browser.newContext({
      extraHTTPHeaders: { Authorization: `Bearer ${env.XPORT_MGR_TOK_KEY}` },
    });
    const page = await open(ctx, URLS.tok);
    assert((await page.locator('#who').textContent()) === USER, 'another user');
    await page.getByLabel('Filter', { exact: true }).fill('global_properties');
    const rec = await submit(page, 'Start export', '/exports');
    await waitStatus(page, rec.id, 'completed');
    await ctx.close();
  });
}

async function phone(context) {
  await check('at a phone\'s width nothing overflows sideways', async () => {
    const page = await open(context, URLS.main);
    await page.setViewportSize({ width: 375, height: 740 });
    await page.waitForSelector('tr[data-id]', { timeout: WAIT });
    const w = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert(w[0] <= w[1], `page ${w[0]} px wide in a ${w[1]} px window`);
    const display = await page.locator('table.jobs tr[data-id]').first().evaluate(
      (tr) => getComputedStyle(tr).display);
    assert(display === 'block', `rows shown as ${display}, not as cards`);
    await page.screenshot({ path: path.join(OUT, 'phone.png'), fullPage: true });
    await page.close();
  });
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  browser = await launch();
  diag(`chromium ${browser.version()}`);
  const context = await browser.newContext({
    httpCredentials: { username: USER, password: USER },
    acceptDownloads: true, viewport: { width: 1280, height: 900 },
  });
  const home = await open(context, URLS.main);
  await pageBasics(home);
  const rec = await exportToCompletion(home);
  const file = await download(home, rec);
  const target = await open(context, URLS.target);
  await dryRun(target, file);
  await rowErrors(target);
  const gate = await open(context, URLS.gate);
  await cancelHeld(gate);
  await deleteJob(home, rec);
  await eventStream(context);
  await tokenAuth();
  await phone(context);
  await check('no request left the servers under test', async () => {
    assert(external.length === 0, external.join(' '));
  });
  await check('the Content-Security-Policy blocked nothing of the page', async () => {
    assert(cspErrors.length === 0, cspErrors.join('\n'));
  });
  await check('the page\'s script threw no error', async () => {
    assert(pageErrors.length === 0, pageErrors.join('\n'));
  });
  await home.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });
}

main().catch((e) => {
  if (!failed) {
    say('not ok - the browser run');
    diag((e && e.stack) || String(e));
  }
  process.exitCode = 1;
}).finally(async () => {
  if (browser) { await browser.close().catch(() => {}); }
});
