// OIDC: keys (rotate, the published JWKS), roles ("sign a token for me"),
// providers (discovery document, a test sign-in link), clients (the secret
// shown once, at creation), assignments and scopes. One generic view of
// named objects, with each kind's fields and extras.

import {
  add, h, clear, api, m, enc, list, read, capabilities, can, canWrite, props, table, link, button, field, form,
  words, confirmButton, section, go, announce, loading, showError, copyButton, decodeJWT, randomString, apiBase, pre,
} from './lib.js';

const ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'].map((a) => [a, a]);

// Field kinds: text, list (comma-separated, sent as an array), textarea,
// select. create: only when creating.
const KINDS = {
  keys: {
    title: 'Keys', one: 'key', path: 'oidc/key',
    fields: [
      { name: 'algorithm', label: 'Algorithm', type: 'select', options: ALGS, def: 'RS256' },
      { name: 'rotation_period', label: 'Rotation period', hint: 'e.g. 24h' },
      { name: 'verification_ttl', label: 'Verification TTL', hint: 'How long a rotated public key stays published, e.g. 24h.' },
      { name: 'allowed_client_ids', label: 'Allowed client IDs', type: 'list', hint: 'Comma-separated; * for any.' },
    ],
    listExtra: jwksPanel,
    extra: keyExtra,
  },
  roles: {
    title: 'Roles', one: 'role', path: 'oidc/role',
    fields: [
      { name: 'key', label: 'Key', required: true },
      { name: 'template', label: 'Template', type: 'textarea', hint: 'JSON claims template, e.g. {"groups": {{identity.entity.groups.names}}}' },
      { name: 'ttl', label: 'TTL', hint: 'e.g. 1h' },
      { name: 'client_id', label: 'Client ID', hint: 'The aud claim; generated when empty.', create: true },
      { name: 'audiences', label: 'Extra audiences', type: 'list', hint: 'Comma-separated.' },
    ],
    extra: roleExtra,
  },
  providers: {
    title: 'Providers', one: 'provider', path: 'oidc/provider',
    fields: [
      { name: 'issuer', label: 'Issuer', hint: 'Scheme, host and port; empty for Vault\u2019s address (when editing: empty keeps it).', editBlank: true },
      { name: 'allowed_client_ids', label: 'Allowed client IDs', type: 'list', hint: 'Comma-separated; * for any.' },
      { name: 'scopes_supported', label: 'Scopes supported', type: 'list' },
      { name: 'sign_in_methods', label: 'Sign-in methods', type: 'list', hint: 'Auth mount paths (userpass, ldap/corp) or token.' },
    ],
    extra: providerExtra,
  },
  clients: {
    title: 'Clients', one: 'client', path: 'oidc/client', hide: ['client_secret'],
    fields: [
      { name: 'redirect_uris', label: 'Redirect URIs', type: 'list' },
      { name: 'assignments', label: 'Assignments', type: 'list', hint: 'Comma-separated; allow_all for everyone.' },
      { name: 'key', label: 'Key', hint: 'default when empty.' },
      { name: 'client_type', label: 'Client type', type: 'select', options: [['confidential', 'confidential'], ['public', 'public']], def: 'confidential', create: true },
      { name: 'id_token_ttl', label: 'ID token TTL' },
      { name: 'access_token_ttl', label: 'Access token TTL' },
      { name: 'refresh_token_ttl', label: 'Refresh token TTL', hint: 'Empty: no refresh tokens.' },
    ],
    listCols: [['Client ID', (i) => i.client_id], ['Type', (i) => i.client_type]],
    created: clientCreated,
  },
  assignments: {
    title: 'Assignments', one: 'assignment', path: 'oidc/assignment',
    fields: [
      { name: 'entity_ids', label: 'Entity IDs', type: 'list' },
      { name: 'group_ids', label: 'Group IDs', type: 'list' },
    ],
  },
  scopes: {
    title: 'Scopes', one: 'scope', path: 'oidc/scope',
    fields: [
      { name: 'template', label: 'Template', type: 'textarea', hint: 'JSON claims template.' },
      { name: 'description', label: 'Description' },
    ],
  },
};

export async function render(ctx) {
  const [kind, name] = ctx.parts;
  const k = KINDS[kind];
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'OIDC objects' }, h('ul', null, Object.entries(KINDS).filter(([, x]) => can(m(x.path), 'list')).map(([r, x]) =>
    h('li', null, link('#/oidc/' + r, x.title, r === kind ? { 'aria-current': 'page' } : {})))));
  add(ctx.el, tabs);
  if (!k) {
    add(ctx.el, h('h1', null, 'OIDC'), h('p', null, 'Identity tokens (keys and roles) and Vault as an OpenID Connect provider (providers, clients, assignments, scopes).'));
    const first = Object.keys(KINDS).find((r) => can(m(KINDS[r].path), 'list'));
    if (first) return kindList(ctx, KINDS[first], first);
    return undefined;
  }
  if (name) return detail(ctx, k, kind, name);
  return kindList(ctx, k, kind);
}

function inputFor(f, v, creating) {
  if (f.create && !creating) return null;
  let val = v === undefined || v === null || (f.editBlank && !creating) ? (creating ? f.def || '' : '') : v;
  if (Array.isArray(val)) val = val.join(', ');
  if (typeof val === 'object') val = JSON.stringify(val);
  return field(f.name, f.label, { type: f.type === 'list' ? 'text' : f.type, options: f.options, value: val, hint: f.hint, required: f.required });
}

function bodyOf(k, v, creating) {
  const body = {};
  for (const f of k.fields) {
    if (f.create && !creating) continue;
    const x = v[f.name];
    if (x === undefined) continue;
    if (f.type === 'list') {
      const w = words(x);
      if (w.length || !creating) body[f.name] = w;
    } else if (String(x).trim() !== '') {
      body[f.name] = String(x).trim();
    }
  }
  return body;
}

async function kindList(ctx, k, kind) {
  const { el } = ctx;
  add(el, h('h1', null, 'OIDC ' + k.title.toLowerCase()));
  const out = h('div', { class: 'results' }, loading(k.title.toLowerCase()));
  add(el, out);
  const r = await list(m(k.path));
  await capabilities([m(k.path + '/_sample')]);
  clear(out);
  const cols = k.listCols || [];
  add(out, table('OIDC ' + k.title.toLowerCase(), ['Name'].concat(cols.map((c) => c[0])), r.keys.map((x) => [
    link('#/oidc/' + kind + '/' + encodeURIComponent(x), x),
  ].concat(cols.map((c) => String(c[1](r.info[x] || {}) || '')))), 'None yet.'));
  if (canWrite(m(k.path + '/_sample'))) {
    add(el, section('Create ' + k.one, form('Create ' + k.one, [field('name', 'Name', { required: true })].concat(k.fields.map((f) => inputFor(f, undefined, true))), 'Create', async (v) => {
      const name = v.name.trim();
      if (!name) throw new Error('Give the ' + k.one + ' a name.');
      await api('POST', m(k.path + '/' + enc(name)), bodyOf(k, v, true));
      announce('OIDC ' + k.one + ' ' + name + ' created.');
      if (k.created) { await k.created(ctx, name); return; }
      go('#/oidc/' + kind + '/' + encodeURIComponent(name));
    })));
  }
  if (k.listExtra) add(el, await k.listExtra());
  announce(r.keys.length + ' ' + k.title.toLowerCase() + ' shown.');
}

async function detail(ctx, k, kind, name) {
  const { el } = ctx;
  const path = m(k.path + '/' + enc(name));
  await capabilities([path]);
  const d = await read(path);
  if (ctx.stale()) return;
  if (!d) {
    add(el, h('h1', null, 'Not found'), h('p', null, 'No ' + k.one + ' is named ', h('code', null, name), '.'));
    return;
  }
  add(el, h('div', { class: 'page-head' }, h('h1', null, h('span', { class: 'kind' }, 'OIDC ' + k.one + ' '), h('span', { id: 'object-name' }, name)),
    can(path, 'delete') ? confirmButton('Delete', 'Delete this ' + k.one + '?', async () => {
      await api('DELETE', path);
      announce('OIDC ' + k.one + ' ' + name + ' deleted.');
      go('#/oidc/' + kind);
    }, { class: 'button danger', id: 'object-delete' }) : null));
  const hide = new Set(k.hide || []);
  add(el, section('Settings', props(Object.keys(d).sort().filter((x) => !hide.has(x)).map((x) => [x, d[x]]))));
  if (hide.has('client_secret')) {
    add(el, h('p', { class: 'hint', id: 'secret-hidden' }, 'The client secret was shown once, when the client was created; the console does not show it again.'));
  }
  if (k.extra) await k.extra(ctx, name, d);
  if (canWrite(path)) {
    add(el, section('Edit', form('Edit ' + k.one, k.fields.map((f) => inputFor(f, d[f.name], false)), 'Save changes', async (v) => {
      await api('POST', path, bodyOf(k, v, false));
      announce('OIDC ' + k.one + ' saved.');
      go('#/oidc/' + kind + '/' + encodeURIComponent(name));
    })));
  }
}

// ---- extras -------------------------------------------------------------

async function jwksPanel() {
  const box = h('div');
  try {
    const r = await api('GET', m('oidc/.well-known/keys'));
    const keys = (r && r.keys) || [];
    add(box, h('p', null, 'Published at ', h('code', null, apiBase + m('oidc/.well-known/keys')), ' for relying parties, without a token.'),
      table('Published keys', ['Key ID', 'Algorithm', 'Type', 'Use'], keys.map((x) => [h('code', null, x.kid), x.alg || '', x.kty || '', x.use || '']), 'No keys published yet.'));
  } catch (e) {
    showError(box, e, 'The JWKS could not be read');
  }
  return section('Published keys (JWKS)', box);
}

async function keyExtra(ctx, name) {
  const path = m('oidc/key/' + enc(name) + '/rotate');
  await capabilities([path]);
  if (canWrite(path)) {
    add(ctx.el, section('Rotate', h('p', { class: 'hint' }, 'The next key becomes current; the outgoing public key stays published for its verification TTL.'),
      confirmButton('Rotate now', 'Rotate this key?', async () => {
        await api('POST', path, {});
        announce('Key ' + name + ' rotated.');
        go('#/oidc/keys/' + encodeURIComponent(name));
      }, { class: 'button', id: 'key-rotate' })));
  }
  add(ctx.el, await jwksPanel());
}

async function roleExtra(ctx, name) {
  const path = m('oidc/token/' + enc(name));
  await capabilities([path]);
  if (!can(path, 'read')) return;
  const out = h('div', { 'aria-live': 'polite' });
  add(ctx.el, section('Sign a token for me',
    h('p', { class: 'hint' }, 'Vault signs an identity token for your entity in this store, as an application would get it.'),
    button('Sign a token', async () => {
      clear(out);
      try {
        const r = await api('GET', path);
        const t = r && r.data && r.data.token;
        const dec = decodeJWT(t);
        add(out, h('h3', null, 'Claims'), pre(JSON.stringify(dec.payload, null, 2), { id: 'token-claims' }),
          h('h3', null, 'Header'), pre(JSON.stringify(dec.header, null, 2)),
          h('h3', null, 'Token'), pre(t, { class: 'token' }), copyButton(t, 'Copy the token'));
        announce('Token signed.');
      } catch (e) {
        showError(out, e, 'Vault refused');
      }
    }, { id: 'sign-token' }), out));
}

async function providerExtra(ctx, name, p) {
  const { el } = ctx;
  const disco = h('div', null, loading('discovery'));
  add(el, section('Discovery document', disco));
  let doc = null;
  try {
    doc = await api('GET', m('oidc/provider/' + enc(name) + '/.well-known/openid-configuration'));
    clear(disco);
    add(disco, h('p', null, h('code', null, apiBase + m('oidc/provider/' + enc(name) + '/.well-known/openid-configuration'))),
      pre(JSON.stringify(doc, null, 2), { id: 'discovery' }));
  } catch (e) {
    showError(disco, e, 'Discovery could not be read');
  }
  if (!doc || !can(m('oidc/client'), 'list')) return;
  // A test sign-in: an authorization request of one of the provider's
  // clients, opened in a new tab.
  const clients = await list(m('oidc/client'));
  const allowed = p.allowed_client_ids || [];
  const usable = clients.keys.map((x) => [x, clients.info[x] || {}])
    .filter(([, c]) => (allowed.includes('*') || allowed.includes(c.client_id)) && (c.redirect_uris || []).length);
  const box = h('div');
  add(el, section('Test sign-in', box));
  if (!usable.length) {
    add(box, h('p', { class: 'muted' }, 'No client of this provider has a redirect URI.'));
    return;
  }
  const sel = field('client', 'Client', { type: 'select', options: usable.map(([n]) => [n, n]) });
  const out = h('p');
  const make = () => {
    const c = usable.find(([n]) => n === sel.querySelector('select').value)[1];
    const q = new URLSearchParams({
      client_id: c.client_id, redirect_uri: c.redirect_uris[0], response_type: 'code',
      scope: ['openid'].concat(p.scopes_supported || []).join(' '), state: randomString(12), nonce: randomString(12),
    });
    clear(out);
    add(out, h('a', { href: doc.authorization_endpoint + '?' + q.toString(), target: '_blank', rel: 'noopener noreferrer', id: 'test-sign-in', class: 'button' }, 'Open the sign-in page'));
  };
  sel.querySelector('select').addEventListener('change', make);
  add(box, h('p', { class: 'hint' }, 'Starts a sign-in as the chosen client would, in a new tab; the browser returns to the client\u2019s first redirect URI.'), sel, out);
  make();
}

// clientCreated shows the new client's id and secret, once.
async function clientCreated(ctx, name) {
  const d = await read(m('oidc/client/' + enc(name)));
  const { el } = ctx;
  clear(el);
  const secret = d.client_secret || '';
  add(el, h('h1', null, h('span', { class: 'kind' }, 'OIDC client '), name),
    h('div', { class: 'panel notice', role: 'status' },
      h('h2', null, 'Client created'),
      props([['Client ID', h('code', { id: 'new-client-id' }, d.client_id)]].concat(secret ? [['Client secret', h('span', null, h('code', { id: 'new-client-secret', class: 'secret' }, secret), ' ', copyButton(secret, 'Copy the secret'))]] : [])),
      secret ? h('p', null, h('strong', null, 'Copy the secret now: the console does not show it again.')) : null,
      link('#/oidc/clients/' + encodeURIComponent(name), 'Done', { class: 'button primary', id: 'client-done' })));
  el.querySelector('#client-done').focus();
}

