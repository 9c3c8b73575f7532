// Store health: what the mount's info path reports, and the sizes of the
// small lists (OIDC objects, MFA settings) the token may list.

import { add, h, m, read, list, can, props, section, pool } from './lib.js';

const LABELS = {
  plugin_version: 'Plugin version',
  schema_version: 'Storage schema version',
  entities: 'Entities',
  entity_aliases: 'Entity aliases',
  groups: 'Groups',
  load_source: 'How the store loaded at start',
  load_duration_ms: 'Load time',
  last_snapshot: 'Last snapshot written',
  snapshot_current: 'Snapshot current',
  mount_accessor_check: 'Mount accessor check',
  vault_token_last_used: 'Mount\u2019s Vault token last used',
  vault_token_error: 'Mount\u2019s Vault token error',
};

// Element ids of the values a reader (or a test) looks for.
const IDS = {
  entities: 'info-entities', entity_aliases: 'info-entity-aliases', groups: 'info-groups',
  last_snapshot: 'info-last-snapshot', snapshot_current: 'info-snapshot-current',
};
const COUNTS = new Set(['entities', 'entity_aliases', 'groups']);

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
    if (COUNTS.has(k)) v = Number(v).toLocaleString('en');
    if (k === 'last_snapshot') v = v ? String(v) : 'none yet (the next start loads every stored object)';
    if (k === 'snapshot_current') {
      v = info.last_snapshot
        ? (v ? 'yes: no write since it was taken' : 'no: written since, so the next start also reads the objects of the sections changed')
        : 'no snapshot';
    }
    if (v === '') v = null;
    pairs.push([LABELS[k], IDS[k] ? h('span', { id: IDS[k] }, v === null ? '\u2014' : String(v)) : v]);
  }
  // Fields this console does not know (a later plugin's) are shown as they
  // come.
  for (const k of Object.keys(info).sort()) {
    if (k in LABELS) continue;
    pairs.push([k.replace(/_/g, ' '), info[k]]);
  }
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
