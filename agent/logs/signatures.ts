// Turns rule matches on container log lines, and kernel OOM kills, into pod-attributed findings,
// de-duplicated per pod and kind within the rule's window.
import type { FindingReport, FindingSink } from '../findings.js';
import type { LogicalLine } from './assembler.js';
import { Deduper } from './dedup.js';
import type { RuleMatch, RuleSet } from './matcher.js';
import type { LogMetrics } from './metrics.js';
import type { OomKill } from './oom.js';
import type { PodMeta } from './pod-path.js';
import { renderMessage } from './rules.js';
import type { FileInfo } from './tailer.js';

const EVIDENCE_MAX = 2048;
/** An OOM kill is one event; repeats within a minute (a crash loop) add nothing new. */
export const OOM_DEDUP_MS = 60_000;

export class SignatureReporter {
  private readonly dedup = new Deduper();
  private readonly scratch: RuleMatch[] = [];

  constructor(
    private readonly rules: RuleSet,
    private readonly sink: FindingSink,
    private readonly metrics: LogMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /** The line handler for one file: its pod's rules are selected once, not per line. */
  handlerFor(file: FileInfo): (line: LogicalLine) => void {
    const matcher = this.rules.forPod(file.meta);
    if (matcher.rules.length === 0) return () => undefined;
    return (line) => {
      const out = this.scratch;
      out.length = 0;
      matcher.match(line.content, out);
      for (let i = 0; i < out.length; i++) this.onMatch(out[i], line, file);
    };
  }

  private onMatch({ rule, m }: RuleMatch, line: LogicalLine, file: FileInfo): void {
    this.metrics.matched(rule.kind);
    const pod = podRef(file.meta);
    const who = pod ? (pod.uid ?? `${pod.namespace}/${pod.name}`) : file.link;
    if (!this.dedup.admit(`${rule.kind}\u0000${who}`, rule.dedupMs, this.now())) {
      this.metrics.suppressed(rule.kind);
      return;
    }
    const evidence: Record<string, string> = {
      line: clip(line.content),
      time: line.time,
      stream: line.stream,
      file: file.target,
      rule: rule.name,
    };
    if (line.cut) evidence.cut = 'true';
    // Named groups are the facts a rule picked out (e.g. the throttled client's userAgent).
    if (m.groups)
      for (const [k, v] of Object.entries(m.groups)) if (v !== undefined && !(k in evidence)) evidence[k] = clip(v);
    this.emit({
      kind: rule.kind,
      severity: rule.severity,
      active: true,
      message: renderMessage(rule, m, file.meta),
      ...(pod ? { pod } : {}),
      evidence,
      key: who,
    });
  }

  onOomKill(kill: OomKill): void {
    this.metrics.oomKill(kill.podUid !== undefined);
    const who = kill.podUid ?? 'node';
    if (!this.dedup.admit(`OOMKilled\u0000${who}`, OOM_DEDUP_MS, this.now())) {
      this.metrics.suppressed('OOMKilled');
      return;
    }
    const why =
      kill.constraint === 'CONSTRAINT_NONE'
        ? 'the node ran out of memory'
        : `memory limit of ${kill.oomMemcg ?? 'its cgroup'} reached`;
    const message = kill.podUid
      ? `Container ${kill.containerId ? kill.containerId.slice(0, 13) : '(unknown)'} of pod uid ${kill.podUid} was OOM-killed: process ${kill.pid} (${kill.comm}), ${why}`
      : `Process ${kill.pid} (${kill.comm}) was killed by the kernel OOM killer: ${why}`;
    const evidence: Record<string, string> = { killed: clip(kill.killedLine), pid: String(kill.pid), task: kill.comm };
    if (kill.oomKillLine) evidence.oomKill = clip(kill.oomKillLine);
    if (kill.containerId) evidence.containerId = kill.containerId;
    if (kill.taskMemcg) evidence.taskMemcg = kill.taskMemcg;
    if (kill.oomMemcg) evidence.oomMemcg = kill.oomMemcg;
    if (kill.constraint) evidence.constraint = kill.constraint;
    if (kill.timeMs !== undefined) evidence.time = new Date(kill.timeMs).toISOString();
    this.emit({
      kind: 'OOMKilled',
      severity: 'warning',
      active: true,
      message,
      ...(kill.podUid ? { pod: { uid: kill.podUid } } : {}),
      evidence,
      key: who,
    });
  }

  private emit(f: FindingReport): void {
    this.metrics.reported(f.kind);
    this.sink.report(f);
  }
}

function podRef(meta: PodMeta): FindingReport['pod'] {
  if (!meta.uid && !(meta.namespace && meta.name)) return undefined;
  const pod: NonNullable<FindingReport['pod']> = {};
  if (meta.namespace) pod.namespace = meta.namespace;
  if (meta.name) pod.name = meta.name;
  if (meta.uid) pod.uid = meta.uid;
  if (meta.container) pod.container = meta.container;
  return pod;
}

function clip(s: string): string {
  return s.length > EVIDENCE_MAX ? `${s.slice(0, EVIDENCE_MAX - 3)}...` : s;
}
