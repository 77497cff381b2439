// Pure: URL query -> validated filters, or a message for a 400.
import { parseDuration, ConfigError } from '../../common/flags.js';

export class BadRequest extends Error {}
export class NotFound extends Error {}

export type ParamType = 'string' | 'duration' | 'int' | 'bool';
export type Spec = Record<string, ParamType>;

export function readQuery(params: URLSearchParams, spec: Spec): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const key of new Set(params.keys())) {
    if (!(key in spec))
      throw new BadRequest(`unknown query parameter "${key}" (allowed: ${Object.keys(spec).join(', ') || 'none'})`);
    if (params.getAll(key).length > 1) throw new BadRequest(`query parameter "${key}" given more than once`);
  }
  for (const [key, type] of Object.entries(spec)) {
    const raw = params.get(key);
    if (raw === null || raw === '') continue;
    switch (type) {
      case 'string':
        out[key] = raw;
        break;
      case 'duration':
        try {
          out[key] = parseDuration(raw, key);
        } catch (e) {
          throw new BadRequest((e as ConfigError).message);
        }
        break;
      case 'int': {
        if (!/^\d{1,9}$/.test(raw)) throw new BadRequest(`${key}: "${raw}" is not a positive integer`);
        out[key] = Number(raw);
        break;
      }
      case 'bool':
        if (raw !== 'true' && raw !== 'false') throw new BadRequest(`${key}: expected true or false`);
        out[key] = raw === 'true';
        break;
    }
  }
  return out;
}
