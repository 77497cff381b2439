// Kernel OOM kills -> the pod whose memory cgroup it was. The kernel prints (in this order)
//   oom-kill:constraint=CONSTRAINT_MEMCG,…,oom_memcg=/kubepods/burstable/pod<uid>,
//     task_memcg=/kubepods/burstable/pod<uid>/<cid>,task=python3,pid=21876,uid=0   (one line)
//   Memory cgroup out of memory: Killed process 21876 (python3) total-vm:…
// Only the first names the cgroup, only the second confirms the kill: they are joined by pid.
// Kernels before 4.19 print "Task in <memcg> killed as a result of limit of <memcg>" instead of oom-kill:.
import type { LogEntry } from '../parse/log-line.js';
import type { JournalConsumer } from '../sources/journal-consumer.js';

export interface OomKillLine {
  pid: number;
  task?: string;
  constraint?: string;
  oomMemcg?: string;
  taskMemcg?: string;
}

export interface OomKill {
  pid: number;
  comm: string;
  constraint?: string;
  oomMemcg?: string;
  taskMemcg?: string;
  podUid?: string;
  containerId?: string;
  /** The `oom-kill:` (or old `Task in …`) line, when one was seen for this pid. */
  oomKillLine?: string;
  killedLine: string;
  timeMs?: number;
}

/** `oom-kill:k=v,k=v,…` (values such as mems_allowed=0,2 may themselves contain commas). */
export function parseOomKillLine(message: string): OomKillLine | undefined {
  const at = message.indexOf('oom-kill:');
  if (at < 0) return undefined;
  const fields: Record<string, string> = {};
  let lastKey = '';
  for (const part of message
    .slice(at + 9)
    .trim()
    .split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) {
      lastKey = part.slice(0, eq);
      fields[lastKey] = part.slice(eq + 1);
    } else if (lastKey) fields[lastKey] += `,${part}`;
  }
  const pid = Number(fields.pid);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return {
    pid,
    task: fields.task,
    constraint: fields.constraint,
    oomMemcg: fields.oom_memcg,
    taskMemcg: fields.task_memcg,
  };
}

const KILLED = /Killed process (\d+) \(([^)]*)\)/;

export function parseKilledProcess(message: string): { pid: number; comm: string } | undefined {
  const m = KILLED.exec(message);
  return m ? { pid: Number(m[1]), comm: m[2] } : undefined;
}

const TASK_IN = /Task in (\S+) killed as a result of limit of (\S+)/;

// cgroupfs: …/pod<uid>/<cid>; systemd driver: …/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<cid>.scope.
// Static pods have a 32-hex uid (the manifest hash) without dashes.
const POD_UID =
  /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?(?:\/|$)/;
const CONTAINER = /^(?:[a-z-]*-)?([0-9a-f]{12,64})(?:\.scope)?$/;

/** Pod uid and container id from a memory cgroup path. */
export function podFromMemcg(memcg: string | undefined): { podUid?: string; containerId?: string } {
  if (!memcg) return {};
  const m = POD_UID.exec(memcg);
  if (!m) return {};
  const podUid = m[1].replace(/_/g, '-');
  const rest = memcg.slice(m.index + m[0].length);
  const c = rest && !rest.includes('/') ? CONTAINER.exec(rest) : null;
  return c ? { podUid, containerId: c[1] } : { podUid };
}

/** Joins the kernel's lines of one OOM kill. Time is passed in, so it is testable without timers. */
export class OomJoiner {
  private readonly byPid = new Map<number, { line: OomKillLine; text: string; at: number }>();
  private taskIn: { memcg: string; oomMemcg: string; text: string; at: number } | undefined;

  constructor(private readonly ttlMs = 60_000) {}

  push(entry: LogEntry, now: number): OomKill | undefined {
    const msg = entry.message;
    if (msg.includes('oom-kill:')) {
      const line = parseOomKillLine(msg);
      if (line) {
        this.byPid.set(line.pid, { line, text: msg, at: now });
        if (this.byPid.size > 256) this.byPid.delete(this.byPid.keys().next().value!);
      }
      return undefined;
    }
    const t = TASK_IN.exec(msg);
    if (t) {
      this.taskIn = { memcg: t[1], oomMemcg: t[2], text: msg, at: now };
      return undefined;
    }
    const k = parseKilledProcess(msg);
    if (!k) return undefined;
    const kill: OomKill = { pid: k.pid, comm: k.comm, killedLine: msg, timeMs: entry.timeMs };
    const joined = this.byPid.get(k.pid);
    this.byPid.delete(k.pid);
    if (joined && now - joined.at <= this.ttlMs) {
      Object.assign(kill, {
        constraint: joined.line.constraint,
        oomMemcg: joined.line.oomMemcg,
        taskMemcg: joined.line.taskMemcg,
        oomKillLine: joined.text,
      });
    } else if (this.taskIn && now - this.taskIn.at <= this.ttlMs) {
      Object.assign(kill, {
        oomMemcg: this.taskIn.oomMemcg,
        taskMemcg: this.taskIn.memcg,
        oomKillLine: this.taskIn.text,
      });
    }
    this.taskIn = undefined;
    return Object.assign(kill, podFromMemcg(kill.taskMemcg ?? kill.oomMemcg));
  }
}

export const OOM_LITERALS = ['oom-kill:', 'Killed process', 'killed as a result of limit of'] as const;

/** The journal consumer: one instance per agent, fed by the agent's single journal source. */
export function createOomConsumer(onKill: (kill: OomKill) => void, now: () => number = Date.now): JournalConsumer {
  const joiner = new OomJoiner();
  return {
    name: 'oom-kill',
    literals: OOM_LITERALS,
    onEntry(entry: LogEntry): void {
      const kill = joiner.push(entry, now());
      if (kill) onKill(kill);
    },
  };
}
