// Signature rules: the user-facing spec (YAML or JSON), its validation with one-line errors that name
// the rule and the field, and compilation (regexes, literal pre-filter, message template) done once.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseDuration } from '../../common/flags.js';
import type { Severity } from '../findings.js';
import { requiredLiterals } from './literals.js';
import type { PodMeta } from './pod-path.js';

export interface RuleSpec {
  name?: string;
  kind: string;
  severity?: Severity;
  pattern: string;
  /** Regex flags: any of i, m, s, u. */
  flags?: string;
  /** Pre-filter override: every line the pattern matches contains one of these. */
  literals?: string[];
  /** Regexes on the pod's namespace / name / container name; all given must match. */
  scope?: { namespace?: string; pod?: string; container?: string };
  /** `{1}`, `{name}` (capture groups), `{0}` (whole match), `{namespace}`, `{pod}`, `{container}`, `{uid}`. */
  message?: string;
  /** Duration ("5m"); "0s" reports every matching line. */
  dedupWindow?: string;
  enabled?: boolean;
}

type TemplatePart = string | { group: number | string } | { ctx: CtxName };
type CtxName = 'namespace' | 'pod' | 'container' | 'uid';
const CTX: readonly string[] = ['namespace', 'pod', 'container', 'uid'];

export interface Literal {
  text: string;
  /** Compare ASCII case-insensitively (the rule has the `i` flag). */
  ci: boolean;
}

export interface CompiledRule {
  name: string;
  kind: string;
  severity: Severity;
  re: RegExp;
  /** null: no usable literal, the regex runs on every line in scope. */
  literals: Literal[] | null;
  scope: { namespace?: RegExp; pod?: RegExp; container?: RegExp };
  template: TemplatePart[];
  dedupMs: number;
}

export const DEFAULT_DEDUP = '5m';
const DEFAULT_MESSAGE = 'Container {container} of pod {namespace}/{pod} logged "{0}"';
const FIELDS = new Set([
  'name',
  'kind',
  'severity',
  'pattern',
  'flags',
  'literals',
  'scope',
  'message',
  'dedupWindow',
  'enabled',
]);
const SCOPE_FIELDS = new Set(['namespace', 'pod', 'container']);
const SEVERITIES = new Set(['warning', 'critical', 'info']);

class RuleError extends ConfigError {}

/** Validates and compiles rule specs; throws a ConfigError whose message is one line. */
export function compileRules(specs: unknown[], source: string): CompiledRule[] {
  const names = new Set<string>();
  const out: CompiledRule[] = [];
  specs.forEach((raw, i) => {
    const at = `rules[${i}]`;
    const label =
      isObject(raw) && typeof raw.name === 'string' && raw.name ? `rule "${raw.name}" (${at})` : `rule ${at}`;
    const fail = (field: string, problem: string): never => {
      throw new RuleError(`${source}: ${label} field "${field}": ${problem}`);
    };
    if (!isObject(raw))
      throw new RuleError(`${source}: ${label}: expected a mapping with kind and pattern, got ${describe(raw)}`);
    for (const k of Object.keys(raw)) if (!FIELDS.has(k)) fail(k, `unknown field (known: ${[...FIELDS].join(', ')})`);
    const name = optString(raw, 'name', fail) ?? `${String(raw.kind ?? 'rule')}#${i}`;
    if (names.has(name)) fail('name', `duplicate rule name "${name}"`);
    names.add(name);
    // `{name: X, enabled: false}` alone switches off a built-in rule (see mergeRules).
    if (raw.enabled === false && Object.keys(raw).every((k) => k === 'name' || k === 'enabled')) {
      if (raw.name === undefined) fail('name', 'is required to switch a rule off');
      return;
    }
    const kind = reqString(raw, 'kind', fail);
    if (!/^[A-Z][A-Za-z0-9]*$/.test(kind))
      fail('kind', `"${kind}" is not UpperCamelCase (it becomes the Event reason)`);
    const severity = optString(raw, 'severity', fail) ?? 'warning';
    if (!SEVERITIES.has(severity)) fail('severity', `"${severity}" is not one of warning, critical, info`);
    const flags = optString(raw, 'flags', fail) ?? '';
    if (!/^[imsu]*$/.test(flags) || new Set(flags).size !== flags.length)
      fail('flags', `"${flags}" may only combine i, m, s, u (each once)`);
    const pattern = reqString(raw, 'pattern', fail);
    const re = regex(pattern, flags, (p) => fail('pattern', p));
    let literals: Literal[] | null;
    if (raw.literals !== undefined) {
      if (
        !Array.isArray(raw.literals) ||
        raw.literals.length === 0 ||
        !raw.literals.every((l) => typeof l === 'string' && l.length >= 2)
      ) {
        fail('literals', 'expected a non-empty list of strings of at least 2 characters');
      }
      literals = (raw.literals as string[]).map((t) => ({
        text: flags.includes('i') ? t.toLowerCase() : t,
        ci: flags.includes('i'),
      }));
    } else {
      literals =
        requiredLiterals(pattern, flags.includes('i'))?.map((t) => ({ text: t, ci: flags.includes('i') })) ?? null;
    }
    const scope: CompiledRule['scope'] = {};
    if (raw.scope !== undefined) {
      if (!isObject(raw.scope))
        fail('scope', `expected a mapping with namespace, pod and/or container, got ${describe(raw.scope)}`);
      const sc = raw.scope as Record<string, unknown>;
      for (const [k, v] of Object.entries(sc)) {
        if (!SCOPE_FIELDS.has(k)) fail(`scope.${k}`, 'unknown field (known: namespace, pod, container)');
        if (typeof v !== 'string' || v === '')
          fail(`scope.${k}`, `expected a regular expression string, got ${describe(v)}`);
        scope[k as 'namespace' | 'pod' | 'container'] = regex(v as string, '', (p) => fail(`scope.${k}`, p));
      }
    }
    const message = optString(raw, 'message', fail) ?? DEFAULT_MESSAGE;
    const template = compileTemplate(message, re, (p) => fail('message', p));
    const window = optString(raw, 'dedupWindow', fail) ?? DEFAULT_DEDUP;
    let dedupMs = 0;
    try {
      dedupMs = parseDuration(window, 'dedupWindow');
    } catch {
      fail('dedupWindow', `"${window}" is not a duration (examples: 0s, 30s, 5m, 1h)`);
    }
    if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean')
      fail('enabled', `expected true or false, got ${describe(raw.enabled)}`);
    if (raw.enabled === false) return;
    out.push({ name, kind, severity: severity as Severity, re, literals, scope, template, dedupMs });
  });
  return out;
}

/** The `rules:` list of a YAML or JSON document (a bare list is accepted too). */
export function parseRulesDocument(text: string, source: string): unknown[] {
  let doc: unknown;
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    // JSON: its own parser gives the better error (YAML would also accept it, as a superset).
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${source}: not valid JSON: ${(err as Error).message.split('\n')[0]}`);
    }
  } else {
    try {
      doc = parseYaml(text);
    } catch (err) {
      // The first line of yaml's message names the problem and "at line L, column C"; a code frame follows.
      throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message.split('\n')[0].replace(/:$/, '')}`);
    }
  }
  if (doc === null || doc === undefined) return [];
  if (Array.isArray(doc)) return doc;
  if (!isObject(doc)) throw new ConfigError(`${source}: expected a mapping with a "rules" list, got ${describe(doc)}`);
  for (const k of Object.keys(doc))
    if (k !== 'rules') throw new ConfigError(`${source}: unknown top-level field "${k}" (expected only "rules")`);
  if (doc.rules === undefined || doc.rules === null) return [];
  if (!Array.isArray(doc.rules)) throw new ConfigError(`${source}: "rules" must be a list, got ${describe(doc.rules)}`);
  return doc.rules;
}

export interface UserRules {
  rules: CompiledRule[];
  /** Names switched off with `{name, enabled: false}`. */
  disabled: Set<string>;
}

/** Reads, validates and compiles a rules file; `builtinNames` are the rules it may switch off. */
export function loadRulesFile(file: string, builtinNames: readonly string[]): UserRules {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `rules file ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const source = `rules file ${file}`;
  const specs = parseRulesDocument(text, source);
  const rules = compileRules(specs, source);
  const disabled = new Set<string>();
  specs.forEach((s, i) => {
    if (!isObject(s) || s.enabled !== false || typeof s.name !== 'string') return;
    const onlySwitch = Object.keys(s).every((k) => k === 'name' || k === 'enabled');
    if (onlySwitch && !builtinNames.includes(s.name)) {
      throw new ConfigError(
        `${source}: rule "${s.name}" (rules[${i}]) field "name": no built-in rule of that name to switch off (built-in: ${builtinNames.join(', ')})`,
      );
    }
    disabled.add(s.name);
  });
  return { rules, disabled };
}

/** Built-ins first, minus those a user rule replaces (same name) or switches off; then the user's rules. */
export function mergeRules(builtin: CompiledRule[], user: UserRules): CompiledRule[] {
  const replaced = new Set(user.rules.map((r) => r.name));
  return [...builtin.filter((r) => !replaced.has(r.name) && !user.disabled.has(r.name)), ...user.rules];
}

export function inScope(rule: CompiledRule, meta: PodMeta): boolean {
  const { namespace, pod, container } = rule.scope;
  if (namespace && !namespace.test(meta.namespace ?? '')) return false;
  if (pod && !pod.test(meta.name ?? '')) return false;
  if (container && !container.test(meta.container ?? '')) return false;
  return true;
}

export function renderMessage(rule: CompiledRule, m: RegExpExecArray, meta: PodMeta): string {
  let s = '';
  for (const p of rule.template) {
    if (typeof p === 'string') s += p;
    else if ('group' in p) s += (typeof p.group === 'number' ? m[p.group] : m.groups?.[p.group]) ?? '';
    else s += (p.ctx === 'pod' ? meta.name : meta[p.ctx]) ?? '';
  }
  return s.length > 1024 ? `${s.slice(0, 1021)}...` : s;
}

function compileTemplate(text: string, re: RegExp, fail: (p: string) => never): TemplatePart[] {
  const groups = new RegExp(`${re.source}|`, re.flags).exec('')!.length - 1;
  const named = new Set([...re.source.matchAll(/\(\?<([A-Za-z_$][\w$]*)>/g)].map((m) => m[1]));
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of text.matchAll(/\{([^{}]*)\}/g)) {
    parts.push(text.slice(last, m.index));
    last = m.index! + m[0].length;
    const ref = m[1];
    if (/^\d+$/.test(ref)) {
      if (Number(ref) > groups) fail(`"{${ref}}" refers to capture group ${ref}, but the pattern has ${groups}`);
      parts.push({ group: Number(ref) });
    } else if (named.has(ref)) parts.push({ group: ref });
    else if (CTX.includes(ref)) parts.push({ ctx: ref as CtxName });
    else fail(`"{${ref}}" is neither a capture group of the pattern nor one of {namespace}, {pod}, {container}, {uid}`);
  }
  parts.push(text.slice(last));
  return parts.filter((p) => p !== '');
}

function regex(source: string, flags: string, fail: (p: string) => never): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (err) {
    return fail(`invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function reqString(o: Record<string, unknown>, k: string, fail: (f: string, p: string) => never): string {
  const v = o[k];
  if (v === undefined || v === null) fail(k, 'is required');
  if (typeof v !== 'string' || v === '') fail(k, `expected a non-empty string, got ${describe(v)}`);
  return v as string;
}

function optString(o: Record<string, unknown>, k: string, fail: (f: string, p: string) => never): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') fail(k, `expected a non-empty string, got ${describe(v)}`);
  return v as string;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v.slice(0, 40)}"`;
  return `${typeof v} ${String(v)}`;
}
