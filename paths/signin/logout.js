// Sign-out page of the identity plugin's OIDC provider (its
// end_session_endpoint). It asks the user to confirm, then posts the
// request back to the same address with confirm=yes: the plugin ends the
// sign-in the id_token_hint names and answers where to return to.
(function () {
  'use strict';

  // Framed pages could be clickjacked: show nothing.
  if (window.top !== window.self) {
    document.body.textContent = '';
    return;
  }

  var $ = function (id) { return document.getElementById(id); };
  var app = $('app');
  app.hidden = false;

  var dataEl = $('logout-request');
  if (!dataEl) return; // the error page
  var req = JSON.parse(dataEl.textContent);
  var busy = false;
  var errorEl = $('logout-error');
  var statusEl = $('logout-status');

  function show(id) {
    ['confirm-view', 'done-view', 'kept-view'].forEach(function (v) { $(v).hidden = v !== id; });
    if (id !== 'confirm-view') $(id.replace('-view', '-title')).focus();
  }

  function setBusy(on) {
    busy = on;
    app.setAttribute('aria-busy', on ? 'true' : 'false');
    app.querySelectorAll('button').forEach(function (el) { el.disabled = on; });
  }

  // Only the address the plugin checked, with the scheme it allows.
  function safe(u) {
    try { u = new URL(u); } catch (e) { return null; }
    return /^(javascript|data|vbscript|blob|file):$/i.test(u.protocol) ? null : u.toString();
  }

  $('logout-yes').addEventListener('click', function () {
    if (busy) return;
    setBusy(true);
    errorEl.textContent = '';
    statusEl.textContent = 'Signing out\u2026';
    var body = {};
    Object.keys(req.params).forEach(function (k) { body[k] = req.params[k]; });
    body.confirm = 'yes';
    fetch(location.pathname, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer'
    }).then(function (resp) {
      return resp.json().catch(function () { return null; }).then(function (data) {
        if (!resp.ok || !data || data.signed_out !== true) {
          setBusy(false);
          statusEl.textContent = '';
          errorEl.textContent = 'Vault refused the sign-out: ' + ((data && (data.error_description || (data.errors || []).join('; '))) || resp.status);
          return;
        }
        var dest = data.redirect_uri && safe(data.redirect_uri);
        if (dest) {
          statusEl.textContent = 'Returning to ' + (req.client || 'the application') + '\u2026';
          location.replace(dest);
          return;
        }
        setBusy(false);
        show('done-view');
      });
    }).catch(function (err) {
      setBusy(false);
      statusEl.textContent = '';
      errorEl.textContent = 'Could not reach Vault: ' + err.message;
    });
  });

  $('logout-no').addEventListener('click', function () {
    if (busy) return;
    show('kept-view');
  });

  window.addEventListener('pageshow', function (ev) {
    if (ev.persisted) location.reload();
  });

  $('logout-yes').focus();
})();
