// coursehub-duedates: a JupyterLab 4 federated extension written by hand (no build step).
// It registers itself as the module-federation container JupyterLab's bootstrap expects
// (window._JUPYTERLAB[name] with init(shareScope) and get()); from the share scope JupyterLab
// passes to init() it takes @lumino/widgets for its one panel. The panel ("Due dates", left
// sidebar) lists <server>/coursehub/due-dates: each assignment's due date in the browser's
// time zone, the time left, and the receipt of the newest submission. Every value is set as
// text (never as HTML).
(function () {
  'use strict';
  var NAME = 'coursehub-duedates';
  var PANEL_ID = 'coursehub-duedates';
  var POLL_MS = 30 * 1000;
  var shareScope = null;

  function baseUrl() {
    var element = document.getElementById('jupyter-config-data');
    var config = element ? JSON.parse(element.textContent || '{}') : {};
    var base = config.baseUrl || '/';
    return base.charAt(base.length - 1) === '/' ? base : base + '/';
  }

  // Jupyter Server checks the _xsrf cookie against this header on cookie-authenticated API
  // calls (as JupyterLab's own ServerConnection does).
  function xsrfHeaders() {
    var match = document.cookie.match('\\b_xsrf=([^;]*)\\b');
    return match ? { 'X-XSRFToken': decodeURIComponent(match[1]) } : {};
  }

  function luminoWidgets() {
    var versions = (shareScope && shareScope['@lumino/widgets']) || {};
    var keys = Object.keys(versions);
    if (!keys.length) {
      return Promise.reject(new Error('JupyterLab shares no @lumino/widgets'));
    }
    return Promise.resolve(versions[keys[0]].get()).then(function (factory) {
      return factory();
    });
  }

  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var dateFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short'
  });

  function localTime(iso) {
    return dateFormat.format(new Date(iso));
  }

  function plural(count, word) {
    return count + ' ' + word + (count === 1 ? '' : 's');
  }

  // "2 days 3 hours", "4 hours 10 minutes", "12 minutes", "less than a minute".
  function span(ms) {
    var minutes = Math.floor(ms / 60000);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    if (days) {
      return plural(days, 'day') + (hours ? ' ' + plural(hours, 'hour') : '');
    }
    if (hours) {
      return plural(hours, 'hour') + (minutes % 60 ? ' ' + plural(minutes % 60, 'minute') : '');
    }
    return minutes ? plural(minutes, 'minute') : 'less than a minute';
  }

  function timeLeft(dueIso, now) {
    var ms = new Date(dueIso).getTime() - now;
    return ms > 0 ? span(ms) + ' left' : 'closed ' + span(-ms) + ' ago';
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function assignmentItem(row, now) {
    var item = element('li', 'coursehub-duedates-item');
    item.setAttribute('data-course', row.course);
    item.setAttribute('data-assignment', row.name);
    item.appendChild(element('div', 'coursehub-duedates-title', row.title + ' (' + row.course + ' · ' + row.name + ')'));
    if (row.due) {
      item.appendChild(element('div', 'coursehub-duedates-due', 'Due ' + localTime(row.due)));
      if (row.course_due) {
        item.appendChild(element('div', 'coursehub-duedates-extension',
          'Your extension: the course’s due date was ' + localTime(row.course_due)));
      }
      var left = element('div', 'coursehub-duedates-left', timeLeft(row.due, now));
      if (new Date(row.due).getTime() <= now) {
        left.classList.add('coursehub-duedates-closed');
      }
      item.appendChild(left);
    } else {
      item.appendChild(element('div', 'coursehub-duedates-due', 'No due date'));
    }
    var receipt = row.receipt;
    if (receipt) {
      var box = element('div', 'coursehub-duedates-receipt');
      box.appendChild(
        element(
          'div',
          '',
          'Submitted version ' + receipt.version + ' at ' + localTime(receipt.submitted_at) +
            ' (the service’s clock)' + (row.submissions > 1 ? ', ' + plural(row.submissions, 'version') + ' in all' : '')
        )
      );
      var sum = element('div', 'coursehub-duedates-checksum', 'Checksum ' + receipt.checksum.slice(0, 16) + '…');
      sum.title = receipt.checksum;
      box.appendChild(sum);
      box.appendChild(
        element(
          'div',
          receipt.late ? 'coursehub-duedates-late' : 'coursehub-duedates-ontime',
          receipt.late ? 'Late: after the due date' : 'On time'
        )
      );
      item.appendChild(box);
    } else {
      item.appendChild(element('div', 'coursehub-duedates-receipt', 'Not submitted yet'));
    }
    return item;
  }

  var STYLE =
    '#' + PANEL_ID + ' { padding: 8px 12px; overflow-y: auto; background: var(--jp-layout-color1);' +
    ' color: var(--jp-ui-font-color1); font-size: var(--jp-ui-font-size1); }' +
    '#' + PANEL_ID + ' h2 { font-size: var(--jp-ui-font-size2); margin: 4px 0 8px; }' +
    '#' + PANEL_ID + ' ul { list-style: none; padding: 0; margin: 0; }' +
    '.coursehub-duedates-item { border-bottom: 1px solid var(--jp-border-color2); padding: 8px 0; }' +
    '.coursehub-duedates-title { font-weight: 600; }' +
    '.coursehub-duedates-closed, .coursehub-duedates-late { color: var(--jp-error-color1); }' +
    '.coursehub-duedates-ontime { color: var(--jp-success-color1); }' +
    '.coursehub-duedates-receipt { margin-top: 4px; padding-left: 8px;' +
    ' border-left: 3px solid var(--jp-border-color2); }' +
    '.coursehub-duedates-zone, .coursehub-duedates-checksum { color: var(--jp-ui-font-color2); }';

  var plugin = {
    id: 'coursehub-duedates:plugin',
    description: 'Shows coursehub due dates, time left and submission receipts.',
    autoStart: true,
    activate: function (app) {
      var url = baseUrl() + 'coursehub/due-dates';
      return luminoWidgets().then(function (widgets) {
        var panel = new widgets.Widget();
        panel.id = PANEL_ID;
        panel.title.label = 'Due dates';
        panel.title.caption = 'Due dates and submission receipts';
        var style = element('style', '', STYLE);
        var heading = element('h2', '', 'Due dates');
        var zoneLine = element('div', 'coursehub-duedates-zone', 'Times in your time zone, ' + zone + '.');
        var refresh = element('button', 'jp-Button jp-mod-styled', 'Refresh');
        var status = element('div', 'coursehub-duedates-status');
        var list = element('ul', 'coursehub-duedates-list');
        [style, heading, zoneLine, refresh, status, list].forEach(function (node) {
          panel.node.appendChild(node);
        });

        function load() {
          return fetch(url, { credentials: 'same-origin', headers: xsrfHeaders() })
            .then(function (response) {
              if (!response.ok) {
                throw new Error('the server answered ' + response.status);
              }
              return response.json();
            })
            .then(function (body) {
              var now = Date.now();
              list.textContent = '';
              (body.assignments || []).forEach(function (row) {
                list.appendChild(assignmentItem(row, now));
              });
              status.textContent = body.assignments && body.assignments.length ? '' : 'No assignments released yet.';
            })
            .catch(function (error) {
              status.textContent = 'Could not read due dates: ' + error.message;
            });
        }
        refresh.addEventListener('click', load);
        app.shell.add(panel, 'left', { rank: 900 });
        app.restored.then(load);
        window.setInterval(load, POLL_MS);
      });
    }
  };

  var container = {
    init: function (scope) {
      shareScope = scope;
      return Promise.resolve();
    },
    get: function (module) {
      if (module !== './extension') {
        return Promise.reject(new Error(NAME + ' has no module ' + module));
      }
      return Promise.resolve(function () {
        return { __esModule: true, default: [plugin] };
      });
    }
  };
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = container;
})();
