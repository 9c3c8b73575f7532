// Entity aliases and group aliases: lists, create, move (a new
// canonical_id) and delete.

import {
  add, h, clear, api, m, enc, list, read, capabilities, can, canWrite, props, table, link, field, form,
  confirmButton, section, go, announce, pager, loading, id as newID,
} from './lib.js';
import { mountNames, mountLabel } from './entities.js';

const PAGE = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// kinds: entity aliases belong to entities, group aliases to external
// groups.
const KINDS = {
  aliases: { title: 'Entity aliases', one: 'entity alias', base: 'entity-alias', owner: 'entity', ownerRoute: 'entities', paged: true },
  'group-aliases': { title: 'Group aliases', one: 'group alias', base: 'group-alias', owner: 'group', ownerRoute: 'groups', paged: false },
};

export async function render(ctx) {
  const k = KINDS[ctx.route];
  const [aid] = ctx.parts;
  if (aid) return detailView(ctx, k, aid);
  return listView(ctx, k);
}

async function owner(k, x) {
  if (UUID.test(x)) return x.toLowerCase();
  const d = await read(m(k.owner + '/name/' + enc(x)));
  if (!d) throw new Error('No ' + k.owner + ' is named \u201c' + x + '\u201d.');
  return d.id;
}

// accessorField offers the auth mounts' accessors when the token may read
// them, and takes any accessor typed.
function accessorField(auth, value) {
  const f = field('mount_accessor', 'Auth mount accessor', { value, hint: 'The accessor of the auth method, e.g. auth_userpass_1a2b3c4d.', required: true });
  const entries = Object.entries(auth);
  if (entries.length) {
    const lid = newID('mounts');
    f.querySelector('input').setAttribute('list', lid);
    add(f, h('datalist', { id: lid }, entries.map(([acc, x]) => h('option', { value: acc }, x.path + ' (' + x.type + ')'))));
  }
  return f;
}

async function listView(ctx, k) {
  const { el, query } = ctx;
  add(el, h('h1', null, k.title));
  const out = h('div', { class: 'results' }, loading(k.title.toLowerCase()));
  add(el, out);
  const auth = await mountNames();
  const lq = k.paged ? { limit: PAGE, after: query.after || '' } : {};
  const page = await list(m(k.base + '/id'), lq);
  clear(out);
  add(out, table(k.title, ['Name', 'Auth mount', 'Belongs to', 'ID'], page.keys.map((x) => {
    const a = page.info[x] || {};
    return [a.name || '', mountLabel(a, auth),
      a.canonical_id ? link('#/' + k.ownerRoute + '/' + encodeURIComponent(a.canonical_id), a.canonical_id) : '',
      link('#/' + ctx.route + '/' + encodeURIComponent(x), x)];
  }), 'No ' + k.title.toLowerCase() + '.'));
  if (k.paged) add(out, pager('#/' + ctx.route, page.keys, PAGE, query.after ? { after: query.after } : {}, 'Alias pages'));

  if (canWrite(m(k.base))) {
    add(el, section('Create ' + k.one, form('Create ' + k.one, [
      field('name', 'Name', { hint: k.owner === 'entity' ? 'The user\u2019s name at the auth method (for AppRole, the role id).' : 'The group\u2019s name at the auth method.', required: true }),
      accessorField(auth, ''),
      field('canonical_id', k.owner === 'entity' ? 'Entity (name or ID)' : 'External group (name or ID)', { value: query.canonical_id || '', required: true }),
    ], 'Create', async (v) => {
      const body = { name: v.name.trim(), mount_accessor: v.mount_accessor.trim(), canonical_id: await owner(k, v.canonical_id.trim()) };
      const r = await api('POST', m(k.base), body);
      announce(k.one[0].toUpperCase() + k.one.slice(1) + ' created.');
      const aid = r && r.data && r.data.id;
      go(aid ? '#/' + ctx.route + '/' + encodeURIComponent(aid) : '#/' + ctx.route);
    })));
    if (query.canonical_id) el.querySelector('input[name="name"]').focus();
  }
  announce(page.keys.length + ' ' + k.title.toLowerCase() + ' shown.');
}

async function detailView(ctx, k, aid) {
  const { el } = ctx;
  const path = m(k.base + '/id/' + enc(aid));
  await capabilities([path]);
  const a = await read(path);
  if (ctx.stale()) return;
  add(el, h('p', { class: 'crumbs' }, link('#/' + ctx.route, k.title)));
  if (!a) {
    add(el, h('h1', null, 'Alias not found'), h('p', null, 'No ' + k.one + ' has the id ', h('code', null, aid), '.'));
    return;
  }
  const auth = await mountNames();
  let ownerName = a.canonical_id;
  try {
    const o = await read(m(k.owner + '/id/' + enc(a.canonical_id)));
    if (o) ownerName = o.name;
  } catch (e) { /* the id is shown */ }
  add(el, h('div', { class: 'page-head' }, h('h1', null, h('span', { class: 'kind' }, k.one[0].toUpperCase() + k.one.slice(1) + ' '), h('span', null, a.name)),
    can(path, 'delete') ? confirmButton('Delete', 'Delete this alias?', async () => {
      await api('DELETE', path);
      announce('Alias deleted.');
      go('#/' + ctx.route);
    }, { class: 'button danger', id: 'alias-delete' }) : null));
  add(el, section('Details', props([
    ['ID', h('code', null, a.id)],
    ['Name', a.name],
    ['Auth mount', mountLabel(a, auth)],
    ['Mount accessor', a.mount_accessor],
    ['Belongs to', link('#/' + k.ownerRoute + '/' + encodeURIComponent(a.canonical_id), ownerName, { id: 'alias-owner' })],
    ['Metadata', a.metadata],
    a.custom_metadata !== undefined ? ['Custom metadata', a.custom_metadata] : null,
    ['Created', a.creation_time],
    ['Last updated', a.last_update_time],
  ])));
  if (canWrite(path)) {
    add(el, section('Move', h('p', { class: 'hint' }, 'Give the alias to another ' + k.owner + '.'),
      form('Move alias', [field('canonical_id', 'New ' + (k.owner === 'entity' ? 'entity' : 'external group') + ' (name or ID)', { required: true })], 'Move', async (v) => {
        const to = await owner(k, v.canonical_id.trim());
        await api('POST', path, { name: a.name, mount_accessor: a.mount_accessor, canonical_id: to });
        announce('Alias moved.');
        go('#/' + ctx.route + '/' + encodeURIComponent(a.id));
      })));
  }
}
