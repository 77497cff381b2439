// The "who can't reach whom" map: SVG drawn from layout(), an edge per (source, destination) pair.
// Keyboard: the map is one tab stop; arrow keys move between edges (roving tabindex), Enter or Space
// opens the flow detail, Escape closes the tooltip. Hover or focus shows the explanation summary.
import { h, svg } from './dom.js';
import { ago, endpointName, portLabel, recency, RECENCY_LABEL } from './format.js';
import { BOX, layout, type Edge, type Layout } from './layout.js';
import type { Flow } from '../../store/drops.js';

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * The explanation summaries of an edge's flows, each once (usually one: the pair's policies decide every port alike).
 */
export function summaries(e: Edge): string[] {
  const out = new Set<string>();
  for (const f of e.flows) if (f.explanation?.summary) out.add(f.explanation.summary);
  return [...out];
}

function edgeLabel(e: Edge, nowMs: number): string {
  const ports = [...new Set(e.flows.map(portLabel))];
  return `${endpointName(e.flows[0].src)} to ${endpointName(e.flows[0].dst)}: ${e.count} dropped packet${e.count === 1 ? '' : 's'}, ${ports.slice(0, 3).join(', ')}${ports.length > 3 ? ` and ${ports.length - 3} more` : ''}, last ${ago(new Date(e.lastSeenMs).toISOString(), nowMs)}`;
}

export interface MapView {
  render(flows: Iterable<Flow>, nowMs: number): void;
  /** The edge the detail panel shows, re-read after every render (its flows change). */
  selected(): Edge | undefined;
}

export function createMap(root: HTMLElement, summary: HTMLElement, onSelect: () => void): MapView {
  let current: Layout = layout([]);
  let selectedId: string | undefined, activeId: string | undefined, tipId: string | undefined;
  let now = Date.now();
  const tip = h('div', { class: 'tooltip', id: 'edge-tip', role: 'tooltip', hidden: true });

  const edgeEl = (id: string | undefined) =>
    id ? root.querySelector<SVGGElement>(`g.edge[data-id="${CSS.escape(id)}"]`) : null;
  /** Tab order follows the picture: by source column, then row, then destination. */
  const navOrder = () =>
    [...current.edges].sort((a, b) => a.from.x - b.from.x || a.from.y - b.from.y || a.to.x - b.to.x || a.to.y - b.to.y);

  function showTip(id: string | undefined): void {
    tipId = id;
    const e = current.edges.find((x) => x.id === id);
    if (!e) {
      tip.hidden = true;
      return;
    }
    const lines = summaries(e);
    const unexplained = e.flows.some((f) => !f.explanation);
    tip.replaceChildren(
      h('strong', {}, `${endpointName(e.flows[0].src)} → ${endpointName(e.flows[0].dst)}`),
      h(
        'p',
        {},
        `${e.count} dropped · ${[...new Set(e.flows.map(portLabel))].slice(0, 4).join(', ')} · last ${ago(new Date(e.lastSeenMs).toISOString(), now)}`,
      ),
      ...lines.slice(0, 3).map((s) => h('p', {}, s)),
      lines.length
        ? ''
        : h(
            'p',
            {},
            unexplained
              ? 'No NetworkPolicy explanation for this flow (no cluster, or no port).'
              : 'No NetworkPolicy summary.',
          ),
    );
    tip.hidden = false;
    // Below both ends of the edge, so the tooltip never hides the pods it talks about.
    const x = Math.max(4, Math.min(e.mid.x - 120, current.width - 370)),
      y = Math.max(e.from.y, e.to.y) + BOX.h + 12;
    tip.style.left = `${x}px`;
    tip.style.top = `${y}px`;
  }

  function select(id: string | undefined): void {
    selectedId = id;
    for (const el of root.querySelectorAll('g.edge')) {
      const on = el.getAttribute('data-id') === id;
      el.classList.toggle('selected', on);
      el.setAttribute('aria-pressed', String(on));
    }
    onSelect();
  }

  function focusEdge(id: string): void {
    activeId = id;
    for (const el of root.querySelectorAll('g.edge'))
      el.setAttribute('tabindex', el.getAttribute('data-id') === id ? '0' : '-1');
    edgeEl(id)?.focus();
  }

  function onKey(ev: KeyboardEvent): void {
    const order = navOrder();
    if (!order.length) return;
    const i = Math.max(
      0,
      order.findIndex((e) => e.id === activeId),
    );
    const to = (j: number) => {
      ev.preventDefault();
      focusEdge(order[(j + order.length) % order.length].id);
    };
    switch (ev.key) {
      case 'ArrowDown':
      case 'ArrowRight':
        return to(i + 1);
      case 'ArrowUp':
      case 'ArrowLeft':
        return to(i - 1);
      case 'Home':
        return to(0);
      case 'End':
        return to(order.length - 1);
      case 'Enter':
      case ' ':
        ev.preventDefault();
        return select(order[i].id);
      case 'Escape':
        showTip(undefined);
        return;
    }
  }

  function drawEdge(e: Edge, tabbable: boolean): SVGGElement {
    const r = recency(e.lastSeenMs, now),
      w = e.width;
    const g = svg(
      'g',
      {
        class: `edge ${r}`,
        'data-id': e.id,
        role: 'button',
        tabindex: tabbable ? 0 : -1,
        'aria-label': `${edgeLabel(e, now)} (${RECENCY_LABEL[r]})`,
        'aria-pressed': String(e.id === selectedId),
        'aria-describedby': 'edge-tip',
      },
      svg('path', { class: 'halo', d: e.path, 'stroke-width': w + 7, 'stroke-linecap': 'round' }),
      svg('path', { class: `line ${r}`, d: e.path, 'stroke-width': w }),
      svg('path', { class: `mk ${r}`, d: e.arrow }),
      svg('path', { class: 'hit', d: e.path }),
    );
    if (e.id === selectedId) g.classList.add('selected');
    g.addEventListener('mouseenter', () => showTip(e.id));
    g.addEventListener('mouseleave', () => {
      if (root.ownerDocument.activeElement !== g) showTip(undefined);
    });
    g.addEventListener('focus', () => {
      activeId = e.id;
      showTip(e.id);
    });
    g.addEventListener('blur', () => {
      if (tipId === e.id) showTip(undefined);
    });
    g.addEventListener('click', () => {
      focusEdge(e.id);
      select(e.id);
    });
    return g;
  }

  return {
    selected: () => current.edges.find((e) => e.id === selectedId),
    render(flows, nowMs) {
      now = nowMs;
      const hadFocus = root.contains(root.ownerDocument.activeElement);
      current = layout(flows);
      const n = current.edges.length;
      summary.textContent = n
        ? `${n} source → destination pair${n === 1 ? '' : 's'}${current.hiddenEdges ? ` (${current.hiddenEdges} older not drawn)` : ''}`
        : '';
      if (!n) {
        root.replaceChildren(
          h('p', { class: 'empty' }, 'No dropped flows yet. They appear here as soon as an agent reports one.'),
        );
        return;
      }
      if (!current.edges.some((e) => e.id === activeId)) activeId = navOrder()[0].id;
      const cols = current.columns.map((c) =>
        svg(
          'g',
          { class: 'column', 'aria-hidden': 'true' },
          svg('rect', { class: 'col-band', x: c.x - 8, y: 4, width: BOX.w + 16, height: c.height - 4, rx: 6 }),
          svg('text', { class: 'col-title', x: c.x, y: 24 }, clip(c.title, 22)),
        ),
      );
      const verts = current.vertices.map((v) =>
        svg(
          'g',
          { class: `vertex ${v.kind === 'pod' ? '' : 'external'}`, 'aria-hidden': 'true' },
          svg('title', {}, `${v.label} (${v.sub})`),
          svg('rect', { x: v.x, y: v.y, width: BOX.w, height: BOX.h, rx: 5 }),
          svg('text', { x: v.x + 9, y: v.y + 16 }, clip(v.label, 22)),
          svg('text', { class: 'sub', x: v.x + 9, y: v.y + 31 }, v.sub),
        ),
      );
      const edges = svg(
        'g',
        {
          class: 'edges',
          role: 'group',
          'aria-label': 'Dropped flows; arrow keys move between them, Enter shows the detail',
        },
        ...current.edges.map((e) => drawEdge(e, e.id === activeId)),
      );
      const pic = svg(
        'svg',
        { width: current.width, height: current.height, role: 'group', 'aria-label': "Who can't reach whom" },
        ...cols,
        edges,
        ...verts,
      );
      pic.addEventListener('keydown', onKey);
      root.replaceChildren(pic, tip);
      if (hadFocus && activeId) edgeEl(activeId)?.focus();
      showTip(tipId && current.edges.some((e) => e.id === tipId) ? tipId : undefined);
    },
  };
}
