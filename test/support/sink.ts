// The one FindingSink tests use: keeps every report and status, in order.
import type { FindingReport, FindingSink } from '../../agent/findings.js';

export interface StatusReport {
  name: string;
  ok: boolean;
  detail: string;
}

export class RecordingSink implements FindingSink {
  readonly findings: FindingReport[] = [];
  readonly statuses: StatusReport[] = [];
  /** When each status came (statuses[i] at statusAt[i]). */
  readonly statusAt: number[] = [];
  report(f: FindingReport): void {
    this.findings.push(f);
  }
  status(name: string, ok: boolean, detail: string): void {
    this.statuses.push({ name, ok, detail });
    this.statusAt.push(Date.now());
  }
  of(kind: string): FindingReport[] {
    return this.findings.filter((f) => f.kind === kind);
  }
  /** The first report of `kind` with the given state after index `from`. */
  find(
    kind: string,
    active: boolean,
    from = 0,
    extra: (f: FindingReport) => boolean = () => true,
  ): FindingReport | undefined {
    return this.findings.slice(from).find((f) => f.kind === kind && f.active === active && extra(f));
  }
}
