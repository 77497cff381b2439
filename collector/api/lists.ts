// The list endpoints' query schema, defined once: the server validates with it and the OpenAPI
// document is generated from it, so the two cannot drift.
import { BadRequest, type ParamType, type Spec } from './query.js';

/** No list answer holds more items than this (a 10,000-flow answer with 2 KiB samples is ≈ 25 MB). */
export const MAX_LIMIT = 10_000;

export interface ParamDoc {
  type: ParamType;
  description: string;
}

export interface ListSchema {
  summary: string;
  defaultLimit: number;
  params: Record<string, ParamDoc>;
}

/** A list's schema: its own filters plus `limit`, whose default is stated once. */
function list<P extends Record<string, ParamDoc>>(summary: string, defaultLimit: number, params: P) {
  const limit: ParamDoc = {
    type: 'int',
    description: `maximum items (default ${defaultLimit}, max ${MAX_LIMIT}); total and truncated tell what was left out`,
  };
  return { summary, defaultLimit, params: { ...params, limit } };
}

export const LISTS = {
  '/api/v1/drops': list('Dropped packet flows, newest lastSeen first', 100, {
    namespace: { type: 'string', description: 'pods in this namespace, on either side' },
    pod: { type: 'string', description: 'pods with this name, on either side' },
    node: { type: 'string', description: 'node that saw the drop' },
    since: { type: 'duration', description: 'only flows last seen within this duration (e.g. 15m, 2h)' },
  }),
  '/api/v1/findings': list('Node and pod findings (active and recently cleared), newest lastSeen first', 1000, {
    node: { type: 'string', description: 'node name' },
    kind: { type: 'string', description: 'finding kind, e.g. IPForwardingDisabled' },
    active: { type: 'bool', description: 'true or false' },
    severity: { type: 'string', description: 'critical, warning or info' },
    namespace: {
      type: 'string',
      description: 'findings of pods in this namespace, and node findings (no pod: they concern every pod on the node)',
    },
    pod: { type: 'string', description: 'findings of pods with this name (no node findings)' },
    since: { type: 'duration', description: 'only findings last seen within this duration (e.g. 15m, 2h)' },
  }),
  '/api/v1/nodes': list('Nodes with an agent, their last contact and health, by name', 1000, {}),
} satisfies Record<string, ListSchema>;

export type ListPath = keyof typeof LISTS;

export function specOf(path: ListPath): Spec {
  return Object.fromEntries(Object.entries(LISTS[path].params).map(([k, p]) => [k, p.type]));
}

/** The validated limit of a parsed query, or its default. */
export function limitOf(path: ListPath, f: Record<string, unknown>): number {
  const n = (f.limit as number | undefined) ?? LISTS[path].defaultLimit;
  if (n < 1 || n > MAX_LIMIT) throw new BadRequest(`limit must be between 1 and ${MAX_LIMIT}`);
  return n;
}
