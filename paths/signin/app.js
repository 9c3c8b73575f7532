// Sign-in page of the identity plugin's OIDC provider.
//
// The page signs the user in to Vault (username and password at an auth
// mount, or a pasted Vault token), asks for consent, and posts the
// authorization request to the provider's authorize endpoint with that
// token. The token lives only in a variable of this function: never in a
// URL, storage or cookie, and a token this page created by logging in is
// revoked before the browser goes back to the application. Vault keeps the
// token to itself (X-Vault-Token); it reaches the plugin (Authorization:
// Bearer) only when the request has max_age, which the plugin checks by
// looking the token up.
(function () {
  'use strict';

  // Framed pages could be clickjacked into consenting: show nothing. (The
  // page starts hidden, so a frame that blocks scripts shows nothing either.)
  if (window.top !== window.self) {
    document.body.textContent = '';
    return;
  }

  var $ = function (id) { return document.getElementById(id); };
  var app = $('app');
  app.hidden = false;

  var dataEl = $('request');
  if (!dataEl) {
    // The error page: nothing to run.
    var back = $('return');
    if (back) back.focus();
    return;
  }
  var req = JSON.parse(dataEl.textContent);

  // Vault's API prefix as the browser reached this page ("/v1/", with any
  // proxy prefix or namespace kept).
  var suffix = req.mount + 'oidc/provider/' + req.provider + '/sign-in';
  var here = location.pathname;
  var apiBase = here.slice(-suffix.length) === suffix ? here.slice(0, here.length - suffix.length) : '/v1/';

  var token = null;     // the Vault token
  var ownToken = false; // created by this page's login: revoked when done
  var busy = false;
  var method = 0;

  var views = { signin: $('signin-view'), consent: $('consent-view') };
  if (req.device) {
    views.device = $('device-view');
    views.deviceConsent = $('device-consent-view');
    views.deviceDone = $('device-done-view');
  }
  var forms = { password: $('password-form'), token: $('token-form') };
  var signinError = $('signin-error');
  var consentError = $('consent-error');
  var consentStatus = $('consent-status');

  function show(name) {
    Object.keys(views).forEach(function (k) { views[k].hidden = k !== name; });
  }

  function setBusy(on) {
    busy = on;
    app.setAttribute('aria-busy', on ? 'true' : 'false');
    app.querySelectorAll('button, input').forEach(function (el) { el.disabled = on; });
  }

  function setInvalid(on) {
    ['username', 'password', 'token'].forEach(function (id) {
      if (on) $(id).setAttribute('aria-invalid', 'true');
      else $(id).removeAttribute('aria-invalid');
    });
  }

  function signinFail(msg, focusId) {
    signinError.textContent = msg;
    setInvalid(true);
    if (focusId) $(focusId).focus();
  }

  function kindOf(i) { return req.methods[i] === 'token' ? 'token' : 'password'; }

  function selectMethod(i, focus) {
    method = i;
    var kind = kindOf(i);
    forms.password.hidden = kind !== 'password';
    forms.token.hidden = kind !== 'token';
    signinError.textContent = '';
    setInvalid(false);
    if (focus) $(kind === 'token' ? 'token' : 'username').focus();
  }

  // Calls Vault's API relative to this page; with bearer, the token goes in
  // the Authorization header too, which Vault passes on to the plugin.
  function api(verb, path, body, tok, bearer) {
    var headers = {};
    if (tok) headers['X-Vault-Token'] = tok;
    if (tok && bearer) headers['Authorization'] = 'Bearer ' + tok;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(apiBase + path, {
      method: verb,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer'
    });
  }

  // Vault's error text of a failed answer.
  function errorText(resp, body) {
    if (body && Array.isArray(body.errors) && body.errors.length) return body.errors.join('; ');
    if (body && typeof body.error_description === 'string' && body.error_description) return body.error_description;
    return 'Vault answered ' + resp.status + (resp.statusText ? ' ' + resp.statusText : '');
  }

  function readJSON(resp) {
    return resp.json().catch(function () { return null; });
  }

  function signedIn(who) {
    if (req.device) { deviceSignedIn(who); return; }
    $('signed-in-as').textContent = who;
    consentError.textContent = '';
    consentStatus.textContent = '';
    show('consent');
    $('consent-title').focus();
  }

  forms.password.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (busy) return;
    var user = $('username').value.trim();
    var pass = $('password').value;
    $('password').value = '';
    if (!user) { signinFail('Enter your username.', 'username'); return; }
    if (!pass) { signinFail('Enter your password.', 'password'); return; }
    var mountPath = req.methods[method].split('/').filter(Boolean).map(encodeURIComponent).join('/');
    signinError.textContent = '';
    setBusy(true);
    api('POST', 'auth/' + mountPath + '/login/' + encodeURIComponent(user), { password: pass })
      .then(function (resp) {
        pass = null;
        return readJSON(resp).then(function (body) {
          setBusy(false);
          if (!resp.ok) { signinFail('Sign-in failed: ' + errorText(resp, body), 'password'); return; }
          var auth = body && body.auth;
          if (auth && auth.mfa_requirement) {
            signinFail('This account requires multi-factor authentication, which this page does not support. Sign in with a Vault token instead.', 'username');
            return;
          }
          if (!auth || !auth.client_token) { signinFail('Sign-in failed: Vault returned no token.', 'username'); return; }
          token = auth.client_token;
          ownToken = true;
          setInvalid(false);
          signedIn((auth.metadata && auth.metadata.username) || auth.display_name || user);
        });
      })
      .catch(function (err) {
        setBusy(false);
        signinFail('Could not reach Vault: ' + err.message, 'password');
      });
  });

  forms.token.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (busy) return;
    var value = $('token').value.trim();
    $('token').value = '';
    if (!value) { signinFail('Paste a Vault token.', 'token'); return; }
    signinError.textContent = '';
    setBusy(true);
    api('GET', 'auth/token/lookup-self', undefined, value)
      .then(function (resp) {
        return readJSON(resp).then(function (body) {
          setBusy(false);
          if (!resp.ok) { signinFail('Vault did not accept this token: ' + errorText(resp, body), 'token'); return; }
          token = value;
          ownToken = false;
          setInvalid(false);
          var data = (body && body.data) || {};
          signedIn(data.display_name || 'a Vault token');
        });
      })
      .catch(function (err) {
        setBusy(false);
        signinFail('Could not reach Vault: ' + err.message, 'token');
      });
  });

  // Forgets the token; one this page created is revoked (best effort).
  function dropToken() {
    var t = token;
    var own = ownToken;
    token = null;
    ownToken = false;
    if (!own || !t) return Promise.resolve();
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, 3000);
    return fetch(apiBase + 'auth/token/revoke-self', {
      method: 'POST', headers: { 'X-Vault-Token': t }, credentials: 'omit', signal: ctl.signal
    }).catch(function () {}).then(function () { clearTimeout(timer); });
  }

  // The application's redirect URI with params added to its own query.
  function redirectTo(params) {
    var u;
    try { u = new URL(req.redirect_uri); } catch (e) { return null; }
    if (/^(javascript|data|vbscript|blob|file):$/i.test(u.protocol)) return null;
    Object.keys(params).forEach(function (k) {
      if (params[k]) u.searchParams.set(k, params[k]);
    });
    return u.toString();
  }

  // Goes back to the application with params.
  function finish(params) {
    var dest = redirectTo(params);
    if (!dest) {
      setBusy(false);
      consentError.textContent = 'The application\u2019s redirect address cannot be used.';
      return Promise.resolve();
    }
    consentStatus.textContent = 'Returning to ' + req.client + '\u2026';
    return dropToken().then(function () { location.replace(dest); });
  }

  // The plugin needs the token itself only to check max_age (when the user
  // signed in to Vault): otherwise it stays with Vault.
  var sendBearer = Object.prototype.hasOwnProperty.call(req.params, 'max_age');

  function stateOf(body) {
    return body && typeof body.state === 'string' && body.state ? body.state : req.state;
  }

  $('allow').addEventListener('click', function () {
    if (busy || !token) return;
    setBusy(true);
    consentError.textContent = '';
    consentStatus.textContent = 'Authorizing\u2026';
    api('POST', req.mount + 'oidc/provider/' + encodeURIComponent(req.provider) + '/authorize', req.params, token, sendBearer).then(function (resp) {
      return readJSON(resp).then(function (body) {
        if (resp.ok && body && typeof body.code === 'string' && body.code) {
          return finish({ code: body.code, state: stateOf(body) });
        }
        if (body && typeof body.error === 'string' && body.error) {
          return finish({ error: body.error, error_description: body.error_description || '', state: stateOf(body) });
        }
        setBusy(false);
        consentStatus.textContent = '';
        consentError.textContent = 'Vault refused the request: ' + errorText(resp, body);
      });
    }).catch(function (err) {
      setBusy(false);
      consentStatus.textContent = '';
      consentError.textContent = 'Could not reach Vault: ' + err.message;
    });
  });

  $('deny').addEventListener('click', function () {
    if (busy) return;
    setBusy(true);
    finish({ error: 'access_denied', error_description: 'The user denied the request', state: req.state });
  });

  $('switch-account').addEventListener('click', function () {
    if (busy) return;
    setBusy(true);
    dropToken().then(function () {
      setBusy(false);
      show('signin');
      selectMethod(method, true);
    });
  });

  document.querySelectorAll('input[name="method"]').forEach(function (radio) {
    radio.addEventListener('change', function () {
      if (radio.checked) selectMethod(Number(radio.value), false);
    });
  });

  // Leaving without finishing: revoke a token this page created.
  window.addEventListener('pagehide', function () {
    if (!ownToken || !token) return;
    fetch(apiBase + 'auth/token/revoke-self', {
      method: 'POST', headers: { 'X-Vault-Token': token }, credentials: 'omit', keepalive: true
    }).catch(function () {});
    token = null;
    ownToken = false;
  });
  // Coming back through the history cache: start over.
  window.addEventListener('pageshow', function (ev) {
    if (ev.persisted) location.reload();
  });

  // The device grant's verification view (RFC 8628): after sign-in, the
  // person enters or confirms the device's user code, sees the client and
  // scopes, and allows or denies, through the provider's device/verify
  // path with the token. The device polls the token endpoint meanwhile.
  var signedInAs = '';
  var deviceCode = '';

  function deviceSignedIn(who) {
    signedInAs = who;
    $('device-signed-in-as').textContent = who;
    $('device-error').textContent = '';
    show('device');
    if ($('user-code').value) $('device-submit').focus();
    else $('user-code').focus();
  }

  function deviceVerify(decision) {
    var body = { user_code: deviceCode };
    if (decision) body.decision = decision;
    return api('POST', req.mount + 'oidc/provider/' + encodeURIComponent(req.provider) + '/device/verify', body, token, false)
      .then(function (resp) { return readJSON(resp).then(function (b) { return { resp: resp, body: b }; }); });
  }

  function deviceRefusal(r) {
    if (r.body && r.body.error === 'invalid_grant') return 'This code is not valid or has expired. Check the code on your device.';
    return 'Vault refused: ' + errorText(r.resp, r.body);
  }

  function deviceFinish(title, text) {
    dropToken().then(function () {
      setBusy(false);
      $('device-done-title').textContent = title;
      $('device-done-text').textContent = text;
      show('deviceDone');
      app.querySelectorAll('button, input').forEach(function (el) { el.disabled = true; });
      $('device-done-title').focus();
    });
  }

  if (req.device) {
    $('device-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (busy || !token) return;
      var typed = $('user-code').value.trim();
      if (!typed) { $('device-error').textContent = 'Enter the code shown on your device.'; $('user-code').focus(); return; }
      deviceCode = typed;
      $('device-error').textContent = '';
      setBusy(true);
      deviceVerify('').then(function (r) {
        setBusy(false);
        if (!r.resp.ok || !r.body || typeof r.body.client_name !== 'string') {
          $('device-error').textContent = deviceRefusal(r);
          $('user-code').setAttribute('aria-invalid', 'true');
          $('user-code').focus();
          return;
        }
        $('user-code').removeAttribute('aria-invalid');
        $('device-client').textContent = r.body.client_name;
        $('device-code').textContent = r.body.user_code;
        $('device-consent-as').textContent = signedInAs;
        var list = $('device-scopes');
        list.textContent = '';
        (r.body.scopes || []).forEach(function (sc) {
          var li = document.createElement('li');
          var code = document.createElement('code');
          code.className = 'scope';
          code.textContent = sc;
          var span = document.createElement('span');
          span.textContent = (r.body.scope_descriptions && r.body.scope_descriptions[sc]) || '';
          li.appendChild(code);
          li.appendChild(document.createTextNode(' '));
          li.appendChild(span);
          list.appendChild(li);
        });
        $('device-consent-error').textContent = '';
        show('deviceConsent');
        $('device-consent-title').focus();
      }).catch(function (err) {
        setBusy(false);
        $('device-error').textContent = 'Could not reach Vault: ' + err.message;
      });
    });

    var decide = function (decision) {
      if (busy || !token) return;
      setBusy(true);
      $('device-consent-error').textContent = '';
      deviceVerify(decision).then(function (r) {
        if (r.resp.ok && r.body && r.body.status === 'approved') {
          deviceFinish('Device connected', 'You can close this window and return to your device.');
        } else if (r.resp.ok && r.body && r.body.status === 'denied') {
          deviceFinish('Request denied', 'The device was not given access. You can close this window.');
        } else {
          setBusy(false);
          $('device-consent-error').textContent = deviceRefusal(r);
        }
      }).catch(function (err) {
        setBusy(false);
        $('device-consent-error').textContent = 'Could not reach Vault: ' + err.message;
      });
    };
    $('device-allow').addEventListener('click', function () { decide('allow'); });
    $('device-deny').addEventListener('click', function () { decide('deny'); });
  }

  var checked = document.querySelector('input[name="method"]:checked');
  show('signin');
  selectMethod(checked ? Number(checked.value) : 0, true);
})();
