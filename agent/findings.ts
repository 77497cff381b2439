// What detectors (probes, log signatures) hand to the outbox. Kinds: docs/architecture.md#finding-kinds.
import type { PodRef } from '../proto/codec.js';

export type Severity = 'warning' | 'critical' | 'info';

export interface FindingReport {
  kind: string;
  severity: Severity;
  /** true when the condition starts (or is seen again), false when it has cleared. */
  active: boolean;
  message: string;
  /** For pod-attributed findings; uid alone is fine (the collector names the pod). */
  pod?: PodRef;
  evidence: Record<string, string>;
  /** Distinguishes several findings of one kind on one node (e.g. the pod uid, the rule's chain). */
  key?: string;
}

export interface FindingSink {
  report(finding: FindingReport): void;
  /** A source or probe that cannot run on this host says so once, instead of raising false alarms. */
  status(name: string, ok: boolean, detail: string): void;
}
