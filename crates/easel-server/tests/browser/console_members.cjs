// An owner invites a viewer from the Account page; the viewer opens the mailed link (read
// from the mail directory, as a person reads their inbox), chooses a password, signs in in
// another browser, and finds pages to look at but no form to change anything and no
// secret. Prints one JSON object of what it saw.
//
// Usage: node console_members.cjs URL OWNER_EMAIL PASSWORD MAIL_DIR SCREENSHOT_DIR
// Env:   EASEL_TEST_NODE_MODULES (where playwright-core is), EASEL_TEST_CHROMIUM.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(process.env.EASEL_TEST_NODE_MODULES, 'playwright-core'));
const { scan } = require('./a11y.cjs');

const [url, email, password, mailDir, shots] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function signIn(page, who, pw) {
  await page.goto(`${url}/console/login`);
  await page.fill('#username', who);
  await page.fill('#password', pw);
  await submit(page, 'button[type=submit]');
}

function inviteLink(to) {
  const mails = fs.readdirSync(mailDir).map((f) => fs.readFileSync(path.join(mailDir, f), 'utf8'));
  const mail = mails.find((m) => m.includes(`To: ${to}`) && m.includes('/console/invite?token='));
  if (!mail) throw new Error(`no invitation mailed to ${to}`);
  return mail.split('\n').map((l) => l.trim()).find((l) => l.includes('/console/invite?token='));
}

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = { a11y: {} };
  try {
    const owner = await (await browser.newContext()).newPage();
    await signIn(owner, email, password);
    await submit(owner, 'nav a[href="/console/account"]');
    await owner.fill('#invite-email', 'viewer@members.example');
    await owner.selectOption('#invite-role', 'viewer');
    await submit(owner, '#invite-form button[type=submit]');
    seen.notice = (await owner.textContent('#notice')).trim();
    seen.pending = await owner.$$eval('#invitations tbody tr', (rows) => rows.length);
    await owner.screenshot({ path: path.join(shots, 'developer-account.png'), fullPage: true });
    seen.a11y.account = await scan(owner);

    const invitee = await (await browser.newContext()).newPage();
    await invitee.goto(inviteLink('viewer@members.example'));
    seen.invite_title = (await invitee.textContent('h1')).trim();
    await invitee.screenshot({ path: path.join(shots, 'developer-invite.png'), fullPage: true });
    seen.a11y.invite = await scan(invitee);
    await invitee.fill('#password', 'harbor willow quartz 73');
    await submit(invitee, '#accept');
    seen.joined = (await invitee.textContent('#message')).trim();

    await signIn(invitee, 'viewer@members.example', 'harbor willow quartz 73');
    seen.viewer_nav = await invitee.$$eval('nav a', (links) => links.map((a) => a.textContent.trim()));
    const forms = {};
    for (const p of ['/console/keys', '/console/webhooks', '/console/account', '/console/generations', '/console/billing']) {
      await invitee.goto(`${url}${p}`);
      // Forms that change something (POST), other than the person's own sessions.
      forms[p] = await invitee.$$eval('main form', (fs) => fs
        .filter((f) => (f.getAttribute('method') || 'get').toLowerCase() === 'post')
        .map((f) => f.getAttribute('action'))
        .filter((a) => a && !a.startsWith('/console/sessions') && !a.startsWith('/console/logout') && !a.startsWith('/console/verify')));
      forms[`${p} secrets`] = await invitee.$$eval('.secret', (els) => els.length);
    }
    seen.viewer_forms = forms;
    await invitee.goto(`${url}/console/account`);
    await invitee.screenshot({ path: path.join(shots, 'developer-account-viewer.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen));
}

main().catch((e) => { console.error(e); process.exit(1); });
