// Buys credits the way a member does, in headless Chromium: sign in, switch to live mode,
// open Billing, pick an amount, follow the hand-over to (fake) Stripe's page, pay, come back
// to Billing, and watch the balance until the webhook's credit shows. Prints one JSON
// object of what it saw.
//
// Usage: node console_billing.cjs URL EMAIL PASSWORD SCREENSHOT_DIR
// Env:   EASEL_TEST_NODE_MODULES (where playwright-core is), EASEL_TEST_CHROMIUM.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.EASEL_TEST_NODE_MODULES, 'playwright-core'));
const { scan } = require('./a11y.cjs');

const [url, email, password, shots] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = { errors: [] };
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => seen.errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
    page.on('response', (r) => { if (r.status() >= 400) seen.errors.push(`${r.status()} ${r.url()}`); });
    await page.goto(`${url}/console/login`);
    await page.fill('#username', email);
    await page.fill('#password', password);
    await submit(page, 'button[type=submit]');
    await page.selectOption('#switch-mode', 'live');
    await submit(page, '.switch button[type=submit]');
    await submit(page, 'nav a[href="/console/billing"]');
    seen.available_before = (await page.textContent('#available')).trim();
    await page.screenshot({ path: path.join(shots, 'developer-billing-buy.png'), fullPage: true });
    seen.a11y = { billing: await scan(page) };

    // The hand-over page follows its link by itself: one navigation to our page, one on.
    await Promise.all([
      page.waitForURL((u) => u.pathname.startsWith('/c/pay/')),
      page.click('#buy-10'),
    ]);
    seen.stripe_path = new URL(page.url()).pathname;
    seen.stripe_title = (await page.textContent('h1')).trim();
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console/billing'),
      page.click('#pay'),
    ]);
    seen.back = new URL(page.url()).search.replace(/session_id=[^&]*/, 'session_id=…');
    seen.notice = (await page.textContent('#checkout-notice')).trim();
    // The credits card refreshes every 10 s (htmx); wait for it rather than reloading.
    await page.waitForFunction(() => document.querySelector('#available').textContent.trim() === '10000', null, { timeout: 20000 });
    seen.available_after = (await page.textContent('#available')).trim();
    await page.screenshot({ path: path.join(shots, 'developer-billing-paid.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen));
}

main().catch((e) => { console.error(e); process.exit(1); });
