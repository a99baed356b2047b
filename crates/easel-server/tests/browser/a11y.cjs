// axe-core (WCAG 2.1 A and AA rules) for the browser tests: `scan(page)` returns the
// serious and critical violations of the page as "rule (impact): targets" strings. Run
// through the DevTools protocol, which the page's CSP does not govern, so the page is
// scanned exactly as served.
'use strict';
const fs = require('fs');
const path = require('path');

const AXE = fs.readFileSync(path.join(process.env.EASEL_TEST_NODE_MODULES, 'axe-core', 'axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

async function scan(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate((tags) => axe.run(document, { runOnly: { type: 'tag', values: tags } }), TAGS);
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

module.exports = { scan };
