// coursehub-notices: a JupyterLab 4 federated extension written by hand (no build step).
// It registers itself as the module-federation container JupyterLab's bootstrap expects
// (window._JUPYTERLAB[name] with init() and get()), and its one plugin needs only the
// application: it polls <server>/coursehub/notices and shows each new GPU warning once
// through JupyterLab's own "apputils:notify" command.
(function () {
  'use strict';
  var NAME = 'coursehub-notices';
  var POLL_MS = 60 * 1000;

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

  var plugin = {
    id: 'coursehub-notices:plugin',
    description: 'Shows coursehub GPU warnings as notifications.',
    autoStart: true,
    activate: function (app) {
      var shown = {};
      var url = baseUrl() + 'coursehub/notices';
      function poll() {
        return fetch(url, { credentials: 'same-origin', headers: xsrfHeaders() })
          .then(function (response) {
            return response.ok ? response.json() : { notices: [] };
          })
          .then(function (body) {
            (body.notices || []).forEach(function (notice) {
              if (shown[notice.id]) {
                return;
              }
              shown[notice.id] = true;
              app.commands.execute('apputils:notify', {
                message: notice.message,
                type: 'warning',
                options: { autoClose: false, data: { coursehub: notice.id } }
              });
            });
          })
          .catch(function (error) {
            console.warn('coursehub-notices: could not read GPU notices', error);
          });
      }
      app.restored.then(poll);
      window.setInterval(poll, POLL_MS);
    }
  };

  var container = {
    init: function () {
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
