// Drives the operator console in headless Chromium the way a person does: sign in through
// the real form (a wrong password first), see the dashboard, sign out, and check that the
// old session cookie no longer opens the console. Then the same form served under another
// origin (localhost instead of 127.0.0.1) must be refused by the Origin check, in a real
// browser's own Origin and Referer behaviour. Prints one JSON object of what it saw.
//
// Usage: node console_signin.cjs URL USERNAME PASSWORD SCREENSHOT_DIR
// Env:   EASEL_TEST_NODE_MODULES (where playwright-core is), EASEL_TEST_CHROMIUM.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.EASEL_TEST_NODE_MODULES, 'playwright-core'));
const { scan } = require('./a11y.cjs');

const [url, username, password, shots] = process.argv.slice(2);
// The flags this machine's Chromium needs as root and without a network (see the env doc).
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = {};
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/console`);
    seen.unsigned = new URL(page.url()).pathname;
    await page.screenshot({ path: path.join(shots, 'console-login.png') });
    seen.a11y = { login: await scan(page) };

    await page.fill('#username', username);
    await page.fill('#password', 'not-the-password');
    await submit(page, 'button[type=submit]');
    seen.wrong_password = (await page.textContent('.error')) || '';

    await page.fill('#username', username);
    await page.fill('#password', password);
    await submit(page, 'button[type=submit]');
    seen.signed_in = new URL(page.url()).pathname;
    seen.dashboard_title = await page.title();
    await page.screenshot({ path: path.join(shots, 'console-dashboard.png'), fullPage: true });
    seen.a11y.dashboard = await scan(page);
    const session = (await context.cookies()).find((c) => c.name.endsWith('easel_session'));
    seen.cookie = session ? { httpOnly: session.httpOnly, sameSite: session.sameSite } : null;

    await submit(page, 'button:has-text("Sign out")');
    seen.signed_out = new URL(page.url()).pathname;
    // The cookie a thief copied before the sign-out opens nothing.
    await context.addCookies([session]);
    await page.goto(`${url}/console`);
    seen.old_session = new URL(page.url()).pathname;

    // Another origin: the browser sends Origin http://localhost:PORT, not the public URL.
    const other = url.replace('127.0.0.1', 'localhost');
    const elsewhere = await (await browser.newContext()).newPage();
    await elsewhere.goto(`${other}/console/login`);
    await elsewhere.fill('#username', username);
    await elsewhere.fill('#password', password);
    const [response] = await Promise.all([
      elsewhere.waitForNavigation(),
      elsewhere.click('button[type=submit]'),
    ]);
    seen.cross_origin_status = response ? response.status() : 0;
    await elsewhere.screenshot({ path: path.join(shots, 'console-cross-origin.png') });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen));
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
