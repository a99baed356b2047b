// The console pages no other browser script reaches, each scanned by axe-core and
// photographed: a report through the public abuse form; the owner's forgotten password
// (the "sent" page, the mailed link's form, the result); the terms page once a new
// version is in force, accepted through its form, and the overview's notice of the next
// version; a webhook endpoint with a delivery, a failed generation, a generation that does
// not exist, the reports and end users pages with rows, and a form refused for a stale
// token; then a new developer's e-mail confirmation (the link sent again, then followed).
// Prints one JSON object of what it saw.
//
// Usage: node console_pages.cjs URL OWNER_EMAIL PASSWORD MAIL_DIR ENDPOINT_ID FAILED_ID
//                               LIVE_GENERATION_ID SCREENSHOT_DIR
// Env:   EASEL_TEST_NODE_MODULES (where playwright-core is), EASEL_TEST_CHROMIUM.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(process.env.EASEL_TEST_NODE_MODULES, 'playwright-core'));
const { scan } = require('./a11y.cjs');

const [url, email, password, mailDir, endpointId, failedId, liveGenId, shots] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const NEW_PASSWORD = 'amber orchard pylon 39';
const NEWCOMER = 'newcomer@pages.example';

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

// Every page photographed is also scanned by axe-core (serious and critical violations).
const a11y = {};
async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  a11y[name] = await scan(page);
}

// The newest link to `to` whose line holds `part`, read from the mail directory as a
// person reads their inbox (waiting a little for the mailer).
async function mailedLink(to, part) {
  for (let i = 0; i < 50; i += 1) {
    const files = fs.existsSync(mailDir) ? fs.readdirSync(mailDir) : [];
    const mails = files
      .map((f) => path.join(mailDir, f))
      .map((p) => ({ at: fs.statSync(p).mtimeMs, text: fs.readFileSync(p, 'utf8') }))
      .filter((m) => m.text.includes(`To: ${to}`))
      .sort((a, b) => a.at - b.at);
    const links = mails.flatMap((m) => m.text.split('\n').map((l) => l.trim()).filter((l) => l.includes(part)));
    if (links.length > 0) return links[links.length - 1];
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no link with ${part} mailed to ${to}`);
}

// Script errors and CSP refusals show here; the 4xx pages this script opens on purpose
// are checked by their status instead.
function watch(page, errors) {
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
}

async function fileReport(browser, seen) {
  const page = await (await browser.newContext()).newPage();
  watch(page, seen.errors);
  await page.goto(`${url}/abuse`);
  await page.fill('#content', liveGenId);
  await page.selectOption('#category', 'hate');
  await page.fill('#description', 'The image shows a hateful symbol.');
  await page.fill('#email', 'witness@elsewhere.example');
  // The form refuses what is sent sooner than a person could (form_min_seconds, 3 s).
  await page.waitForTimeout(3500);
  await submit(page, 'button[type=submit]');
  seen.report_id = (await page.textContent('#report-id')).trim();
  await shot(page, 'public-abuse-received');
}

async function resetPassword(page, seen) {
  await page.goto(`${url}/console/password/forgot`);
  await page.fill('#email', email);
  await submit(page, 'button[type=submit]');
  seen.forgot_sent = (await page.$('#sent')) !== null;
  await shot(page, 'developer-forgot-sent');
  await page.goto(await mailedLink(email, '/console/password/reset?'));
  await shot(page, 'developer-reset');
  await page.fill('#password', NEW_PASSWORD);
  await submit(page, 'button[type=submit]');
  seen.reset_title = (await page.textContent('h1')).trim();
  await shot(page, 'developer-reset-done');
}

async function acceptTerms(page, seen) {
  await page.goto(`${url}/console/login`);
  await page.fill('#username', email);
  await page.fill('#password', NEW_PASSWORD);
  await submit(page, 'button[type=submit]');
  seen.after_sign_in = new URL(page.url()).pathname;
  seen.terms_title = (await page.textContent('h1')).trim();
  await shot(page, 'developer-terms');
  // Every other page waits until the terms are accepted, so the gate shows no sections.
  seen.nav_on_gate = (await page.$('nav')) !== null;
  await page.goto(`${url}/console/keys`);
  seen.keys_before_accepting = new URL(page.url()).pathname;
  // The browser itself refuses to send the form with the box unticked.
  await page.click('#accept-terms');
  seen.blocked_unticked = new URL(page.url()).pathname === '/console/terms'
    && await page.$eval('#accept', (el) => !el.validity.valid);
  await page.check('#accept');
  await submit(page, '#accept-terms');
  seen.after_accepting = new URL(page.url()).pathname;
  seen.terms_notice = (await page.textContent('#terms-notice')).trim();
  await shot(page, 'developer-overview-terms-notice');
  await page.goto(`${url}/console/terms`);
  seen.terms_accepted = (await page.textContent('#accepted')).trim();
  await shot(page, 'developer-terms-accepted');
}

async function ownerPages(page, seen) {
  // Test mode: the endpoint's test event, delivered (and failing: nothing listens).
  await page.goto(`${url}/console/webhooks/${endpointId}`);
  await submit(page, '#send-test');
  // The page does not refresh by itself: reload until the first attempt is listed.
  for (let i = 0; i < 100 && (await page.textContent('#deliveries tbody')).includes('none yet'); i += 1) {
    await page.waitForTimeout(200);
    await page.goto(`${url}/console/webhooks/${endpointId}`);
  }
  seen.delivery_rows = await page.$$eval('#deliveries tbody tr[id]', (rows) => rows.length);
  seen.delivery_replay = await page.$$eval('#deliveries button', (b) => b.map((x) => x.getAttribute('aria-label')));
  await shot(page, 'developer-webhook-deliveries');

  await page.selectOption('#switch-mode', 'live');
  await submit(page, '.switch button[type=submit]');
  await page.goto(`${url}/console/generations/${failedId}`);
  seen.failed_status = (await page.textContent('#status')).trim();
  seen.failure = (await page.textContent('#failure')).trim();
  await shot(page, 'developer-generation-failed');
  const missing = await page.goto(`${url}/console/generations/gen_00000000000000000000000000`);
  seen.missing_status = missing.status();
  await shot(page, 'developer-generation-missing');
  await page.goto(`${url}/console/reports`);
  seen.report_rows = await page.$$eval('#reports tbody tr[id]', (rows) => rows.length);
  seen.strike_rows = await page.$$eval('#strikes tbody tr', (rows) => rows.length);
  seen.strike_standing = (await page.textContent('#strike-standing')).trim();
  await shot(page, 'developer-reports-filed');
  await page.goto(`${url}/console/end_users`);
  seen.end_users = await page.$$eval('#end-users tbody code', (c) => c.map((x) => x.textContent.trim()));
  await shot(page, 'developer-end-users-struck');

  // A form whose token went stale (another tab signed out and in, say) is refused.
  await page.goto(`${url}/console/account`);
  await page.$$eval('input[name=csrf]', (inputs) => inputs.forEach((i) => { i.value = 'stale'; }));
  const [refused] = await Promise.all([
    page.waitForNavigation(),
    page.click('header button:has-text("Sign out")'),
  ]);
  seen.refused_status = refused ? refused.status() : 0;
  seen.refused = (await page.textContent('#refused')).trim();
  await shot(page, 'developer-refused');
}

async function confirmEmail(browser, seen) {
  const page = await (await browser.newContext()).newPage();
  watch(page, seen.errors);
  await page.goto(`${url}/console/signup`);
  await page.fill('#email', NEWCOMER);
  await page.fill('#password', 'copper meadow violin 27');
  await page.fill('#business_name', 'Newcomer Studio');
  await page.fill('#legal_name', 'Newcomer Studio Ltd');
  await page.fill('#country', 'IE');
  await page.fill('#address', '2 Quay Street, Galway');
  await page.check('#terms');
  await page.check('#adult');
  await submit(page, 'button[type=submit]');
  await submit(page, '#continue');
  // Signed up after the new terms took effect: accepted with sign-up, not asked again.
  seen.newcomer_path = new URL(page.url()).pathname;
  await submit(page, '#live-blocked button[type=submit]');
  seen.resent = (await page.textContent('#message')).trim();
  await shot(page, 'developer-verify-sent');
  await page.goto(await mailedLink(NEWCOMER, '/console/verify?'));
  seen.verified = (await page.textContent('#message')).trim();
  await shot(page, 'developer-verified');
}

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = { errors: [] };
  try {
    await fileReport(browser, seen);
    const page = await (await browser.newContext()).newPage();
    watch(page, seen.errors);
    await resetPassword(page, seen);
    await acceptTerms(page, seen);
    await ownerPages(page, seen);
    await confirmEmail(browser, seen);
    seen.a11y = a11y;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen));
}

main().catch((e) => { console.error(e); process.exit(1); });
