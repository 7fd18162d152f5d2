import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

/**
 * Prometheus' own tool checks the monitoring files: config syntax (and the rule files it
 * loads), rule syntax, the alert unit tests in alerts.test.yml, and the PromQL of every
 * dashboard query. promtool comes with the Debian package `prometheus` (.ci/run installs it).
 */
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const skip = promtool.error ? 'promtool not installed (apt-get install prometheus)' : false;

function run(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('promtool', { skip }, () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'promtool-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('check config deploy/prometheus/prometheus.yml', () => {
    const r = run(['check', 'config', 'deploy/prometheus/prometheus.yml']);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  it('check rules deploy/prometheus/alerts.yml', () => {
    const r = run(['check', 'rules', 'deploy/prometheus/alerts.yml']);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: \d+ rules found/);
  });

  it('test rules deploy/prometheus/alerts.test.yml', () => {
    const r = run(['test', 'rules', 'deploy/prometheus/alerts.test.yml']);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  it('every Grafana dashboard query is valid PromQL', () => {
    type Dash = { panels: { title: string; targets?: { expr: string }[] }[]; annotations: { list: { expr?: string }[] } };
    const d = JSON.parse(readFileSync('deploy/grafana/dashboards/license-cluster.json', 'utf8')) as Dash;
    const exprs = [...d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...d.annotations.list.flatMap((a) => (a.expr ? [a.expr] : []))];
    assert.ok(exprs.length > 10);
    // Grafana's variables, replaced as Grafana would before sending the query.
    const expand = (e: string): string =>
      e.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$__interval', '15s').replaceAll('$job', 'license');
    const file = path.join(tmp, 'dashboard-queries.yml');
    // As recording rules, so `promtool check rules` parses each expression; JSON is YAML.
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard:query_${i}`, expr: expand(e) })) }] }));
    const r = run(['check', 'rules', file]);
    assert.equal(r.status, 0, r.output);
  });
});
