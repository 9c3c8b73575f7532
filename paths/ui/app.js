// The identity console's entry point: sign-in, the sections' navigation
// and the router. Every page is a module that renders into <main> from the
// mount's API, called with the signed-in token.

import {
  add, h, clear, api, apiBase, m, session, capabilities, can, canWrite, mount, announce, field, form, errorBox,
} from './lib.js';

// A framed console could be clickjacked: show nothing. (The page starts
// hidden, and Vault sends frame-ancestors 'none' when the mount allows it.)
if (window.top !== window.self) {
  document.body.textContent = '';
  throw new Error('framed');
}

const $ = (x) => document.getElementById(x);
const app = $('app');
const main = $('main');
app.hidden = false;
$('mount-name').textContent = mount;

$('skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});

// The sections: route, label, module, and the capability paths that make
// the section worth showing.
const S = '_sample';
const sections = [
  { route: 'health', label: 'Store health', mod: './health.js', show: () => can(m('info'), 'read') },
  { route: 'entities', label: 'Entities', mod: './entities.js', show: () => can(m('entity/id'), 'list') || can(m('entity/id/' + S), 'read') || canWrite(m('entity')) },
  { route: 'groups', label: 'Groups', mod: './groups.js', show: () => can(m('group/id'), 'list') || can(m('group/id/' + S), 'read') },
  { route: 'hierarchy', label: 'Group hierarchy', mod: './groups.js', show: () => can(m('group/id'), 'list') },
  { route: 'aliases', label: 'Entity aliases', mod: './aliases.js', show: () => can(m('entity-alias/id'), 'list') || canWrite(m('entity-alias')) },
  { route: 'group-aliases', label: 'Group aliases', mod: './aliases.js', show: () => can(m('group-alias/id'), 'list') || canWrite(m('group-alias')) },
  { route: 'oidc', label: 'OIDC', mod: './oidc.js', show: () => ['key', 'role', 'provider', 'client', 'assignment', 'scope'].some((k) => can(m('oidc/' + k), 'list')) },
  { route: 'mfa', label: 'MFA', mod: './mfa.js', show: () => can(m('mfa/method'), 'list') || can(m('mfa/login-enforcement'), 'list') || can(m('mfa/entity-status/' + S), 'read') || canWrite(m('mfa/method/totp/admin-generate')) || canWrite(m('mfa/method/totp/generate')) },
];

// capPaths are asked once at sign-in; pages ask for their objects' paths.
const capPaths = [
  'info', 'entity', 'entity/id', 'entity/id/' + S, 'entity/name', 'entity/name/' + S, 'entity/merge',
  'group', 'group/id', 'group/id/' + S, 'group/name', 'group/name/' + S, 'entity-alias', 'entity-alias/id', 'entity-alias/id/' + S,
  'group-alias', 'group-alias/id', 'group-alias/id/' + S,
  'oidc/key', 'oidc/role', 'oidc/provider', 'oidc/client', 'oidc/assignment', 'oidc/scope',
  'mfa/method', 'mfa/login-enforcement', 'mfa/method/totp', 'mfa/method/totp/admin-generate',
  'mfa/method/totp/admin-destroy', 'mfa/entity-status/' + S, 'mfa/admin-reset-lockout',
  'mfa/recovery-codes/admin-generate', 'mfa/method/totp/generate', 'lookup/self',
].map(m).concat(['sys/auth']);

// ---- sign-in ------------------------------------------------------------

function signInView(message) {
  clear(main);
  $('nav').hidden = true;
  $('session').hidden = true;
  document.title = 'Sign in \u2013 Identity console';
  const methodSel = field('method', 'Sign-in method', {
    type: 'select', value: 'token',
    options: [['token', 'Vault token'], ['userpass', 'Username and password (userpass)'], ['ldap', 'LDAP']],
  });
  const pathField = field('path', 'Auth mount path', { value: '', hint: 'Where the method is mounted, e.g. userpass or ldap/corp.' });
  const user = field('username', 'Username', { autocomplete: 'username' });
  const pass = field('password', 'Password', { type: 'password', autocomplete: 'current-password' });
  const tok = field('token', 'Vault token', { type: 'password', hint: 'Kept in this page\u2019s memory only; never stored.' });
  const sel = methodSel.querySelector('select');
  const sync = () => {
    const kind = sel.value;
    tok.hidden = kind !== 'token';
    for (const f of [pathField, user, pass]) f.hidden = kind === 'token';
    const p = pathField.querySelector('input');
    if (kind !== 'token' && (!p.value || p.value === 'userpass' || p.value === 'ldap')) p.value = kind;
  };
  sel.addEventListener('change', sync);
  const f = form('Sign in', [methodSel, pathField, user, pass, tok], 'Sign in', async (v) => {
    if (v.method === 'token') {
      if (!v.token.trim()) throw new Error('Paste a Vault token.');
      await startSession(v.token.trim(), false);
    } else {
      if (!v.username.trim() || !v.password) throw new Error('Enter your username and password.');
      const path = v.path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
      f.querySelector('input[name="password"]').value = '';
      const r = await api('POST', 'auth/' + path + '/login/' + encodeURIComponent(v.username.trim()), { password: v.password });
      const auth = r && r.auth;
      if (auth && auth.mfa_requirement) throw new Error('This account needs multi-factor authentication at login, which the console does not do: sign in with a token.');
      if (!auth || !auth.client_token) throw new Error('Vault returned no token.');
      await startSession(auth.client_token, true);
    }
  });
  add(main, h('section', { class: 'signin panel', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to the identity console'),
    h('p', { class: 'lead' }, 'Everything you do here is a call to ', h('code', null, mount), ' with your token, so Vault\u2019s policies decide what you may see and change.'),
    message ? h('p', { class: 'notice', role: 'status' }, message) : null,
    f));
  sync();
  sel.focus();
}

async function startSession(token, own) {
  session.token = token;
  session.own = own;
  session.caps = null;
  session.capsUnknown = false;
  let who = 'a Vault token';
  try {
    const r = await api('GET', 'auth/token/lookup-self');
    const d = (r && r.data) || {};
    who = (d.meta && d.meta.username) || d.display_name || who;
  } catch (e) {
    session.token = null;
    throw e;
  }
  session.who = who;
  await capabilities(capPaths);
  $('who').textContent = who;
  $('session').hidden = false;
  buildNav();
  announce('Signed in as ' + who + '.');
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/' + firstSection();
  else route();
}

function firstSection() {
  const s = sections.find((x) => x.show());
  return s ? s.route : 'health';
}

$('sign-out').addEventListener('click', async () => {
  const t = session.token;
  const own = session.own;
  session.token = null;
  session.own = false;
  session.caps = null;
  if (own && t) {
    // Only a token this console created is revoked.
    try {
      await fetch(apiBase + 'auth/token/revoke-self', {
        method: 'POST', headers: { 'X-Vault-Token': t }, credentials: 'omit',
      });
    } catch (e) { /* best effort */ }
  }
  signInView('You are signed out.');
  announce('Signed out.');
});

// Leaving: revoke a token this console created.
window.addEventListener('pagehide', () => {
  if (!session.own || !session.token) return;
  fetch(apiBase + 'auth/token/revoke-self', {
    method: 'POST', headers: { 'X-Vault-Token': session.token }, credentials: 'omit', keepalive: true,
  }).catch(() => {});
  session.token = null;
  session.own = false;
});

// ---- navigation ---------------------------------------------------------

function buildNav() {
  const ul = clear($('nav-list'));
  for (const s of sections) {
    if (!s.show()) continue;
    add(ul, h('li', null, h('a', { href: '#/' + s.route, 'data-route': s.route }, s.label)));
  }
  $('nav').hidden = false;
}

function markNav(first) {
  for (const a of $('nav-list').querySelectorAll('a')) {
    if (a.dataset.route === first) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// parse splits "#/groups/abc?after=x" into parts and a query.
function parse() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = Object.fromEntries(new URLSearchParams(q >= 0 ? raw.slice(q + 1) : ''));
  const parts = path.split('/').filter((x) => x !== '').map((x) => {
    try { return decodeURIComponent(x); } catch (e) { return x; }
  });
  return { parts, query };
}

let seq = 0;

async function route() {
  if (!session.token) { signInView(); return; }
  const { parts, query } = parse();
  const first = parts[0] || firstSection();
  const sec = sections.find((x) => x.route === first);
  markNav(first);
  const mine = ++seq;
  // The previous page's news is stale (the first page keeps the sign-in's).
  if (mine > 1) announce('');
  clear(main);
  if (!sec) {
    add(main, h('h1', null, 'Not found'), h('p', null, 'This console has no page here.'));
    return;
  }
  main.setAttribute('aria-busy', 'true');
  try {
    const mod = await import(sec.mod);
    if (mine !== seq) return;
    const page = h('div', { class: 'page' });
    add(main, page);
    await mod.render({ route: first, parts: parts.slice(1), query, el: page, stale: () => mine !== seq });
    if (mine !== seq) return;
    const h1 = main.querySelector('h1');
    document.title = (h1 ? h1.textContent + ' \u2013 ' : '') + 'Identity console';
  } catch (e) {
    if (mine !== seq) return;
    clear(main);
    add(main, h('h1', null, 'This page could not be shown'), errorBox(e, 'Vault refused'));
    announce('Vault refused: ' + (e.message || e));
  } finally {
    if (mine === seq) main.removeAttribute('aria-busy');
  }
  if (mine === seq && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
// Coming back through the history cache: the token is gone, start over.
window.addEventListener('pageshow', (ev) => { if (ev.persisted) location.reload(); });

signInView();
