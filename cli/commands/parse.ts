import type { CommandSpec, FlagValues } from '../../common/flags.js';
import { LineSplitter } from '../../common/lines.js';
import { parseInputLine } from '../../agent/parse/log-line.js';
import {
  parseDropMessage,
  isReject,
  DEFAULT_DROP_PREFIXES,
  MAX_LINE_BYTES,
  type Drop,
} from '../../agent/parse/packet-drop.js';
import { loadPodsFile } from '../../collector/resolve/pods-file.js';
import type { Resolver } from '../../collector/resolve/resolver.js';

export const spec: CommandSpec = {
  name: 'parse',
  summary: 'Read log lines on stdin and print one JSON object per packet drop found (NDJSON).',
  usage: 'nodewarden parse [--prefix P]... [--pods-file FILE] [--explain] < lines',
  details: `Input: raw kernel log text (RFC3339, classic syslog or journalctl short format, or bare
messages) or \`journalctl -o json\` lines, mixed freely. Lines without a drop prefix print nothing.
Output fields: prefix, family, proto, src, dst, srcPort, dstPort, icmpType, icmpCode, in, out, ttl,
time (absent fields omitted); with --pods-file also srcPod/dstPod as {"namespace","name"}.
Example: journalctl -k -o json | nodewarden parse --pods-file pods.json`,
  flags: {
    prefix: { type: 'list', arg: 'P', default: DEFAULT_DROP_PREFIXES, help: 'Log prefix that marks a drop line.' },
    'pods-file': {
      type: 'string',
      arg: 'FILE',
      help: 'PodList JSON (kubectl get pods -A -o json) to name pods offline.',
    },
    explain: { type: 'boolean', help: 'Print why lines with a prefix were rejected, to stderr.', noEnv: true },
  },
};

export function dropJson(d: Drop, timeMs: number | undefined, resolver?: Resolver): Record<string, unknown> {
  const o: Record<string, unknown> = { prefix: d.prefix, family: d.family, proto: d.proto, src: d.src, dst: d.dst };
  if (d.srcPort !== undefined) o.srcPort = d.srcPort;
  if (d.dstPort !== undefined) o.dstPort = d.dstPort;
  if (d.icmpType !== undefined) o.icmpType = d.icmpType;
  if (d.icmpCode !== undefined) o.icmpCode = d.icmpCode;
  if (d.in !== undefined) o.in = d.in;
  if (d.out !== undefined) o.out = d.out;
  if (d.ttl !== undefined) o.ttl = d.ttl;
  if (timeMs !== undefined) o.time = new Date(timeMs).toISOString();
  if (resolver) {
    for (const [side, ip] of [
      ['srcPod', d.src],
      ['dstPod', d.dst],
    ] as const) {
      const owner = resolver.resolve(ip);
      if (owner?.kind === 'pod') o[side] = { namespace: owner.namespace, name: owner.name };
    }
  }
  return o;
}

export async function run(v: FlagValues): Promise<number> {
  const prefixes = (v.prefix as string[]).filter(Boolean);
  const resolver = v['pods-file'] ? loadPodsFile(v['pods-file'] as string) : undefined;
  const explain = v.explain === true;
  let lineNo = 0;
  let out = '';
  // Records that could not be read are skipped, never fatal: one bad journal record must not cost
  // the drops around it. Counted by reason and summed up on stderr at the end.
  const skipped = new Map<string, number>();
  const skip = (reason: string, detail: string): void => {
    skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
    if (explain) process.stderr.write(`line ${lineNo}: ${reason}: ${detail}\n`);
  };
  const flush = () => {
    if (out) {
      process.stdout.write(out);
      out = '';
    }
  };
  const onLine = (line: string): void => {
    const entry = parseInputLine(line);
    if ('reject' in entry) {
      // A line that is not JSON is only noise unless it was meant to be a journal record with a drop.
      if (entry.reject === 'bad-time' || explain) skip(entry.reject, entry.detail);
      return;
    }
    if (entry.kernel === false) {
      // Another program's line may quote a drop prefix; only the kernel's LOG target makes drops.
      if (explain && prefixes.some((p) => entry.message.includes(p)))
        skip('not-kernel', 'the syslog tag is not "kernel"');
      return;
    }
    const r = parseDropMessage(entry.message, prefixes);
    if (r === undefined) return;
    if (isReject(r)) return skip(r.reject, r.detail);
    out += JSON.stringify(dropJson(r, entry.timeMs, resolver)) + '\n';
    if (out.length > 65536) flush();
  };
  const splitter = new LineSplitter(
    MAX_LINE_BYTES * 4,
    (line) => {
      lineNo++;
      try {
        onLine(line);
      } catch (err) {
        skip('internal-error', (err as Error).message);
      }
    },
    () => {
      lineNo++;
      skip('too-long', 'skipped');
    },
  );
  for await (const chunk of process.stdin) splitter.write(chunk as Buffer);
  splitter.end();
  flush();
  const bad = [...skipped].filter(
    ([reason]) => reason !== 'bad-json' && reason !== 'no-message' && reason !== 'not-kernel',
  );
  if (bad.length)
    process.stderr.write(
      `nodewarden parse: skipped ${bad.reduce((n, [, c]) => n + c, 0)} unreadable drop records (${bad.map(([r, c]) => `${r} ${c}`).join(', ')}); --explain names each line\n`,
    );
  return 0;
}
