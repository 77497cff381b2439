// The text panels: flow detail (the selected edge's flows, kernel line and explanation), findings by
// severity, and the nodes table.
import type { Explanation } from '../../explain/index.js';
import type { FindingView } from '../../store/findings.js';
import type { NodeView } from '../../store/nodes.js';
import { h } from './dom.js';
import { ago, endpointName, portLabel } from './format.js';
import type { Edge } from './layout.js';

const MAX_DETAIL_FLOWS = 20;
const SEVERITY_ORDER = ['critical', 'warning', 'info'];
const sevRank = (s: string) => {
  const i = SEVERITY_ORDER.indexOf(s);
  return i < 0 ? SEVERITY_ORDER.length : i;
};
const time = (iso: string, nowMs: number) => h('time', { datetime: iso, title: iso }, ago(iso, nowMs));

function explanation(e: Explanation): HTMLElement {
  const isolated = e.sides
    .filter((s) => s.isolatedBy.length)
    .map(
      (s) => `${s.direction} of ${s.pod ? `${s.pod.namespace}/${s.pod.name}` : 'the peer'}: ${s.isolatedBy.join(', ')}`,
    );
  return h(
    'div',
    { class: 'explanation' },
    h('p', {}, h('span', { class: 'verdict' }, `NetworkPolicy verdict: ${e.verdict}. `), e.summary),
    isolated.length > 0 && h('p', {}, `Isolated by — ${isolated.join('; ')}`),
    e.fix !== undefined && h('p', {}, `Fix: ${e.fix}`),
  );
}

export function renderDetail(root: HTMLElement, edge: Edge | undefined, nowMs: number): void {
  if (!edge) {
    root.replaceChildren(
      h(
        'p',
        { class: 'muted' },
        'Select an edge in the map (click it, or Tab to the map, move with the arrow keys and press Enter) to see its flows, the kernel line and the NetworkPolicy explanation.',
      ),
    );
    return;
  }
  const head = h(
    'p',
    {},
    h(
      'strong',
      {},
      `${endpointName(edge.flows[0].src)} (${edge.flows[0].src.ip}) → ${endpointName(edge.flows[0].dst)} (${edge.flows[0].dst.ip})`,
    ),
    ` · ${edge.count} dropped packets in ${edge.flows.length} flow${edge.flows.length === 1 ? '' : 's'}`,
  );
  const flows = edge.flows
    .slice(0, MAX_DETAIL_FLOWS)
    .map((f) =>
      h(
        'article',
        { class: 'flow' },
        h('h3', {}, `${portLabel(f)} · ${f.count} dropped on ${f.node}`),
        h(
          'p',
          { class: 'muted' },
          'last ',
          time(f.lastSeen, nowMs),
          ' · first ',
          time(f.firstSeen, nowMs),
          ` · log prefix "${f.prefix}"${f.in ? ` · in ${f.in}` : ''}${f.out ? ` · out ${f.out}` : ''}`,
        ),
        f.explanation
          ? explanation(f.explanation)
          : h(
              'p',
              { class: 'muted' },
              'No NetworkPolicy explanation (none computed for this protocol, or the collector has no cluster).',
            ),
        f.sample !== undefined && h('pre', { 'aria-label': 'Sample kernel line' }, f.sample),
      ),
    );
  const more =
    edge.flows.length > MAX_DETAIL_FLOWS &&
    h(
      'p',
      { class: 'muted' },
      `… and ${edge.flows.length - MAX_DETAIL_FLOWS} more flows (nodewarden drops --pod ${endpointName(edge.flows[0].src)})`,
    );
  root.replaceChildren(head, ...flows, more || '');
}

export function renderFindings(
  root: HTMLElement,
  heading: HTMLElement,
  findings: Iterable<FindingView>,
  nowMs: number,
): void {
  const all = [...findings].sort(
    (a, b) =>
      Number(b.active) - Number(a.active) ||
      sevRank(a.severity) - sevRank(b.severity) ||
      Date.parse(b.lastSeen) - Date.parse(a.lastSeen),
  );
  const active = all.filter((f) => f.active).length;
  heading.textContent = `Findings (${active} active${all.length > active ? `, ${all.length - active} cleared` : ''})`;
  if (!all.length) {
    root.replaceChildren(h('p', { class: 'muted' }, 'No findings.'));
    return;
  }
  const groups: HTMLElement[] = [];
  let group = '';
  let list: HTMLOListElement | undefined;
  for (const f of all) {
    const g = f.active ? f.severity : 'cleared';
    if (g !== group) {
      group = g;
      list = h('ol', {});
      groups.push(h('h3', { class: 'sev-group' }, f.active ? `${f.severity} (active)` : 'cleared'), list);
    }
    const pod = f.pod?.name
      ? ` · pod ${f.pod.namespace ?? ''}/${f.pod.name}${f.pod.container ? ` (${f.pod.container})` : ''}`
      : '';
    list!.append(
      h(
        'li',
        { class: `finding${f.active ? '' : ' inactive'}` },
        h(
          'span',
          {
            class: `badge ${f.active ? `sev-${SEVERITY_ORDER.includes(f.severity) ? f.severity : 'other'}` : 'cleared'}`,
          },
          f.active ? f.severity : 'cleared',
        ),
        ' ',
        h('strong', {}, f.kind),
        h('p', {}, f.message),
        h('p', { class: 'meta' }, `node ${f.node}${pod} · last `, time(f.lastSeen, nowMs)),
      ),
    );
  }
  root.replaceChildren(h('div', { class: 'findings' }, ...groups));
}

export function renderNodes(root: HTMLElement, heading: HTMLElement, nodes: Iterable<NodeView>, nowMs: number): void {
  const all = [...nodes].sort((a, b) => (a.node < b.node ? -1 : 1));
  heading.textContent = `Nodes (${all.length})`;
  if (!all.length) {
    root.replaceChildren(h('p', { class: 'muted' }, 'No agent has reported yet.'));
    return;
  }
  const row = (n: NodeView) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, n.node),
      h('td', {}, h('span', { class: `badge state-${n.state}` }, n.state)),
      h('td', {}, time(n.lastSeen, nowMs)),
      h('td', {}, String(n.activeFindings)),
      h('td', {}, n.nats ? (n.nats.ok ? 'ok' : `failing: ${n.nats.detail}`) : '—'),
      h('td', {}, n.agentVersion),
    );
  root.replaceChildren(
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Node', 'State', 'Last contact', 'Findings', 'NATS', 'Agent'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h('tbody', {}, ...all.map(row)),
    ),
  );
}
