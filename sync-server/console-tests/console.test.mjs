// Browser tests of the supervisors' console: headless Debian Chromium driven by playwright-core.
// Needs a running demo server: GRIDLINE_URL=http://127.0.0.1:PORT node console.test.mjs
// Screenshots go to SCREENSHOT_DIR (default: ./screenshots next to this file).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const base = process.env.GRIDLINE_URL;
if (!base) {
  console.error('GRIDLINE_URL is not set');
  process.exit(2);
}
const shots = process.env.SCREENSHOT_DIR || join(dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const results = [];
const state = {};

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function session(username, password) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(`${base}/console/`);
  check(page.url().endsWith('/console/login'), `not sent to the login page: ${page.url()}`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/console/`), page.click('button[type=submit]')]);
  return { context, page };
}

/** Submits the action form `kind` on the incident page and waits for the page to come back. */
async function act(page, kind, fill = {}) {
  const form = page.locator(`form[data-action="${kind}"]`);
  check(await form.count() === 1, `no "${kind}" action on ${page.url()}`);
  if (fill.department) await form.locator('select[name=department_id]').selectOption(fill.department);
  if (fill.note) await form.locator('input[name=note]').fill(fill.note);
  await Promise.all([page.waitForURL(/\?ok=1$/), form.locator('button[type=submit]').click()]);
  check(await page.locator('.ok').count() === 1, `"${kind}" was not confirmed`);
}

async function status(page) {
  return (await page.locator('h1 .tag').first().textContent()).trim();
}

const tests = [
  ['supervisor logs in and sees the dashboard', async () => {
    state.sup = await session('supervisor', 'Super#2024');
    const { page } = state.sup;
    check((await page.locator('h1').first().textContent()).includes('总览'), 'dashboard title');
    check(await page.locator('.card').count() >= 7, 'statistic cards');
    check(await page.locator('svg.chart').count() >= 3, 'charts');
    const received = Number(await page.locator('.card .v').first().textContent());
    check(received > 0, `the demo history shows incidents received (${received})`);
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  }],
  ['incident list filters by status', async () => {
    const { page } = state.sup;
    await page.click('header nav a[href="/console/incidents"]');
    const all = await page.locator('tbody tr').count();
    await page.selectOption('#incident-filters select[name=status]', 'reported');
    await Promise.all([page.waitForURL(/status=reported/), page.click('#incident-filters button[type=submit]')]);
    const tags = await page.locator('tbody tr td:nth-child(4) .tag:not(.red)').allTextContents();
    check(tags.length > 0, 'some incidents wait for dispatch');
    check(tags.every((t) => t.trim() === '待派遣'), `every row is 待派遣: ${tags}`);
    check(tags.length <= all, 'the filter narrows the list');
    state.incident = await page.locator('tbody tr td:first-child a').first().getAttribute('href');
  }],
  ['supervisor dispatches to a department', async () => {
    const { page } = state.sup;
    await page.goto(`${base}${state.incident}`);
    check(await status(page) === '待派遣', 'starts as 待派遣');
    await act(page, 'dispatched', { department: 'urban_mgmt', note: '请三日内处置' });
    check(await status(page) === '已派遣', `dispatched, got ${await status(page)}`);
  }],
  ['department handler accepts and resolves', async () => {
    state.dh = await session('handler', 'Dept#2024');
    const { page } = state.dh;
    await page.goto(`${base}${state.incident}`);
    await act(page, 'accepted', { note: '已受理' });
    check(await status(page) === '处理中', 'accepted');
    await act(page, 'resolved', { note: '已清理完毕，现场拍照留存' });
    check(await status(page) === '已办结待核查', 'resolved');
    check(await page.locator('form[data-action="closed"]').count() === 0, 'a handler cannot close');
  }],
  ['supervisor verifies and closes', async () => {
    const { page } = state.sup;
    await page.goto(`${base}${state.incident}`);
    await act(page, 'verified', { note: '回访核实' });
    check(await status(page) === '已核查', 'verified');
    await act(page, 'closed');
    check(await status(page) === '已结案', 'closed');
    const timeline = await page.locator('ol.timeline li b').allTextContents();
    for (const k of ['上报', '派遣', '受理', '办结', '核查通过', '结案']) check(timeline.includes(k), `timeline has ${k}: ${timeline}`);
    await page.screenshot({ path: join(shots, 'incident-detail.png'), fullPage: true });
  }],
  ['a supervisor of another community gets 403', async () => {
    const other = await session('supervisor2', 'Super2#2024');
    const resp = await other.page.goto(`${base}${state.incident}`);
    check(resp.status() === 403, `status ${resp.status()}`);
    check((await other.page.content()).includes('无权访问'), '403 page');
    await other.context.close();
  }],
  ['a form posted without its CSRF token is refused', async () => {
    const { page } = state.sup;
    await page.goto(`${base}/console/incidents?status=reported`);
    const href = await page.locator('tbody tr td:first-child a').first().getAttribute('href');
    await page.goto(`${base}${href}`);
    const form = page.locator('form[data-action="dispatched"]');
    await form.locator('select[name=department_id]').selectOption('urban_mgmt');
    await form.evaluate((f) => f.querySelector('input[name=_csrf]').remove());
    const [resp] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), form.locator('button[type=submit]').click()]);
    check(resp.status() === 403, `status ${resp.status()}`);
    await page.goto(`${base}${href}`);
    check(await status(page) === '待派遣', 'nothing changed');
  }],
];

for (const [name, fn] of tests) {
  try {
    await fn();
    results.push([name, null]);
    console.log(`ok   ${name}`);
  } catch (e) {
    results.push([name, e]);
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
await browser.close();
const failed = results.filter(([, e]) => e).length;
console.log(`screenshots: ${shots}`);
console.log(`browser: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
