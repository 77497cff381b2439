import { ConfigError, type CommandSpec, type FlagValues } from '../../common/flags.js';
import type { NodeRuntimeJson } from '../../collector/runtime/view.js';
import { collectorClientFlags, getJson, checkOutput } from '../shared-flags.js';
import { outputFlags, serialize, table } from '../output.js';

export const spec: CommandSpec = {
  name: 'runtime',
  summary: "Show a node's pods and containers as its container runtime sees them (a remote crictl pods + crictl ps).",
  usage: 'nodewarden runtime NODE [-a] [--no-trunc] [--collector URL] [-o json|yaml]',
  details: `Reads GET /api/v1/nodes/NODE/runtime from a collector: the latest view the node's agent took of
its runtime over CRI. Unlike kubectl it also shows static pods whose mirror pod is missing from the
API, containers of pods the API no longer lists, and every restart attempt (-a).

Examples:
  # Running pods and containers on worker-2
  nodewarden runtime worker-2

  # Every container, also exited ones, with full IDs
  nodewarden runtime worker-2 -a --no-trunc

  # As JSON
  nodewarden runtime worker-2 -o json`,
  flags: {
    ...collectorClientFlags,
    output: { ...outputFlags.output, arg: 'table|json|yaml', help: 'table, json or yaml.' },
    all: {
      type: 'boolean',
      short: 'a',
      help: 'Show containers in every state (crictl ps -a); by default only running ones, like crictl ps.',
      noEnv: true,
    },
    'no-trunc': { type: 'boolean', help: 'Do not truncate IDs.', noEnv: true },
  },
};

/** go-units HumanDuration, which crictl prints as "<duration> ago". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

const TRUNC = 13;
const trunc = (id: string, noTrunc: boolean) => (noTrunc ? id : id.slice(0, TRUNC));
/** crictl shows an image ID (what current kubelets put in ImageSpec.image) as its first 13 hex digits. */
const image = (img: string, noTrunc: boolean) =>
  !noTrunc && /^sha256:[0-9a-f]{64}$/.test(img) ? img.slice(7, 7 + TRUNC) : img;
const podState = (s: string) =>
  (({ SANDBOX_READY: 'Ready', SANDBOX_NOTREADY: 'NotReady' }) as Record<string, string>)[s] ?? s;
const ctrState = (s: string) =>
  (
    ({
      CONTAINER_CREATED: 'Created',
      CONTAINER_RUNNING: 'Running',
      CONTAINER_EXITED: 'Exited',
      CONTAINER_UNKNOWN: 'Unknown',
    }) as Record<string, string>
  )[s] ?? s;

export function renderRuntime(r: NodeRuntimeJson, o: { all: boolean; noTrunc: boolean; nowMs: number }): string {
  const ago = (iso: string) => `${humanDuration(o.nowMs - Date.parse(iso))} ago`;
  const head = `Node ${r.node}: ${r.runtime.name} ${r.runtime.version} (${r.runtime.endpoint}), observed ${ago(r.observedAt)}${r.stale ? ' — STALE: the agent has not reported its runtime for a while' : ''}\n`;
  // `crictl info`'s conditions in one line; a false one spelled out.
  const conds = (r.conditions ?? []).map((c) =>
    c.status
      ? `${c.type}=true`
      : `${c.type}=false (${[c.reason, c.message].filter(Boolean).join(': ') || 'no reason given'})`,
  );
  const status = conds.length ? `Status: ${conds.join(', ')}\n\n` : '\n';
  const pods = table(
    ['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME'],
    r.pods.map((p) => [
      trunc(p.id, o.noTrunc),
      ago(p.createdAt),
      podState(p.state),
      p.name,
      p.namespace,
      String(p.attempt),
      p.runtimeHandler || '(default)',
    ]),
  );
  const shown = r.containers.filter((c) => o.all || c.state === 'CONTAINER_RUNNING');
  const ctrs = table(
    ['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD', 'NAMESPACE'],
    shown.map((c) => [
      trunc(c.id, o.noTrunc),
      image(c.image, o.noTrunc),
      ago(c.createdAt),
      ctrState(c.state),
      c.name,
      String(c.attempt),
      trunc(c.podId, o.noTrunc),
      c.podName,
      c.podNamespace,
    ]),
  );
  const unmirrored = r.pods.filter((p) => p.state === 'SANDBOX_READY' && p.staticPod?.mirrorPod === false);
  const why = (p: (typeof unmirrored)[number]) =>
    p.staticPod?.kubeletError
      ? `\n  ${p.namespace}/${p.name}: ${p.staticPod.kubeletError.cause}\n    kubelet: ${p.staticPod.kubeletError.error}`
      : '';
  const notes = unmirrored.length
    ? `\nStatic pods with no mirror pod in the API (kubectl does not show them): ${unmirrored.map((p) => `${p.namespace}/${p.name}`).join(', ')}${unmirrored.map(why).join('')}\n`
    : '';
  return head + status + pods + '\n' + ctrs + notes;
}

export async function run(v: FlagValues, positionals: string[] = []): Promise<number> {
  const output = checkOutput(v);
  if (positionals.length !== 1 || !positionals[0])
    throw new ConfigError('expected exactly one NODE (see nodewarden runtime --help)');
  const node = positionals[0];
  const body = (await getJson(v, `/api/v1/nodes/${encodeURIComponent(node)}/runtime`, {})) as NodeRuntimeJson;
  process.stdout.write(
    output !== 'table'
      ? serialize(body, output)
      : renderRuntime(body, { all: v.all === true, noTrunc: v['no-trunc'] === true, nowMs: Date.now() }),
  );
  return 0;
}
