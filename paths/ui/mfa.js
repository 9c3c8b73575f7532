// MFA: methods and login enforcements, an entity's enrollment and lockout
// (read from mfa/entity-status, changed with the admin paths), and self-enrollment in a TOTP method for the
// person signed in (a QR code from the mount's generate path).

import {
  add, h, clear, api, m, enc, list, read, capabilities, can, canWrite, props, table, link, button, field, form,
  words, confirmButton, section, go, announce, loading, showError, session,
} from './lib.js';
import { mountNames, mountLabel } from './entities.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Settings of each method type, as create and update take them.
const TYPES = {
  totp: [
    ['method_name', 'Method name'], ['issuer', 'Issuer', { required: true }], ['period', 'Period (seconds)', { def: '30' }],
    ['digits', 'Digits', { type: 'select', options: [['6', '6'], ['8', '8']] }],
    ['algorithm', 'Algorithm', { type: 'select', options: [['SHA1', 'SHA1'], ['SHA256', 'SHA256'], ['SHA512', 'SHA512']] }],
    ['key_size', 'Key size (bytes)', { def: '20' }], ['skew', 'Skew', { type: 'select', options: [['1', '1'], ['0', '0']] }],
    ['max_validation_attempts', 'Max validation attempts', { hint: '0 means 5; reaching it locks the entity out until a reset.' }],
  ],
  duo: [['method_name', 'Method name'], ['api_hostname', 'API host name'], ['integration_key', 'Integration key', { type: 'password' }], ['secret_key', 'Secret key', { type: 'password' }], ['username_format', 'Username format'], ['push_info', 'Push info']],
  okta: [['method_name', 'Method name'], ['org_name', 'Organization'], ['api_token', 'API token', { type: 'password' }], ['base_url', 'Base URL'], ['username_format', 'Username format']],
  pingid: [['method_name', 'Method name'], ['settings_file_base64', 'Settings file (base64)', { type: 'textarea' }], ['username_format', 'Username format']],
};
const NUMBERS = new Set(['period', 'digits', 'key_size', 'skew', 'max_validation_attempts']);

const ENF_FIELDS = [
  ['mfa_method_ids', 'MFA method IDs', { hint: 'Comma-separated; required.' }],
  ['auth_method_accessors', 'Auth mount accessors'],
  ['auth_method_types', 'Auth method types', { hint: 'e.g. userpass, ldap' }],
  ['identity_group_ids', 'Group IDs'],
  ['identity_entity_ids', 'Entity IDs'],
];

export async function render(ctx) {
  const [page, x] = ctx.parts;
  const tabs = [
    ['methods', 'Methods', can(m('mfa/method'), 'list')],
    ['enforcements', 'Login enforcements', can(m('mfa/login-enforcement'), 'list')],
    ['entity', 'Entity enrollment', can(m('mfa/entity-status/_sample'), 'read') || canWrite(m('mfa/method/totp/admin-generate'))],
    ['self', 'Enroll yourself', canWrite(m('mfa/method/totp/generate'))],
  ];
  add(ctx.el, h('nav', { class: 'tabs', 'aria-label': 'MFA pages' }, h('ul', null, tabs.filter((t) => t[2]).map(([r, l]) =>
    h('li', null, link('#/mfa/' + r, l, r === (page || 'methods') ? { 'aria-current': 'page' } : {}))))));
  switch (page || (tabs[0][2] ? 'methods' : tabs.find((t) => t[2]) ? tabs.find((t) => t[2])[0] : 'methods')) {
    case 'methods': return x ? methodDetail(ctx, x) : methods(ctx);
    case 'enforcements': return x ? enforcementDetail(ctx, x) : enforcements(ctx);
    case 'entity': return entityMFA(ctx);
    case 'self': return selfEnroll(ctx);
    default:
      add(ctx.el, h('h1', null, 'Not found'));
      return undefined;
  }
}

function typeFields(typ, d) {
  return TYPES[typ].map(([name, label, o]) => {
    const opt = o || {};
    let v = d ? d[name] : opt.def;
    if (name === 'push_info' && d) v = d.pushinfo;
    return field(name, label, { type: opt.type, options: opt.options, value: v === undefined ? '' : v, hint: opt.hint, required: opt.required });
  });
}

function methodBody(typ, v) {
  const body = {};
  for (const [name] of TYPES[typ]) {
    const x = v[name];
    if (x === undefined || String(x).trim() === '') continue;
    body[name] = NUMBERS.has(name) ? Number(x) : String(x).trim();
  }
  return body;
}

// ---- methods ------------------------------------------------------------

async function methods(ctx) {
  const { el } = ctx;
  add(el, h('h1', null, 'MFA methods'));
  const r = await list(m('mfa/method'));
  add(el, table('MFA methods', ['Name', 'Type', 'ID'], r.keys.map((x) => {
    const i = r.info[x] || {};
    return [link('#/mfa/methods/' + encodeURIComponent(x), i.name || x), i.type || '', h('code', null, x)];
  }), 'No MFA methods.'));
  if (!canWrite(m('mfa/method/totp'))) return;
  const typeSel = field('type', 'Type', { type: 'select', value: 'totp', options: [['totp', 'TOTP'], ['duo', 'Duo'], ['okta', 'Okta'], ['pingid', 'PingID']] });
  const box = h('div', null, typeFields('totp'));
  const sel = typeSel.querySelector('select');
  sel.addEventListener('change', () => { clear(box); add(box, typeFields(sel.value)); });
  add(el, section('Create a method', form('Create MFA method', [typeSel, box], 'Create', async (v) => {
    const r2 = await api('POST', m('mfa/method/' + v.type), methodBody(v.type, v));
    const mid = r2 && r2.data && r2.data.method_id;
    announce('MFA method created.');
    go(mid ? '#/mfa/methods/' + mid : '#/mfa/methods');
  })));
}

async function methodDetail(ctx, mid) {
  const { el } = ctx;
  const d = await read(m('mfa/method/' + enc(mid)));
  if (!d) {
    add(el, h('h1', null, 'Method not found'));
    return;
  }
  const path = m('mfa/method/' + d.type + '/' + enc(mid));
  await capabilities([path]);
  add(el, h('div', { class: 'page-head' }, h('h1', null, h('span', { class: 'kind' }, 'MFA method '), d.name || mid),
    can(path, 'delete') ? confirmButton('Delete', 'Delete this method?', async () => {
      await api('DELETE', path);
      announce('MFA method deleted.');
      go('#/mfa/methods');
    }, { class: 'button danger' }) : null));
  add(el, section('Settings', props(Object.keys(d).sort().map((k) => [k, d[k]]))));
  if (canWrite(path) && TYPES[d.type]) {
    add(el, section('Edit', form('Edit MFA method', typeFields(d.type, d), 'Save changes', async (v) => {
      await api('POST', path, methodBody(d.type, v));
      announce('MFA method saved.');
      go('#/mfa/methods/' + encodeURIComponent(mid));
    })));
  }
}

// ---- enforcements -------------------------------------------------------

async function enforcements(ctx) {
  const { el } = ctx;
  add(el, h('h1', null, 'Login enforcements'));
  const r = await list(m('mfa/login-enforcement'));
  add(el, table('Login enforcements', ['Name', 'Methods', 'Applies to'], r.keys.map((x) => {
    const i = r.info[x] || {};
    const scope = [].concat(i.auth_method_types || [], i.auth_method_accessors || [], (i.identity_group_ids || []).map((g) => 'group ' + g), (i.identity_entity_ids || []).map((e) => 'entity ' + e));
    return [link('#/mfa/enforcements/' + encodeURIComponent(x), x), String((i.mfa_method_ids || []).length), scope.join(', ')];
  }), 'No login enforcements.'));
  await capabilities([m('mfa/login-enforcement/_sample')]);
  if (!canWrite(m('mfa/login-enforcement/_sample'))) return;
  add(el, section('Create a login enforcement', form('Create login enforcement',
    [field('name', 'Name', { required: true })].concat(ENF_FIELDS.map(([n, l, o]) => field(n, l, o))), 'Create', async (v) => {
      const name = v.name.trim();
      if (!name) throw new Error('Give the enforcement a name.');
      await api('POST', m('mfa/login-enforcement/' + enc(name)), enfBody(v));
      announce('Login enforcement created.');
      go('#/mfa/enforcements/' + encodeURIComponent(name));
    })));
}

function enfBody(v) {
  const body = {};
  for (const [n] of ENF_FIELDS) body[n] = words(v[n]);
  return body;
}

async function enforcementDetail(ctx, name) {
  const { el } = ctx;
  const path = m('mfa/login-enforcement/' + enc(name));
  await capabilities([path]);
  const d = await read(path);
  if (!d) {
    add(el, h('h1', null, 'Enforcement not found'));
    return;
  }
  add(el, h('div', { class: 'page-head' }, h('h1', null, h('span', { class: 'kind' }, 'Login enforcement '), name),
    can(path, 'delete') ? confirmButton('Delete', 'Delete this enforcement?', async () => {
      await api('DELETE', path);
      announce('Login enforcement deleted.');
      go('#/mfa/enforcements');
    }, { class: 'button danger' }) : null));
  add(el, section('Settings', props(Object.keys(d).sort().map((k) => [k, d[k]]))));
  if (canWrite(path)) {
    add(el, section('Edit', form('Edit login enforcement', ENF_FIELDS.map(([n, l, o]) => field(n, l, Object.assign({ value: (d[n] || []).join(', ') }, o || {}))), 'Save changes', async (v) => {
      await api('POST', path, enfBody(v));
      announce('Login enforcement saved.');
      go('#/mfa/enforcements/' + encodeURIComponent(name));
    })));
  }
}

// ---- an entity's enrollment and lockout ---------------------------------

// entityMFA shows an entity's state in every method as mfa/entity-status
// reports it (a read: it changes nothing), with the admin paths as
// explicit, confirmed actions: enroll (admin-generate), destroy the
// enrollment (admin-destroy), new recovery codes, and a lockout reset when
// there are refused attempts.
async function entityMFA(ctx) {
  const { el, query } = ctx;
  add(el, h('h1', null, 'Entity enrollment and lockout'));
  const pick = form('Choose an entity', [field('entity', 'Entity (name or ID)', { value: query.id || '', required: true })], 'Show', async (v) => {
    const x = v.entity.trim();
    if (!x) throw new Error('Name an entity.');
    go('#/mfa/entity?id=' + encodeURIComponent(x));
  });
  add(el, pick);
  if (!query.id) return;
  let e = null;
  if (UUID.test(query.id)) e = await read(m('entity/id/' + enc(query.id)));
  if (!e) e = await read(m('entity/name/' + enc(query.id)));
  if (ctx.stale()) return;
  if (!e) {
    add(el, h('p', { class: 'error', role: 'alert' }, 'No entity has this name or ID.'));
    return;
  }
  const statusPath = m('mfa/entity-status/' + enc(e.id));
  const P = {
    generate: m('mfa/method/totp/admin-generate'), destroy: m('mfa/method/totp/admin-destroy'),
    codes: m('mfa/recovery-codes/admin-generate'), reset: m('mfa/admin-reset-lockout'), evaluate: m('mfa/evaluate'),
  };
  await capabilities([statusPath, ...Object.values(P)]);
  const auth = await mountNames();
  add(el, section('Entity', props([['Name', link('#/entities/' + encodeURIComponent(e.id), e.name)], ['ID', h('code', null, e.id)]])));

  // Which enforcements apply to its logins, per auth mount of its aliases.
  if (canWrite(P.evaluate)) {
    const rows = [];
    for (const a of e.aliases || []) {
      try {
        const r = await api('POST', P.evaluate, { entity_id: e.id, mount_accessor: a.mount_accessor, mount_type: a.mount_type || (auth[a.mount_accessor] || {}).type || '' });
        const d = (r && r.data) || {};
        rows.push([mountLabel(a, auth), (d.enforcements || []).join(', ') || 'none', (d.mfa_method_ids || []).join(', ') || 'none']);
      } catch (x) {
        rows.push([mountLabel(a, auth), x.message, '']);
      }
    }
    add(el, section('MFA at login', table('MFA at login', ['Login through', 'Enforcements', 'Methods required'], rows, 'The entity has no aliases, so no login of it is known.')));
  }

  const box = h('div', null, loading('the entity\u2019s MFA state'));
  add(el, section('Methods', box));
  if (!can(statusPath, 'read')) {
    clear(box);
    add(box, h('p', { class: 'muted' }, 'This token may not read ', h('code', null, 'mfa/entity-status'), ', so the entity\u2019s enrollment and lockout are not shown.'));
    return;
  }
  // One row per method; a row's state and actions are redrawn from a new
  // read of the status after every action, its output (a QR code, recovery
  // codes) stays.
  const rows = new Map();
  const refresh = async () => {
    const r = await read(statusPath);
    const methods = (r && r.methods) || {};
    for (const [mid, st] of Object.entries(methods)) {
      let row = rows.get(mid);
      if (!row) {
        row = { out: h('div', { class: 'cell-out', 'aria-live': 'polite' }), cells: [h('span'), h('span'), h('span'), h('span'), h('div', { class: 'row-actions' })] };
        rows.set(mid, row);
      }
      fillRow(row, mid, st);
    }
    return methods;
  };
  const fillRow = (row, mid, st) => {
    const label = st.name || mid;
    const totp = st.type === 'totp';
    const [state, attempts, lock, codes, actions] = row.cells;
    clear(state); clear(attempts); clear(lock); clear(codes); clear(actions);
    state.id = 'state-' + mid;
    attempts.id = 'attempts-' + mid;
    lock.id = 'lockout-' + mid;
    add(state, !totp ? 'no enrollment here (' + st.type + ')' : st.enrolled ? 'enrolled' : 'not enrolled');
    add(attempts, String(st.failed_attempts || 0) + ' of ' + String(st.max_validation_attempts || 0));
    add(lock, st.locked_out ? h('strong', { class: 'bad' }, 'locked out') : 'not locked out');
    add(codes, totp && st.enrolled ? String(st.recovery_codes_remaining || 0) : h('span', { class: 'muted' }, '\u2014'));
    const act = (text, path, question, done, aria) => confirmButton(text, question, async () => {
      const r = await api('POST', path, { method_id: mid, entity_id: e.id });
      clear(row.out);
      done(r);
      await refresh();
    }, { class: 'button small', 'aria-label': aria + ' ' + label });
    if (totp && !st.enrolled && canWrite(P.generate)) {
      add(actions, act('Enroll (admin-generate)', P.generate, 'Give ' + e.name + ' a new TOTP secret in ' + label + '?', (r) => {
        add(row.out, h('p', null, 'Give this QR code to the person; it is shown once.'), qr(r && r.data));
        announce('Enrolled: give the QR code to the person.');
      }, 'Enroll in'));
    }
    if (totp && st.enrolled && canWrite(P.destroy)) {
      add(actions, act('Destroy (admin-destroy)', P.destroy, 'Delete the TOTP secret, refused attempts and recovery codes of ' + e.name + ' in ' + label + '?', () => {
        add(row.out, h('p', null, 'Enrollment destroyed.'));
        announce('Enrollment destroyed.');
      }, 'Destroy enrollment in'));
    }
    if (totp && st.enrolled && canWrite(P.codes)) {
      add(actions, act('New recovery codes', P.codes, 'Replace the recovery codes of ' + e.name + ' in ' + label + '?', (r) => {
        add(row.out, h('p', null, 'Recovery codes (shown once):'), h('ul', { class: 'codes' }, ((r && r.data && r.data.recovery_codes) || []).map((c) => h('li', null, h('code', null, c)))));
        announce('Recovery codes made.');
      }, 'New recovery codes for'));
    }
    if ((st.locked_out || st.failed_attempts > 0) && canWrite(P.reset)) {
      add(actions, act('Reset lockout', P.reset, 'Clear the refused attempts of ' + e.name + ' in ' + label + '?', () => {
        add(row.out, h('p', null, 'Refused attempts cleared.'));
        announce('Lockout reset.');
      }, 'Reset lockout in'));
    }
    if (!actions.childNodes.length) add(actions, h('span', { class: 'muted' }, 'none'));
  };
  const methods = await refresh();
  if (ctx.stale()) return;
  clear(box);
  const ids = Object.keys(methods).sort((x, y) => String(methods[x].name || x).localeCompare(String(methods[y].name || y)));
  add(box,
    h('p', { class: 'hint' }, 'As mfa/entity-status reports it: reading it changes nothing. Refused attempts lock the entity out of a method when they reach its maximum, until a reset.'),
    table('Methods of ' + e.name, ['Method', 'Enrollment', 'Refused attempts', 'Recovery codes', 'Actions'], ids.map((mid) => {
      const st = methods[mid];
      const [state, attempts, lock, codes, actions] = rows.get(mid).cells;
      return [
        [link('#/mfa/methods/' + encodeURIComponent(mid), st.name || mid), h('br'), h('span', { class: 'muted' }, st.type || '')],
        state, [attempts, ', ', lock], codes, h('div', null, actions, rows.get(mid).out),
      ];
    }), 'No MFA methods.'));
  announce('MFA state of ' + e.name + ' shown.');
}

// qr shows an enrollment: the QR code the mount made, and the key for
// typing in.
function qr(d) {
  if (!d || !d.barcode) return h('p', null, 'No QR code returned.');
  const secret = (/[?&]secret=([^&]+)/.exec(d.url || '') || [])[1] || '';
  const keyBox = h('p', { hidden: true }, 'Key: ', h('code', { class: 'secret' }, secret));
  return h('div', { class: 'qr' },
    h('img', { src: 'data:image/png;base64,' + d.barcode, alt: 'QR code of the TOTP secret, for an authenticator app', width: 200, height: 200, id: 'qr-code' }),
    button('Show the key instead', (ev) => {
      keyBox.hidden = !keyBox.hidden;
      ev.currentTarget.setAttribute('aria-expanded', String(!keyBox.hidden));
    }, { class: 'button small', 'aria-expanded': 'false' }),
    keyBox);
}

// ---- self-enrollment ----------------------------------------------------

async function selfEnroll(ctx) {
  const { el } = ctx;
  add(el, h('h1', null, 'Enroll yourself'),
    h('p', { class: 'lead' }, 'Signed in as ', h('strong', null, session.who), '. Enrolling gives your entity in this store a TOTP secret for an authenticator app.'));
  const me = h('div', null, loading('your entity'));
  add(el, section('Your entity', me));
  try {
    const d = await read(m('lookup/self'));
    clear(me);
    add(me, props([['Name', d.name], ['ID', h('code', null, d.id)]]));
  } catch (e) {
    showError(me, e, 'Vault refused');
  }
  let options = [];
  if (can(m('mfa/method'), 'list')) {
    const r = await list(m('mfa/method'));
    options = r.keys.filter((x) => (r.info[x] || {}).type === 'totp').map((x) => [x, (r.info[x] || {}).name || x]);
  }
  const out = h('div', { 'aria-live': 'polite' });
  const methodField = options.length ? field('method_id', 'TOTP method', { type: 'select', options }) : field('method_id', 'TOTP method ID', { required: true });
  add(el, section('Enroll', form('Enroll in a TOTP method', [methodField], 'Enroll', async (v) => {
    clear(out);
    const r = await api('POST', m('mfa/method/totp/generate'), { method_id: v.method_id.trim() });
    const warn = r && r.warnings && r.warnings.find((w) => /already has a secret/.test(w));
    if (warn) { add(out, h('p', null, 'You are already enrolled in this method.')); announce('Already enrolled.'); return; }
    add(out, h('p', null, 'Scan the code with your authenticator app, then check a code below.'), qr(r && r.data), verifyForm(v.method_id.trim()));
    announce('Enrolled: scan the QR code.');
  }), out));
}

function verifyForm(mid) {
  return form('Check a code', [field('passcode', 'Code from the app', { autocomplete: 'one-time-code' })], 'Check', async (v, _f, err) => {
    await api('POST', m('mfa/validate'), { method_id: mid, passcode: v.passcode.trim() });
    clear(err);
    add(err, h('p', { class: 'ok', role: 'status' }, 'The code is valid: your app is set up.'));
    announce('The code is valid.');
  });
}

