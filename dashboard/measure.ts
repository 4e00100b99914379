// Measures whether the page stays responsive at scale: a cluster with --nodes 100, a Deployment of 1000
// applied from the page, then scaled to 0; samples the page's own frame rate, event-loop lag, long tasks
// and update rate every second. `npm run build && node dist/dashboard/measure.js [--nodes 100]
// [--replicas 1000] [--members 3] [--json out.json]`.
import { writeFileSync } from 'node:fs';
import { hasChromium, launchChromium, startTestCluster } from './testing.js';

declare const document: any;

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const nodes = Number(arg('nodes', '100'));
const replicas = Number(arg('replicas', '1000'));
const members = Number(arg('members', '3'));
const jsonOut = arg('json', '');

const manifest = (n: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: scale
spec:
  replicas: ${n}
  selector:
    matchLabels: {app: scale}
  template:
    metadata:
      labels: {app: scale}
    spec:
      containers:
      - name: c
        image: example/scale:1
`;

interface Sample {
  t: number;
  phase: string;
  fps: number;
  lagMs: number;
  updatesPerSec: number;
  messagesPerSec: number;
  renderMs: number;
  handleMs: number;
  /** Worst delay in that second between the server sending a batch and the page handling it (ms). */
  batchDelayMs: number;
  /** Main-thread time of the page's renderer in the last second, from Chrome's own metrics (ms). */
  taskMs: number;
  scriptMs: number;
  layoutMs: number;
  styleMs: number;
  longTasks: number;
  podsInPage: number;
  readyInPage: number;
}

if (!hasChromium()) {
  console.error('the measurement needs /usr/bin/chromium');
  process.exit(1);
}
const cluster = await startTestCluster({
  nodes,
  members,
  // Kubernetes' own heartbeat period for the 100 nodes, not the tests' fast one.
  nodeAgentArgs: ['--heartbeat-interval', '10s', '--node-lease-duration', '40s'],
  controllerManagerArgs: ['--node-monitor-grace-period', '40s', '--node-monitor-period', '5s'],
});
const browser = await launchChromium();
const samples: Sample[] = [];
let phase = 'idle';
const t0 = Date.now();
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  await page.goto(cluster.dashboardURL);
  await page.waitForFunction(
    (n) => document.querySelectorAll('#nodes .node[data-ready="True"]').length >= n,
    nodes,
    { timeout: 120_000 },
  );
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  let prev: Record<string, number> = {};
  const chromeMetrics = async () => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    const now: Record<string, number> = Object.fromEntries(metrics.map((m) => [m.name, m.value]));
    const d = (k: string) => Math.round(((now[k] ?? 0) - (prev[k] ?? 0)) * 1000);
    const out = {
      taskMs: d('TaskDuration'),
      scriptMs: d('ScriptDuration'),
      layoutMs: d('LayoutDuration'),
      styleMs: d('RecalcStyleDuration'),
    };
    prev = now;
    return out;
  };
  await chromeMetrics();
  const sampler = setInterval(() => {
    void Promise.all([
      chromeMetrics(),
      page.evaluate(() => {
        const d = (globalThis as any).__dashboard;
        return {
          ...d.stats,
          podsInPage: d.state.wl.pods.size,
          readyInPage: [...d.state.wl.pods.values()].filter((p: any) => p.ready).length,
        };
      }),
    ])
      .then(([m, s]: [any, any]) => samples.push({ t: (Date.now() - t0) / 1000, phase, ...s, ...m }))
      .catch(() => undefined);
  }, 1000);
  await page.waitForTimeout(5000);

  const apply = async (n: number) => {
    await page.fill('#manifest', manifest(n));
    await page.click('#apply-btn');
    await page.waitForSelector('#apply-result .result', { timeout: 60_000 });
  };
  phase = 'scale-up';
  const up0 = Date.now();
  await apply(replicas);
  await page.waitForFunction(
    (n) => document.querySelectorAll('#deployments .pod.ready').length >= n,
    replicas,
    { timeout: 900_000, polling: 1000 },
  );
  const upSeconds = (Date.now() - up0) / 1000;
  phase = 'steady';
  await page.waitForTimeout(15_000);
  // Responsiveness to a visitor while the page holds 1000 pods: open the pods group in the key space.
  const click0 = Date.now();
  await page.click('#keys details[data-group="/registry/pods/"] > summary');
  await page.waitForSelector('#keys details[data-group="/registry/pods/default/"]');
  const clickMs = Date.now() - click0;
  phase = 'scale-down';
  const down0 = Date.now();
  await apply(0);
  await page.waitForFunction(() => document.querySelectorAll('#deployments .pod').length === 0, null, {
    timeout: 900_000,
    polling: 1000,
  });
  const downSeconds = (Date.now() - down0) / 1000;
  phase = 'done';
  await page.waitForTimeout(2000);
  clearInterval(sampler);

  const summarize = (ph: string) => {
    const s = samples.filter((x) => x.phase === ph);
    if (s.length === 0) return undefined;
    const sorted = (f: (x: Sample) => number) => s.map(f).sort((a, b) => a - b);
    const pct = (a: number[], p: number) => a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))]!;
    return {
      seconds: s.length,
      fpsMedian: pct(
        sorted((x) => x.fps),
        50,
      ),
      fpsMin: pct(
        sorted((x) => x.fps),
        0,
      ),
      lagP50Ms: pct(
        sorted((x) => x.lagMs),
        50,
      ),
      lagP95Ms: pct(
        sorted((x) => x.lagMs),
        95,
      ),
      lagMaxMs: pct(
        sorted((x) => x.lagMs),
        100,
      ),
      updatesPerSecMedian: pct(
        sorted((x) => x.updatesPerSec),
        50,
      ),
      updatesPerSecMax: pct(
        sorted((x) => x.updatesPerSec),
        100,
      ),
      renderMsPerSecMedian: pct(
        sorted((x) => x.renderMs),
        50,
      ),
      renderMsPerSecMax: pct(
        sorted((x) => x.renderMs),
        100,
      ),
      messagesPerSecMax: pct(
        sorted((x) => x.messagesPerSec),
        100,
      ),
      batchDelayP50Ms: pct(
        sorted((x) => x.batchDelayMs),
        50,
      ),
      batchDelayMaxMs: pct(
        sorted((x) => x.batchDelayMs),
        100,
      ),
      handleMsPerSecMedian: pct(
        sorted((x) => x.handleMs),
        50,
      ),
      mainThreadMsPerSecMedian: pct(
        sorted((x) => x.taskMs),
        50,
      ),
      mainThreadMsPerSecP95: pct(
        sorted((x) => x.taskMs),
        95,
      ),
      scriptMsPerSecMedian: pct(
        sorted((x) => x.scriptMs),
        50,
      ),
      layoutMsPerSecMedian: pct(
        sorted((x) => x.layoutMs),
        50,
      ),
      styleMsPerSecMedian: pct(
        sorted((x) => x.styleMs),
        50,
      ),
    };
  };
  const serverStats = await (await fetch(`${cluster.dashboardURL}/api/stats`)).json();
  const result = {
    members,
    nodes,
    replicas,
    scaleUpSeconds: upSeconds,
    scaleDownSeconds: downSeconds,
    openPodsGroupMs: clickMs,
    longTasks: samples.at(-1)?.longTasks,
    phases: {
      idle: summarize('idle'),
      'scale-up': summarize('scale-up'),
      steady: summarize('steady'),
      'scale-down': summarize('scale-down'),
    },
    server: serverStats,
  };
  console.log(JSON.stringify(result, null, 2));
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ result, samples }, null, 2));
} finally {
  await browser.close();
  await cluster.stop();
}
