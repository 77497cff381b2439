// Reads deploy/Dockerfile into the facts its runtime image is made of, so a test can compare them
// with scripts/image/recipe.ts (what `npm run image` builds) and release-check can read the
// VERSION default. Only the Dockerfile syntax this project uses: continuation lines, ARG/ENV
// with defaults, JSON-form ENTRYPOINT/CMD, LABEL key="value" pairs.

export interface Instruction {
  op: string;
  value: string;
}
export interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}
export interface Dockerfile {
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Instructions by stage, continuation lines joined, comments dropped. */
export function parseDockerfile(text: string): Dockerfile {
  const logical = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const df: Dockerfile = { globalArgs: {}, stages: [] };
  for (const line of logical) {
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase(),
      value = m[2].replace(/\s+/g, ' ');
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(value);
      df.stages.push({ from: f?.[1] ?? value, name: f?.[2], body: [] });
    } else if (df.stages.length === 0) {
      if (op === 'ARG') Object.assign(df.globalArgs, argOf(value));
    } else {
      df.stages[df.stages.length - 1].body.push({ op, value });
    }
  }
  return df;
}

const argOf = (v: string): Record<string, string> => {
  const [k, ...rest] = v.split('=');
  return { [k.trim()]: rest.join('=').replace(/^"(.*)"$/, '$1') };
};
const expand = (s: string, args: Record<string, string>) =>
  s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? '');
/** key="value" / key=value pairs (LABEL, ENV). */
const pairs = (v: string): Record<string, string> =>
  Object.fromEntries(
    [...v.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)/g)].map((m) => [m[1], m[2].replace(/^"(.*)"$/, '$1')]),
  );

export interface RuntimeFacts {
  base: string;
  packages: string[];
  user?: string;
  entrypoint?: string[];
  cmd?: string[];
  workdir?: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** ARG defaults of the runtime stage (VERSION, REVISION). */
  args: Record<string, string>;
  copies: string[];
  runs: string[];
}

/** The last stage (the image that is shipped), with its ARG defaults substituted into labels. */
export function runtimeFacts(df: Dockerfile): RuntimeFacts {
  const stage = df.stages[df.stages.length - 1];
  const args: Record<string, string> = {};
  const facts: RuntimeFacts = {
    base: expand(stage.from, df.globalArgs),
    packages: [],
    env: {},
    labels: {},
    args,
    copies: [],
    runs: [],
  };
  for (const { op, value } of stage.body) {
    if (op === 'ARG') Object.assign(args, argOf(value));
    else if (op === 'RUN') {
      facts.runs.push(value);
      const install = /apt-get install ((?:-\S+ )*)((?:[a-z0-9][a-z0-9.+-]* ?)+)/.exec(value);
      if (install) facts.packages.push(...install[2].trim().split(' '));
    } else if (op === 'USER') facts.user = value;
    else if (op === 'ENTRYPOINT') facts.entrypoint = JSON.parse(value);
    else if (op === 'CMD') facts.cmd = JSON.parse(value);
    else if (op === 'WORKDIR') facts.workdir = value;
    else if (op === 'ENV') Object.assign(facts.env, pairs(value));
    else if (op === 'LABEL') for (const [k, v] of Object.entries(pairs(value))) facts.labels[k] = expand(v, args);
    else if (op === 'COPY') facts.copies.push(value);
  }
  return facts;
}
