// Required literals of a regular expression (pure): strings of which every match contains at least
// one, so lines without any of them skip the regex. Conservative: when in doubt, return null (the
// rule then runs its regex on every line in scope).

export const MIN_LITERAL = 3;

export function requiredLiterals(source: string, ignoreCase: boolean): string[] | null {
  const alts = splitTopLevel(source);
  if (!alts) return null;
  const out = new Set<string>();
  for (const alt of alts) {
    const lit = longestRun(alt);
    if (lit === null || lit.length < MIN_LITERAL) return null;
    out.add(ignoreCase ? lit.toLowerCase() : lit);
  }
  return [...out];
}

/** Splits on `|` outside groups and classes; null on unbalanced input. */
function splitTopLevel(src: string): string[] | null {
  const alts: string[] = [];
  let depth = 0;
  let inClass = false;
  let from = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      alts.push(src.slice(from, i));
      from = i + 1;
    }
    if (depth < 0) return null;
  }
  if (depth !== 0 || inClass) return null;
  alts.push(src.slice(from));
  return alts;
}

/** Longest run of characters that must appear verbatim in any match of `alt` (no top-level `|`). */
function longestRun(alt: string): string | null {
  let best = '';
  let run = '';
  const brk = () => {
    if (run.length > best.length) best = run;
    run = '';
  };
  for (let i = 0; i < alt.length; i++) {
    const c = alt[i];
    if (c === '\\') {
      const n = alt[i + 1];
      if (n === undefined) return null;
      i++;
      // `\d`, `\b`, `\1`, `\x41`, `\k<n>`…: character sets, anchors, escapes we do not decode.
      if (/[A-Za-z0-9]/.test(n)) brk();
      else run += n;
      continue;
    }
    if (c === '(') {
      // Group contents may be optional or alternatives: skip the whole group.
      brk();
      i = skipGroup(alt, i);
      if (i < 0) return null;
      continue;
    }
    if (c === '[') {
      brk();
      i = skipClass(alt, i);
      if (i < 0) return null;
      continue;
    }
    if (c === '*' || c === '?' || c === '{' || c === '+') {
      // The quantified atom (the run's last character) may be absent or repeated.
      run = run.slice(0, -1);
      brk();
      if (c === '{') {
        const close = alt.indexOf('}', i);
        if (close > 0 && /^\{\d*(,\d*)?\}$/.test(alt.slice(i, close + 1))) i = close;
      }
      continue;
    }
    if (c === '.' || c === '^' || c === '$' || c === ')' || c === ']' || c === '}') {
      brk();
      continue;
    }
    run += c;
  }
  brk();
  return best;
}

function skipGroup(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '[') {
      i = skipClass(s, i);
      if (i < 0) return -1;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

function skipClass(s: string, open: number): number {
  for (let i = open + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ']') return i;
  }
  return -1;
}
