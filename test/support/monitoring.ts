// The monitoring kit's files (deploy/components/monitoring) as the tests use them: the rule file
// that is the PrometheusRule's spec, and the dashboard's PromQL.
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

export const MONITORING = new URL('../../deploy/components/monitoring/', import.meta.url).pathname;
export const PROMTOOL = '/usr/bin/promtool';
export const PROMETHEUS = '/usr/bin/prometheus';

export function prometheusAvailable(): boolean {
  return (
    spawnSync(PROMTOOL, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0 &&
    spawnSync(PROMETHEUS, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0
  );
}

/** Writes the PrometheusRule's spec to dir/rules.yaml (and the promtool tests beside it); returns its path. */
export function writeRuleFiles(dir: string): string {
  const rule = parse(readFileSync(join(MONITORING, 'prometheusrule.yaml'), 'utf8')) as { kind: string; spec: unknown };
  if (rule.kind !== 'PrometheusRule') throw new Error('prometheusrule.yaml is not a PrometheusRule');
  writeFileSync(join(dir, 'rules.yaml'), stringify(rule.spec));
  copyFileSync(join(MONITORING, 'tests', 'rules.test.yaml'), join(dir, 'rules.test.yaml'));
  return join(dir, 'rules.yaml');
}

export interface DashboardQuery {
  panel: string;
  expr: string;
  instant: boolean;
}

/** Every target of every panel, Grafana's range variables replaced by windows a 1 s scrape fills. */
export function dashboardQueries(vars: { rateInterval: string; range: string }): DashboardQuery[] {
  const d = JSON.parse(readFileSync(join(MONITORING, 'dashboard.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string; instant?: boolean }[] }[];
  };
  return d.panels.flatMap((p) =>
    p.targets.map((t) => ({
      panel: p.title,
      instant: t.instant === true,
      expr: t.expr.replaceAll('$__rate_interval', vars.rateInterval).replaceAll('$__range', vars.range),
    })),
  );
}
