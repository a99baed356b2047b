// An owner exports the account's data from the Account page, downloads it once through
// the link, asks for the account's erasure and cancels it. Prints one JSON object of what
// it saw; screenshots of each state, scanned with axe-core.
//
// Usage: node console_data_rights.cjs URL OWNER_EMAIL PASSWORD ACCOUNT_ID SCREENSHOT_DIR
// Env:   EASEL_TEST_NODE_MODULES (where playwright-core is), EASEL_TEST_CHROMIUM.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(process.env.EASEL_TEST_NODE_MODULES, 'playwright-core'));
const { scan } = require('./a11y.cjs');

const [url, email, password, accountId, shots] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = { a11y: {}, errors: [] };
  try {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
    page.on('pageerror', (e) => seen.errors.push(String(e)));
    await page.goto(`${url}/console/login`);
    await page.fill('#username', email);
    await page.fill('#password', password);
    await submit(page, 'button[type=submit]');
    await submit(page, 'nav a[href="/console/account"]');
    await submit(page, '#export-data');
    seen.asked = (await page.textContent('#notice')).trim();
    // The export is built in the background: the page shows its link once it is ready.
    for (let i = 0; i < 100 && !(await page.$('#exports a[download]')); i += 1) {
      await page.waitForTimeout(200);
      await page.goto(`${url}/console/account`);
    }
    seen.status_ready = (await page.textContent('#exports tbody tr td:nth-child(2)')).trim();
    await page.screenshot({ path: path.join(shots, 'developer-account-export.png'), fullPage: true });
    seen.a11y.export = await scan(page);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#exports a[download]'),
    ]);
    const saved = await download.path();
    const bytes = fs.readFileSync(saved);
    seen.downloaded_bytes = bytes.length;
    seen.gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
    seen.download_name = download.suggestedFilename();
    await page.goto(`${url}/console/account`);
    seen.status_after = (await page.textContent('#exports tbody tr td:nth-child(2)')).trim();
    seen.links_after = await page.$$eval('#exports a[download]', (a) => a.length);

    await page.fill('#erasure-confirm', accountId);
    await submit(page, '#erasure-form button[type=submit]');
    seen.erasure = (await page.textContent('#notice')).trim();
    seen.banner = (await page.textContent('#erasure .notice')).trim();
    await page.screenshot({ path: path.join(shots, 'developer-account-erasure.png'), fullPage: true });
    seen.a11y.erasure = await scan(page);
    await submit(page, '#cancel-erasure');
    seen.canceled = (await page.textContent('#notice')).trim();
    seen.form_back = !!(await page.$('#erasure-form'));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen));
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
