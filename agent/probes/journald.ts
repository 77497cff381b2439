// journald probe: samples the RSS of every systemd-journald process under /proc.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Probe } from './framework.js';
import { ProbeUnavailable, readOptionalFile } from './host.js';
import { inWindow, journaldGrowthFinding, type GrowthOptions, type RssSample } from './journald-growth.js';
import { parseStatusMemory } from './proc-parse.js';

export interface JournaldProbeOptions extends GrowthOptions {
  intervalMs: number;
  /** Needs the host's PID namespace (hostPID, or the host's /proc mounted here). */
  procRoot: string;
}

/** /proc/<pid>/comm is cut at 15 characters: "systemd-journald" reads "systemd-journal". */
const COMM = 'systemd-journal';
/** So is systemd-journal-remote's; argv[0] tells them apart. */
const EXE = 'systemd-journald';
/** Bounds memory whatever the window/interval ratio. */
const MAX_SAMPLES = 720;

async function journaldPids(procRoot: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(procRoot);
  } catch (e) {
    throw new ProbeUnavailable(`${procRoot}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const pids = names.filter((n) => /^\d+$/.test(n));
  const comms = await Promise.all(pids.map((p) => readOptionalFile(join(procRoot, p, 'comm'))));
  const candidates = pids.filter((_, i) => comms[i]?.trim() === COMM);
  const argv0 = await Promise.all(
    candidates.map(async (p) => (await readOptionalFile(join(procRoot, p, 'cmdline')))?.split('\0')[0]),
  );
  return candidates.filter((_, i) => argv0[i]?.split('/').pop() === EXE).map(Number);
}

export function journaldProbe(opts: JournaldProbeOptions): Probe {
  const history = new Map<number, RssSample[]>();
  return {
    name: 'journald',
    intervalMs: opts.intervalMs,
    async tick({ now }) {
      const pids = await journaldPids(opts.procRoot);
      if (pids.length === 0)
        throw new ProbeUnavailable(
          `no systemd-journald process under ${opts.procRoot} (the agent needs the host PID namespace)`,
        );
      for (const pid of history.keys()) if (!pids.includes(pid)) history.delete(pid);
      const findings = [];
      for (const pid of pids) {
        const status = await readOptionalFile(join(opts.procRoot, String(pid), 'status'));
        if (status === undefined) continue; // exited since the scan
        const m = parseStatusMemory(status);
        const anon = m.rssAnon ?? m.vmRss;
        if (anon === undefined) continue; // a zombie has no memory lines
        const samples = inWindow(
          [...(history.get(pid) ?? []), { at: now, anon, rss: m.vmRss, file: m.rssFile }],
          now,
          opts.windowMs,
        ).slice(-MAX_SAMPLES);
        history.set(pid, samples);
        findings.push(journaldGrowthFinding(pid, samples, opts));
      }
      return findings;
    },
  };
}
