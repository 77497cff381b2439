// Which namespace a read command looks at, the way kubectl decides it (docs/architecture.md#cli):
// -A all, else -n, else the namespace of the kubeconfig's current context, else "default".
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type FlagSpec, type FlagValues } from '../common/flags.js';

export const scopeFlags: Record<string, FlagSpec> = {
  namespace: {
    type: 'string',
    short: 'n',
    arg: 'NAMESPACE',
    help: 'Namespace to look at (default: the namespace of the kubeconfig\'s current context, else "default", as kubectl).',
    noEnv: true,
  },
  'all-namespaces': { type: 'boolean', short: 'A', help: 'Every namespace (overrides -n).', noEnv: true },
  pod: { type: 'string', arg: '[NS/]NAME', help: 'Only this pod; NS/NAME also sets the namespace.', noEnv: true },
};

export interface Scope {
  /** undefined: every namespace. */
  namespace?: string;
  pod?: string;
}

/** The current context's namespace from kubeconfig texts in KUBECONFIG order (first one wins, as kubectl merges). */
export function kubeconfigNamespace(texts: string[]): string | undefined {
  const docs = texts
    .map((t) => {
      try {
        return parseYaml(t, { logLevel: 'silent' }) as unknown;
      } catch {
        return undefined;
      }
    })
    .filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null);
  const current = docs.map((d) => d['current-context']).find((c): c is string => typeof c === 'string' && c !== '');
  if (!current) return undefined;
  for (const d of docs) {
    const ctx = (Array.isArray(d.contexts) ? d.contexts : []).find((c: { name?: unknown }) => c?.name === current) as
      | { context?: { namespace?: unknown } }
      | undefined;
    if (ctx)
      return typeof ctx.context?.namespace === 'string' && ctx.context.namespace ? ctx.context.namespace : undefined;
  }
  return undefined;
}

/** The kubeconfig files kubectl would read: $KUBECONFIG (colon-separated), else ~/.kube/config. */
function kubeconfigTexts(env: NodeJS.ProcessEnv): string[] {
  const files = env.KUBECONFIG
    ? env.KUBECONFIG.split(':').filter(Boolean)
    : [join(env.HOME ?? homedir(), '.kube', 'config')];
  return files.flatMap((f) => {
    try {
      return [readFileSync(f, 'utf8')];
    } catch {
      return [];
    }
  });
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function scopeOf(v: FlagValues, env: NodeJS.ProcessEnv = process.env): Scope {
  let pod = v.pod as string | undefined;
  let podNs: string | undefined;
  if (pod !== undefined) {
    const parts = pod.split('/');
    if (parts.length > 2 || parts.some((p) => p === ''))
      throw new ConfigError(`--pod: "${pod}" is not NAME or NAMESPACE/NAME`);
    if (parts.length === 2) [podNs, pod] = parts;
  }
  const flagNs = v.namespace as string | undefined;
  if (flagNs !== undefined && !DNS_LABEL.test(flagNs))
    throw new ConfigError(`--namespace: "${flagNs}" is not a namespace name`);
  if (podNs && flagNs && podNs !== flagNs && !v['all-namespaces'])
    throw new ConfigError(`--pod ${podNs}/${pod} and --namespace ${flagNs} disagree`);
  if (podNs) return { namespace: podNs, pod };
  if (v['all-namespaces']) return { pod };
  if (flagNs) return { namespace: flagNs, pod };
  const kc = kubeconfigNamespace(kubeconfigTexts(env));
  return { namespace: kc ?? 'default', pod };
}

/** kubectl's phrase for an empty answer: "in namespace shop" or "" for every namespace. */
export const inScope = (s: Scope): string => (s.namespace === undefined ? '' : ` in namespace ${s.namespace}`);
