// The one raise/clear state machine every probe reports through (docs/architecture.md#finding-kinds).
import type { FindingReport, FindingSink } from '../findings.js';

export interface TrackerOptions {
  /** Consecutive inactive observations before a raised finding is cleared (damps flapping rates). */
  clearAfter: number;
  /** An active finding whose evidence changed is re-reported at most this often ("seen again"). */
  refreshMs: number;
}

interface Raised {
  /** The latest observation (its evidence goes into a clear by absence). */
  last: FindingReport;
  /** Evidence as last sent: refreshes compare against what the collector has. */
  sentEvidence: Record<string, string>;
  reportedAtMs: number;
  misses: number;
}

function idOf(f: FindingReport): string {
  return `${f.kind}\u0000${f.key ?? ''}`;
}

function sameEvidence(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/**
 * Turns "the state of each condition now" into reports: raise when a condition starts, clear when it
 * ends. A probe lists the conditions it evaluated (active or not, each with evidence); a raised one
 * missing from the list (e.g. its pod is gone) is cleared with its last evidence.
 */
export class FindingTracker {
  private readonly raised = new Map<string, Raised>();

  constructor(
    private readonly sink: FindingSink,
    private readonly opts: TrackerOptions,
  ) {}

  update(observed: readonly FindingReport[], nowMs: number): void {
    const seen = new Set<string>();
    for (const f of observed) {
      const id = idOf(f);
      seen.add(id);
      const r = this.raised.get(id);
      if (f.active) {
        if (!r) {
          this.raised.set(id, { last: f, sentEvidence: f.evidence, reportedAtMs: nowMs, misses: 0 });
          this.sink.report(f);
          continue;
        }
        r.misses = 0;
        if (nowMs - r.reportedAtMs >= this.opts.refreshMs && !sameEvidence(r.sentEvidence, f.evidence)) {
          r.reportedAtMs = nowMs;
          r.sentEvidence = f.evidence;
          this.sink.report(f);
        }
        r.last = f;
      } else if (r && ++r.misses >= this.opts.clearAfter) {
        this.raised.delete(id);
        this.sink.report(f);
      }
    }
    for (const [id, r] of this.raised) {
      if (seen.has(id) || ++r.misses < this.opts.clearAfter) continue;
      this.raised.delete(id);
      this.sink.report({
        ...r.last,
        active: false,
        message: `no longer observed (was: ${r.last.message})`,
        evidence: { ...r.last.evidence, cleared: 'the condition is no longer observed' },
      });
    }
  }
}
