// Store health: what the mount's info path reports, and the sizes of the
// small lists (OIDC objects, MFA settings) the token may list.

import { add, h, m, read, list, can, props, section, value, pool } from './lib.js';

const LABELS = {
  plugin_version: 'Plugin version',
  schema_version: 'Storage schema version',
  entities: 'Entities',
  load_source: 'How the store loaded at start',
  load_duration_ms: 'Load time',
  mount_accessor_check: 'Mount accessor check',
  vault_token_last_used: 'Mount\u2019s Vault token last used',
  vault_token_error: 'Mount\u2019s Vault token error',
};

const SOURCES = {
  snapshot: 'from the load snapshot',
  'snapshot+objects': 'from the load snapshot, and the stored objects of the sections written since',
  objects: 'from every stored object (no usable snapshot)',
};

export async function render(ctx) {
  const el = ctx.el;
  add(el, h('h1', null, 'Store health'));
  const info = await read(m('info'));
  if (!info) {
    add(el, h('p', null, 'The mount reported nothing.'));
    return;
  }
  const pairs = [];
  for (const k of Object.keys(LABELS)) {
    if (!(k in info)) continue;
    let v = info[k];
    if (k === 'load_duration_ms') v = v + ' ms';
    if (k === 'load_source') v = String(v) + (SOURCES[v] ? ' (' + SOURCES[v] + ')' : '');
    if (k === 'mount_accessor_check') v = v === 'vault' ? 'against Vault\u2019s auth mount table' : 'by form only (no Vault token configured, or it fails)';
    if (k === 'entities') v = Number(v).toLocaleString('en');
    pairs.push([LABELS[k], v === '' ? null : v]);
  }
  // Fields this console does not know (a later plugin's), such as when the
  // last load snapshot was written, are shown as they come.
  let snapshot = null;
  for (const k of Object.keys(info).sort()) {
    if (k in LABELS) continue;
    if (/snapshot/.test(k)) snapshot = [k, info[k]];
    else pairs.push([k.replace(/_/g, ' '), info[k]]);
  }
  pairs.push(['Last snapshot written', snapshot ? value(snapshot[1]) : h('span', { class: 'muted' }, 'not reported by this plugin version\u2019s info')]);
  add(el, section('This mount', props(pairs)));

  // Counts of the small lists, where the token may list them.
  const lists = [
    ['OIDC keys', 'oidc/key'], ['OIDC roles', 'oidc/role'], ['OIDC providers', 'oidc/provider'],
    ['OIDC clients', 'oidc/client'], ['OIDC assignments', 'oidc/assignment'], ['OIDC scopes', 'oidc/scope'],
    ['MFA methods', 'mfa/method'], ['MFA login enforcements', 'mfa/login-enforcement'],
  ].filter(([, p]) => can(m(p), 'list'));
  if (!lists.length) return;
  const counts = await pool(lists, 4, ([, p]) => list(m(p)).then((r) => r.keys.length));
  add(el, section('Settings', props(lists.map(([label], i) => [label, counts[i] instanceof Error ? counts[i].message : counts[i]]))));
}
