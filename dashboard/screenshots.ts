// Takes the README's screenshots of each dashboard panel against a live cluster (bin/cluster, 3 members):
// `npm run build && node dist/dashboard/screenshots.js [--out docs/screenshots] [--nodes 12]`.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { run, ROOT } from '../test/support/index.js';
import { hasChromium, launchChromium, startSupervisedCluster } from './testing.js';

declare const document: any;

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const out = arg('out', join(ROOT, 'docs/screenshots'));
const nodes = Number(arg('nodes', '12'));

const deployment = (image: string, replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ${image}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 6
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: example/api:2.1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello
`;

const invalid = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: Broken_Name
spec:
  replicas: -3
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: other}
    spec:
      containers:
      - name: c
`;

if (!hasChromium()) {
  console.error('screenshots need /usr/bin/chromium');
  process.exit(1);
}
mkdirSync(out, { recursive: true });
const cluster = await startSupervisedCluster({ members: 3, nodes });
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  await page.goto(cluster.dashboardURL);
  // A sticky header would cover the top of a panel scrolled into view for its picture.
  await page.addStyleTag({ content: 'header { position: static !important; }' });
  await page.waitForSelector('#members .member[data-role="leader"]', { timeout: 30_000 });
  const apply = async (yaml: string) => {
    await page.fill('#manifest', yaml);
    await page.click('#apply-btn');
    await page.waitForSelector('#apply-result .result', { timeout: 30_000 });
  };
  const readyPods = (n: number) =>
    page.waitForFunction((want) => document.querySelectorAll('#deployments .pod.ready').length >= want, n, {
      timeout: 120_000,
    });
  await apply(deployment('nginx:1.27', 24));
  await readyPods(30);
  // A rollout: a new ReplicaSet next to the old one, and a Deployment key with a history worth diffing.
  await apply(deployment('nginx:1.28', 24));
  await page.waitForTimeout(1500);
  // One node stops heartbeating: its tile goes stale, then NotReady.
  await fetch(`${cluster.nodeAgentURL}/nodes/node-${nodes - 1}/stop-heartbeat`, { method: 'POST' });
  // A failover, so the leader log has a story: stop the leader from its button, watch another take over.
  const old = (await page.getAttribute('#members .member[data-role="leader"]', 'data-name'))!;
  await page.click(`#members .member[data-name="${old}"] button[data-action="stop"]`);
  await page.waitForFunction(
    (o) => {
      const l = document.querySelector('#members .member[data-role="leader"]');
      return l && l.getAttribute('data-name') !== o;
    },
    old,
    { timeout: 60_000 },
  );
  await page.waitForTimeout(300);
  await page.locator('#store-panel').screenshot({ path: join(out, 'store-failover.png') });
  await page.click(`#members .member[data-name="${old}"] button[data-action="start"]`);
  await page.waitForSelector(`#members .member[data-name="${old}"][data-role="follower"]`, {
    timeout: 60_000,
  });
  // Let the animation finish before the calm pictures.
  await page.waitForTimeout(3500);
  await page.waitForSelector(`#nodes .node.notready[data-name="node-${nodes - 1}"]`, { timeout: 60_000 });
  await readyPods(30);
  await page.waitForTimeout(1500);

  await page.click('#keys details[data-group="/registry/deployments/"] > summary');
  await page.click('#keys details[data-group="/registry/deployments/default/"] > summary');
  await page.click('#keys .key[data-key="/registry/deployments/default/web"]');
  await page.waitForSelector('#key-detail .versions');
  // Diff the version before the rollout against the one after it.
  const rows = await page.$$('#key-detail .versions tbody tr');
  if (rows.length > 3) await rows[rows.length - 3]!.$('input[name=da]').then((r) => r?.check());
  await page.click('#keys details[data-group="/registry/pods/"] > summary');
  await page.waitForTimeout(400);

  await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true });
  for (const [id, file] of [
    ['#store-panel', 'store.png'],
    ['#events-panel', 'events.png'],
    ['#workloads-panel', 'workloads.png'],
    ['#keys-panel', 'keyspace.png'],
    ['#key-panel', 'key-history.png'],
  ] as const) {
    await page.locator(id).screenshot({ path: join(out, file) });
  }

  await apply(invalid);
  await page.locator('#apply-panel').screenshot({ path: join(out, 'apply-error.png') });

  const rev = await page.evaluate(() => (globalThis as any).__dashboard.state.revision as number);
  await page.fill('#tt-rev', String(Math.floor(rev / 3)));
  await page.click('#tt-go');
  await page.waitForSelector('#tt-result .tt-sum');
  await page.click('#tt-result tr.row[data-key^="/registry/deployments/"]').catch(() => undefined);
  await page.waitForTimeout(500);
  await page.locator('#tt-panel').screenshot({ path: join(out, 'timetravel.png') });
  const c = await run('etcdctl', ['--endpoints', cluster.storeEndpoints[0]!, 'compact', String(rev - 50)], {
    env: { ETCDCTL_API: '3' },
  });
  if (c.code !== 0) throw new Error(`etcdctl compact: ${c.stderr}`);
  await page.click('#tt-go');
  await page.waitForSelector('#tt-result .explain[data-code="compacted"]');
  await page.locator('#tt-panel').screenshot({ path: join(out, 'timetravel-compacted.png') });
  console.log(`screenshots written to ${out}`);
} finally {
  await browser.close();
  await cluster.stop();
}
