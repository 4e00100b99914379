// The dashboard in a real headless Chromium against the real cluster bin/cluster runs (3 store members,
// apiserver, controllers, simulated nodes, and the dashboard it starts): apply from the page, watch pods
// and keys appear, stop the store leader from its button and see another member elected, see a validation
// error with its field path, a node going NotReady, time travel to a compacted revision.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { hasChromium, launchChromium, startSupervisedCluster } from '../../dashboard/testing.js';
import { run } from '../support/index.js';

// The functions passed to page.evaluate/waitForFunction run in the browser.
declare const document: any;
declare const window: any;

const skip = hasChromium() ? false : 'needs /usr/bin/chromium (headless browser tests)';
/** Generous: CI has 2 cores shared with other suites. */
const T = { timeout: 60_000 };

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello
`;

const INVALID = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
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
        image: busybox
`;

describe('dashboard page', { skip }, () => {
  let cluster: Awaited<ReturnType<typeof startSupervisedCluster>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    cluster = await startSupervisedCluster({ members: 3, nodes: 3 });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // The page may only talk to the dashboard: anything else is a bug (CDN, fonts, telemetry).
    page.on('request', (r) => {
      if (!r.url().startsWith(cluster.dashboardURL) && !r.url().startsWith('data:'))
        pageErrors.push(`request to another host: ${r.url()}`);
    });
    await page.goto(cluster.dashboardURL);
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  const fail = (what: string) => (err: unknown) => {
    throw new Error(`${what}: ${(err as Error).message}\n${cluster.logs()}`, { cause: err });
  };

  it('loads and shows the store member, nodes and keys', T, async () => {
    await page.waitForSelector('#conn.on', { timeout: 30_000 });
    await page
      .waitForSelector('#members .member[data-role="leader"]', { timeout: 30_000 })
      .catch(fail('a leader in the store panel'));
    await page
      .waitForFunction(
        () => document.querySelectorAll('#nodes .node[data-ready="True"]').length === 3,
        null,
        {
          timeout: 45_000,
        },
      )
      .catch(fail('three Ready nodes'));
    const summary = await page.textContent('#keys');
    assert.match(summary ?? '', /\/registry\/nodes\//);
    assert.deepEqual(pageErrors, []);
  });

  it(
    'applies a Deployment from the page; its pods appear in Workloads and its keys in Key space',
    T,
    async () => {
      await page.fill('#manifest', DEPLOYMENT);
      await page.click('#apply-btn');
      await page.waitForSelector('#apply-result .result', { timeout: 30_000 });
      const results = await page.$$eval('#apply-result .result', (els) =>
        els.map((e) => e.textContent ?? ''),
      );
      assert.equal(results.length, 2, results.join('\n'));
      assert.match(results[0]!, /deployment\/web in default created/);
      assert.match(results[1]!, /configmap\/web-config in default created/);
      await page
        .waitForFunction(
          () =>
            document.querySelectorAll('#deployments .deploy[data-id="default/web"] .pod.ready').length === 4,
          null,
          { timeout: 45_000 },
        )
        .catch(fail('4 ready pods under Deployment default/web'));
      await page.fill('#key-filter', '/registry/');
      await page
        .waitForFunction(
          () => {
            const keys = [...document.querySelectorAll('#keys .key[data-key]')].map((e) =>
              e.getAttribute('data-key'),
            );
            return (
              keys.includes('/registry/deployments/default/web') &&
              keys.includes('/registry/configmaps/default/web-config') &&
              keys.filter((k) => k!.startsWith('/registry/pods/default/web-')).length === 4
            );
          },
          null,
          { timeout: 30_000 },
        )
        .catch(fail('the Deployment, ConfigMap and 4 pod keys in the key space'));
      // The event stream labels store events with their resource.
      await page.fill('#ev-filter', '/registry/deployments/');
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('#events tr')].some((r) =>
            /Deployment default\/web/.test(r.textContent ?? ''),
          ),
        null,
        { timeout: 15_000 },
      );
      assert.deepEqual(pageErrors, []);
    },
  );

  it('shows a key with its revision history and a diff', T, async () => {
    await page.fill('#key-filter', '/registry/deployments/default/web');
    await page.click('#keys .key[data-key="/registry/deployments/default/web"]', { timeout: 15_000 });
    await page.waitForSelector('#key-detail .versions', { timeout: 15_000 });
    // The controller writes status after the create, so the key has more than one version.
    const versions = await page.$$eval('#key-detail .versions tbody tr', (r) => r.length);
    assert.ok(versions >= 2, `versions: ${versions}`);
    const diff = await page.textContent('#diff');
    assert.match(diff ?? '', /\+\+\+ revision \d+/);
    assert.match(diff ?? '', /^\+ |\n\+ /m);
  });

  it('shows a validation error with its field path', T, async () => {
    await page.fill('#manifest', INVALID);
    await page.click('#apply-btn');
    await page.waitForSelector('#apply-result .error', { timeout: 30_000 });
    const text = (await page.textContent('#apply-result')) ?? '';
    assert.match(text, /422 Invalid/);
    assert.match(text, /spec\.replicas/);
    assert.match(text, /spec\.template\.metadata\.labels/);
    // And the manifest is not in the store.
    const keys = await page.evaluate(() => [...(window as any).__dashboard.state.keys.keys()] as string[]);
    assert.ok(!keys.includes('/registry/deployments/default/broken'));
  });

  it(
    'stops the store leader from its button: another member is elected; restarted, it follows',
    T,
    async () => {
      const leaderSel = '#members .member[data-role="leader"]';
      await page.waitForFunction(() => document.querySelectorAll('#members .member').length === 3);
      const old = (await page.getAttribute(leaderSel, 'data-name', { timeout: 30_000 }))!;
      const oldTerm = await page.evaluate(
        (n) => (window as any).__dashboard.state.members.find((m: any) => m.component === n)?.term as number,
        old,
      );
      await page.click(`#members .member[data-name="${old}"] button[data-action="stop"]`);
      await page
        .waitForSelector(`#members .member[data-name="${old}"][data-role="stopped"]`, { timeout: 30_000 })
        .catch(fail(`${old} shown stopped`));
      const next = await page
        .waitForFunction(
          (o) => {
            const l = document.querySelector('#members .member[data-role="leader"]');
            return l && l.getAttribute('data-name') !== o ? l.getAttribute('data-name') : null;
          },
          old,
          { timeout: 45_000 },
        )
        .catch(fail('a new leader'));
      const newLeader = (await next.jsonValue()) as string;
      assert.notEqual(newLeader, old);
      const newTerm = await page.evaluate(
        (n) => (window as any).__dashboard.state.members.find((m: any) => m.component === n)?.term as number,
        newLeader,
      );
      assert.ok(newTerm > oldTerm, `term ${oldTerm} -> ${newTerm}`);
      // The leader log names the change.
      await page.waitForFunction(
        (n) => new RegExp(`→ ${n}`).test(document.querySelector('#leader-log')?.textContent ?? ''),
        newLeader,
        { timeout: 15_000 },
      );
      await page.click(`#members .member[data-name="${old}"] button[data-action="start"]`, {
        timeout: 15_000,
      });
      await page
        .waitForSelector(`#members .member[data-name="${old}"][data-role="follower"]`, { timeout: 45_000 })
        .catch(fail(`${old} back as a follower`));
    },
  );

  it('pauses a follower from its button and resumes it', T, async () => {
    const follower = (await page.getAttribute('#members .member[data-role="follower"]', 'data-name', {
      timeout: 30_000,
    }))!;
    const sel = `#members .member[data-name="${follower}"]`;
    await page.click(`${sel} button[data-action="pause"]`);
    // SIGSTOP: the process is there but answers nothing; the page says paused, with the Status time-out.
    await page.waitForSelector(`${sel}[data-role="paused"]`, { timeout: 30_000 }).catch(fail('paused'));
    await page.waitForFunction(
      (s) => /no answer in time/.test(document.querySelector(s)?.textContent ?? ''),
      sel,
      {
        timeout: 30_000,
      },
    );
    await page.click(`${sel} button[data-action="resume"]`);
    await page.waitForSelector(`${sel}[data-role="follower"]`, { timeout: 30_000 }).catch(fail('resumed'));
  });

  it('pauses and filters the event stream', T, async () => {
    await page.fill('#ev-filter', '/registry/leases/');
    // The filter applies on the page's next render: wait until the list shows only matching rows.
    await page
      .waitForFunction(
        () => {
          const rows = [...document.querySelectorAll('#events tr')];
          return rows.length > 0 && rows.every((r) => (r.textContent ?? '').includes('/registry/leases/'));
        },
        null,
        { timeout: 15_000 },
      )
      .catch(fail('only /registry/leases/ rows after filtering'));
    const rows = () => page.$$eval('#events tr', (r) => r.map((x) => x.textContent ?? ''));
    assert.ok((await rows()).every((r) => r.includes('/registry/leases/')));
    await page.click('#ev-pause');
    const frozen = await rows();
    // Node heartbeats keep writing Leases: the page counts them while the list stands still.
    await page.waitForFunction(
      () => /paused: [1-9]\d* new events/.test(document.querySelector('#ev-count').textContent),
      null,
      {
        timeout: 15_000,
      },
    );
    assert.deepEqual(await rows(), frozen);
    await page.click('#ev-pause');
    await page.waitForFunction(
      (first) => (document.querySelector('#events tr')?.textContent ?? '') !== first,
      frozen[0],
      { timeout: 15_000 },
    );
    await page.fill('#ev-filter', '');
  });

  it('turns a node that stops heartbeating NotReady', T, async () => {
    const r = await fetch(`${cluster.nodeAgentURL}/nodes/node-2/stop-heartbeat`, { method: 'POST' });
    assert.equal(r.status, 200, await r.text());
    const tile = '#nodes .node[data-name="node-2"]';
    // First the page sees the Lease go stale, then the node lifecycle controller marks Ready Unknown.
    await page
      .waitForSelector(`${tile}.stale, ${tile}.notready`, { timeout: 30_000 })
      .catch(fail('node-2 stale'));
    await page
      .waitForSelector(`${tile}.notready[data-ready="Unknown"]`, { timeout: 45_000 })
      .catch(fail('node-2 NotReady'));
    assert.match((await page.textContent(tile)) ?? '', /NotReady/);
    await fetch(`${cluster.nodeAgentURL}/nodes/node-2/start-heartbeat`, { method: 'POST' });
    await page
      .waitForSelector(`${tile}[data-ready="True"]`, { timeout: 45_000 })
      .catch(fail('node-2 Ready again'));
  });

  it('travels to a past revision, and explains a compacted one', T, async () => {
    const rev = await page.evaluate(() => (window as any).__dashboard.state.revision as number);
    assert.ok(rev > 10);
    await page.fill('#tt-rev', '5');
    await page.click('#tt-go');
    await page.waitForSelector('#tt-result .tt-sum', { timeout: 15_000 });
    assert.match((await page.textContent('#tt-result .tt-sum')) ?? '', /At revision 5/);
    const c = await run('etcdctl', ['--endpoints', cluster.storeEndpoints[0]!, 'compact', String(rev - 2)], {
      env: { ETCDCTL_API: '3' },
    });
    assert.equal(c.code, 0, c.stderr);
    await page.click('#tt-go');
    await page.waitForSelector('#tt-result .explain[data-code="compacted"]', { timeout: 15_000 });
    const text = (await page.textContent('#tt-result')) ?? '';
    assert.match(text, /etcdserver: mvcc: required revision has been compacted/);
    assert.match(text, new RegExp(`oldest revision still readable is ${rev - 2}`));
  });
});
