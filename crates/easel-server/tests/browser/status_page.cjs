// The public status page in headless Chromium, with every request that leaves the test
// server refused: at desktop and phone widths, scanned by axe-core and photographed; what
// a reader sees (the overall status, each component's status and 90 bars, a day's tooltip)
// and whether anything is wider than the screen. Prints one JSON object of what it saw.
//
// Usage: node status_page.cjs URL SCREENSHOT_DIR
// Env:   EASEL_TEST_NODE_MODULES (where playwright-core is), EASEL_TEST_CHROMIUM.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.EASEL_TEST_NODE_MODULES, 'playwright-core'));
const { scan } = require('./a11y.cjs');

const [url, shots] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = { elsewhere: [], errors: [], a11y: {}, widths: {} };
  try {
    for (const [name, viewport] of [['desktop', { width: 1280, height: 900 }], ['phone', { width: 390, height: 844 }]]) {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      await page.route('**/*', (route) => {
        if (route.request().url().startsWith(url)) return route.continue();
        seen.elsewhere.push(route.request().url());
        return route.abort();
      });
      page.on('pageerror', (e) => seen.errors.push(String(e)));
      page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
      const response = await page.goto(`${url}/status`);
      seen.status = response.status();
      seen.overall = (await page.textContent('#overall')).trim();
      seen.components = await page.$$eval('.component', (cs) => cs.map((c) => ({
        id: c.id,
        status: c.querySelector('.st').textContent.trim(),
        bars: c.querySelectorAll('.bars span').length,
        last: c.querySelector('.bars span:last-child').getAttribute('title'),
      })));
      seen.widths[name] = await page.evaluate(() => ({
        page: document.documentElement.scrollWidth, screen: window.innerWidth,
      }));
      await page.screenshot({ path: path.join(shots, `status-${name}.png`), fullPage: true });
      seen.a11y[name] = await scan(page);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen));
})().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
