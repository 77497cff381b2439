// The kubelet's latest mirror-pod error per static pod, as the runtime snapshot carries it. The kubelet
// repeats a failing create on every sync of the pod (about once a minute), so an error that has not
// been repeated for the TTL is over; one that keeps coming keeps its first date, so repeats alone do
// not change the snapshot's digest.
import type { MirrorPodErrorView } from '../../proto/codec.js';
import type { JournalConsumer } from '../sources/journal-consumer.js';
import { MIRROR_LITERALS, parseMirrorPodFailure, type MirrorPodFailure } from './kubelet-log.js';

interface Entry extends MirrorPodErrorView {
  lastMs: number;
}

export const MIRROR_ERROR_TTL_MS = 10 * 60_000;
/** Static pods are a handful per node; this only bounds a kubelet gone wild. */
const MAX_ENTRIES = 256;

export class MirrorErrorBook {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly ttlMs = MIRROR_ERROR_TTL_MS) {}

  record(f: MirrorPodFailure, atMs: number): void {
    const key = `${f.namespace}/${f.name}`;
    const cur = this.entries.get(key);
    if (cur && cur.error === f.error) {
      cur.lastMs = Math.max(cur.lastMs, atMs);
      return;
    }
    this.entries.set(key, { ...f, sinceMs: atMs, lastMs: atMs });
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = [...this.entries].sort((a, b) => a[1].lastMs - b[1].lastMs)[0][0];
      this.entries.delete(oldest);
    }
  }

  /** The errors still current, sorted by pod (a node-wide one, name '', first). */
  current(nowMs: number): MirrorPodErrorView[] {
    for (const [k, e] of this.entries) if (nowMs - e.lastMs > this.ttlMs) this.entries.delete(k);
    return [...this.entries.values()]
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
      .map(({ namespace, name, error, sinceMs }) => ({ namespace, name, error, sinceMs }));
  }

  /**
   * Reads the kubelet's records (those of `match`) from the agent's one journal reader. `seen` hears
   * of each line that mentions a mirror pod: understood or not (a format this parser does not know).
   */
  consumer(
    match: string,
    seen: (line: string, understood: boolean) => void = () => {},
    now: () => number = Date.now,
  ): JournalConsumer {
    return {
      name: 'kubelet-mirror-pods',
      literals: MIRROR_LITERALS,
      match,
      onEntry: (entry) => {
        const f = parseMirrorPodFailure(entry.message);
        if (f) this.record(f, entry.timeMs ?? now());
        seen(entry.message, f !== undefined);
      },
    };
  }
}
