// Groups: a paged list with a search by name prefix, the detail of a group with its members and its
// place in the hierarchy, create, edit (with cas), delete, membership
// edits with the additive fields, and the hierarchy of the store drawn as
// a graph.

import {
  add, h, clear, api, m, enc, list, read, pool, capabilities, can, canWrite, props, table, link, button, field, form,
  words, kvText, parseKV, confirmButton, section, go, announce, pager, loading, VaultError, showError, namePage, searchPager, NAME_PAGE,
} from './lib.js';
import { layout, collapse, draw } from './graph.js';

const PAGE = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function render(ctx) {
  if (ctx.route === 'hierarchy') return hierarchyView(ctx);
  const [gid] = ctx.parts;
  if (gid === 'new') return createView(ctx);
  if (gid) return detailView(ctx, gid);
  return listView(ctx);
}

// ---- list ---------------------------------------------------------------

async function listView(ctx) {
  const { el, query } = ctx;
  add(el, h('div', { class: 'page-head' },
    h('h1', null, 'Groups'),
    canWrite(m('group')) ? link('#/groups/new', 'Create group', { class: 'button primary' }) : null));
  const q = (query.q || '').trim();
  const input = h('input', { id: 'group-search', type: 'search', name: 'q', value: q, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'group-search-hint' });
  const sf = h('form', { class: 'search', role: 'search', 'aria-label': 'Search groups' },
    h('label', { for: 'group-search' }, 'Search by name prefix or id'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit', class: 'button' }, 'Search'), q ? link('#/groups', 'Clear', { class: 'button' }) : null),
    h('p', { id: 'group-search-hint', class: 'hint' }, 'Names beginning with what you type, in any letter case, in name order, ' + NAME_PAGE + ' at a time. A whole id opens that group.'));
  sf.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go(input.value.trim() ? '#/groups?q=' + encodeURIComponent(input.value.trim()) : '#/groups');
  });
  add(el, sf, h('p', null, link('#/hierarchy', 'See the hierarchy as a graph')));
  const out = h('div', { class: 'results', 'aria-live': 'polite' }, loading('groups'));
  add(el, out);
  if (q) {
    await searchView(ctx, out, q, query);
    return;
  }
  const p = await list(m('group/id'), { limit: PAGE, after: query.after || '' });
  if (ctx.stale()) return;
  const rows = p.keys.map((k) => {
    const g = p.info[k] || {};
    return { id: k, name: g.name, type: g.alias ? 'external' : 'internal', members: g.num_member_entities || 0, parents: g.num_parent_groups || 0 };
  });
  clear(out);
  add(out, groupTable(rows, 'No groups.'), pager('#/groups', p.keys, PAGE, query.after ? { after: query.after } : {}, 'Group pages'));
  announce(rows.length + ' groups shown.');
}

function groupTable(rows, empty) {
  return table('Groups', ['Name', 'Type', 'Member entities', 'Parent groups', 'ID'], rows.map((g) => g.unreadable
    ? [h('span', null, g.name), '', '', '', h('span', { class: 'muted' }, g.unreadable)]
    : [link('#/groups/' + encodeURIComponent(g.id), g.name || g.id, { class: 'group-link' }), g.type || 'internal',
      String(g.members), String(g.parents), h('code', null, g.id)]), empty);
}

function groupRow(g) {
  return { id: g.id, name: g.name, type: g.type, members: (g.member_entity_ids || []).length, parents: (g.parent_group_ids || []).length };
}

// searchView finds groups: a whole id is read as such; otherwise one page
// of the names beginning with q, each group then read by name. A token
// that may not list names finds an exact name only.
async function searchView(ctx, out, q, query) {
  const after = query.after || '';
  if (UUID.test(q) && !after) {
    let g = null;
    try { g = await read(m('group/id/' + enc(q.toLowerCase()))); } catch (x) { g = null; }
    if (ctx.stale()) return;
    if (g) {
      clear(out);
      add(out, h('p', { class: 'muted' }, 'The group with the id ', h('code', null, g.id), ':'), groupTable([groupRow(g)], ''));
      announce('1 group found by id.');
      return;
    }
  }
  if (!can(m('group/name'), 'list')) {
    let g = null;
    try { g = await read(m('group/name/' + enc(q))); } catch (x) { g = null; }
    if (ctx.stale()) return;
    clear(out);
    add(out, h('p', { class: 'muted' }, 'This token may not list group names: only a group named exactly \u201c', h('strong', null, q), '\u201d is looked for.'),
      groupTable(g ? [groupRow(g)] : [], 'No group has this name.'));
    announce(g ? '1 group found.' : 'No group has this name.');
    return;
  }
  const page = await namePage('group', q, after);
  const got = await pool(page.names, 6, (n) => read(m('group/name/' + enc(n))));
  if (ctx.stale()) return;
  const rows = page.names.map((n, i) => {
    const g = got[i];
    if (g && !(g instanceof Error)) return groupRow(g);
    return { name: n, unreadable: g instanceof Error ? g.message : 'deleted since listed' };
  });
  clear(out);
  const count = rows.length + (rows.length === 1 ? ' group' : ' groups');
  add(out, h('p', { class: 'muted', id: 'search-summary' }, (after ? 'Further names' : 'Names') + ' beginning with \u201c', h('strong', null, q), '\u201d: ' + count + ' on this page' + (page.more ? '; more follow.' : '.')),
    groupTable(rows, 'No group matches.'),
    searchPager('#/groups', q, page.names, page.more, after, 'Search pages'));
  announce(count + ' shown' + (page.more ? '; more follow.' : '.'));
}

// ---- create -------------------------------------------------------------

function groupFields(g) {
  return [
    field('name', 'Name', { value: g ? g.name : '' }),
    g ? null : field('type', 'Type', { type: 'select', value: 'internal', options: [['internal', 'Internal (members managed here)'], ['external', 'External (members from an auth method, through a group alias)']] }),
    field('policies', 'Policies', { value: g ? (g.policies || []).join(', ') : '', hint: 'Comma-separated.' }),
    field('metadata', 'Metadata', { type: 'textarea', value: g ? kvText(g.metadata) : '', hint: 'One key=value per line.' }),
  ];
}

function createView(ctx) {
  const { el } = ctx;
  add(el, h('h1', null, 'Create group'));
  add(el, form('Create group', groupFields(null).concat([
    field('members', 'Member entities', { hint: 'Entity names or IDs, comma-separated (internal groups).' }),
    field('children', 'Member groups', { hint: 'Group names or IDs, comma-separated (internal groups).' }),
  ]), 'Create', async (v) => {
    const body = { name: v.name.trim(), type: v.type, policies: words(v.policies), metadata: parseKV(v.metadata), cas: 0 };
    if (!body.name) delete body.name;
    const members = await resolveAll('entity', words(v.members));
    const kids = await resolveAll('group', words(v.children));
    if (members.length) body.member_entity_ids = members;
    if (kids.length) body.member_group_ids = kids;
    const r = await api('POST', m('group'), body);
    const gid = r && r.data && r.data.id;
    announce('Group created.');
    go(gid ? '#/groups/' + encodeURIComponent(gid) : '#/groups');
  }, link('#/groups', 'Cancel', { class: 'button' })));
  el.querySelector('input[name="name"]').focus();
}

// resolve turns a name or id of an entity or group into its id.
async function resolve(kind, x) {
  if (UUID.test(x)) return x.toLowerCase();
  const d = await read(m(kind + '/name/' + enc(x)));
  if (!d) throw new Error('No ' + kind + ' is named \u201c' + x + '\u201d.');
  return d.id;
}

async function resolveAll(kind, xs) {
  const out = [];
  for (const x of xs) out.push(await resolve(kind, x));
  return out;
}

// ---- detail -------------------------------------------------------------

async function detailView(ctx, gid) {
  const { el } = ctx;
  const path = m('group/id/' + enc(gid));
  await capabilities([path, m('group-alias')]);
  const g = await read(path);
  if (ctx.stale()) return;
  if (!g) {
    add(el, h('h1', null, 'Group not found'), h('p', null, 'No group has the id ', h('code', null, gid), '.'), link('#/groups', 'Back to the groups'));
    return;
  }
  const external = g.type === 'external';
  const writable = canWrite(path);
  add(el, h('p', { class: 'crumbs' }, link('#/groups', 'Groups'), ' \u203a ', link('#/hierarchy', 'Hierarchy')),
    h('div', { class: 'page-head' }, h('h1', null, h('span', { class: 'kind' }, 'Group '), h('span', { id: 'group-name' }, g.name)),
      can(path, 'delete') ? confirmButton('Delete', 'Delete this group? Its members stay.', async () => {
        await api('DELETE', path);
        announce('Group ' + g.name + ' deleted.');
        go('#/groups');
      }, { id: 'group-delete', class: 'button danger' }) : null));
  add(el, section('Details', props([
    ['ID', h('code', { id: 'group-id' }, g.id)],
    ['Type', g.type],
    ['Policies', g.policies],
    ['Metadata', g.metadata],
    ['Modify index', h('span', { id: 'group-modify-index' }, String(g.modify_index))],
    ['Created', g.creation_time],
    ['Last updated', g.last_update_time],
    external ? ['Group alias', g.alias && g.alias.id ? link('#/group-aliases/' + encodeURIComponent(g.alias.id), g.alias.name + ' (' + (g.alias.mount_path || g.alias.mount_accessor) + ')') : 'none'] : null,
  ])));

  // Members: entities and child groups, with names.
  const memberBox = h('div', null, loading('members'));
  add(el, section('Members', memberBox));
  const ids = g.member_entity_ids || [];
  const shown = ids.slice(0, 200);
  const names = {};
  await pool(shown, 6, async (x) => { const d = await read(m('entity/id/' + enc(x))); if (d) names[x] = d.name; });
  const childNames = {};
  await pool([...(g.member_group_ids || []), ...(g.parent_group_ids || [])].slice(0, 200), 6, async (x) => { const d = await read(m('group/id/' + enc(x))); if (d) childNames[x] = d.name; });
  clear(memberBox);
  const edit = writable && !external;
  const change = (field0, x, what) => async () => {
    await api('POST', path, { [field0]: [x] });
    announce(what);
    go('#/groups/' + encodeURIComponent(g.id));
  };
  add(memberBox, h('h3', null, 'Entities (' + ids.length + ')'),
    table('Member entities', ['Name', 'ID', ''], shown.map((x) => [
      link('#/entities/' + encodeURIComponent(x), names[x] || x), h('code', null, x),
      edit ? confirmButton('Remove', 'Remove from the group?', change('remove_member_entity_ids', x, 'Entity removed from the group.'), { class: 'button small', 'aria-label': 'Remove entity ' + (names[x] || x) }) : '',
    ]), external ? 'An external group gets its members from its auth method.' : 'No member entities.'),
    ids.length > shown.length ? h('p', { class: 'muted' }, (ids.length - shown.length) + ' more not shown.') : null);
  if (edit) add(memberBox, addForm('entity', 'Add an entity', 'add_member_entity_ids', path, g));
  const kids = g.member_group_ids || [];
  add(memberBox, h('h3', null, 'Member groups (' + kids.length + ')'),
    table('Member groups', ['Name', 'ID', ''], kids.map((x) => [
      link('#/groups/' + encodeURIComponent(x), childNames[x] || x), h('code', null, x),
      edit ? confirmButton('Remove', 'Remove from the group?', change('remove_member_group_ids', x, 'Group removed from the group.'), { class: 'button small', 'aria-label': 'Remove group ' + (childNames[x] || x) }) : '',
    ]), 'No member groups.'));
  if (edit) add(memberBox, addForm('group', 'Add a group', 'add_member_group_ids', path, g));
  const parentsIDs = g.parent_group_ids || [];
  add(memberBox, h('h3', null, 'Parent groups (' + parentsIDs.length + ')'),
    parentsIDs.length ? h('ul', { class: 'chips' }, parentsIDs.map((x) => h('li', null, link('#/groups/' + encodeURIComponent(x), childNames[x] || x)))) : h('p', { class: 'muted' }, 'No parent groups.'));

  // Where the group sits: its ancestors above, two levels of children below.
  const graphBox = h('div', { class: 'graph-box' }, loading('the hierarchy around this group'));
  add(el, section('Place in the hierarchy', graphBox));
  neighbourhood(g).then((nb) => {
    if (ctx.stale()) return;
    const c = collapse(nb.nodes, nb.edges, new Set());
    draw(graphBox, layout(c.nodes, c.edges), { current: g.id, label: 'Hierarchy around ' + g.name });
  }).catch((e) => showError(graphBox, e, 'The hierarchy could not be read'));

  if (writable) add(el, editPanel(g, path));
  if (external && canWrite(m('group-alias')) && !(g.alias && g.alias.id)) {
    add(el, section('Group alias', h('p', null, link('#/group-aliases?canonical_id=' + encodeURIComponent(g.id), 'Create the group alias', { class: 'button small' }))));
  }
}

function addForm(kind, label, fieldName, path, g) {
  return form(label, [field('who', label + ' (name or ID)', {})], 'Add', async (v) => {
    const x = v.who.trim();
    if (!x) throw new Error('Name the ' + kind + ' to add.');
    const idv = await resolve(kind, x);
    await api('POST', path, { [fieldName]: [idv] });
    announce(kind === 'entity' ? 'Entity added to the group.' : 'Group added to the group.');
    go('#/groups/' + encodeURIComponent(g.id));
  });
}

function editPanel(g, path) {
  const f = form('Edit group', groupFields(g), 'Save changes', async (v, _f, err) => {
    const body = { name: v.name.trim(), policies: words(v.policies), metadata: parseKV(v.metadata), cas: g.modify_index };
    try {
      await api('POST', path, body);
    } catch (x) {
      if (x instanceof VaultError && /check-and-set/.test(x.message)) {
        let now = null;
        try { now = await read(path); } catch (y) { now = null; }
        clear(err);
        add(err, h('div', { class: 'error conflict', role: 'alert', id: 'conflict' },
          h('strong', null, 'Not saved: the group changed since you opened it. '),
          'Vault refused the write (check-and-set parameter did not match the current version): modify index was ' + g.modify_index + (now ? ', now ' + now.modify_index : '') + '. ',
          button('Reload the group', () => go('#/groups/' + encodeURIComponent(g.id)), { class: 'button small' })));
        announce('Not saved: the group changed since you opened it.');
        return;
      }
      throw x;
    }
    announce('Group saved.');
    go('#/groups/' + encodeURIComponent(g.id));
  });
  return section('Edit', h('p', { class: 'hint' }, 'Saved only if nobody changed the group since this page read it (modify index ' + g.modify_index + ').'), f);
}

// neighbourhood reads the ancestors of g (all of them, up to 200 reads) and
// two levels of its child groups (up to 200 reads).
async function neighbourhood(g) {
  const nodes = new Map([[g.id, { id: g.id, label: g.name }]]);
  const edges = [];
  const got = new Map([[g.id, g]]);
  let budget = 200;
  let up = [...(g.parent_group_ids || [])];
  const seenUp = new Set([g.id]);
  for (const p of g.parent_group_ids || []) edges.push([p, g.id]);
  while (up.length && budget > 0) {
    const batch = up.filter((x) => !seenUp.has(x)).slice(0, budget);
    batch.forEach((x) => seenUp.add(x));
    budget -= batch.length;
    const rs = await pool(batch, 6, (x) => read(m('group/id/' + enc(x))));
    up = [];
    batch.forEach((x, i) => {
      const d = rs[i];
      if (!d || d instanceof Error) { nodes.set(x, { id: x, label: x.slice(0, 8), kind: 'stub' }); return; }
      got.set(x, d);
      nodes.set(x, { id: x, label: d.name });
      for (const p of d.parent_group_ids || []) { edges.push([p, x]); up.push(p); }
    });
  }
  budget = 200;
  let down = [g.id];
  for (let depth = 0; depth < 2 && down.length; depth++) {
    const next = [];
    for (const x of down) {
      const d = got.get(x);
      for (const c of (d && d.member_group_ids) || []) {
        edges.push([x, c]);
        if (!nodes.has(c)) { nodes.set(c, { id: c, label: c.slice(0, 8), kind: 'stub' }); next.push(c); }
      }
    }
    const batch = next.slice(0, budget);
    budget -= batch.length;
    const rs = await pool(batch, 6, (x) => read(m('group/id/' + enc(x))));
    batch.forEach((x, i) => {
      const d = rs[i];
      if (d && !(d instanceof Error)) { got.set(x, d); nodes.set(x, { id: x, label: d.name }); }
    });
    down = batch;
  }
  // Edges to groups not read stay as stubs; keep only edges between nodes.
  for (const [p, c] of edges) {
    if (!nodes.has(p)) nodes.set(p, { id: p, label: p.slice(0, 8), kind: 'stub' });
    if (!nodes.has(c)) nodes.set(c, { id: c, label: c.slice(0, 8), kind: 'stub' });
  }
  const uniq = [...new Set(edges.map((e) => e[0] + ' ' + e[1]))].map((k) => k.split(' '));
  return { nodes, edges: uniq };
}

// ---- hierarchy ----------------------------------------------------------

// hierarchyView reads up to limit groups (the id list in pages, then each
// group) and draws the hierarchy among them. Groups without parents or
// children are counted, not drawn.
async function hierarchyView(ctx) {
  const { el, query } = ctx;
  const limit = Math.min(Math.max(Number(query.limit) || 1000, 10), 5000);
  add(el, h('h1', null, 'Group hierarchy'),
    h('p', { class: 'lead' }, 'Parents above, children below. Up to ' + limit.toLocaleString('en') + ' groups are read at a time; select a group to open it.'));
  const statusBox = h('p', { class: 'muted', id: 'hierarchy-progress', 'aria-live': 'polite' }, 'Reading the groups\u2026');
  const box = h('div', { class: 'graph-box', id: 'hierarchy' });
  add(el, statusBox, box);
  const ids = [];
  let after = query.after || '';
  let more = false;
  while (ids.length < limit) {
    const want = Math.min(500, limit - ids.length);
    const p = await list(m('group/id'), { after, limit: want });
    ids.push(...p.keys);
    if (p.keys.length < want) break;
    after = p.keys[p.keys.length - 1];
  }
  if (ids.length >= limit) more = (await list(m('group/id'), { after: ids[ids.length - 1], limit: 1 })).keys.length > 0;
  if (ctx.stale()) return;
  let done = 0;
  const groups = await pool(ids, 8, async (x) => {
    const d = await read(m('group/id/' + enc(x)));
    done++;
    if (done % 50 === 0) statusBox.textContent = 'Read ' + done + ' of ' + ids.length + ' groups\u2026';
    return d;
  });
  if (ctx.stale()) return;
  const nodes = new Map();
  const edges = [];
  let isolated = 0;
  const loaded = new Set(ids);
  groups.forEach((d, i) => {
    if (!d || d instanceof Error) return;
    const parents = d.parent_group_ids || [];
    const kids = d.member_group_ids || [];
    if (!parents.length && !kids.length) { isolated++; return; }
    nodes.set(d.id, { id: d.id, label: d.name });
    for (const c of kids) edges.push([d.id, c]);
    for (const p of parents) if (!loaded.has(p)) edges.push([p, d.id]);
  });
  for (const [p, c] of edges) {
    for (const x of [p, c]) if (!nodes.has(x)) nodes.set(x, { id: x, label: x.slice(0, 8), kind: 'stub' });
  }
  const uniq = [...new Set(edges.map((e) => e[0] + ' ' + e[1]))].map((k) => k.split(' '));
  const expanded = new Set();
  // A layer wider than WIDE groups is redrawn with every parent's leaves
  // folded, which keeps a flat store's picture a few screens wide.
  const WIDE = 60;
  let fanOut;
  const paint = () => {
    let c = collapse(nodes, uniq, expanded, fanOut);
    let g = layout(c.nodes, c.edges);
    if (fanOut === undefined && g.widest > WIDE) {
      fanOut = 0;
      c = collapse(nodes, uniq, expanded, fanOut);
      g = layout(c.nodes, c.edges);
    }
    draw(box, g, {
      label: 'Group hierarchy',
      onExpand: (p) => { expanded.add(p); paint(); const n = box.querySelector('[data-id="' + CSS.escape(p) + '"]'); if (n) n.focus(); },
    });
    statusBox.textContent = ids.length.toLocaleString('en') + ' groups read: ' + nodes.size + ' in the drawing' +
      (c.hidden ? ' (' + c.hidden + ' leaves folded into \u201c+N groups\u201d nodes)' : '') +
      ', ' + isolated + ' without parents or children not drawn.' + (more ? ' More groups follow.' : '');
    box.setAttribute('data-ready', 'true');
  };
  paint();
  announce(statusBox.textContent);
  if (more) {
    const q = new URLSearchParams({ after: ids[ids.length - 1], limit: String(limit) });
    add(el, h('nav', { class: 'pager', 'aria-label': 'Hierarchy pages' },
      query.after ? link('#/hierarchy', 'First groups', { class: 'button small' }) : null,
      link('#/hierarchy?' + q.toString(), 'Next ' + limit.toLocaleString('en') + ' groups', { class: 'button small' })));
  }
}

