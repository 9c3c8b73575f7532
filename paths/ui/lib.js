// Shared pieces of the identity console: building DOM (text only, never
// markup), calling Vault's API with the session's token, asking Vault which
// capabilities the token has, and the small widgets every page uses.

// ---- DOM ----------------------------------------------------------------

// h builds an element. attrs: "class", "for" and other attributes are set
// with setAttribute; "on<event>" functions become listeners; value, checked,
// disabled, hidden and selected are set as properties. Children are nodes,
// or strings and numbers written as text; arrays are flattened and null,
// undefined and false skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// s builds an SVG element, as h does.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'readOnly']);

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (PROPS.has(k)) {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

// add appends children to el as h does (the DOM's own append would write
// null as "null").
export function add(el, ...children) {
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let uid = 0;
// id returns a fresh element id with a readable prefix.
export function id(prefix) {
  uid += 1;
  return (prefix || 'f') + '-' + uid;
}

// ---- session and API ----------------------------------------------------

// The mount path ("ident/") and Vault's API prefix as the browser reached
// this page ("/v1/", with a proxy's prefix kept).
export const mount = document.body.dataset.mount || 'ident/';
export const apiBase = (() => {
  const here = location.pathname;
  const at = here.lastIndexOf('/' + mount + 'ui');
  return at >= 0 ? here.slice(0, at + 1) : '/v1/';
})();

// session is who is signed in. The token is kept here, in memory only.
export const session = {
  token: null,
  own: false, // created by this console's login: revoked at sign-out
  who: '',
  entityID: '',
  caps: null, // Map of path to capabilities, or null when unknown
};

// VaultError is a refused request, with Vault's own message.
export class VaultError extends Error {
  constructor(status, errors, body) {
    super(errorMessage(status, errors));
    this.status = status;
    this.errors = errors;
    this.body = body;
  }
}

// errorMessage tidies Vault's error list ("1 error occurred:\n\t* ...").
function errorMessage(status, errors) {
  const lines = [];
  for (const e of errors || []) {
    for (const line of String(e).split('\n')) {
      const t = line.replace(/^\s*\*\s*/, '').trim();
      if (t && !/^\d+ errors? occurred:$/.test(t)) lines.push(t);
    }
  }
  if (lines.length) return lines.join('; ');
  return 'Vault answered ' + status;
}

// api calls Vault: path is relative to /v1/ ("sys/auth", or m("entity")).
// LIST is sent as GET with list=true. The answer's JSON is returned, null
// for an empty answer or a 404 without errors (nothing there); a refusal
// throws a VaultError.
export async function api(method, path, body, query) {
  const params = new URLSearchParams(query || {});
  let verb = method;
  if (method === 'LIST') {
    verb = 'GET';
    params.set('list', 'true');
  }
  const qs = params.toString();
  const headers = {};
  if (session.token) headers['X-Vault-Token'] = session.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(apiBase + path + (qs ? '?' + qs : ''), {
    method: verb,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
    referrerPolicy: 'no-referrer',
  });
  const text = await resp.text();
  let json = null;
  if (text.trim()) {
    try { json = JSON.parse(text); } catch (e) { json = null; }
  }
  if (resp.ok) return json;
  const errors = json && Array.isArray(json.errors) ? json.errors : [];
  if (resp.status === 404 && errors.length === 0) return null;
  throw new VaultError(resp.status, errors, json);
}

// m is a path of this mount.
export function m(path) {
  return mount + path;
}

// enc encodes a name for a path segment; names of entities may hold "/".
export function enc(name) {
  return String(name).split('/').map(encodeURIComponent).join('/');
}

// list reads the keys (and key_info) of a list; [] when empty.
export async function list(path, query) {
  const r = await api('LIST', path, undefined, query);
  const d = (r && r.data) || {};
  return { keys: d.keys || [], info: d.key_info || {} };
}

export async function read(path) {
  const r = await api('GET', path);
  return r ? r.data || {} : null;
}

// pool runs fn over items, at most n at a time, in order of the results.
export async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try { out[i] = await fn(items[i], i); } catch (e) { out[i] = e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

// ---- capabilities -------------------------------------------------------

// capabilities asks Vault what the token may do on paths (cached for the
// session). Without sys/capabilities-self the answer is unknown: the
// console then shows every action and lets Vault refuse.
export async function capabilities(paths) {
  if (!session.caps) session.caps = new Map();
  const want = paths.filter((p) => !session.caps.has(p));
  if (want.length && !session.capsUnknown) {
    try {
      const r = await api('POST', 'sys/capabilities-self', { paths: want });
      const d = (r && (r.data || r)) || {};
      for (const p of want) {
        const c = d[p] || (want.length === 1 ? d.capabilities : null) || [];
        session.caps.set(p, new Set(c));
      }
    } catch (e) {
      session.capsUnknown = true;
    }
  }
  return session.caps;
}

// can tells whether the token has one of the capabilities on path, as last
// asked; true when Vault could not be asked.
export function can(path, ...caps) {
  if (session.capsUnknown) return true;
  const c = session.caps && session.caps.get(path);
  if (!c) return false;
  if (c.has('root')) return true;
  if (c.has('deny')) return false;
  return caps.some((x) => c.has(x));
}

// canWrite: a POST to a plugin path is an update (create with a policy
// that also allows update).
export function canWrite(path) {
  return can(path, 'update', 'create');
}

// ---- status and errors --------------------------------------------------

const statusEl = () => document.getElementById('status');

// announce says msg in the status bar, which screen readers read out.
export function announce(msg) {
  const el = statusEl();
  if (el) el.textContent = msg;
}

// errorBox shows a refusal with Vault's message.
export function errorBox(err, what) {
  const msg = err instanceof VaultError ? err.message : (err && err.message) || String(err);
  return h('div', { class: 'error', role: 'alert' },
    what ? h('strong', null, what + ': ') : null,
    h('span', { class: 'error-text' }, msg));
}

// showError puts an error in place (replacing what el held).
export function showError(el, err, what) {
  clear(el);
  el.appendChild(errorBox(err, what));
  const t = el.querySelector('.error-text');
  announce((what ? what + ': ' : '') + (t ? t.textContent : ''));
}

// ---- widgets ------------------------------------------------------------

// value renders a value of the store as text.
export function value(v) {
  if (v === undefined || v === null || v === '') return h('span', { class: 'muted' }, '\u2014');
  if (typeof v === 'boolean') return document.createTextNode(v ? 'yes' : 'no');
  if (Array.isArray(v)) {
    if (!v.length) return h('span', { class: 'muted' }, 'none');
    if (v.every((x) => typeof x !== 'object' || x === null)) {
      return h('ul', { class: 'chips' }, v.map((x) => h('li', null, String(x))));
    }
    return pre(JSON.stringify(v, null, 2));
  }
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return h('span', { class: 'muted' }, 'none');
    if (keys.every((k) => typeof v[k] !== 'object' || v[k] === null)) {
      return h('dl', { class: 'kv' }, keys.sort().map((k) => [h('dt', null, k), h('dd', null, String(v[k]))]));
    }
    return pre(JSON.stringify(v, null, 2));
  }
  return document.createTextNode(String(v));
}

// pre shows preformatted text in a box that scrolls, and so takes the
// keyboard focus.
export function pre(text, attrs) {
  return h('pre', Object.assign({ class: 'json', tabindex: '0' }, attrs || {}), text);
}

// props renders [label, node-or-value] pairs as a description list.
export function props(pairs) {
  return h('dl', { class: 'props' }, pairs.filter(Boolean).map(([k, v]) => [
    h('dt', null, k),
    h('dd', null, v instanceof Node ? v : value(v)),
  ]));
}

// table builds a table with a caption; rows are arrays of cells (nodes or
// text).
export function table(caption, head, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted empty' }, empty || 'Nothing here yet.');
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', null,
      h('caption', { class: 'sr-only' }, caption),
      h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', null, c)))))));
}

// link is a console link: href is a route ("#/entities/…").
export function link(href, text, attrs) {
  return h('a', Object.assign({ href }, attrs || {}), text);
}

export function button(text, onclick, attrs) {
  return h('button', Object.assign({ type: 'button', class: 'button', onclick }, attrs || {}), text);
}

// field is a labelled input. opts: type (text, textarea, select, checkbox,
// password, number), value, options ([value, label] pairs), hint,
// required, placeholder.
export function field(name, label, opts) {
  const o = opts || {};
  const fid = id(name);
  const hintID = o.hint ? fid + '-hint' : undefined;
  let input;
  if (o.type === 'textarea') {
    input = h('textarea', { id: fid, name, rows: o.rows || 4, spellcheck: 'false', 'aria-describedby': hintID, required: o.required, placeholder: o.placeholder });
    input.value = o.value || '';
  } else if (o.type === 'select') {
    input = h('select', { id: fid, name, 'aria-describedby': hintID, required: o.required },
      (o.options || []).map(([v, l]) => h('option', { value: v, selected: String(o.value) === String(v) }, l)));
  } else if (o.type === 'checkbox') {
    input = h('input', { id: fid, name, type: 'checkbox', checked: !!o.value, 'aria-describedby': hintID });
    return h('div', { class: 'field check' }, input, h('label', { for: fid }, label),
      o.hint ? h('p', { id: hintID, class: 'hint' }, o.hint) : null);
  } else {
    input = h('input', {
      id: fid, name, type: o.type || 'text', 'aria-describedby': hintID, required: o.required,
      placeholder: o.placeholder, autocomplete: o.autocomplete || 'off', spellcheck: 'false', autocapitalize: 'none',
    });
    input.value = o.value === undefined || o.value === null ? '' : String(o.value);
  }
  return h('div', { class: 'field' }, h('label', { for: fid }, label), input,
    o.hint ? h('p', { id: hintID, class: 'hint' }, o.hint) : null);
}

// form builds a form whose submit runs onSubmit(values, form) with the
// inputs' values by name (checkboxes as booleans); errors show in the form.
export function form(label, fields, submitText, onSubmit, extra) {
  const err = h('div', { class: 'form-error' });
  const submit = h('button', { type: 'submit', class: 'button primary' }, submitText);
  const f = h('form', { class: 'form', 'aria-label': label, novalidate: true }, fields, h('div', { class: 'actions' }, submit, extra || null), err);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const vals = {};
    for (const el of f.elements) {
      if (!el.name) continue;
      vals[el.name] = el.type === 'checkbox' ? el.checked : el.value;
    }
    clear(err);
    submit.disabled = true;
    f.setAttribute('aria-busy', 'true');
    try {
      await onSubmit(vals, f, err);
    } catch (e) {
      showError(err, e, 'Vault refused');
    } finally {
      submit.disabled = false;
      f.removeAttribute('aria-busy');
    }
  });
  return f;
}

// words splits a comma or whitespace separated list.
export function words(text) {
  return String(text || '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

// kvText and parseKV edit a string map as "key=value" lines.
export function kvText(obj) {
  return Object.keys(obj || {}).sort().map((k) => k + '=' + obj[k]).join('\n');
}

export function parseKV(text) {
  const out = {};
  for (const line of String(text || '').split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw new Error('Metadata lines are key=value: "' + t + '"');
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

// confirmButton asks before acting: a first press shows "Confirm" and
// "Cancel" in place.
export function confirmButton(text, question, action, attrs) {
  const a = Object.assign({}, attrs || {});
  const wrap = h('span', { class: 'confirm', id: a.id });
  delete a.id;
  const start = button(text, () => {
    clear(wrap);
    const yes = button('Confirm: ' + text.toLowerCase(), run, { class: 'button danger confirm-yes' });
    add(wrap, h('span', { class: 'question' }, question + ' '), yes, ' ',
      button('Cancel', () => { clear(wrap); add(wrap, start); start.focus(); }));
    yes.focus();
  }, a);
  const run = async () => {
    wrap.querySelectorAll('button').forEach((b) => { b.disabled = true; });
    try {
      await action();
      // Still on the page (the action did not navigate): ready again.
      if (wrap.isConnected) {
        clear(wrap);
        add(wrap, start);
      }
    } catch (e) {
      clear(wrap);
      add(wrap, start, errorBox(e, 'Vault refused'));
      announce('Vault refused: ' + (e.message || e));
      start.focus();
    }
  };
  add(wrap, start);
  return wrap;
}

// copyButton copies text to the clipboard.
export function copyButton(text, label) {
  const b = button(label || 'Copy', async () => {
    try {
      await navigator.clipboard.writeText(text);
      announce('Copied to the clipboard.');
    } catch (e) {
      announce('Could not copy: select the text and copy it.');
    }
  });
  return b;
}

// section is a titled part of a page.
export function section(title, ...children) {
  const hid = id('sec');
  return h('section', { class: 'panel', 'aria-labelledby': hid }, h('h2', { id: hid }, title), children);
}

// loading is a placeholder while data comes.
export function loading(what) {
  return h('p', { class: 'muted loading', 'aria-busy': 'true' }, 'Loading ' + (what || '') + '\u2026');
}

// go navigates to a route.
export function go(route) {
  if (location.hash === route) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = route;
}

// shortID abbreviates an id for labels.
export function shortID(x) {
  return String(x).slice(0, 8);
}

// pager shows Next/First page links of an id list read with after/limit.
export function pager(base, keys, limit, query, label) {
  const nav = h('nav', { class: 'pager', 'aria-label': label || 'Pages' });
  if (query.after) add(nav, link(base, 'First page', { class: 'button small' }));
  if (keys.length >= limit) {
    const q = new URLSearchParams(query);
    q.set('after', keys[keys.length - 1]);
    add(nav, link(base + '?' + q.toString(), 'Next page', { class: 'button small', rel: 'next' }));
  }
  return nav.childNodes.length ? nav : null;
}

// NAME_PAGE is how many names a search by name prefix shows at a time.
export const NAME_PAGE = 50;

// namePage lists one page of a name list (entity/name or group/name) from
// the mount's name index: the names beginning with q (any letter case), in
// the order of their lower-case form, after the name after. One more name
// than a page is asked for, to know whether a next page exists.
export async function namePage(kind, q, after) {
  const query = { prefix: q, limit: String(NAME_PAGE + 1) };
  if (after) query.after = after;
  const r = await list(m(kind + '/name'), query);
  const more = r.keys.length > NAME_PAGE;
  return { names: r.keys.slice(0, NAME_PAGE), more };
}

// searchPager links to the next page of a name search (after its last
// name) and back to the first.
export function searchPager(base, q, names, more, after, label) {
  const nav = h('nav', { class: 'pager', 'aria-label': label });
  if (after) add(nav, link(base + '?' + new URLSearchParams({ q }).toString(), 'First page', { class: 'button small' }));
  if (more) {
    add(nav, link(base + '?' + new URLSearchParams({ q, after: names[names.length - 1] }).toString(), 'Next page', { class: 'button small', rel: 'next' }));
  }
  return nav.childNodes.length ? nav : null;
}

// decodeJWT decodes a JWT's header and payload (no verification: display).
export function decodeJWT(token) {
  const part = (p) => {
    const b64 = p.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '==='.slice((b64.length + 3) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  };
  const [hd, pl] = String(token).split('.');
  return { header: part(hd), payload: part(pl) };
}

// randomString is a URL-safe random value (state, nonce).
export function randomString(n) {
  const a = new Uint8Array(n || 16);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}
