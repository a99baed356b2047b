// Drives the developer console in headless Chromium as a new customer does: open the
// sign-up form from the sign-in page, fill it in (an unticked attestation first, which the
// browser itself refuses to send), read the first test key from the welcome page, see the
// overview in test mode, switch to live mode (closed until the e-mail is verified), back to
// test mode, create a key on the keys page and read its secret. A phone-sized viewport
// checks the layout does not overflow. Screenshots of every page. Prints what it saw as JSON.
//
// Usage: node console_signup.cjs URL EMAIL PASSWORD SCREENSHOT_DIR
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

// Every page photographed is also scanned by axe-core (serious and critical violations).
const a11y = {};
async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  a11y[name] = await scan(page);
}

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = {};
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Script errors and CSP refusals (an inline script or style a library injects) show here.
    seen.errors = [];
    page.on('pageerror', (e) => seen.errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
    await page.goto(`${url}/console/login`);
    await shot(page, 'developer-login');
    await page.goto(`${url}/console/password/forgot`);
    await shot(page, 'developer-forgot');
    // The public pages follow the same rules.
    await page.goto(`${url}/abuse`);
    await shot(page, 'public-abuse');
    await page.goto(`${url}/developers`);
    await shot(page, 'public-developers');
    await page.goto(`${url}/console/login`);
    await submit(page, 'a[href="/console/signup"]');
    seen.signup_path = new URL(page.url()).pathname;
    await page.fill('#email', email);
    await page.fill('#password', password);
    await page.fill('#business_name', 'Lumen Labs');
    await page.fill('#legal_name', 'Lumen Labs Ltd');
    await page.fill('#country', 'GB');
    await page.fill('#address', '1 High Street, London');
    await page.check('#terms');
    await shot(page, 'developer-signup');
    // The 18+ box is required: the browser does not send the form without it.
    await page.click('button[type=submit]');
    seen.blocked_without_adult = new URL(page.url()).pathname === '/console/signup'
      && await page.$eval('#adult', (el) => !el.validity.valid);
    await page.check('#adult');
    await submit(page, 'button[type=submit]');
    seen.welcome_title = await page.textContent('h1');
    seen.secret = await page.inputValue('#secret');
    await shot(page, 'developer-welcome');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'easel_session');
    seen.cookie = session ? { httpOnly: session.httpOnly, sameSite: session.sameSite } : null;

    await submit(page, '#continue');
    seen.overview_has_testbar = (await page.$('#testbar')) !== null;
    seen.live_blocked = (await page.textContent('#live-blocked') || '').trim();
    await shot(page, 'developer-overview');

    await page.selectOption('#switch-mode', 'live');
    await submit(page, '.switch button[type=submit]');
    seen.live_testbar = (await page.$('#testbar')) !== null;
    await page.selectOption('#switch-mode', 'test');
    await submit(page, '.switch button[type=submit]');

    await submit(page, 'nav a[href="/console/billing"]');
    await shot(page, 'developer-billing');
    await submit(page, 'nav a[href="/console/keys"]');
    await page.fill('#name', 'staging');
    await page.fill('#scopes', 'generations:read generations:write');
    await submit(page, 'form[action="/console/keys"] button[type=submit]');
    seen.created_secret = await page.inputValue('#secret');
    seen.key_rows = await page.$$eval('tbody tr', (rows) => rows.length);
    await shot(page, 'developer-keys');

    // The copy button puts the secret on the clipboard (http on loopback counts as secure).
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    await page.click('button[data-copy="secret"]');
    await page.waitForFunction(() => document.querySelector('button[data-copy]').textContent === 'Copied');
    seen.copied = await page.evaluate(() => navigator.clipboard.readText());

    // Use the new key from outside the browser, as a developer's program does.
    const made = await fetch(`${url}/v1/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seen.created_secret}`, 'content-type': 'application/json', prefer: 'wait=20' },
      body: JSON.stringify({ model: 'sandbox-image', prompt: 'a paper boat', width: 256, height: 256 }),
    });
    seen.generation_status = (await made.json()).status;

    // The generation made with the key, then one from the playground; the detail page
    // refreshes itself (htmx) until the generation has ended.
    await submit(page, 'nav a[href="/console/generations"]');
    seen.generation_rows = await page.$$eval('#generations tbody tr[id]', (rows) => rows.length);
    await shot(page, 'developer-generations');
    await submit(page, '#to-playground');
    await page.fill('#prompt', 'a lighthouse made of glass');
    await page.selectOption('#size', '256x256');
    await shot(page, 'developer-playground');
    await submit(page, '#generate');
    await page.waitForFunction(() => (document.querySelector('#status') || {}).textContent === 'succeeded', null, { timeout: 20000 });
    seen.playground_status = await page.textContent('#status');
    await page.waitForFunction(() => { const img = document.querySelector('#outputs img'); return img && img.complete && img.naturalWidth > 0; });
    seen.playground_image_width = await page.$eval('#outputs img', (img) => img.naturalWidth);
    await shot(page, 'developer-generation');

    await submit(page, 'nav a[href="/console/usage"]');
    await page.waitForSelector('#usage-chart .uplot canvas');
    seen.usage_chart = true;
    seen.usage_csv = await page.getAttribute('#csv', 'href');
    seen.usage_by_model = await page.$$eval('#by-model tbody td', (cells) => cells.map((c) => c.textContent.trim()).join(' '));
    await shot(page, 'developer-usage');

    await submit(page, 'nav a[href="/console/logs"]');
    seen.log_rows = await page.$$eval('#requests tbody tr', (rows) => rows.length);
    await shot(page, 'developer-logs');
    await submit(page, 'a[href="/console/audit"]');
    await shot(page, 'developer-audit');
    await page.goto(`${url}/console/end_users`);
    await shot(page, 'developer-end-users');
    await submit(page, 'a[href="/console/reports"]');
    await shot(page, 'developer-reports');

    await submit(page, 'nav a[href="/console/webhooks"]');
    await page.fill('#url', 'http://127.0.0.1:9/hook');
    await page.fill('#events', 'generation.succeeded generation.failed');
    await submit(page, 'form[action="/console/webhooks"] button[type=submit]');
    seen.webhook_secret_prefix = (await page.inputValue('#secret')).slice(0, 6);
    await shot(page, 'developer-webhooks');
    await submit(page, '#created a');
    await shot(page, 'developer-webhook');

    // A phone: nothing may be wider than the screen but the tables' own scroll boxes.
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${url}/console`);
    seen.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    await shot(page, 'developer-overview-phone');
    seen.a11y = a11y;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen));
}

main().catch((e) => { console.error(e); process.exit(1); });
