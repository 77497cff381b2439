// What changed in the stores since the last tick, for live views (GET /api/v1/watch). Ingest marks
// what each message touched; every tick hands the marked set to each subscriber and starts a new
// one, so a flow hit 1,000 times in a tick costs one event per watcher. With nobody watching,
// nothing is marked (no memory held for an audience that is not there).
import type { Applied } from '../ingest/apply.js';
import type { FlowEntry } from '../store/drops.js';

export interface ChangeSet {
  flows: Set<FlowEntry>;
  /** FindingStore.keyOf() of each finding raised, cleared or seen again. */
  findings: Set<string>;
  /** Nodes heard from (any message is contact). */
  nodes: Set<string>;
}

export type ChangeSubscriber = (changes: ChangeSet) => void;

/** How often marked changes go out: the upper bound on how often one entity is sent. */
export const CHANGE_TICK_MS = 500;

const empty = (): ChangeSet => ({ flows: new Set(), findings: new Set(), nodes: new Set() });

export class ChangeFeed {
  private readonly subscribers = new Set<ChangeSubscriber>();
  private pending = empty();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly tickMs = CHANGE_TICK_MS) {}

  get watchers(): number {
    return this.subscribers.size;
  }

  /** Marks what one applied message changed (called by ingest for every message). */
  applied(node: string, a: Applied): void {
    if (this.subscribers.size === 0 || a.kind === 'duplicate') return;
    this.pending.nodes.add(node);
    if (a.kind === 'drops') for (const f of a.flows) this.pending.flows.add(f);
    else if (a.kind === 'finding') this.pending.findings.add(a.key);
  }

  /** Marks a node whose view changed without a message (see followNodeStates). */
  markNode(node: string): void {
    if (this.subscribers.size > 0) this.pending.nodes.add(node);
  }

  subscribe(fn: ChangeSubscriber): () => void {
    this.subscribers.add(fn);
    this.timer ??= setInterval(() => this.flush(), this.tickMs);
    return () => {
      this.subscribers.delete(fn);
      if (this.subscribers.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
        this.pending = empty();
      }
    };
  }

  /** Hands the marked changes to every subscriber; one throwing does not starve the others. */
  flush(): void {
    const c = this.pending;
    if (c.flows.size === 0 && c.findings.size === 0 && c.nodes.size === 0) return;
    this.pending = empty();
    for (const fn of this.subscribers) {
      try {
        fn(c);
      } catch {
        /* a watcher's failure ends that watcher (watch.ts), never the feed */
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.subscribers.clear();
  }
}

/** How often node states are compared while anyone watches (a node goes stale by silence). */
export const NODE_STATE_SWEEP_MS = 5_000;

/**
 * Silence changes a node (healthy → stale) without any message to mark it, so a sweep marks each node
 * whose state differs from the previous sweep (marks are dropped while nobody watches). It sweeps with
 * or without watchers: a baseline taken only when one arrives would swallow a change that happened
 * between its initial list and that first sweep. O(nodes) every few seconds. Returns stop().
 */
export function followNodeStates(
  feed: ChangeFeed,
  states: () => Iterable<{ node: string; state: string }>,
  everyMs = NODE_STATE_SWEEP_MS,
  /** Wraps the periodic job (the collector's JobGuard catches and counts a failure). */
  wrap: (job: () => void) => () => void = (job) => job,
): () => void {
  let last = new Map<string, string>();
  const sweep = (): void => {
    const now = new Map<string, string>();
    for (const { node, state } of states()) {
      now.set(node, state);
      if (last.get(node) !== state) feed.markNode(node);
    }
    last = now;
  };
  const timer = setInterval(wrap(sweep), everyMs);
  return () => clearInterval(timer);
}
