// The web view in a real browser (Debian's chromium, driven by playwright-core; never a downloaded
// one) against real parts: a two-pod network-namespace lab whose iptables LOG+DROP lines reach a private
// journald, the agent's journalctl, NATS JetStream, and a token-protected collector watching a real
// kube-apiserver (pods with the lab's IPs, shop/deny-wip, and a kube-system deny-all that raises
// APIServerEgressBlocked without any drop). Without the token the page shows only the prompt; with
// it, findings and nodes render, and a REAL kernel drop appears as an edge between the two pods
// without a reload; hover and keyboard focus show the NetworkPolicy summary, Enter the detail with the
// kernel line; text and edges meet WCAG AA contrast. A 1280×800 screenshot is written under the test's
// temp dir (path printed); NODEWARDEN_WEB_VIEW_PNG=docs/web-view.png also copies it there (README).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { labUp, LAB_IPS, BLOCKED_PORT, type Lab } from './support/lab.js';
import { startStack, type Stack } from './support/stack.js';
import { startControlPlane, type ControlPlane } from './support/kube.js';
import { getJson } from './support/procs.js';
import { waitFor, isRoot } from './support/wait.js';
import { applyNetworkPolicy, grantCollector, COLLECTOR_USER } from './fixtures/kube/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'web-view-test-token';
const SUMMARY = `Egress of shop/web-0 is isolated by shop/deny-wip; no rule allows TCP/${BLOCKED_PORT} to shop/db-0.`;
const EDGE = 'g.edge[data-id="pod:shop/web-0>pod:shop/db-0"]';
const missing = [
  !isRoot() && 'root (network namespaces, iptables, journald)',
  !existsSync(CHROMIUM) && `${CHROMIUM} (apt package chromium; scripts/ensure-deps.mjs installs it)`,
].filter(Boolean);
if (missing.length) throw new Error(`web-view needs ${missing.join(' and ')}`);

let lab: Lab, stack: Stack, cp: ControlPlane, browser: BrowserContext, page: Page, dir: string;
const pageErrors: string[] = [];
const watchStatuses: number[] = [];

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nw-web-view-'));
  cp = await startControlPlane({ users: [{ name: COLLECTOR_USER }] });
  await grantCollector(cp);
  for (const ns of ['shop', 'payments']) await cp.createNamespace(ns);
  for (const [ns, name, ip, app] of [
    ['shop', 'web-0', LAB_IPS.podA, 'web'],
    ['shop', 'db-0', LAB_IPS.podB, 'db'],
    ['payments', 'ledger-0', LAB_IPS.remote, 'ledger'],
  ] as const) {
    await cp.createPod(ns, name, { nodeName: 'lab-node', podIP: ip, hostIP: LAB_IPS.node, labels: { app } });
  }
  await cp.createPod('kube-system', 'coredns-7db6d8ff4d-x2x4q', {
    nodeName: 'lab-node',
    podIP: '10.244.3.2',
    hostIP: LAB_IPS.node,
    labels: { 'k8s-app': 'kube-dns' },
  });
  await applyNetworkPolicy(cp, 'shop', 'deny-wip', { podSelector: {}, policyTypes: ['Egress'] });
  await applyNetworkPolicy(cp, 'kube-system', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  lab = await labUp();
  stack = await startStack({
    node: 'lab-node',
    journalDir: lab.journalDir,
    agentArgs: ['--probes', 'none', '--container-log-dir', ''],
    collectorArgs: ['--kubeconfig', cp.kubeconfig(COLLECTOR_USER), '--api-token', TOKEN, '--pod-cidr', '10.244.0.0/16'],
  });
  await waitFor(
    'collector ready (pods and policies synced)',
    async () => (await fetch(`${stack.api}/readyz`).catch(() => undefined))?.status === 200,
    30_000,
  );
  browser = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  // CSP violations land here; the refused watch of the first test is logged by the browser as a failed load
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.url().includes('/api/v1/watch')) watchStatuses.push(r.status());
  });
});

test.after(async () => {
  await browser?.close().catch(() => undefined);
  await stack?.stop();
  await lab?.down();
  await cp?.stop();
  if (dir) rmSync(join(dir, 'chromium-profile'), { recursive: true, force: true });
});

/** What /api/v1/drops counts for web-0 -> db-0. */
const dbCount = async () =>
  (await getJson<{ items: { dst: { ip: string }; count: number }[] }>(`${stack.api}/api/v1/drops`, TOKEN)).items.find(
    (f) => f.dst.ip === LAB_IPS.podB,
  )?.count ?? 0;

/** The viewport point halfway along an edge's path (a curve's bounding-box centre may be off the line). */
const edgeMidpoint = (sel: string) =>
  page.evaluate((s) => {
    const p = document.querySelector(`${s} .hit`) as SVGPathElement;
    const q = p.getPointAtLength(p.getTotalLength() / 2),
      m = p.getScreenCTM()!;
    return { x: q.x * m.a + m.c * q.y + m.e, y: q.x * m.b + q.y * m.d + m.f };
  }, sel);

test('without the token the page loads but shows only the prompt and no data; a wrong token is refused', async () => {
  const res = await page.goto(`${stack.api}/`);
  assert.is(res?.status(), 200);
  assert.match(res!.headers()['content-security-policy'], /script-src 'self'/);
  await page.locator('#token-form').waitFor({ state: 'visible', timeout: 15_000 });
  assert.ok(watchStatuses.includes(401), `the watch answered ${watchStatuses.join(', ')}`);
  assert.ok(await page.locator('#main').isHidden(), 'no data panels');
  assert.equal(await page.locator('g.edge, .finding, #nodes tbody tr').count(), 0);
  assert.ok(await page.evaluate(() => document.activeElement?.id === 'token-input'), 'the prompt has the focus');
  await page.fill('#token-input', 'not-the-token');
  await page.press('#token-input', 'Enter');
  await page.locator('#token-error').waitFor({ state: 'visible', timeout: 15_000 });
  assert.match(await page.locator('#token-error').innerText(), /rejected/);
  assert.ok(await page.locator('#main').isHidden());
  assert.is(
    await page.evaluate(() => sessionStorage.getItem('nodewarden.apiToken')),
    null,
    'a refused token is not kept',
  );
});

test('with the token: findings and nodes render, a real kernel drop appears as an edge without a reload, hover/focus explain it, Enter shows the kernel line', async () => {
  await page.fill('#token-input', TOKEN);
  await page.press('#token-input', 'Enter');
  await page.locator('#status.live').waitFor({ timeout: 15_000 });
  assert.is(await page.evaluate(() => sessionStorage.getItem('nodewarden.apiToken')), 'web-view-test-token');
  // a finding the collector raised from the policies alone, and the agent's node
  await page.locator('.finding', { hasText: 'APIServerEgressBlocked' }).waitFor({ timeout: 30_000 });
  await page.locator('#nodes tbody tr', { hasText: 'lab-node' }).waitFor({ timeout: 30_000 });
  assert.match(await page.locator('#findings').innerText(), /kube-system\/coredns-7db6d8ff4d-x2x4q/);
  assert.match(await page.locator('#findings-title').innerText(), /Findings \(\d+ active/);
  assert.is(await page.locator(EDGE).count(), 0, 'no edge before the drop');
  const loads = await page.evaluate(() => {
    (window as unknown as { marker: number }).marker = 42;
    return performance.getEntriesByType('navigation').length;
  });

  // the real drop: blocked connects in the lab, LOGged by the kernel
  const before = lab.loggedPackets();
  await lab.blockedConnects(2);
  await lab.blockedConnects(1, LAB_IPS.remote);
  assert.ok(lab.loggedPackets() - before >= 3, 'the kernel logged the blocked SYNs');
  await page.locator(EDGE).waitFor({ timeout: 30_000 });
  assert.is(
    await page.evaluate(() => (window as unknown as { marker?: number }).marker),
    42,
    'same document: no reload',
  );
  assert.is(await page.evaluate(() => performance.getEntriesByType('navigation').length), loads);
  const vertices = await page.locator('.map .vertex text').allTextContents();
  for (const v of ['web-0', 'db-0', LAB_IPS.podA, LAB_IPS.podB])
    assert.ok(vertices.includes(v), `${v} in ${vertices.join(', ')}`);
  // the edge carries the API's count (both move while the kernel logs the SYN retransmits)
  await waitFor(
    'the edge label carries the API count',
    async () => (await page.locator(EDGE).getAttribute('aria-label'))?.includes(`${await dbCount()} dropped packets`),
    15_000,
  );
  await page.locator('g.edge[data-id="pod:shop/web-0>pod:payments/ledger-0"]').waitFor({ timeout: 30_000 });

  // hover: the explanation summary
  const mid = await edgeMidpoint(EDGE);
  await page.mouse.move(mid.x, mid.y);
  await page.locator('#edge-tip').waitFor({ state: 'visible', timeout: 5000 });
  assert.ok(
    (await page.locator('#edge-tip').innerText()).includes(SUMMARY),
    await page.locator('#edge-tip').innerText(),
  );
  await page.mouse.move(5, 790);
  await page.locator('#edge-tip').waitFor({ state: 'hidden', timeout: 5000 });

  // keyboard: Tab reaches the map, arrows move between edges, focus shows the summary, Enter the detail
  await page.locator('#token-forget').focus();
  let onEdge = false;
  for (let i = 0; i < 15 && !onEdge; i++) {
    await page.keyboard.press('Tab');
    onEdge = await page.evaluate(() => document.activeElement?.matches('g.edge') ?? false);
  }
  assert.ok(onEdge, 'Tab reaches an edge');
  for (let i = 0; i < 4 && !(await page.evaluate((s) => document.activeElement?.matches(s), EDGE)); i++)
    await page.keyboard.press('ArrowDown');
  assert.ok(
    await page.evaluate((s) => document.activeElement?.matches(s), EDGE),
    'arrow keys reach the web-0 -> db-0 edge',
  );
  assert.ok((await page.locator('#edge-tip').innerText()).includes(SUMMARY), 'focus shows the summary');
  const halo = await page.evaluate((s) => getComputedStyle(document.querySelector(`${s} .halo`)!).stroke, EDGE);
  assert.is(halo, 'rgb(24, 73, 169)', 'focus is visible (the halo takes the focus colour)');
  await page.keyboard.press('Enter');
  const detail = page.locator('#detail');
  await detail.locator('pre').waitFor({ timeout: 5000 });
  const text = await detail.innerText();
  for (const s of [
    `SRC=${LAB_IPS.podA} DST=${LAB_IPS.podB}`,
    `DPT=${BLOCKED_PORT}`,
    'calico-packet:',
    'NetworkPolicy verdict: denied',
    SUMMARY,
    `TCP/${BLOCKED_PORT} · `,
    ' dropped on lab-node',
  ])
    assert.ok(text.includes(s), `detail shows ${s}:\n${text}`);
  assert.is(await page.locator(EDGE).getAttribute('aria-pressed'), 'true');

  // a later drop updates the open page in place: the count grows on the same edge
  const count = await dbCount();
  await lab.blockedConnects(1);
  await waitFor(
    'the edge count grows without a reload',
    async () => {
      const now = await dbCount();
      return now > count && (await page.locator(EDGE).getAttribute('aria-label'))?.includes(`${now} dropped packets`);
    },
    30_000,
  );
  assert.is(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42);

  // the namespace filter: only flows touching payments, kept in the URL; back to all
  await page.selectOption('#ns-filter', 'payments');
  await waitFor(
    'only the payments edge',
    async () =>
      (await page.locator('g.edge').count()) === 1 &&
      (await page.locator('g.edge[data-id="pod:shop/web-0>pod:payments/ledger-0"]').count()) === 1,
    5000,
  );
  assert.is(new URL(page.url()).hash, '#namespace=payments');
  await page.selectOption('#ns-filter', '');
  await page.locator(EDGE).waitFor({ timeout: 5000 });

  const shot = join(dir, 'web-view.png');
  await page.locator(EDGE).focus();
  await page.screenshot({ path: shot });
  console.log(`  screenshot: ${shot}`);
  if (process.env.NODEWARDEN_WEB_VIEW_PNG) copyFileSync(shot, process.env.NODEWARDEN_WEB_VIEW_PNG);
});

test('contrast: every visible text meets WCAG AA (4.5:1, 3:1 when large), edges and the focus ring 3:1', async () => {
  const bad = (await page.evaluate(
    readFileSync(new URL('./support/contrast.browser.js', import.meta.url), 'utf8'),
  )) as { out: string[]; checked: number };
  assert.ok(bad.checked > 40, `checked ${bad.checked} texts`);
  assert.equal(bad.out, []);
  assert.equal(pageErrors, [], 'no script errors or CSP violations');
});

test.run();
