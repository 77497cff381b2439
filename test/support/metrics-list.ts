// The two sides of README "Metrics": the tables written there, and what a running role's /metrics
// exposes (names, types, label names), read from the Prometheus text format.
import { readFileSync } from 'node:fs';

export type Role = 'collector' | 'agent' | 'auth';
/** series: the answer had at least one series of it (so its label names are known). */
export interface MetricRow {
  name: string;
  type: string;
  labels: string[];
  series?: boolean;
}

const README = new URL('../../README.md', import.meta.url).pathname;
const HEADINGS: Record<string, Role> = { Collector: 'collector', Agent: 'agent', 'Auth service': 'auth' };

/** README's rows per role (the section's `### Collector`, `### Agent`, `### Auth service` tables). */
export function readmeMetrics(text = readFileSync(README, 'utf8')): Record<Role, MetricRow[]> {
  const start = text.indexOf('\n## Metrics\n');
  if (start < 0) throw new Error('README has no "## Metrics" section');
  const end = text.indexOf('\n## ', start + 1);
  const out: Record<Role, MetricRow[]> = { collector: [], agent: [], auth: [] };
  let role: Role | undefined;
  for (const line of text.slice(start, end < 0 ? undefined : end).split('\n')) {
    const h = /^### (.+?)(?: \(|$)/.exec(line);
    if (h) {
      role = HEADINGS[h[1]];
      continue;
    }
    const row = /^\| `([a-z_:]+)` \| (counter|gauge|histogram) \| ([^|]*) \|/.exec(line);
    if (row && role)
      out[role].push({
        name: row[1],
        type: row[2],
        labels: [...row[3].matchAll(/`([a-z_]+)`/g)].map((m) => m[1]).sort(),
      });
  }
  return out;
}

/** Default process/Node.js metrics of prom-client, under the role's prefix: listed in README as one row. */
export const isDefaultMetric = (role: Role, name: string): boolean =>
  new RegExp(`^nodewarden_${role}_(process|nodejs)_`).test(name);

/** Metrics in a /metrics answer: from its # TYPE lines, with the label names seen on its series. */
export function exposedMetrics(text: string): MetricRow[] {
  const rows = new Map<string, MetricRow>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) rows.set(m[1], { name: m[1], type: m[2], labels: [] });
  for (const m of text.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? \S+$/gm)) {
    const base = rows.get(m[1]) ?? rows.get(m[1].replace(/_(bucket|sum|count)$/, ''));
    if (!base) continue;
    base.series = true;
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="/g))
      if (l[1] !== 'le' && !base.labels.includes(l[1])) base.labels.push(l[1]);
  }
  return [...rows.values()].map((r) => ({ ...r, labels: r.labels.sort() }));
}
