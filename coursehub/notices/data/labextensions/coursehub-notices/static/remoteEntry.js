// coursehub-notices: a JupyterLab 4 federated extension written by hand (no build step).
// It registers itself as the module-federation container JupyterLab's bootstrap expects
// (window._JUPYTERLAB[name] with init(shareScope) and get()). Two plugins:
// - notices: needs only the application; it polls <server>/coursehub/notices and shows each
//   new GPU warning once through JupyterLab's own "apputils:notify" command;
// - gpu-status: a status-bar item, "GPU 37 % · 5.1/16 GiB · 8.5 h left", from
//   <server>/coursehub/gpu-status (the server's own GPU telemetry and the hours left this
//   week). It takes @jupyterlab/statusbar's IStatusBar token and @lumino/widgets from the
//   share scope JupyterLab passes to init(); a server without GPUs shows nothing.
(function () {
  'use strict';
  var NAME = 'coursehub-notices';
  var POLL_MS = 60 * 1000;
  var STATUS_POLL_MS = 5 * 1000;
  var GIB = 1024 * 1024 * 1024;
  var shareScope = null;

  function shared(name) {
    var versions = (shareScope && shareScope[name]) || {};
    var keys = Object.keys(versions);
    if (!keys.length) {
      return Promise.reject(new Error('JupyterLab shares no ' + name));
    }
    return Promise.resolve(versions[keys[0]].get()).then(function (factory) {
      return factory();
    });
  }

  function amount(value) {
    return String(Math.round(value * 10) / 10);
  }

  // "GPU 37 % · 5.1/16 GiB · 8.5 h left"; parts without data are left out.
  function statusText(status) {
    var parts = [];
    if (typeof status.gpu_utilization === 'number') {
      parts.push('GPU ' + Math.round(status.gpu_utilization) + ' %');
    } else {
      parts.push('GPU');
    }
    if (typeof status.gpu_memory_total_bytes === 'number' && status.gpu_memory_total_bytes > 0) {
      parts.push(
        amount((status.gpu_memory_used_bytes || 0) / GIB) + '/' +
          amount(status.gpu_memory_total_bytes / GIB) + ' GiB'
      );
    }
    if (typeof status.hours_left === 'number') {
      parts.push(amount(status.hours_left) + ' h left');
    }
    return parts.join(' \u00b7 ');
  }

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

  function statusPlugin(statusbar, widgets) {
    return {
      id: 'coursehub-notices:gpu-status',
      description: "Shows the GPU server's utilisation, memory and GPU-hours left.",
      autoStart: true,
      requires: [statusbar.IStatusBar],
      activate: function (app, statusBar) {
        var item = new widgets.Widget();
        item.addClass('coursehub-gpu-status');
        item.node.title = 'This server\'s GPU use, measured by coursehub, and your GPU-hours left this week';
        item.node.style.padding = '0 6px';
        var url = baseUrl() + 'coursehub/gpu-status';
        var enabled = false;
        statusBar.registerStatusItem('coursehub-notices:gpu-status', {
          item: item,
          align: 'left',
          rank: 900,
          isActive: function () {
            return enabled;
          }
        });
        function poll() {
          return fetch(url, { credentials: 'same-origin', headers: xsrfHeaders() })
            .then(function (response) {
              return response.ok ? response.json() : { enabled: false };
            })
            .then(function (status) {
              enabled = Boolean(status.enabled);
              item.node.textContent = enabled ? statusText(status) : '';
              item.setHidden(!enabled);
            })
            .catch(function (error) {
              console.warn('coursehub-notices: could not read the GPU status', error);
            });
        }
        app.restored.then(poll);
        window.setInterval(poll, STATUS_POLL_MS);
      }
    };
  }

  var container = {
    init: function (scope) {
      shareScope = scope;
      return Promise.resolve();
    },
    get: function (module) {
      if (module !== './extension') {
        return Promise.reject(new Error(NAME + ' has no module ' + module));
      }
      return Promise.all([shared('@jupyterlab/statusbar'), shared('@lumino/widgets')])
        .then(function (modules) {
          return [plugin, statusPlugin(modules[0], modules[1])];
        })
        .catch(function (error) {
          console.warn('coursehub-notices: no GPU status bar item', error);
          return [plugin];
        })
        .then(function (plugins) {
          return function () {
            return { __esModule: true, default: plugins };
          };
        });
    }
  };
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = container;
})();
