// The Plans page the way an owner uses it, in headless Chromium. Mode `subscribe`: sign in,
// open Plans from the nav (free plan, Subscribe buttons), subscribe to `pro` through the
// hand-over to (fake) Stripe's page, pay, come back and reload until the webhook's plan
// shows; switch to `starter` the same way; open Stripe's billing portal and follow its
// Return link back. Mode `past-due` (after the test failed a renewal): the overview and
// Plans with the past-due notice, then Plans on a phone-sized screen. Axe scans and
// screenshots of every state; prints one JSON object of what it saw.
//
// Usage: node console_plans.cjs URL MODE EMAIL PASSWORD SCREENSHOT_DIR
// Env:   EASEL_TEST_NODE_MODULES (where playwright-core is), EASEL_TEST_CHROMIUM.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.EASEL_TEST_NODE_MODULES, 'playwright-core'));
const { scan } = require('./a11y.cjs');

const [url, mode, email, password, shots] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function text(page, selector) {
  const found = await page.$(selector);
  return found ? (await found.textContent()).replace(/\s+/g, ' ').trim() : null;
}

// Reloads every 500 ms (for at most 20 s) until the plan heading reads `want`; returns the
// heading last seen.
async function waitForPlan(page, want) {
  let heading = await text(page, '#subscription h2');
  for (let i = 0; i < 40 && heading !== `Your plan: ${want}`; i += 1) {
    await page.waitForTimeout(500);
    await page.reload();
    heading = await text(page, '#subscription h2');
  }
  return heading;
}

// What the plans page offers: the plan heading, the subscription line, each row's action
// (button id and label, or the cell's text), the portal button, where the rows' buttons sit,
// and whether the compare table is wider than its card, the page (or its main part, without
// the header) wider than the window.
async function plansView(page) {
  const rows = await page.$$eval('#plans tbody tr', (trs) => Object.fromEntries(trs.map((tr) => {
    const cell = tr.lastElementChild;
    const button = cell.querySelector('button');
    const action = button ? `${button.id}: ${button.textContent.trim()}` : cell.textContent.trim();
    return [tr.id.replace(/^plan-/, ''), action];
  })));
  // How far a row's button sits off the row's middle, and the tallest button (a label that
  // wraps makes it taller), in pixels.
  const buttons = await page.$$eval('#plans tbody tr button', (bs) => bs.map((b) => {
    const box = b.getBoundingClientRect();
    const row = b.closest('tr').getBoundingClientRect();
    return { off: Math.abs((box.top + box.bottom) / 2 - (row.top + row.bottom) / 2), height: box.height };
  }));
  return {
    heading: await text(page, '#subscription h2'),
    state: await text(page, '#subscription-state'),
    rows,
    portal: await text(page, '#portal'),
    button_off_middle: Math.round(Math.max(0, ...buttons.map((b) => b.off))),
    button_height: Math.round(Math.max(0, ...buttons.map((b) => b.height))),
    table_overflow: await page.$eval('#plans', (t) => t.scrollWidth > t.parentElement.clientWidth + 1),
    page_overflow: await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1),
    main_overflow: await page.$eval('main', (m) => m.getBoundingClientRect().left + m.scrollWidth > window.innerWidth + 1),
  };
}

async function signIn(page) {
  await page.goto(`${url}/console/login`);
  await page.fill('#username', email);
  await page.fill('#password', password);
  await submit(page, 'button[type=submit]');
}

async function subscribeSwitchAndPortal(page, seen, look) {
  await submit(page, 'nav a[href="/console/plans"]');
  seen.free = await plansView(page);
  await look('plans-free');

  // The hand-over page follows its link by itself: one navigation to our page, one on.
  await Promise.all([
    page.waitForURL((u) => u.pathname.startsWith('/c/pay/')),
    page.click('#subscribe-pro'),
  ]);
  seen.stripe_title = await text(page, 'h1');
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/console/plans'),
    page.click('#pay'),
  ]);
  seen.back = new URL(page.url()).search;
  seen.checkout_notice = await text(page, '#plans-notice');
  seen.plan_after_paying = await waitForPlan(page, 'pro');
  seen.pro = await plansView(page);
  await look('plans-pro');

  await submit(page, '#switch-starter');
  seen.switched_to = new URL(page.url()).search;
  seen.change_notice = await text(page, '#plans-notice');
  seen.plan_after_switching = await waitForPlan(page, 'starter');
  seen.starter = await plansView(page);
  await look('plans-starter');

  await Promise.all([
    page.waitForURL((u) => u.pathname.startsWith('/p/session/')),
    page.click('#portal'),
  ]);
  seen.portal_path = new URL(page.url()).pathname;
  seen.portal_title = await text(page, 'h1');
  await submit(page, '#return');
  seen.portal_back = new URL(page.url()).pathname;
  seen.plan_after_portal = await text(page, '#subscription h2');
}

async function pastDue(page, seen, look) {
  seen.overview_path = new URL(page.url()).pathname;
  seen.overview_past_due = await text(page, '#past-due');
  await look('overview-past-due');
  await submit(page, 'nav a[href="/console/plans"]');
  seen.plans_past_due = await text(page, '#past-due');
  seen.past_due_view = await plansView(page);
  await look('plans-past-due');
  // A phone: the compare table scrolls inside its card; the page itself stays narrow.
  await page.setViewportSize({ width: 375, height: 740 });
  await page.reload();
  seen.phone_view = await plansView(page);
  await look('plans-phone');
}

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = { errors: [], a11y: {} };
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => seen.errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
    page.on('response', (r) => { if (r.status() >= 400) seen.errors.push(`${r.status()} ${r.url()}`); });
    const look = async (name) => {
      await page.screenshot({ path: path.join(shots, `developer-${name}.png`), fullPage: true });
      seen.a11y[name] = await scan(page);
    };
    await signIn(page);
    if (mode === 'subscribe') {
      await subscribeSwitchAndPortal(page, seen, look);
    } else if (mode === 'past-due') {
      await pastDue(page, seen, look);
    } else {
      throw new Error(`unknown mode ${mode}`);
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen));
}

main().catch((e) => { console.error(e); process.exit(1); });
