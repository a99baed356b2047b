// The console's own script: a few progressive enhancements. Every page works without it.
// Loaded with `defer` from our own origin (the CSP allows no inline script).
'use strict';
(function () {
  // Copy buttons: <button data-copy="ID"> copies the value of the input with that id.
  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-copy]');
    if (!button) return;
    var input = document.getElementById(button.getAttribute('data-copy'));
    if (!input) return;
    input.select();
    var done = function () {
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = 'Copy'; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {});
    } else if (document.execCommand && document.execCommand('copy')) {
      done();
    }
  });

  // A page that only hands the member on (to Stripe's payment page) follows its link at
  // once. A link, not a redirect from the form: the CSP's form-action keeps forms on our
  // own origin, and browsers apply it to a form's redirects too.
  var follow = document.querySelector('a[data-follow]');
  if (follow) window.location.assign(follow.href);

  // Usage chart: the page carries its series as JSON (<script type="application/json"
  // id="usage-data">, never executed) and a container; uPlot draws credits per day.
  function drawUsage() {
    var holder = document.getElementById('usage-chart');
    var source = document.getElementById('usage-data');
    if (!holder || !source || typeof uPlot === 'undefined') return;
    var data = JSON.parse(source.textContent);
    var palette = ['#4f46e5', '#0891b2', '#ca8a04', '#db2777', '#16a34a', '#7c3aed', '#ea580c'];
    var series = [{}].concat(data.models.map(function (model, i) {
      return { label: model, stroke: palette[i % palette.length], width: 2,
               fill: palette[i % palette.length] + '22', points: { show: true } };
    }));
    var width = Math.max(280, holder.clientWidth);
    holder.textContent = '';
    new uPlot({
      width: width, height: 260, series: series,
      // One tick per day at most, labelled by date (UTC, as the report's days are).
      axes: [
        { incrs: [86400, 2 * 86400, 7 * 86400, 30 * 86400],
          values: function (u, splits) {
            return splits.map(function (s) { return new Date(s * 1000).toISOString().slice(5, 10); });
          } },
        { label: data.unit, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000] },
      ],
      scales: { x: { time: true } },
    }, [data.days].concat(data.values), holder);
  }
  // After every deferred script ran (uPlot is loaded after this file on the usage page).
  if (document.readyState === 'complete') {
    drawUsage();
  } else {
    window.addEventListener('load', drawUsage);
  }
})();
