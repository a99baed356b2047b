// Boots the API reference on /docs/api: redoc (vendored, served from our own origin) renders
// the server's own /openapi.json into #redoc. A file, not an inline script: the page's CSP
// allows scripts from our origin only.
'use strict';
(function () {
  var holder = document.getElementById('redoc');
  if (!holder || typeof Redoc === 'undefined') return;
  var font = 'system-ui, -apple-system, "Segoe UI", sans-serif';
  Redoc.init(holder.getAttribute('data-spec-url'), {
    // Nothing from anywhere else: the page's fonts are the system's (redoc's default names
    // web fonts that this page never loads).
    theme: {
      colors: { primary: { main: '#4f46e5' } },
      typography: {
        fontFamily: font,
        headings: { fontFamily: font },
        code: { fontFamily: 'ui-monospace, "SF Mono", Menlo, Consolas, monospace' },
      },
      sidebar: { backgroundColor: '#f6f6f8' },
    },
    requiredPropsFirst: true,
    expandResponses: '200,201,202',
    pathInMiddlePanel: true,
    hideHostname: false,
  }, holder);
})();
