// Prometheus counters of the container-log tailer and the log signatures.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Count, TailEvent } from './file-tail.js';

export interface LogMetrics {
  count: Count;
  matched(kind: string): void;
  reported(kind: string): void;
  suppressed(kind: string): void;
  oomKill(attributed: boolean): void;
}

export function createLogMetrics(registry: Registry, files: () => number): LogMetrics {
  const registers = [registry];
  const c = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers });
  const lines = c(
    'nodewarden_agent_container_log_lines_total',
    'Logical container log lines read (after partial-line merging).',
  );
  const bytes = c('nodewarden_agent_container_log_bytes_total', 'Bytes read from container log files.');
  const rejected = c(
    'nodewarden_agent_container_log_rejected_lines_total',
    'Container log lines skipped: malformed CRI/Docker lines, binary junk, lines over the size cap without a valid header.',
    ['reason'],
  );
  const cut = c(
    'nodewarden_agent_container_log_cut_lines_total',
    'Logical lines cut to the 64 KiB cap (only their start was matched).',
  );
  const rotations = c(
    'nodewarden_agent_container_log_rotations_total',
    'Log rotations followed (rename to a new inode).',
  );
  const truncations = c(
    'nodewarden_agent_container_log_truncations_total',
    'Log files found truncated in place (read again from the start).',
  );
  const lost = c(
    'nodewarden_agent_container_log_rotated_lost_total',
    'Rotated log files compressed or removed before they were read to the end.',
  );
  const errors = c(
    'nodewarden_agent_container_log_read_errors_total',
    'Failed reads of container log files (retried on the next poll).',
  );
  const matches = c('nodewarden_agent_log_signature_matches_total', 'Log lines that matched a signature rule.', [
    'kind',
  ]);
  const findings = c('nodewarden_agent_log_findings_total', 'Log signature findings reported.', ['kind']);
  const suppressed = c(
    'nodewarden_agent_log_findings_suppressed_total',
    'Signature matches not reported again within their de-duplication window.',
    ['kind'],
  );
  const ooms = c(
    'nodewarden_agent_oom_kills_total',
    'Kernel OOM kills seen in the journal, by whether a pod could be named.',
    ['attributed'],
  );
  for (const reason of ['malformed', 'binary', 'oversize']) rejected.inc({ reason }, 0);
  for (const attributed of ['true', 'false']) ooms.inc({ attributed }, 0);
  new Gauge({
    name: 'nodewarden_agent_container_log_files',
    help: 'Container log files followed.',
    registers,
    collect() {
      this.set(files());
    },
  });
  const byEvent: Record<TailEvent, (n: number) => void> = {
    line: (n) => lines.inc(n),
    bytes: (n) => bytes.inc(n),
    'rejected:malformed': (n) => rejected.inc({ reason: 'malformed' }, n),
    'rejected:binary': (n) => rejected.inc({ reason: 'binary' }, n),
    'rejected:oversize': (n) => rejected.inc({ reason: 'oversize' }, n),
    cut: (n) => cut.inc(n),
    rotation: (n) => rotations.inc(n),
    truncation: (n) => truncations.inc(n),
    'rotated-lost': (n) => lost.inc(n),
    'read-error': (n) => errors.inc(n),
  };
  return {
    count: (event, n = 1) => byEvent[event](n),
    matched: (kind) => matches.inc({ kind }),
    reported: (kind) => findings.inc({ kind }),
    suppressed: (kind) => suppressed.inc({ kind }),
    oomKill: (attributed) => ooms.inc({ attributed: String(attributed) }),
  };
}
