// Matching a logical line against the rules in scope for its file. A literal pre-filter runs first so
// lines that cannot match never reach a rule's regex: all literals of all rules in one alternation
// (V8 compiles it to one fast scan: 4.5M lines/s with 108 literals here, ~17x faster than 108 `includes`), and only on
// a hit
// are the individual literals checked to pick the rules to run.
import { inScope, type CompiledRule, type Literal } from './rules.js';
import type { PodMeta } from './pod-path.js';

export interface RuleMatch {
  rule: CompiledRule;
  m: RegExpExecArray;
}

export class RuleSet {
  private readonly cache = new Map<string, FileMatcher>();

  constructor(readonly rules: CompiledRule[]) {}

  /** The matcher for one file: only the rules whose scope admits its pod, shared between files. */
  forPod(meta: PodMeta): FileMatcher {
    const idx: number[] = [];
    this.rules.forEach((r, i) => {
      if (inScope(r, meta)) idx.push(i);
    });
    const key = idx.join(',');
    let fm = this.cache.get(key);
    if (!fm) {
      fm = new FileMatcher(idx.map((i) => this.rules[i]));
      this.cache.set(key, fm);
    }
    return fm;
  }
}

interface Entry {
  lit: Literal;
  rule: number;
}

export class FileMatcher {
  private readonly always: number[] = [];
  private readonly entries: Entry[] = [];
  private readonly exact: RegExp | null;
  private readonly folded: RegExp | null;
  private readonly hit: Uint8Array;

  constructor(readonly rules: CompiledRule[]) {
    rules.forEach((r, i) => {
      if (!r.literals) this.always.push(i);
      else for (const lit of r.literals) this.entries.push({ lit, rule: i });
    });
    this.hit = new Uint8Array(rules.length);
    this.exact = alternation(
      this.entries.filter((e) => !e.lit.ci).map((e) => e.lit.text),
      '',
    );
    this.folded = alternation(
      this.entries.filter((e) => e.lit.ci).map((e) => e.lit.text),
      'i',
    );
  }

  /** Appends the matches of `line` to `out` (one per matching rule). */
  match(line: string, out: RuleMatch[]): void {
    for (const i of this.always) this.exec(i, line, out);
    const ex = this.exact !== null && this.exact.test(line);
    const fo = this.folded !== null && this.folded.test(line);
    if (!ex && !fo) return;
    const hit = this.hit;
    const lower = fo ? line.toLowerCase() : line;
    for (const e of this.entries) {
      if (hit[e.rule] === 0 && (e.lit.ci ? lower : line).includes(e.lit.text)) hit[e.rule] = 1;
    }
    for (let i = 0; i < hit.length; i++) {
      if (hit[i] === 0) continue;
      hit[i] = 0;
      this.exec(i, line, out);
    }
  }

  private exec(i: number, line: string, out: RuleMatch[]): void {
    const rule = this.rules[i];
    const m = rule.re.exec(line);
    if (m) out.push({ rule, m });
  }
}

function alternation(literals: string[], flags: string): RegExp | null {
  if (literals.length === 0) return null;
  const uniq = [...new Set(literals)];
  return new RegExp(uniq.map((l) => l.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), flags);
}
