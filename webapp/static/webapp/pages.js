// FusionScreen pages: live job progress (polls the jobs API), upload feedback, confirmations,
// choices that apply at once. Loaded on every page (base.html).
// Plain JavaScript, no library, no network access beyond this site.
(function () {
  'use strict';

  var LIVE = { queued: true, running: true };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function jobRow(job) {
    var tr = el('tr');
    tr.appendChild(el('td', {}, '#' + job.id));
    var study = el('td');
    study.appendChild(el('a', { href: '/viewer/studies/' + job.study + '/' }, 'study ' + job.study));
    tr.appendChild(study);
    var status = el('td');
    status.appendChild(el('span', { class: 'badge ' + job.status }, job.status));
    tr.appendChild(status);
    tr.appendChild(el('td', {}, job.error ? [job.stage, job.error].filter(Boolean).join(' – ') : job.stage || ''));
    var bar = el('div', { class: 'progress ' + job.status });
    bar.appendChild(el('span', { style: 'width:' + Math.round(100 * job.progress) + '%' }));
    var cell = el('td');
    cell.appendChild(bar);
    tr.appendChild(cell);
    tr.appendChild(el('td', { class: 'hide-narrow' }, job.worker || ''));
    return tr;
  }

  function followJobs(panel) {
    var url = panel.getAttribute('data-jobs-url');
    var bar = panel.querySelector('[data-jobs-bar]');
    var summary = panel.querySelector('[data-jobs-summary]');
    var table = panel.querySelector('[data-jobs-table]');
    var rows = panel.querySelector('[data-jobs-rows]');
    var timer = null;

    function render(jobs) {
      var counts = {};
      var progress = 0;
      var live = 0;
      jobs.forEach(function (j) {
        counts[j.status] = (counts[j.status] || 0) + 1;
        progress += j.status === 'done' ? 1 : j.progress;
        if (LIVE[j.status]) live += 1;
      });
      if (!jobs.length) {
        summary.textContent = 'No detection job for this cohort yet.';
        bar.style.width = '0%';
        table.hidden = true;
        return live;
      }
      bar.style.width = Math.round((100 * progress) / jobs.length) + '%';
      summary.textContent = Object.keys(counts).map(function (k) { return counts[k] + ' ' + k; }).join(', ') +
        (live ? ' · updating every few seconds' : '');
      rows.replaceChildren.apply(rows, jobs.map(jobRow));
      table.hidden = false;
      return live;
    }

    function poll() {
      fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) {
          if (!r.ok) throw new Error('the jobs API answered ' + r.status);
          return r.json();
        })
        .then(function (body) {
          var live = render(body.results || body);
          // Fast while something runs, slow when everything has ended (an upload may queue more).
          timer = setTimeout(poll, live ? 3000 : 15000);
        })
        .catch(function (e) {
          summary.textContent = 'Progress unavailable (' + e.message + '); retrying.';
          timer = setTimeout(poll, 10000);
        });
    }
    document.addEventListener('visibilitychange', function () {
      if (document.hidden) { clearTimeout(timer); } else { clearTimeout(timer); poll(); }
    });
    poll();
  }

  function uploadFeedback(form) {
    form.addEventListener('submit', function () {
      var files = 0;
      var bytes = 0;
      form.querySelectorAll('input[type=file]').forEach(function (input) {
        Array.prototype.forEach.call(input.files, function (f) { files += 1; bytes += f.size; });
      });
      var status = form.querySelector('[data-upload-status]');
      status.textContent = 'Uploading ' + files + ' file(s), ' + (bytes / 1048576).toFixed(1) +
        ' MB… the page comes back with each file\u2019s verdict.';
      form.querySelector('button[type=submit]').disabled = true;
    });
  }

  document.querySelectorAll('[data-jobs-url]').forEach(followJobs);
  document.querySelectorAll('[data-upload-form]').forEach(uploadFeedback);
  // A choice that applies at once (no inline handlers: the Content-Security-Policy forbids them).
  document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      if (!window.confirm(form.getAttribute('data-confirm'))) e.preventDefault();
    });
  });
})();
