// Active and recently cleared findings, per (node, kind, key).
import type { Finding as FindingMsg } from '../../proto/codec.js';
import type { Resolver } from '../resolve/resolver.js';

export interface FindingView {
  node: string;
  kind: string;
  severity: string;
  message: string;
  active: boolean;
  firstSeen: string;
  lastSeen: string;
  pod?: { namespace?: string; name?: string; uid?: string; container?: string };
  evidence?: Record<string, string>;
}

interface Entry {
  node: string;
  f: FindingMsg;
  active: boolean;
  first: number;
  last: number;
  clearedAt?: number;
}

export interface FindingQuery {
  node?: string;
  kind?: string;
  active?: boolean;
}

export class FindingStore {
  private entries = new Map<string, Entry>();

  constructor(private readonly resolver: Resolver) {}

  /** Applies a raise or clear; returns true when it changed the active state. */
  apply(node: string, f: FindingMsg, atMs: number): boolean {
    const key = `${node}|${f.kind}|${f.key ?? ''}`;
    const e = this.entries.get(key);
    const t = (f.lastSeenMs as number) || atMs;
    if (!e) {
      this.entries.set(key, { node, f, active: !!f.active, first: (f.firstSeenMs as number) || t, last: t, clearedAt: f.active ? undefined : t });
      return true;
    }
    const changed = e.active !== !!f.active;
    if (f.active && !e.active) e.first = t;
    e.active = !!f.active;
    e.last = Math.max(e.last, t);
    e.clearedAt = f.active ? undefined : t;
    // A clear keeps the evidence of the raise unless it brings its own.
    e.f = f.active || Object.keys(f.evidence ?? {}).length ? f : { ...f, evidence: e.f.evidence, pod: f.pod ?? e.f.pod };
    return changed;
  }

  activeCritical(node: string): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.node === node && e.active && e.f.severity === 'critical') n++;
    return n;
  }

  activeCount(node: string): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.node === node && e.active) n++;
    return n;
  }

  expireCleared(cutoffMs: number): void {
    for (const [k, e] of this.entries) if (!e.active && (e.clearedAt ?? 0) < cutoffMs) this.entries.delete(k);
  }

  query(q: FindingQuery): FindingView[] {
    const out: FindingView[] = [];
    for (const e of this.entries.values()) {
      if (q.node !== undefined && e.node !== q.node) continue;
      if (q.kind !== undefined && e.f.kind !== q.kind) continue;
      if (q.active !== undefined && e.active !== q.active) continue;
      out.push(this.view(e));
    }
    return out.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
  }

  private view(e: Entry): FindingView {
    const v: FindingView = {
      node: e.node, kind: e.f.kind as string, severity: e.f.severity as string, message: e.f.message as string,
      active: e.active, firstSeen: new Date(e.first).toISOString(), lastSeen: new Date(e.last).toISOString(),
    };
    const p = e.f.pod;
    if (p && (p.uid || p.name)) {
      const named = !p.name && p.uid ? this.resolver.podByUid(p.uid) : undefined;
      v.pod = { namespace: (p.namespace || named?.namespace) || undefined, name: (p.name || named?.name) || undefined, uid: p.uid || undefined, container: p.container || undefined };
      for (const k of Object.keys(v.pod) as (keyof NonNullable<FindingView['pod']>)[]) if (v.pod[k] === undefined) delete v.pod[k];
    }
    if (e.f.evidence && Object.keys(e.f.evidence).length) v.evidence = { ...e.f.evidence };
    return v;
  }
}
