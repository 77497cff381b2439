// The agent's pipeline counters: names the heartbeat uses (outbox, publisher, journal, drop parser)
// mapped to Prometheus metrics with reasons and outcomes as labels, every label value registered at
// start so rate() and absent() work from the first scrape. README "Metrics" lists them.
import { Counter, Gauge, type Registry } from 'prom-client';
import { registerRoleMetrics } from '../common/metrics.js';
import { OUTBOX_COUNTERS, type OutboxCounter } from './outbox/outbox.js';
import { CONNECT_OUTCOMES, type ConnectOutcome } from './outbox/publisher.js';
import { JOURNAL_COUNTERS, type JournalCounter } from './sources/journal.js';
import { REJECT_REASONS, type RejectReason } from './parse/packet-drop.js';

/** The counter names the agent's parts report (also the keys of the heartbeat's counters). */
export type AgentCounter =
  | OutboxCounter
  | `nats_connect_${ConnectOutcome}`
  | `journal_${JournalCounter}`
  | `drop_lines_rejected_${string}`;

export const dropRejectCounter = (r: RejectReason): AgentCounter => `drop_lines_rejected_${r.replace(/-/g, '_')}`;

type Target = { c: Counter<string>; labels?: Record<string, string> };

export interface AgentGauges {
  spoolBytes(): number;
  spoolMemoryBytes(): number;
  spoolMessages(): number;
  natsConnected(): boolean;
}

export function agentMetrics(registry: Registry): {
  count(name: AgentCounter, n: number): void;
  gauges(g: AgentGauges): void;
} {
  const registers = [registry];
  registerRoleMetrics(registry, 'agent');
  const c = (name: string, help: string, labelNames: string[] = []): Counter<string> =>
    new Counter({ name: `nodewarden_agent_${name}`, help, labelNames, registers });
  const targets = new Map<string, Target>();
  const plain = (key: string, c0: Counter<string>) => targets.set(key, { c: c0 });
  const labelled = (key: string, c0: Counter<string>, labels: Record<string, string>) =>
    targets.set(key, { c: c0, labels });

  plain('drop_lines', c('drop_lines_total', 'kernel drop lines parsed and handed to the outbox'));
  const dropRejected = c(
    'drop_lines_rejected_total',
    'kernel lines with a drop prefix that could not be parsed, by reason',
    ['reason'],
  );
  for (const r of REJECT_REASONS) labelled(dropRejectCounter(r), dropRejected, { reason: r.replace(/-/g, '_') });
  plain('flows_sealed', c('flows_sealed_total', 'coalesced drop flows sealed into messages'));
  plain('findings', c('findings_total', 'finding messages (raised and cleared) handed to the outbox'));
  plain('messages_published', c('messages_published_total', 'messages acknowledged by JetStream'));
  plain('publish_errors', c('publish_errors_total', 'publish attempts that failed (retried from the spool)'));
  plain(
    'publish_duplicates_unexpected',
    c(
      'publish_duplicates_unexpected_total',
      'messages JetStream called duplicates the agent had not published before (another agent with the same identity?)',
    ),
  );
  plain(
    'spool_evicted_messages',
    c(
      'spool_evicted_messages_total',
      'sealed messages discarded, oldest first, because the spool reached --spool-max-bytes',
    ),
  );
  const writeFailures = c(
    'state_write_failures_total',
    'writes to the state dir that failed, by file (spool entries are then held in memory)',
    ['file'],
  );
  labelled('spool_write_failures', writeFailures, { file: 'spool' });
  labelled('checkpoint_write_failures', writeFailures, { file: 'checkpoint' });
  const connects = c('nats_connects_total', 'NATS connect attempts, by outcome', ['outcome']);
  for (const outcome of CONNECT_OUTCOMES) labelled(`nats_connect_${outcome}`, connects, { outcome });
  plain('journal_lines', c('journal_lines_total', 'JSON lines read from journalctl'));
  plain('journal_parsed', c('journal_records_total', 'journal records parsed from those lines'));
  const journalRejected = c('journal_lines_rejected_total', 'journalctl output lines refused, by reason', ['reason']);
  for (const reason of ['too_long', 'bad_json', 'bad_time'])
    labelled(`journal_rejected_${reason}`, journalRejected, { reason });
  plain('journal_restarts', c('journal_restarts_total', 'times journalctl exited and was started again'));
  // Each name the parts can report has a metric: a missing one is a compile-time error above or a
  // start-time one here, never a series that appears only when the first event happens.
  for (const name of [...OUTBOX_COUNTERS, ...JOURNAL_COUNTERS.map((j) => `journal_${j}`)])
    if (!targets.has(name)) throw new Error(`agent metrics: no metric for counter ${name}`);
  for (const t of targets.values()) t.labels ? t.c.inc(t.labels, 0) : t.c.inc(0);

  return {
    count(name, n) {
      const t = targets.get(name);
      if (!t) return; // unreachable: every name was checked at start
      if (t.labels) t.c.inc(t.labels, n);
      else t.c.inc(n);
    },
    gauges(g) {
      new Gauge({
        name: 'nodewarden_agent_spool_bytes',
        help: 'bytes of sealed messages waiting for NATS (disk and memory)',
        registers,
        collect() {
          this.set(g.spoolBytes());
        },
      });
      new Gauge({
        name: 'nodewarden_agent_spool_memory_bytes',
        help: 'bytes of sealed messages held in memory because the state dir refuses writes',
        registers,
        collect() {
          this.set(g.spoolMemoryBytes());
        },
      });
      new Gauge({
        name: 'nodewarden_agent_spool_messages',
        help: 'sealed outbox entries waiting for NATS',
        registers,
        collect() {
          this.set(g.spoolMessages());
        },
      });
      new Gauge({
        name: 'nodewarden_agent_nats_connected',
        help: '1 when connected to NATS',
        registers,
        collect() {
          this.set(g.natsConnected() ? 1 : 0);
        },
      });
    },
  };
}
