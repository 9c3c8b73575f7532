// Entities: a paged list with a search by name prefix, the detail of one entity with its
// aliases and groups, and create, edit (with cas), delete and merge.

import {
  add, h, clear, api, m, enc, list, read, pool, capabilities, can, canWrite, props, table, link, button, field, form,
  words, kvText, parseKV, confirmButton, section, go, announce, pager, loading, VaultError, namePage, searchPager, NAME_PAGE,
} from './lib.js';

const PAGE = 50;
// An id as the store makes them: a search for one reads that entity.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function render(ctx) {
  const [id] = ctx.parts;
  if (id === 'new') return createView(ctx);
  if (id) return detailView(ctx, id);
  return listView(ctx);
}

// ---- list ---------------------------------------------------------------

async function listView(ctx) {
  const { el, query } = ctx;
  add(el, h('div', { class: 'page-head' },
    h('h1', null, 'Entities'),
    canWrite(m('entity')) ? link('#/entities/new', 'Create entity', { class: 'button primary' }) : null));

  const q = (query.q || '').trim();
  const searchInput = h('input', { id: 'entity-search', type: 'search', name: 'q', value: q, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'entity-search-hint' });
  const searchForm = h('form', { class: 'search', role: 'search', 'aria-label': 'Search entities' },
    h('label', { for: 'entity-search' }, 'Search by name prefix or id'),
    h('div', { class: 'row' }, searchInput, h('button', { type: 'submit', class: 'button' }, 'Search'),
      q ? link('#/entities', 'Clear', { class: 'button' }) : null),
    h('p', { id: 'entity-search-hint', class: 'hint' }, 'Names beginning with what you type, in any letter case, in name order, ' + NAME_PAGE + ' at a time. A whole id opens that entity.'));
  searchForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = searchInput.value.trim();
    go(v ? '#/entities?q=' + encodeURIComponent(v) : '#/entities');
  });
  add(el, searchForm);
  const out = h('div', { class: 'results', 'aria-live': 'polite' }, loading('entities'));
  add(el, out);
  const auth = await mountNames();

  if (q) {
    await searchView(ctx, out, q, query, auth);
    return;
  }
  const page = await list(m('entity/id'), { limit: PAGE, after: query.after || '' });
  clear(out);
  add(out, entityTable(page.keys, page.info, auth),
    pager('#/entities', page.keys, PAGE, query.after ? { after: query.after } : {}, 'Entity pages'));
  announce(page.keys.length + ' entities shown.');
}

function entityTable(keys, info, auth) {
  return table('Entities', ['Name', 'ID', 'Aliases'], keys.map((k) => {
    const e = info[k] || {};
    if (e.unreadable) return [h('span', { class: 'entity-name' }, e.name), h('span', { class: 'muted' }, e.unreadable), ''];
    return [
      link('#/entities/' + encodeURIComponent(k), e.name || k, { class: 'entity-link' }),
      h('code', null, k),
      (e.aliases || []).length ? h('ul', { class: 'chips' }, e.aliases.map((a) => h('li', null, a.name + ' @ ' + mountLabel(a, auth)))) : h('span', { class: 'muted' }, 'none'),
    ];
  }), 'No entities.');
}

// searchView finds entities: a whole id is read as such; otherwise one
// page of the names beginning with q, each entity then read by name. A
// token that may not list names finds an exact name only.
async function searchView(ctx, out, q, query, auth) {
  const after = query.after || '';
  if (UUID.test(q) && !after) {
    let e = null;
    try { e = await read(m('entity/id/' + enc(q.toLowerCase()))); } catch (x) { e = null; }
    if (ctx.stale()) return;
    if (e) {
      clear(out);
      add(out, h('p', { class: 'muted' }, 'The entity with the id ', h('code', null, e.id), ':'),
        entityTable([e.id], { [e.id]: { name: e.name, aliases: e.aliases || [] } }, auth));
      announce('1 entity found by id.');
      return;
    }
  }
  if (!can(m('entity/name'), 'list')) {
    // Without the name index, the exact name only (any letter case).
    let e = null;
    try { e = await read(m('entity/name/' + enc(q))); } catch (x) { e = null; }
    if (ctx.stale()) return;
    clear(out);
    add(out, h('p', { class: 'muted' }, 'This token may not list entity names: only an entity named exactly \u201c', h('strong', null, q), '\u201d is looked for.'),
      entityTable(e ? [e.id] : [], e ? { [e.id]: { name: e.name, aliases: e.aliases || [] } } : {}, auth));
    announce(e ? '1 entity found.' : 'No entity has this name.');
    return;
  }
  const page = await namePage('entity', q, after);
  const got = await pool(page.names, 6, (n) => read(m('entity/name/' + enc(n))));
  if (ctx.stale()) return;
  const keys = [];
  const info = {};
  page.names.forEach((n, i) => {
    const e = got[i];
    if (e && !(e instanceof Error)) {
      keys.push(e.id);
      info[e.id] = { name: e.name, aliases: e.aliases || [] };
    } else {
      // Deleted since the list, or not readable by this token.
      keys.push('name:' + n);
      info['name:' + n] = { name: n, unreadable: e instanceof Error ? e.message : 'deleted since listed' };
    }
  });
  clear(out);
  const count = keys.length + (keys.length === 1 ? ' entity' : ' entities');
  add(out, h('p', { class: 'muted', id: 'search-summary' }, (after ? 'Further names' : 'Names') + ' beginning with \u201c', h('strong', null, q), '\u201d: ' + count + ' on this page' + (page.more ? '; more follow.' : '.')),
    entityTable(keys, info, auth),
    searchPager('#/entities', q, page.names, page.more, after, 'Search pages'));
  announce(count + ' shown' + (page.more ? '; more follow.' : '.'));
}

// ---- mounts -------------------------------------------------------------

// mountNames maps auth mount accessors to their paths, when the token may
// read sys/auth; otherwise aliases show their accessor.
let mountCache = null;
export async function mountNames() {
  if (mountCache) return mountCache;
  mountCache = {};
  if (!can('sys/auth', 'read', 'sudo')) return mountCache;
  try {
    const r = await api('GET', 'sys/auth');
    const d = (r && (r.data || r)) || {};
    for (const [path, mt] of Object.entries(d)) {
      if (mt && typeof mt === 'object' && mt.accessor) mountCache[mt.accessor] = { path, type: mt.type };
    }
  } catch (e) { /* accessors are shown instead */ }
  return mountCache;
}

export function mountLabel(a, auth) {
  if (a.mount_path) return a.mount_path + (a.mount_type ? ' (' + a.mount_type + ')' : '');
  const x = auth && auth[a.mount_accessor];
  if (x) return x.path + ' (' + x.type + ')';
  return a.mount_accessor;
}

// ---- create -------------------------------------------------------------

function entityFields(e) {
  return [
    field('name', 'Name', { value: e ? e.name : '', required: !e }),
    field('policies', 'Policies', { value: e ? (e.policies || []).join(', ') : '', hint: 'Comma-separated.' }),
    field('metadata', 'Metadata', { type: 'textarea', value: e ? kvText(e.metadata) : '', hint: 'One key=value per line.' }),
    field('disabled', 'Disabled', { type: 'checkbox', value: e ? e.disabled : false, hint: 'A disabled entity acts for nobody.' }),
  ];
}

function entityBody(v) {
  return { name: v.name.trim(), policies: words(v.policies), metadata: parseKV(v.metadata), disabled: !!v.disabled };
}

function createView(ctx) {
  const { el } = ctx;
  add(el, h('h1', null, 'Create entity'));
  add(el, form('Create entity', entityFields(null), 'Create', async (v) => {
    if (!v.name.trim()) throw new Error('An entity needs a name.');
    const body = entityBody(v);
    body.cas = 0;
    const r = await api('POST', m('entity'), body);
    const eid = r && r.data && r.data.id;
    announce('Entity ' + body.name + ' created.');
    go(eid ? '#/entities/' + encodeURIComponent(eid) : '#/entities');
  }, link('#/entities', 'Cancel', { class: 'button' })));
  el.querySelector('input[name="name"]').focus();
}

// ---- detail -------------------------------------------------------------

async function detailView(ctx, eid) {
  const { el } = ctx;
  const path = m('entity/id/' + enc(eid));
  const status = m('mfa/entity-status/' + enc(eid));
  await capabilities([path, m('entity/merge'), m('entity-alias'), m('mfa/method/totp/admin-generate'), status]);
  const e = await read(path);
  if (ctx.stale()) return;
  if (!e) {
    add(el, h('h1', null, 'Entity not found'), h('p', null, 'No entity has the id ', h('code', null, eid), '.'), link('#/entities', 'Back to the entities'));
    return;
  }
  const auth = await mountNames();
  add(el, h('p', { class: 'crumbs' }, link('#/entities', 'Entities')),
    h('div', { class: 'page-head' }, h('h1', null, h('span', { class: 'kind' }, 'Entity '), h('span', { id: 'entity-name' }, e.name)),
      can(path, 'delete') ? confirmButton('Delete', 'Delete this entity, its aliases and its memberships?', async () => {
        await api('DELETE', path);
        announce('Entity ' + e.name + ' deleted.');
        go('#/entities');
      }, { id: 'entity-delete', class: 'button danger' }) : null));

  add(el, section('Details', props([
    ['ID', h('code', { id: 'entity-id' }, e.id)],
    ['Name', e.name],
    ['Disabled', e.disabled],
    ['Policies', e.policies],
    ['Metadata', e.metadata],
    ['Modify index', h('span', { id: 'entity-modify-index' }, String(e.modify_index))],
    ['Created', e.creation_time],
    ['Last updated', e.last_update_time],
    e.merged_entity_ids && e.merged_entity_ids.length ? ['Merged from', e.merged_entity_ids] : null,
  ])));

  // Aliases with their mounts.
  const aliases = e.aliases || [];
  add(el, section('Aliases',
    table('Aliases of ' + e.name, ['Name', 'Auth mount', 'Alias ID'], aliases.map((a) => [
      a.name, mountLabel(a, auth), link('#/aliases/' + encodeURIComponent(a.id), a.id),
    ]), 'This entity has no aliases.'),
    canWrite(m('entity-alias')) ? h('p', null, link('#/aliases?canonical_id=' + encodeURIComponent(e.id), 'Add an alias', { class: 'button small' })) : null));

  // Groups, direct and inherited, by name where the token may read them.
  const groupsBox = h('div', null, loading('groups'));
  add(el, section('Groups', groupsBox));
  groupNames([...(e.direct_group_ids || []), ...(e.inherited_group_ids || [])]).then((names) => {
    clear(groupsBox);
    const items = (ids) => ids && ids.length
      ? h('ul', { class: 'chips' }, ids.map((g) => h('li', null, link('#/groups/' + encodeURIComponent(g), names[g] || g))))
      : h('span', { class: 'muted' }, 'none');
    add(groupsBox, props([['Direct', items(e.direct_group_ids)], ['Inherited', items(e.inherited_group_ids)]]));
  });

  if (canWrite(path)) add(el, editPanel(e, path));
  if (canWrite(m('entity/merge'))) add(el, mergePanel(e));
  if (can(status, 'read') || canWrite(m('mfa/method/totp/admin-generate'))) {
    add(el, section('MFA', h('p', null, link('#/mfa/entity?id=' + encodeURIComponent(e.id), 'Enrollment and lockout of this entity'))));
  }
}

// groupNames reads the names of up to 100 groups (the rest show their id).
export async function groupNames(ids) {
  const names = {};
  const some = [...new Set(ids)].slice(0, 100);
  await pool(some, 6, async (g) => {
    const d = await read(m('group/id/' + enc(g)));
    if (d) names[g] = d.name;
  });
  return names;
}

function editPanel(e, path) {
  const box = h('div');
  const f = form('Edit entity', entityFields(e), 'Save changes', async (v, _f, err) => {
    const body = entityBody(v);
    body.cas = e.modify_index;
    try {
      await api('POST', path, body);
    } catch (x) {
      if (x instanceof VaultError && /check-and-set/.test(x.message)) {
        await conflict(err, path, e);
        return;
      }
      throw x;
    }
    announce('Entity saved.');
    go('#/entities/' + encodeURIComponent(e.id));
  });
  add(box, h('p', { class: 'hint' }, 'Saved only if nobody changed the entity since this page read it (modify index ' + e.modify_index + ').'), f);
  return section('Edit', box);
}

// conflict explains a refused check-and-set: what changed, and a way to
// start again from the current entity.
async function conflict(err, path, before) {
  clear(err);
  let now = null;
  try { now = await read(path); } catch (x) { now = null; }
  const changed = [];
  if (now) {
    for (const k of ['name', 'policies', 'metadata', 'disabled']) {
      if (JSON.stringify(now[k] || null) !== JSON.stringify(before[k] || null)) changed.push(k);
    }
  }
  add(err, h('div', { class: 'error conflict', role: 'alert', id: 'conflict' },
    h('strong', null, 'Not saved: the entity changed since you opened it. '),
    h('span', null, 'Vault refused the write (check-and-set parameter did not match the current version): modify index was ' + before.modify_index +
      (now ? ', now ' + now.modify_index + '.' : '.') + (changed.length ? ' Changed: ' + changed.join(', ') + '.' : '')),
    ' ', button('Reload the entity', () => go('#/entities/' + encodeURIComponent(before.id)), { class: 'button small' })));
  announce('Not saved: the entity changed since you opened it.');
}

function mergePanel(e) {
  return section('Merge',
    h('p', { class: 'hint' }, 'Merge other entities into this one: their aliases, policies, groups and MFA secrets move here and they are deleted.'),
    form('Merge entities', [
      field('from', 'Entity IDs to merge into this one', { hint: 'Comma-separated.' }),
      field('keep', 'Conflicting alias IDs to keep', { hint: 'Optional: where two entities have an alias on the same mount.' }),
      field('force', 'Force', { type: 'checkbox', hint: 'Keep this entity\u2019s MFA secret when both have one for the same method.' }),
    ], 'Merge', async (v) => {
      const from = words(v.from);
      if (!from.length) throw new Error('Name at least one entity to merge.');
      const body = { to_entity_id: e.id, from_entity_ids: from, force: !!v.force };
      const keep = words(v.keep);
      if (keep.length) body.conflicting_alias_ids_to_keep = keep;
      await api('POST', m('entity/merge'), body);
      announce('Merged ' + from.length + ' entities into ' + e.name + '.');
      go('#/entities/' + encodeURIComponent(e.id));
    }));
}

