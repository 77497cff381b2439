// The map's deterministic layout: one column per namespace (natural order), then node addresses, then other
// IPs; pods sorted by name inside a column; one edge per (source, destination) pair carrying its flows.
// Pure, so the same flows always give the same picture (no force simulation that moves on each update).
import type { Endpoint, Flow } from '../../store/drops.js';

export interface Vertex {
  id: string;
  label: string;
  sub: string;
  kind: 'pod' | 'node' | 'ip';
  x: number;
  y: number;
}
export interface Column {
  title: string;
  x: number;
  height: number;
}
export interface Edge {
  id: string;
  from: Vertex;
  to: Vertex;
  /** Newest first. */
  flows: Flow[];
  count: number;
  lastSeenMs: number;
  /** Stroke width (from the count), SVG path data, its arrowhead, and a point near its middle for the tooltip. */
  width: number;
  path: string;
  arrow: string;
  mid: { x: number; y: number };
}
export interface Layout {
  columns: Column[];
  vertices: Vertex[];
  edges: Edge[];
  width: number;
  height: number;
  hiddenEdges: number;
}

export const BOX = { w: 164, h: 38 } as const;
/** GAP_X also holds the bulge of same-column edges (at most BULGE), so they never cross the next column. */
const GAP_X = 84,
  GAP_Y = 14,
  TOP = 34,
  PAD = 12,
  BULGE = 64;
/** Beyond this many pairs only the most recent are drawn (the rest are counted in hiddenEdges). */
export const MAX_EDGES = 400;

/** Not namespace names (those cannot contain spaces or start with a space): the last two columns. */
const NODES_COLUMN = ' nodes',
  IPS_COLUMN = ' other addresses';
/** pod-2 before pod-10, as people number things. */
const natural = new Intl.Collator('en', { numeric: true }).compare;
const columnRank = (name: string) => (name === NODES_COLUMN ? 1 : name === IPS_COLUMN ? 2 : 0);

function vertexOf(e: Endpoint): { id: string; column: string; label: string; sub: string; kind: Vertex['kind'] } {
  if (e.pod)
    return {
      id: `pod:${e.pod.namespace}/${e.pod.name}`,
      column: e.pod.namespace,
      label: e.pod.name,
      sub: e.ip,
      kind: 'pod',
    };
  if (e.node) return { id: `node:${e.node}`, column: NODES_COLUMN, label: e.node, sub: e.ip, kind: 'node' };
  return { id: `ip:${e.ip}`, column: IPS_COLUMN, label: e.ip, sub: 'not a known pod', kind: 'ip' };
}

interface Geometry {
  path: string;
  mid: { x: number; y: number } /** The last control point: the end's tangent comes from it. */;
  from: { x: number; y: number };
  end: { x: number; y: number };
}

/** Travel from a to b, bending to the left of the direction of travel, so A→B and B→A never overlap. */
function curve(ax: number, ay: number, bx: number, by: number, bend: number): Geometry {
  const mx = (ax + bx) / 2,
    my = (ay + by) / 2,
    dx = bx - ax,
    dy = by - ay,
    len = Math.hypot(dx, dy) || 1;
  const cx = mx + (dy / len) * bend,
    cy = my - (dx / len) * bend;
  return {
    path: `M${ax},${ay} Q${cx},${cy} ${bx},${by}`,
    mid: { x: (mx + cx) / 2, y: (my + cy) / 2 },
    from: { x: cx, y: cy },
    end: { x: bx, y: by },
  };
}

/** A filled arrowhead at the end, wider than the line so it shows at any thickness. */
function arrowhead(g: Geometry, width: number): string {
  const dx = g.end.x - g.from.x,
    dy = g.end.y - g.from.y,
    len = Math.hypot(dx, dy) || 1,
    ux = dx / len,
    uy = dy / len;
  const l = 8 + width * 1.4,
    half = 4 + width * 0.9,
    bx = g.end.x - ux * l,
    by = g.end.y - uy * l;
  const r = (n: number) => Math.round(n * 10) / 10;
  return `M${r(g.end.x)},${r(g.end.y)} L${r(bx - uy * half)},${r(by + ux * half)} L${r(bx + uy * half)},${r(by - ux * half)} Z`;
}

export function layout(flows: Iterable<Flow>): Layout {
  const pairs = new Map<
    string,
    { from: ReturnType<typeof vertexOf>; to: ReturnType<typeof vertexOf>; flows: Flow[]; count: number; last: number }
  >();
  for (const f of flows) {
    const from = vertexOf(f.src),
      to = vertexOf(f.dst),
      id = `${from.id}>${to.id}`;
    const p = pairs.get(id) ?? { from, to, flows: [], count: 0, last: 0 };
    p.flows.push(f);
    p.count += f.count;
    p.last = Math.max(p.last, Date.parse(f.lastSeen) || 0);
    pairs.set(id, p);
  }
  const ranked = [...pairs.entries()].sort((a, b) => b[1].last - a[1].last || (a[0] < b[0] ? -1 : 1));
  const shown = ranked.slice(0, MAX_EDGES);

  const byColumn = new Map<string, Map<string, ReturnType<typeof vertexOf>>>();
  for (const [, p] of shown)
    for (const v of [p.from, p.to]) {
      const col = byColumn.get(v.column) ?? new Map();
      col.set(v.id, v);
      byColumn.set(v.column, col);
    }
  const columns: Column[] = [],
    vertices = new Map<string, Vertex>();
  let height = TOP;
  [...byColumn.keys()]
    .sort((a, b) => columnRank(a) - columnRank(b) || natural(a, b))
    .forEach((name, i) => {
      const x = PAD + i * (BOX.w + GAP_X);
      const members = [...byColumn.get(name)!.values()].sort(
        (a, b) => natural(a.label, b.label) || natural(a.sub, b.sub),
      );
      members.forEach((v, j) =>
        vertices.set(v.id, { id: v.id, label: v.label, sub: v.sub, kind: v.kind, x, y: TOP + 8 + j * (BOX.h + GAP_Y) }),
      );
      const h = TOP + 8 + members.length * (BOX.h + GAP_Y);
      height = Math.max(height, h);
      columns.push({ title: name.trim(), x, height: h });
    });

  const edges: Edge[] = shown.map(([id, p]) => {
    const from = vertices.get(p.from.id)!,
      to = vertices.get(p.to.id)!;
    const cy = (v: Vertex) => v.y + BOX.h / 2;
    let g: Geometry;
    if (from === to) {
      // a pod dropping its own traffic (hairpin): a loop off its right side
      const x = from.x + BOX.w,
        y = cy(from);
      g = {
        path: `M${x},${y - 8} C${x + 46},${y - 30} ${x + 46},${y + 30} ${x},${y + 8}`,
        mid: { x: x + 36, y },
        from: { x: x + 46, y: y + 30 },
        end: { x, y: y + 8 },
      };
    } else if (from.x === to.x) {
      // same column: leave and re-enter on the right
      const x = from.x + BOX.w;
      // a quadratic strays half its control offset; both bulge right, the upward one wider
      const bulge = Math.min(2 * (BULGE - 16), 40 + Math.abs(to.y - from.y) / 3);
      g = curve(x, cy(from), x, cy(to), from.y < to.y ? bulge : -(bulge + 16));
    } else {
      const rightward = to.x > from.x;
      g = curve(rightward ? from.x + BOX.w : from.x, cy(from), rightward ? to.x : to.x + BOX.w, cy(to), 18);
    }
    const sorted = [...p.flows].sort((a, b) => Date.parse(b.lastSeen) - Date.parse(a.lastSeen));
    const width = thickness(p.count);
    return {
      id,
      from,
      to,
      flows: sorted,
      count: p.count,
      lastSeenMs: p.last,
      width,
      path: g.path,
      arrow: arrowhead(g, width),
      mid: g.mid,
    };
  });
  const width = PAD + Math.max(1, columns.length) * (BOX.w + GAP_X) - GAP_X + BULGE;
  return {
    columns,
    vertices: [...vertices.values()],
    edges,
    width,
    height: height + PAD,
    hiddenEdges: ranked.length - shown.length,
  };
}

/** Stroke width for a drop count: logarithmic, 1.5 px for one drop to 12 px for thousands. */
export const thickness = (count: number): number => Math.min(12, 1.5 + 1.5 * Math.log2(Math.max(1, count)));
