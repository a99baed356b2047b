// The public front pages in headless Chromium with the network cut off: every request that
// is not for the test server is aborted and recorded, so the API reference must render from
// what the binary embeds (the redoc bundle, its boot file, /openapi.json) and nothing else.
// Looks at the landing page, the guide and the reference at desktop and phone widths, finds
// operations in the reference and uses its search (a worker started from a blob: URL, which
// the CSP must allow), and scans each page with axe-core. Prints one JSON object of what it
// saw.
//
// Usage: node docs.cjs URL SCREENSHOT_DIR
// Env:   EASEL_TEST_NODE_MODULES (where playwright-core is), EASEL_TEST_CHROMIUM.
'use strict';
const path = require('path');
const { chromium } = require(path.join(process.env.EASEL_TEST_NODE_MODULES, 'playwright-core'));
const { scan } = require('./a11y.cjs');

const [url, shots] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const origin = new URL(url).origin;

const VIEWS = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } };

async function main() {
  const browser = await chromium.launch({ executablePath: process.env.EASEL_TEST_CHROMIUM, args });
  const seen = { elsewhere: [], errors: [], requests: [], a11y: {}, overflow: {} };
  try {
    for (const [view, viewport] of Object.entries(VIEWS)) {
      const context = await browser.newContext({ viewport });
      // The network: our server only. blob: and data: URLs never reach the router.
      await context.route('**/*', (route) => {
        const target = route.request().url();
        if (new URL(target).origin === origin) return route.continue();
        seen.elsewhere.push(target);
        return route.abort('blockedbyclient');
      });
      const page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(`${view} console: ${m.text()}`); });
      page.on('pageerror', (e) => seen.errors.push(`${view} page: ${e.message}`));
      page.on('request', (r) => {
        const u = new URL(r.url());
        if (u.origin === origin) seen.requests.push(u.pathname.replace(/\/[0-9a-f]{16}\//, '/HASH/'));
      });
      page.on('requestfailed', (r) => {
        if (new URL(r.url()).origin === origin) seen.errors.push(`${view} failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
      });

      for (const [name, at] of [['home', '/'], ['guide', '/docs']]) {
        await page.goto(`${url}${at}`);
        await page.screenshot({ path: path.join(shots, `docs-${name}-${view}.png`), fullPage: true });
        seen.a11y[`${name}-${view}`] = await scan(page);
        seen.overflow[`${name}-${view}`] = await page.evaluate(
          () => document.documentElement.scrollWidth > window.innerWidth);
        if (name === 'home') seen.home_title = await page.title();
      }

      await page.goto(`${url}/docs/api`);
      // Redoc replaces the placeholder with the document's operations.
      // Redoc's headings end with a hidden anchor's space.
      const create = page.locator('h2', { hasText: /^\s*Create a generation\s*$/ });
      await create.first().waitFor({ timeout: 30000 });
      seen[view] = {
        title: await page.title(),
        placeholder_left: await page.locator('.waiting').count(),
        operations: await page.locator('h2').count(),
        headings: (await page.locator('h2').allTextContents()).map((t) => t.trim()),
        create_path: await create.first().evaluate((h) => {
          // The operation's method and path, shown beside or under its heading.
          const section = h.closest('[data-section-id]');
          return section ? section.textContent.match(/post\s*\/v1\/generations/i) !== null : false;
        }),
        overflow: await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth),
      };
      await page.screenshot({ path: path.join(shots, `docs-api-${view}.png`) });
      if (view === 'desktop') {
        // Search runs in redoc's worker: typing finds operations by their summary.
        const search = page.locator('input[placeholder="Search..."]');
        await search.fill('webhook deliver');
        const results = page.locator('[data-role="search:results"] li');
        await results.first().waitFor({ timeout: 15000 });
        seen.search_results = await results.evaluateAll((items) => items.map((li) => li.getAttribute('aria-label')));
        await page.screenshot({ path: path.join(shots, 'docs-api-search.png') });
        await search.fill('');
        // One operation, scrolled to as a reader does from the menu.
        await create.first().scrollIntoViewIfNeeded();
        await page.screenshot({ path: path.join(shots, 'docs-api-create-generation.png') });
        // Redoc's own pages are not ours to fix: recorded, not required to be clean.
        seen.reference_a11y = await scan(page);
      } else {
        seen.a11y[`topbar-${view}`] = (await scan(page)).filter((v) => v.includes('.topbar'));
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  seen.requests = [...new Set(seen.requests)].sort();
  process.stdout.write(JSON.stringify(seen));
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
