// A layered drawing of the group hierarchy: parents above, children below.
//
// Layers: a group sits one layer below its lowest parent (longest path from
// the roots), so every edge points down and a diamond (two parents sharing
// a child that has one grandparent) draws without crossing layers upward.
// An edge spanning several layers goes through a chain of dummy points, one
// per layer, which take a narrow slot: long edges bend around the groups
// instead of through them. Orders within layers come from barycentre sweeps
// (each node moves toward the mean position of its neighbours in the layer
// it is compared with), which untangles most crossings. Leaves beyond
// FAN_OUT under one parent (with no other parent) are collapsed into one
// "+N groups" node that expands on demand, so a flat store of a thousand
// groups still draws as a readable picture.

import { add, s, h, clear } from './lib.js';

const W = 168; // node width
const NH = 34; // node height
const GAP = 16; // between nodes of a layer
const DUMMY = 14; // slot of a long edge's point
const LAYER = 88; // between layers' tops
const PAD = 20;
export const FAN_OUT = 12;

// layout places nodes (Map id -> {id, label, kind}) with edges
// ([parent, child]) and returns {nodes: [{...n, x, y, layer}], edges:
// [{from, to, points}], width, height}.
export function layout(nodes, edges) {
  const ids = [...nodes.keys()];
  const parents = new Map(ids.map((x) => [x, []]));
  const children = new Map(ids.map((x) => [x, []]));
  for (const [p, c] of edges) {
    if (!nodes.has(p) || !nodes.has(c) || p === c) continue;
    parents.get(c).push(p);
    children.get(p).push(c);
  }
  // Longest-path layering in topological order (Kahn). Cycles cannot be
  // made through the API; should one appear, its nodes go on layer 0 and
  // the edges that would point up are left out.
  const layer = new Map();
  const indeg = new Map(ids.map((x) => [x, parents.get(x).length]));
  const queue = ids.filter((x) => indeg.get(x) === 0);
  for (const x of queue) layer.set(x, 0);
  for (let i = 0; i < queue.length; i++) {
    const x = queue[i];
    for (const c of children.get(x)) {
      layer.set(c, Math.max(layer.get(c) || 0, layer.get(x) + 1));
      indeg.set(c, indeg.get(c) - 1);
      if (indeg.get(c) === 0) queue.push(c);
    }
  }
  for (const x of ids) if (!layer.has(x)) layer.set(x, 0);

  // Layers with dummy points for long edges.
  const L = [];
  const put = (v, k) => { (L[k] || (L[k] = [])).push(v); };
  const verts = new Map(); // id -> {id, dummy, layer, w}
  for (const x of ids) {
    const v = { id: x, dummy: false, layer: layer.get(x), w: W, up: [], down: [] };
    verts.set(x, v);
  }
  // Initial order: depth-first from the roots, so that families stay together.
  const seen = new Set();
  const visit = (x) => {
    if (seen.has(x)) return;
    seen.add(x);
    put(verts.get(x), layer.get(x));
    for (const c of children.get(x)) visit(c);
  };
  ids.filter((x) => parents.get(x).length === 0).forEach(visit);
  ids.forEach(visit);

  const drawn = [];
  let dn = 0;
  for (const [p, c] of edges) {
    if (!verts.has(p) || !verts.has(c) || p === c) continue;
    const a = verts.get(p);
    const b = verts.get(c);
    if (b.layer <= a.layer) continue;
    const chain = [a];
    for (let k = a.layer + 1; k < b.layer; k++) {
      const d = { id: '~' + (dn++), dummy: true, layer: k, w: DUMMY, up: [], down: [] };
      put(d, k);
      chain.push(d);
    }
    chain.push(b);
    for (let i = 0; i + 1 < chain.length; i++) {
      chain[i].down.push(chain[i + 1]);
      chain[i + 1].up.push(chain[i]);
    }
    drawn.push({ from: p, to: c, chain });
  }
  for (let k = 0; k < L.length; k++) if (!L[k]) L[k] = [];

  // Barycentre sweeps.
  const pos = new Map();
  const index = () => L.forEach((row) => row.forEach((v, i) => pos.set(v, i)));
  index();
  const sweep = (k, dir) => {
    const row = L[k];
    const bc = new Map();
    row.forEach((v, i) => {
      const ns = dir === 'down' ? v.up : v.down;
      bc.set(v, ns.length ? ns.reduce((s0, n) => s0 + pos.get(n), 0) / ns.length : i);
    });
    row.sort((a, b) => bc.get(a) - bc.get(b));
    row.forEach((v, i) => pos.set(v, i));
  };
  for (let it = 0; it < 4; it++) {
    for (let k = 1; k < L.length; k++) sweep(k, 'down');
    for (let k = L.length - 2; k >= 0; k--) sweep(k, 'up');
  }

  // Coordinates: pack each layer, then pull nodes toward their neighbours
  // without overlapping.
  const x = new Map();
  for (const row of L) {
    let at = 0;
    for (const v of row) { x.set(v, at + v.w / 2); at += v.w + GAP; }
  }
  const settle = (row, want) => {
    // Left to right: no overlap, as near the wish as possible.
    let min = -Infinity;
    for (const v of row) {
      const c = Math.max(want.get(v), min + v.w / 2);
      x.set(v, c);
      min = c + v.w / 2 + GAP;
    }
    // Then the whole layer shifts by the mean of what is left of the
    // wishes, which keeps it free of overlaps.
    let shift = 0;
    for (const v of row) shift += want.get(v) - x.get(v);
    shift = row.length ? shift / row.length : 0;
    for (const v of row) x.set(v, x.get(v) + shift);
  };
  for (let it = 0; it < 6; it++) {
    const down = it % 2 === 0;
    const order = down ? L.map((_, k) => k) : L.map((_, k) => L.length - 1 - k);
    for (const k of order) {
      const row = L[k];
      const want = new Map();
      for (const v of row) {
        const ns = (down ? v.up : v.down).concat(it > 2 ? (down ? v.down : v.up) : []);
        want.set(v, ns.length ? ns.reduce((s0, n) => s0 + x.get(n), 0) / ns.length : x.get(v));
      }
      settle(row, want);
    }
  }
  let minX = Infinity;
  let maxX = -Infinity;
  for (const [v, c] of x) { minX = Math.min(minX, c - v.w / 2); maxX = Math.max(maxX, c + v.w / 2); }
  if (!isFinite(minX)) { minX = 0; maxX = 0; }
  const X = (v) => x.get(v) - minX + PAD;
  const Y = (v) => v.layer * LAYER + PAD;

  const outNodes = [];
  for (const v of verts.values()) {
    outNodes.push(Object.assign({}, nodes.get(v.id), { x: X(v) - W / 2, y: Y(v), layer: v.layer }));
  }
  const outEdges = drawn.map((d) => ({
    from: d.from,
    to: d.to,
    points: d.chain.map((v, i) => {
      if (i === 0) return [X(v), Y(v) + NH];
      if (i === d.chain.length - 1) return [X(v), Y(v)];
      return [X(v), Y(v) + NH / 2];
    }),
  }));
  const widest = L.reduce((n, row) => Math.max(n, row.filter((v) => !v.dummy).length), 0);
  return { nodes: outNodes, edges: outEdges, width: maxX - minX + 2 * PAD, height: L.length * LAYER - (LAYER - NH) + 2 * PAD, layers: L.length, widest };
}

// collapse hides, under each parent, the leaves beyond fanOut (FAN_OUT by
// default) that have no other parent, into one node per parent ("+N
// groups"), unless the parent is in expanded. It returns the nodes and
// edges to draw.
export function collapse(nodes, edges, expanded, fanOut) {
  const limit = fanOut === undefined ? FAN_OUT : fanOut;
  const parentsOf = new Map();
  const kids = new Map();
  for (const [p, c] of edges) {
    if (!parentsOf.has(c)) parentsOf.set(c, []);
    parentsOf.get(c).push(p);
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(c);
  }
  const hidden = new Set();
  const outNodes = new Map(nodes);
  const outEdges = [];
  const extra = [];
  for (const [p, cs] of kids) {
    if (expanded.has(p)) continue;
    const leaves = cs.filter((c) => !kids.has(c) && (parentsOf.get(c) || []).length === 1 && nodes.has(c));
    if (cs.length <= limit || leaves.length < 2) continue;
    const keep = Math.max(0, limit - (cs.length - leaves.length));
    const fold = leaves.slice(keep);
    if (fold.length < 2) continue;
    fold.forEach((c) => hidden.add(c));
    const cid = '+' + p;
    outNodes.set(cid, { id: cid, label: '+' + fold.length + ' groups', kind: 'collapsed', parent: p, count: fold.length });
    extra.push([p, cid]);
  }
  for (const c of hidden) outNodes.delete(c);
  for (const [p, c] of edges) if (!hidden.has(c)) outEdges.push([p, c]);
  return { nodes: outNodes, edges: outEdges.concat(extra), hidden: hidden.size };
}

function curve(points) {
  let d = 'M' + points[0][0] + ',' + points[0][1];
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const my = (y0 + y1) / 2;
    d += ' C' + x0 + ',' + my + ' ' + x1 + ',' + my + ' ' + x1 + ',' + y1;
  }
  return d;
}

function clip(text, n) {
  const t = String(text);
  return t.length > n ? t.slice(0, n - 1) + '\u2026' : t;
}

// draw renders a layout as SVG inside a scrolling box with zoom buttons.
// opts: current (id to highlight), onExpand(parentID), label.
export function draw(box, g, opts) {
  const o = opts || {};
  clear(box);
  const svgEl = s('svg', {
    class: 'graph', viewBox: '0 0 ' + Math.max(g.width, 1) + ' ' + Math.max(g.height, 1),
    width: Math.max(g.width, 1), height: Math.max(g.height, 1), role: 'group', 'aria-label': o.label || 'Group hierarchy',
    'data-nodes': g.nodes.length, 'data-layers': g.layers,
  });
  const edgesG = s('g', { class: 'edges', 'aria-hidden': 'true' });
  for (const e of g.edges) {
    add(edgesG, s('path', { d: curve(e.points), class: 'edge', 'data-from': e.from, 'data-to': e.to }));
  }
  const nodesG = s('g', { class: 'nodes' });
  for (const n of g.nodes) {
    const cls = 'node' + (n.kind ? ' ' + n.kind : '') + (o.current === n.id ? ' current' : '');
    const label = n.kind === 'collapsed' ? n.label : clip(n.label, 22);
    const a = s('a', {
      class: cls, 'data-id': n.id, 'data-layer': n.layer, 'data-y': n.y, 'data-x': n.x,
      href: n.kind === 'collapsed' ? '#/hierarchy' : '#/groups/' + encodeURIComponent(n.id),
      // The name is the visible text (the <title> tells the whole name);
      // a folded node says what pressing it does.
      'aria-label': n.kind === 'collapsed' ? n.label + ' (show them)' : undefined,
      role: n.kind === 'collapsed' ? 'button' : undefined,
    },
    s('title', null, n.kind === 'collapsed' ? n.label : n.label + ' (' + n.id + ')'),
    s('rect', { x: n.x, y: n.y, width: W, height: NH, rx: 6, ry: 6 }),
    s('text', { x: n.x + W / 2, y: n.y + NH / 2 + 5, 'text-anchor': 'middle' }, label));
    if (n.kind === 'collapsed') {
      const expand = (ev) => { ev.preventDefault(); if (o.onExpand) o.onExpand(n.parent); };
      a.addEventListener('click', expand);
      a.addEventListener('keydown', (ev) => { if (ev.key === ' ') expand(ev); });
    }
    add(nodesG, a);
  }
  add(svgEl, edgesG, nodesG);
  const scroller = h('div', { class: 'graph-scroll', tabindex: '0', 'aria-label': 'Hierarchy drawing (scrolls)', role: 'region' }, svgEl);
  let zoom = 1;
  const fitZoom = () => Math.min(1, (scroller.clientWidth - 4) / Math.max(g.width, 1));
  const apply = () => {
    svgEl.setAttribute('width', String(Math.max(1, Math.round(g.width * zoom))));
    svgEl.setAttribute('height', String(Math.max(1, Math.round(g.height * zoom))));
  };
  const tools = h('div', { class: 'graph-tools', role: 'toolbar', 'aria-label': 'Zoom' },
    h('button', { type: 'button', class: 'button small', onclick: () => { zoom = Math.min(2, zoom * 1.25); apply(); } }, 'Zoom in'),
    h('button', { type: 'button', class: 'button small', onclick: () => { zoom = Math.max(0.05, zoom / 1.25); apply(); } }, 'Zoom out'),
    h('button', { type: 'button', class: 'button small', onclick: () => { zoom = fitZoom(); apply(); } }, 'Fit to width'),
    h('button', { type: 'button', class: 'button small', onclick: () => { zoom = 1; apply(); } }, 'Actual size'));
  add(box, tools, scroller);
  // A drawing wider than the box starts zoomed out (not below a readable
  // size) with its first root group in view.
  if (g.width > scroller.clientWidth && scroller.clientWidth > 0) {
    zoom = Math.max(fitZoom(), 0.4);
    apply();
    const first = o.current ? g.nodes.find((n) => n.id === o.current) : g.nodes.filter((n) => n.layer === 0).sort((a, b) => a.x - b.x)[0];
    if (first) scroller.scrollLeft = Math.max(0, (first.x + W / 2) * zoom - scroller.clientWidth / 2);
  }
  return svgEl;
}
