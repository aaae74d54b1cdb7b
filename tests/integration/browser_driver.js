/*
 * browser_driver.js: a headless Chromium (puppeteer-core, pinned in
 * tests/package.json) driven by test_browser.py one command at a time:
 * each line on stdin is a JSON object {"op": ..., ...}, each answer one
 * JSON line on stdout, {"ok": true, "value": ...} or {"ok": false,
 * "error": "..."}. The page's console errors, uncaught exceptions, failed
 * requests and answers of 400 and up are kept for "problems".
 *
 * argv: the chromium binary. NODE_PATH finds puppeteer-core.
 */
'use strict';

const readline = require('readline');
const puppeteer = require('puppeteer-core');

let browser = null;
let page = null;
let problems = [];

function note(kind, text) {
  problems.push({ kind: kind, text: String(text).slice(0, 500) });
}

async function newPage(width, height) {
  if (page) await page.close();
  page = await browser.newPage();
  await page.setViewport({ width: width || 1024, height: height || 800 });
  page.on('console', (m) => {
    if (m.type() === 'error') note('console', m.text() + ' @ ' + JSON.stringify(m.location()));
  });
  page.on('pageerror', (e) => note('pageerror', e.message));
  page.on('requestfailed', (r) => {
    const f = r.failure();
    /* a stream cut by a reload ends so; EventSource reconnects */
    note('requestfailed', r.url() + ' ' + (f ? f.errorText : ''));
  });
  page.on('response', (r) => {
    if (r.status() >= 400) note('status', r.status() + ' ' + r.url());
  });
}

const ops = {
  async launch(a) {
    browser = await puppeteer.launch({
      executablePath: process.argv[2],
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
        '--no-first-run', '--disable-extensions'],
    });
    await newPage(a.width, a.height);
    return await browser.version();
  },
  async goto(a) {
    const r = await page.goto(a.url, { waitUntil: 'load', timeout: a.timeout });
    return r ? { status: r.status(), headers: r.headers() } : null;
  },
  async back(a) {
    const r = await page.goBack({ waitUntil: 'load', timeout: a.timeout });
    return r ? r.status() : null;
  },
  async viewport(a) {
    await newPage(a.width, a.height);
    return null;
  },
  /* the problems seen since the last call */
  async problems() {
    const p = problems;
    problems = [];
    return p;
  },
  async wait(a) {
    await page.waitForSelector(a.selector, { timeout: a.timeout, visible: !!a.visible });
    return null;
  },
  /* waits until the page's expression (of arg) is true */
  async wait_fn(a) {
    await page.waitForFunction(new Function('arg', 'return (' + a.body + ');'),
      { timeout: a.timeout, polling: 50 }, a.arg);
    return null;
  },
  async press(a) {
    await page.keyboard.press(a.key);
    return null;
  },
  async type(a) {
    await page.keyboard.type(a.text);
    return null;
  },
  async click(a) {
    await page.click(a.selector);
    return null;
  },
  /* the id (or tag) of the focused element */
  async focused() {
    return await page.evaluate(() => {
      const e = document.activeElement;
      return e ? (e.id || e.tagName.toLowerCase()) : null;
    });
  },
  /* every match: its text, data-id, and a few properties */
  async query(a) {
    return await page.$$eval(a.selector, (els) => els.map((e) => ({
      text: e.textContent,
      id: e.id || null,
      data_id: e.getAttribute('data-id'),
      value: e.value === undefined ? null : e.value,
      hidden: e.hidden || e.closest('[hidden]') !== null,
      invalid: e.getAttribute('aria-invalid'),
      dataset: Object.assign({}, e.dataset),
      children: e.children.length,
      tags: Array.from(e.querySelectorAll('*')).map((c) => c.tagName.toLowerCase()),
    })));
  },
  /* the result of a function body run in the page, with arg */
  async eval(a) {
    return await page.evaluate(new Function('arg', a.body), a.arg);
  },
  async close() {
    if (browser) await browser.close();
    browser = null;
    return null;
  },
};

async function main() {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    let cmd, out;
    try {
      cmd = JSON.parse(line);
      const fn = ops[cmd.op];
      if (!fn) throw new Error('no such op: ' + cmd.op);
      out = { ok: true, value: await fn(cmd) };
    } catch (e) {
      out = { ok: false, error: String(e && e.stack ? e.stack : e).slice(0, 2000) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
    if (cmd && cmd.op === 'close') break;
  }
  if (browser) await browser.close();
  process.exit(0);
}

main();
