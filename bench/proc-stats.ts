// RSS and CPU time of a process from /proc (Linux), for the benches.
import { readFileSync } from 'node:fs';

export function procStats(pid: number): { rssMiB: number; cpuS: number } {
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { rssMiB: rss, cpuS: (Number(f[11]) + Number(f[12])) / 100 };
}
