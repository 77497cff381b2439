// What every role's /metrics has: the process/Node.js default metrics under the role's prefix (so two
// roles on one host, or nodewarden next to another Node.js app, never share a series name) and
// build_info. Names and the prefix rule: README "Metrics".
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import { REVISION, VERSION } from './version.js';

export type Role = 'agent' | 'collector' | 'auth';

export function registerRoleMetrics(registry: Registry, role: Role): void {
  collectDefaultMetrics({ register: registry, prefix: `nodewarden_${role}_` });
  // The info-metric idiom: value 1, the facts in labels; join it onto other series with `* on(instance) group_left`.
  new Gauge({
    name: 'nodewarden_build_info',
    help: 'always 1; the version and git revision of the running build',
    labelNames: ['version', 'revision'],
    registers: [registry],
  }).set({ version: VERSION, revision: REVISION }, 1);
}
