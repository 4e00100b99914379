// The dashboard page: keeps a model of the cluster from the server's WebSocket (a snapshot, then batches)
// and redraws each panel at most a few times a second, so it stays responsive with thousands of objects.
/* global document, window, WebSocket, fetch, performance, requestAnimationFrame, PerformanceObserver, location, setTimeout, clearTimeout, setInterval, URLSearchParams */

const MAX_EVENTS = 500; // events the page keeps (the stream panel is bounded)
const EVENT_ROWS = 200; // of which the table shows the newest (filtering draws from all 500)
const HEAVY_RENDER_MS = 250; // key space and workloads redraw at most this often
const MAX_KEYS_SHOWN = 300; // key rows drawn in one open group (filter to narrow)

const $ = (id) => document.getElementById(id);
const esc = (s) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );

// ---- the model ---------------------------------------------------------------------------------------

const state = {
  info: {},
  connected: false,
  members: [],
  leaderChanges: [],
  components: [],
  revision: 0,
  watching: true,
  keys: new Map(), // key -> [create, mod, version]
  freshKeys: new Set(),
  events: [], // newest last, at most MAX_EVENTS
  newEvents: [], // arrived since the last stream redraw
  eventsDropped: 0,
  pausedCount: 0,
  wl: {
    deployments: new Map(),
    replicasets: new Map(),
    pods: new Map(),
    nodes: new Map(),
    leases: new Map(),
  },
  serverSkewMs: 0,
  newLeader: undefined,
};
const resources = new Map(); // plural -> kind

const dirty = {
  members: false,
  events: false,
  keys: false,
  workloads: false,
  header: false,
  eventsReset: false,
};
let lastHeavy = 0;
let heavyCost = 0; // ms, smoothed: how long the last key space + workloads redraws took
let heavyTimer;
let frameScheduled = false;

// Page health, read by the measurement script (window.__dashboard.stats) and shown in the header.
const stats = {
  fps: 0,
  lagMs: 0,
  updatesPerSec: 0,
  messagesPerSec: 0,
  renderMs: 0,
  longTasks: 0,
  totalUpdates: 0,
  totalMessages: 0,
};
const counters = { frames: 0, updates: 0, messages: 0, maxLag: 0, renderMs: 0, handleMs: 0, maxDelay: 0 };
window.__dashboard = { state, stats };

// ---- WebSocket ---------------------------------------------------------------------------------------

let ws;
let retry = 0;
function connect() {
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  ws.onopen = () => {
    retry = 0;
    state.connected = true;
    dirty.header = true;
    schedule();
  };
  ws.onclose = () => {
    state.connected = false;
    dirty.header = true;
    schedule();
    setTimeout(connect, Math.min(5000, 250 * 2 ** retry++));
  };
  ws.onmessage = (m) => {
    const t0 = performance.now();
    handle(m);
    counters.handleMs += performance.now() - t0;
  };
}

function handle(m) {
  {
    counters.messages++;
    stats.totalMessages++;
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch {
      return;
    }
    if (msg.type === 'snapshot') onSnapshot(msg);
    else if (msg.type === 'batch') onBatch(msg);
    schedule();
  }
}

function onSnapshot(s) {
  state.info = s.info;
  for (const r of s.info.resources ?? []) resources.set(r.resource, r.kind);
  state.serverSkewMs = Date.now() - s.now;
  state.members = s.members;
  state.leaderChanges = s.leaderChanges ?? [];
  state.components = s.components ?? [];
  state.revision = s.revision;
  state.keys = new Map(s.keys.map(([k, c, m, v]) => [k, [c, m, v]]));
  state.events = s.events.slice(-MAX_EVENTS);
  state.newEvents = [];
  for (const kind of Object.keys(state.wl))
    state.wl[kind] = new Map((s.workloads[kind] ?? []).map((v) => [v.id, v]));
  counters.updates += s.keys.length;
  Object.assign(dirty, {
    members: true,
    events: true,
    eventsReset: true,
    keys: true,
    workloads: true,
    header: true,
  });
  if (ttRange.value === '1') setTTRevision(s.revision);
}

function onBatch(b) {
  state.serverSkewMs = Date.now() - b.now;
  // From the server sending a batch to the page taking it (one machine, one clock in the tests).
  counters.maxDelay = Math.max(counters.maxDelay, state.serverSkewMs);
  if (b.revision > state.revision) {
    state.revision = b.revision;
    dirty.header = true;
  }
  if (b.members) {
    state.members = b.members;
    state.watching = b.watching;
    dirty.members = true;
    dirty.header = true;
  }
  if (b.leaderChange) {
    state.leaderChanges.push(b.leaderChange);
    if (state.leaderChanges.length > 50) state.leaderChanges.shift();
    state.newLeader = b.leaderChange.to;
  }
  if (b.keysReset) {
    state.keys = new Map(b.keysReset.map(([k, c, m, v]) => [k, [c, m, v]]));
    counters.updates += b.keysReset.length;
    dirty.keys = true;
  }
  if (b.keys) {
    for (const [k, c, m, v] of b.keys.put) {
      state.keys.set(k, [c, m, v]);
      state.freshKeys.add(k);
    }
    for (const k of b.keys.del) state.keys.delete(k);
    counters.updates += b.keys.put.length + b.keys.del.length;
    dirty.keys = true;
  }
  if (b.events) {
    if (paused) state.pausedCount += b.events.length + (b.eventsDropped ?? 0);
    state.events.push(...b.events);
    if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
    state.newEvents.push(...b.events);
    if (state.newEvents.length > MAX_EVENTS) state.newEvents.splice(0, state.newEvents.length - MAX_EVENTS);
    state.eventsDropped += b.eventsDropped ?? 0;
    counters.updates += b.events.length;
    dirty.events = true;
  }
  if (b.workloads) {
    for (const [kind, d] of Object.entries(b.workloads)) {
      const map = state.wl[kind];
      if (d.reset) {
        map.clear();
        wlChanges.structure = true;
      }
      if (kind === 'pods') {
        // Most pod updates only change a dot's colour: those are patched in place, not redrawn.
        for (const v of d.put) {
          const old = map.get(v.id);
          if (old && old.owner === v.owner) wlChanges.pods.add(v.id);
          else wlChanges.moved.add(v.id);
          if (old?.node !== v.node) wlChanges.nodes = true;
        }
        for (const id of d.del) wlChanges.moved.add(id);
        if (d.del.length) wlChanges.nodes = true;
      } else if (kind === 'deployments' || kind === 'replicasets') {
        if (d.del.length || d.put.some((v) => !map.has(v.id) || map.get(v.id).owner !== v.owner))
          wlChanges.structure = true;
        wlChanges.heads = true;
      } else wlChanges.nodes = true;
      for (const v of d.put) map.set(v.id, v);
      for (const id of d.del) map.delete(id);
      counters.updates += d.put.length + d.del.length;
    }
    dirty.workloads = true;
  }
}

// ---- rendering loop ----------------------------------------------------------------------------------

function schedule() {
  if (frameScheduled) return;
  frameScheduled = true;
  requestAnimationFrame(render);
}

function render() {
  frameScheduled = false;
  const t0 = performance.now();
  if (dirty.header) renderHeader();
  if (dirty.members) renderMembers();
  if (dirty.events) renderEvents();
  // The heavy panels get at most a fifth of the time: when a redraw is slow, the next one waits longer.
  const heavyEvery = Math.min(2000, Math.max(HEAVY_RENDER_MS, 5 * heavyCost));
  const heavyDue = t0 - lastHeavy >= heavyEvery;
  if (heavyDue && (dirty.keys || dirty.workloads)) {
    lastHeavy = t0;
    if (dirty.keys) renderKeys();
    if (dirty.workloads) renderWorkloads();
    heavyCost = 0.5 * heavyCost + 0.5 * (performance.now() - t0);
  } else if ((dirty.keys || dirty.workloads) && !heavyTimer) {
    heavyTimer = setTimeout(
      () => {
        heavyTimer = undefined;
        schedule();
      },
      heavyEvery - (t0 - lastHeavy),
    );
  }
  counters.renderMs += performance.now() - t0;
}

// Frames, event-loop lag and updates per second: measured in the page itself.
(function measure() {
  const tick = () => {
    counters.frames++;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  let expected = performance.now() + 50;
  setInterval(() => {
    const now = performance.now();
    counters.maxLag = Math.max(counters.maxLag, now - expected);
    expected = now + 50;
  }, 50);
  try {
    new PerformanceObserver((l) => (stats.longTasks += l.getEntries().length)).observe({
      entryTypes: ['longtask'],
    });
  } catch {
    // longtask timing is a Chromium feature; the other numbers do not need it.
  }
  setInterval(() => {
    stats.fps = counters.frames;
    stats.lagMs = Math.round(counters.maxLag);
    stats.updatesPerSec = counters.updates;
    stats.messagesPerSec = counters.messages;
    stats.renderMs = Math.round(counters.renderMs);
    stats.handleMs = Math.round(counters.handleMs);
    stats.batchDelayMs = Math.round(counters.maxDelay);
    stats.totalUpdates += counters.updates;
    Object.assign(counters, {
      frames: 0,
      maxLag: 0,
      updates: 0,
      messages: 0,
      renderMs: 0,
      handleMs: 0,
      maxDelay: 0,
    });
    dirty.header = true;
    tickClocks();
    schedule();
  }, 1000);
})();

function renderHeader() {
  dirty.header = false;
  const c = $('conn');
  c.textContent = state.connected ? 'live' : 'disconnected';
  c.className = `badge ${state.connected ? 'on' : 'off'}`;
  $('hdr-rev').textContent = state.revision;
  $('hdr-watch').textContent = state.watching ? 'watch streaming' : 'watch reconnecting';
  $('hdr-api').textContent = state.info.apiserver ? `API server ${state.info.apiserver}` : '';
  $('hdr-stats').textContent =
    `${stats.fps} fps · lag ${stats.lagMs} ms · ${stats.updatesPerSec} updates/s · ${stats.keysShown ?? state.keys.size} keys`;
  ttRange.max = String(Math.max(1, state.revision));
}

// ---- store cluster -----------------------------------------------------------------------------------

const fmtBytes = (n) =>
  n === undefined
    ? '-'
    : n < 1024
      ? `${n} B`
      : n < 1048576
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${(n / 1048576).toFixed(1)} MiB`;
const dash = (v) => (v === undefined || v === null || Number.isNaN(v) ? '-' : v);

function memberName(m) {
  return m.component ?? m.name ?? m.endpoint;
}

function renderMembers() {
  dirty.members = false;
  const box = $('members');
  const html = state.members.map((m) => {
    const paused = m.state === 'paused';
    const stopped = m.state === 'stopped';
    const down = !m.reachable;
    const roleText = paused ? 'paused' : stopped ? 'stopped' : down ? 'unreachable' : m.role;
    const roleClass = paused ? 'paused' : down ? 'down' : m.role;
    const name = memberName(m);
    const control = state.info.control && m.component;
    const btn = (action, label, enabled, cls = '') =>
      `<button type="button" data-action="${action}" data-member="${esc(m.component)}" class="${cls}" ${control && enabled ? '' : 'disabled'}>${label}</button>`;
    const health = down
      ? `<div class="err">${esc(m.error ?? 'no answer')}</div>`
      : m.errors?.length
        ? `<div class="err">${esc(m.errors.join('; '))}</div>`
        : '';
    return `<div class="member ${m.role === 'leader' && m.reachable ? 'leader' : ''} ${down ? 'down' : ''} ${m.id && m.id === state.newLeader && m.role === 'leader' ? 'new-leader' : ''}" data-name="${esc(name)}" data-id="${esc(m.id ?? '')}" data-role="${esc(roleText)}">
      <div class="title"><span class="name">${esc(name)}</span><span class="muted mono">${esc(m.id ?? '')}</span><span class="role ${roleClass}">${esc(roleText)}</span></div>
      <dl>
        <dt>endpoint</dt><dd>${esc(m.endpoint.replace(/^https?:\/\//, ''))}</dd>
        <dt>term</dt><dd>${dash(m.term)}</dd>
        <dt>raft index</dt><dd>${dash(m.raftIndex)}</dd>
        <dt>applied index</dt><dd>${dash(m.appliedIndex)}</dd>
        <dt>revision</dt><dd>${dash(m.revision)}</dd>
        <dt>db size</dt><dd>${fmtBytes(m.dbSize)}</dd>
        <dt>health</dt><dd>${down ? '✗ down' : m.errors?.length ? '! alarm' : `✓ ${m.latencyMs} ms`}</dd>
        ${m.pid && !stopped ? `<dt>pid</dt><dd>${m.pid}</dd>` : ''}
      </dl>
      ${health}
      <div class="buttons">
        ${btn('stop', 'stop', !stopped, 'danger')}
        ${btn('kill', 'kill -9', !stopped, 'danger')}
        ${btn('start', 'restart', stopped || down)}
        ${paused ? btn('resume', 'resume', true) : btn('pause', 'pause', !stopped)}
      </div>
    </div>`;
  });
  box.innerHTML = html.join('');
  state.newLeader = undefined;
  const note = $('control-note');
  note.textContent = !state.info.control
    ? 'Buttons are off: the dashboard was started without --cluster-control.'
    : state.members.some((m) => !m.component)
      ? 'Some members are not known to the supervisor; their buttons are off.'
      : '';
  const byId = new Map(state.members.filter((m) => m.id).map((m) => [m.id, memberName(m)]));
  $('leader-log').innerHTML = state.leaderChanges
    .slice(-8)
    .reverse()
    .map((c) => {
      const t = new Date(c.at).toLocaleTimeString();
      const to = c.to ? `${esc(byId.get(c.to) ?? c.to)}` : 'no leader';
      const from = c.from ? esc(byId.get(c.from) ?? c.from) : '-';
      return `<li>${t} term ${dash(c.term)}: ${from} → <b>${to}</b></li>`;
    })
    .join('');
}

$('members').addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  b.disabled = true;
  const r = await fetch(`/api/components/${encodeURIComponent(b.dataset.member)}/${b.dataset.action}`, {
    method: 'POST',
  }).catch((err) => ({ ok: false, statusText: String(err) }));
  if (!r.ok) {
    const body = r.json ? await r.json().catch(() => ({})) : {};
    $('control-note').textContent =
      `${b.dataset.action} ${b.dataset.member}: ${body.message ?? r.statusText}`;
  } else $('control-note').textContent = `${b.dataset.action} ${b.dataset.member}: sent`;
});

// ---- event stream ------------------------------------------------------------------------------------

let paused = false;
const evFilter = $('ev-filter');

/** "Pod default/web-1" from /registry/pods/default/web-1, using the API server's resource list. */
function resourceOf(key) {
  const prefix = state.info.prefix ?? '/registry/';
  if (!key.startsWith(prefix)) return '';
  const parts = key.slice(prefix.length).split('/');
  const kind = resources.get(parts[0]) ?? parts[0];
  return `${kind} ${parts.slice(1).join('/')}`;
}

function eventRow(e) {
  return `<tr class="event"><td>${e.rev}</td><td class="op-${e.type}">${e.type}</td><td title="${esc(resourceOf(e.key))}">${esc(resourceOf(e.key))}</td><td title="${esc(e.key)}">${esc(e.key)}</td><td>${e.v}</td></tr>`;
}

function renderEvents() {
  if (paused) {
    $('ev-count').textContent = `paused: ${state.pausedCount} new events`;
    dirty.events = false;
    return;
  }
  dirty.events = false;
  const body = $('events');
  const f = evFilter.value.trim();
  const pass = (e) => !f || e.key.startsWith(f);
  if (dirty.eventsReset) {
    dirty.eventsReset = false;
    body.innerHTML = state.events.filter(pass).slice(-EVENT_ROWS).reverse().map(eventRow).join('');
  } else if (state.newEvents.length > 0) {
    const html = state.newEvents.filter(pass).slice(-EVENT_ROWS).reverse().map(eventRow).join('');
    body.insertAdjacentHTML('afterbegin', html);
    while (body.rows.length > EVENT_ROWS) body.deleteRow(-1);
  }
  state.newEvents = [];
  $('ev-count').textContent = `${body.rows.length} shown (last ${MAX_EVENTS} kept for filtering)`;
  $('ev-note').textContent = state.eventsDropped
    ? `${state.eventsDropped} events were not sent to the page (more than 500 in one 100 ms batch); the key space still has them.`
    : '';
}

$('ev-pause').addEventListener('click', () => {
  paused = !paused;
  $('ev-pause').textContent = paused ? 'Resume' : 'Pause';
  state.pausedCount = 0;
  dirty.events = true;
  dirty.eventsReset = true;
  schedule();
});
evFilter.addEventListener('input', () => {
  dirty.events = true;
  dirty.eventsReset = true;
  schedule();
});

// ---- workloads ---------------------------------------------------------------------------------------

const wlChanges = { structure: true, heads: true, nodes: true, pods: new Set(), moved: new Set() };
const podEls = new Map(); // pod id -> its dot
const podBoxes = new Map(); // ReplicaSet id ('' for pods without one) -> the dots' container
const headEls = new Map(); // Deployment or ReplicaSet id -> its heading's counters
const nodeTiles = new Map(); // node name -> {el, html}

function podClass(p) {
  let c = `pod phase-${p.phase}`;
  if (p.ready) c += ' ready';
  if (!p.node) c += ' unscheduled';
  if (p.deleting) c += ' deleting';
  return c;
}
function podTitle(p) {
  return `${p.name} · ${p.deleting ? 'Terminating' : p.phase}${p.ready ? ', ready' : ''} · ${p.node ?? 'not scheduled'}`;
}
function podDot(p) {
  return `<span class="${podClass(p)}" data-id="${esc(p.id)}" title="${esc(podTitle(p))}"></span>`;
}
function boxOf(p) {
  return p.owner && state.wl.replicasets.has(p.owner) ? p.owner : '';
}
function deployHead(d) {
  const pct = d.replicas ? Math.round((100 * d.ready) / d.replicas) : 100;
  return `<span class="name">Deployment ${esc(d.id)}</span><span class="bar"><i style="width:${pct}%"></i></span><span class="mono">${d.ready}/${d.replicas} ready · ${d.updated} up-to-date · ${d.available} available</span>`;
}
function rsHead(rs) {
  const n = podBoxes.get(rs.id)?.childElementCount ?? 0;
  return `ReplicaSet ${esc(rs.name)}${rs.revision ? ` · rev ${esc(rs.revision)}` : ''} · ${rs.ready}/${rs.replicas} ready · ${n} pods`;
}

/** Redraws Deployments, ReplicaSets and their pods from scratch (when one appears or goes away). */
function rebuildWorkloads() {
  const { deployments, replicasets, pods } = state.wl;
  const podsByBox = new Map();
  for (const p of pods.values()) {
    const k = boxOf(p);
    if (!podsByBox.has(k)) podsByBox.set(k, []);
    podsByBox.get(k).push(p);
  }
  const rsByOwner = new Map();
  for (const rs of replicasets.values()) {
    const k = rs.owner && deployments.has(rs.owner) ? rs.owner : '';
    if (!rsByOwner.has(k)) rsByOwner.set(k, []);
    rsByOwner.get(k).push(rs);
  }
  const byName = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const rsHtml = (rs) =>
    `<div class="rs" data-id="${esc(rs.id)}"><div class="rs-head" data-head="${esc(rs.id)}"></div><div class="pods" data-box="${esc(rs.id)}">${(podsByBox.get(rs.id) ?? []).sort(byName).map(podDot).join('')}</div></div>`;
  const parts = [];
  for (const d of [...deployments.values()].sort(byName)) {
    const rss = (rsByOwner.get(d.id) ?? []).sort((a, b) => Number(b.revision ?? 0) - Number(a.revision ?? 0));
    parts.push(
      `<div class="deploy" data-id="${esc(d.id)}"><div class="deploy-head" data-head="${esc(d.id)}"></div>${rss.map(rsHtml).join('')}</div>`,
    );
  }
  const orphanRs = rsByOwner.get('') ?? [];
  if (orphanRs.length)
    parts.push(
      `<div class="deploy"><div class="deploy-head"><span class="name muted">ReplicaSets without a Deployment</span></div>${orphanRs.sort(byName).map(rsHtml).join('')}</div>`,
    );
  const loose = podsByBox.get('') ?? [];
  parts.push(
    `<div class="deploy loose" ${loose.length ? '' : 'hidden'}><div class="deploy-head"><span class="name muted">Pods without a ReplicaSet</span></div><div class="pods" data-box="">${loose.sort(byName).map(podDot).join('')}</div></div>`,
  );
  if (!deployments.size && !replicasets.size && !loose.length)
    parts.push(
      '<p class="muted">No Deployments, ReplicaSets or Pods yet. Apply one from the Apply panel.</p>',
    );
  const root = $('deployments');
  root.innerHTML = parts.join('');
  podEls.clear();
  podBoxes.clear();
  headEls.clear();
  for (const el of root.querySelectorAll('.pod[data-id]')) podEls.set(el.dataset.id, el);
  for (const el of root.querySelectorAll('.pods[data-box]')) podBoxes.set(el.dataset.box, el);
  for (const el of root.querySelectorAll('[data-head]')) headEls.set(el.dataset.head, el);
}

/** Applies pod changes to the existing dots; returns false when the structure must be rebuilt. */
function patchPods() {
  const { pods } = state.wl;
  for (const id of wlChanges.moved) {
    podEls.get(id)?.remove();
    podEls.delete(id);
    const p = pods.get(id);
    if (!p) continue;
    const box = podBoxes.get(boxOf(p));
    if (!box) return false;
    const el = document.createElement('span');
    el.className = podClass(p);
    el.dataset.id = p.id;
    el.title = podTitle(p);
    box.appendChild(el);
    podEls.set(id, el);
  }
  for (const id of wlChanges.pods) {
    const p = pods.get(id);
    const el = podEls.get(id);
    if (!p || !el) continue;
    const c = podClass(p);
    if (el.className !== c) el.className = c;
    el.title = podTitle(p);
  }
  return true;
}

function renderWorkloads() {
  dirty.workloads = false;
  const { deployments, replicasets, pods, nodes, leases } = state.wl;
  const moved = wlChanges.moved.size > 0;
  if (wlChanges.structure || !patchPods()) rebuildWorkloads();
  if (wlChanges.structure || wlChanges.heads || moved) {
    for (const d of deployments.values()) {
      const el = headEls.get(d.id);
      if (el) el.innerHTML = deployHead(d);
    }
    for (const rs of replicasets.values()) {
      const el = headEls.get(rs.id);
      if (el) el.innerHTML = rsHead(rs);
    }
    const loose = podBoxes.get('');
    if (loose) loose.parentElement.hidden = loose.childElementCount === 0;
  }
  const nodesChanged = wlChanges.nodes || wlChanges.structure;
  Object.assign(wlChanges, { structure: false, heads: false, nodes: false });
  wlChanges.pods.clear();
  wlChanges.moved.clear();
  if (!nodesChanged) return;

  const podsOnNode = new Map();
  for (const p of pods.values()) if (p.node) podsOnNode.set(p.node, (podsOnNode.get(p.node) ?? 0) + 1);
  const now = Date.now() - state.serverSkewMs;
  let ready = 0;
  const tiles = [...nodes.values()]
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }))
    .map((n) => {
      const lease = leases.get(`kube-node-lease/${n.name}`);
      const age = lease?.renew ? Math.max(0, Math.round((now - lease.renew) / 1000)) : undefined;
      const stale = age !== undefined && lease.durationSeconds !== undefined && age > lease.durationSeconds;
      const isReady = n.ready === 'True';
      if (isReady) ready++;
      const cls = !isReady ? 'notready' : stale ? 'stale' : '';
      const status = !isReady
        ? `NotReady${n.ready === 'Unknown' ? ' (Unknown)' : ''}`
        : stale
          ? `Ready, no heartbeat ${age}s`
          : 'Ready';
      return {
        name: n.name,
        html: `<div class="node ${cls}" data-name="${esc(n.name)}" data-ready="${esc(n.ready)}" title="${esc(`${n.name}: Ready=${n.ready}${n.reason ? ` (${n.reason})` : ''}; lease renewed ${age ?? '?'}s ago`)}"><div class="n">${esc(n.name)}</div><div class="s">${esc(status)}</div><div class="muted">${podsOnNode.get(n.name) ?? 0} pods${age !== undefined ? ` · ♥ ${age}s` : ''}</div></div>`,
      };
    });
  // Tiles are replaced one by one, and only those whose content changed.
  const box = $('nodes');
  const sameSet = tiles.length === nodeTiles.size && tiles.every((t) => nodeTiles.has(t.name));
  if (!sameSet) {
    box.innerHTML = tiles.map((t) => t.html).join('') || '<p class="muted">No Nodes registered.</p>';
    nodeTiles.clear();
    for (const el of box.querySelectorAll('.node[data-name]')) {
      const t = tiles.find((x) => x.name === el.dataset.name);
      nodeTiles.set(el.dataset.name, { el, html: t.html });
    }
  } else {
    for (const t of tiles) {
      const cur = nodeTiles.get(t.name);
      if (cur.html === t.html) continue;
      const tmp = document.createElement('div');
      tmp.innerHTML = t.html;
      const el = tmp.firstElementChild;
      cur.el.replaceWith(el);
      nodeTiles.set(t.name, { el, html: t.html });
    }
  }
  $('nodes-summary').textContent = `${ready}/${nodes.size} Ready · ${pods.size} pods`;
}

/** Heartbeat ages move without any event: redraw the nodes once a second. */
function tickClocks() {
  if (!state.wl.nodes.size) return;
  wlChanges.nodes = true;
  dirty.workloads = true;
}

// ---- key space ---------------------------------------------------------------------------------------

const keyFilter = $('key-filter');
const openGroups = new Set();
let selectedKey;

function keyRow(k, meta) {
  const fresh = state.freshKeys.has(k) ? ' fresh' : '';
  const sel = k === selectedKey ? ' sel' : '';
  return `<div class="key${fresh}${sel}" data-key="${esc(k)}" title="${esc(k)}"><span>${esc(k.slice(k.lastIndexOf('/') + 1) || k)}</span><span>${meta[0]}</span><span>${meta[1]}</span><span>${meta[2]}</span></div>`;
}

function renderKeys() {
  dirty.keys = false;
  const box = $('keys');
  const scroll = box.scrollTop;
  const f = keyFilter.value.trim();
  const prefix = state.info.prefix ?? '/registry/';
  const hdr =
    '<div class="key key-hdr"><span>key</span><span>create</span><span>mod</span><span>ver</span></div>';
  let html;
  if (f) {
    const rows = [];
    let n = 0;
    for (const [k, meta] of state.keys) {
      if (!k.startsWith(f)) continue;
      n++;
      if (rows.length < MAX_KEYS_SHOWN) rows.push([k, meta]);
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    html =
      hdr +
      rows.map(([k, m]) => keyRow(k, m).replace(/<span>[^<]*<\/span>/, `<span>${esc(k)}</span>`)).join('');
    if (n > rows.length)
      html += `<div class="more">${n - rows.length} more keys match; narrow the prefix</div>`;
    $('key-count').textContent = `${n} of ${state.keys.size} keys`;
  } else {
    // resource -> namespace (or '' for cluster-scoped) -> [key, meta][]
    const tree = new Map();
    for (const [k, meta] of state.keys) {
      const rest = k.startsWith(prefix) ? k.slice(prefix.length) : k;
      const parts = rest.split('/');
      const res = parts.length > 1 ? parts[0] : '(other)';
      const ns = parts.length > 2 ? parts[1] : '';
      let g = tree.get(res);
      if (!g) tree.set(res, (g = new Map()));
      let list = g.get(ns);
      if (!list) g.set(ns, (list = []));
      list.push([k, meta]);
    }
    const out = [hdr];
    for (const res of [...tree.keys()].sort()) {
      const g = tree.get(res);
      let total = 0;
      for (const l of g.values()) total += l.length;
      const rid = `${prefix}${res}/`;
      out.push(
        `<details data-group="${esc(rid)}" ${openGroups.has(rid) ? 'open' : ''}><summary>${esc(rid)} <span class="count">${total} keys · ${esc(resources.get(res) ?? '')}</span></summary>`,
      );
      if (openGroups.has(rid)) {
        for (const ns of [...g.keys()].sort()) {
          const list = g.get(ns).sort((a, b) => (a[0] < b[0] ? -1 : 1));
          const rows = list
            .slice(0, MAX_KEYS_SHOWN)
            .map(([k, m]) => keyRow(k, m))
            .join('');
          const more =
            list.length > MAX_KEYS_SHOWN
              ? `<div class="more">${list.length - MAX_KEYS_SHOWN} more; filter by prefix ${esc(rid + ns + '/')}</div>`
              : '';
          if (ns === '') out.push(rows + more);
          else {
            const nid = `${rid}${ns}/`;
            out.push(
              `<details data-group="${esc(nid)}" ${openGroups.has(nid) ? 'open' : ''}><summary>${esc(ns)}/ <span class="count">${list.length}</span></summary>${openGroups.has(nid) ? rows + more : ''}</details>`,
            );
          }
        }
      }
      out.push('</details>');
    }
    html = out.join('');
    $('key-count').textContent = `${state.keys.size} keys`;
  }
  box.innerHTML = html;
  box.scrollTop = scroll;
  state.freshKeys.clear();
}

$('keys').addEventListener(
  'toggle',
  (e) => {
    const d = e.target;
    if (!d.dataset?.group) return;
    const was = openGroups.has(d.dataset.group);
    if (d.open === was) return;
    if (d.open) openGroups.add(d.dataset.group);
    else openGroups.delete(d.dataset.group);
    renderKeys();
  },
  true,
);
keyFilter.addEventListener('input', () => {
  dirty.keys = true;
  lastHeavy = 0;
  schedule();
});
$('keys').addEventListener('click', (e) => {
  const row = e.target.closest('.key[data-key]');
  if (!row) return;
  selectKey(row.dataset.key);
  for (const el of $('keys').querySelectorAll('.key.sel')) el.classList.remove('sel');
  row.classList.add('sel');
});

let keySeq = 0;
async function selectKey(key) {
  selectedKey = key;
  const seq = ++keySeq;
  const box = $('key-detail');
  box.innerHTML = `<div class="k">${esc(key)}</div><p class="muted">reading history...</p>`;
  const r = await fetch(`/api/key?key=${encodeURIComponent(key)}`);
  const h = await r.json();
  if (seq !== keySeq) return;
  if (!r.ok) {
    box.innerHTML = `<div class="k">${esc(key)}</div><div class="error">${esc(h.message)}</div>`;
    return;
  }
  renderKeyDetail(h);
}

function renderKeyDetail(h) {
  const box = $('key-detail');
  const v = h.versions;
  if (!v.length) {
    box.innerHTML = `<div class="k">${esc(h.key)}</div><p class="muted">The key does not exist now (deleted).</p>`;
    return;
  }
  const rows = v
    .map(
      (x, i) =>
        `<tr><td><input type="radio" name="da" value="${i}" ${i === Math.min(1, v.length - 1) ? 'checked' : ''}></td><td><input type="radio" name="db" value="${i}" ${i === 0 ? 'checked' : ''}></td><td>${x.rev}</td><td>${x.version}</td><td>${x.create}</td><td>${x.value.length} chars</td></tr>`,
    )
    .join('');
  const tail = h.compactedBefore
    ? `<p class="muted">Older versions are gone: revision ${h.compactedBefore} and before were compacted.</p>`
    : h.truncated
      ? `<p class="muted">Showing the ${v.length} latest versions.</p>`
      : `<p class="muted">Version 1 (created at revision ${v[v.length - 1].create}) is the oldest.</p>`;
  box.innerHTML = `<div class="k">${esc(h.key)}</div>
    <p>mod revision <b>${v[0].rev}</b> · version <b>${v[0].version}</b> · created at <b>${v[0].create}</b></p>
    <h3>Revision history <span class="muted">(pick A and B to diff)</span></h3>
    <div class="versions-box"><table class="versions"><thead><tr><th>A</th><th>B</th><th>mod rev</th><th>version</th><th>create rev</th><th>size</th></tr></thead><tbody>${rows}</tbody></table></div>
    ${tail}
    <h3>Diff A → B</h3><pre class="diff" id="diff"></pre>
    <h3>Value at revision ${v[0].rev}</h3><pre id="value">${esc(v[0].value)}</pre>`;
  const redraw = () => {
    const a = Number(box.querySelector('input[name=da]:checked')?.value ?? 0);
    const b = Number(box.querySelector('input[name=db]:checked')?.value ?? 0);
    $('diff').innerHTML = diffHtml(v[a].value, v[b].value, v[a].rev, v[b].rev);
  };
  box.querySelector('.versions').addEventListener('change', redraw);
  redraw();
}

/** A line diff (longest common subsequence) with three lines of context around each change. */
function diffHtml(a, b, ra, rb) {
  if (a === b) return `<span class="ctx">revisions ${ra} and ${rb} hold the same value</span>`;
  const x = a.split('\n');
  const y = b.split('\n');
  if (x.length * y.length > 4_000_000)
    return `<span class="gap">values too large to diff here (${x.length} and ${y.length} lines)</span>`;
  const n = x.length;
  const m = y.length;
  const L = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      L[i * (m + 1) + j] =
        x[i] === y[j]
          ? L[(i + 1) * (m + 1) + j + 1] + 1
          : Math.max(L[(i + 1) * (m + 1) + j], L[i * (m + 1) + j + 1]);
  const ops = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) ops.push([' ', x[i++], j++]);
    // Removals before additions, as in a unified diff.
    else if (i < n && (j === m || L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1]))
      ops.push(['-', x[i++]]);
    else ops.push(['+', y[j++]]);
  }
  const keep = new Uint8Array(ops.length);
  ops.forEach((o, k) => {
    if (o[0] !== ' ') for (let d = Math.max(0, k - 3); d <= Math.min(ops.length - 1, k + 3); d++) keep[d] = 1;
  });
  const out = [`<span class="gap">--- revision ${ra}\n+++ revision ${rb}\n</span>`];
  let skipped = false;
  ops.forEach((o, k) => {
    if (!keep[k]) {
      if (!skipped) out.push('<span class="gap">  ...\n</span>');
      skipped = true;
      return;
    }
    skipped = false;
    const cls = o[0] === '+' ? 'add' : o[0] === '-' ? 'del' : 'ctx';
    out.push(`<span class="${cls}">${o[0]} ${esc(o[1])}\n</span>`);
  });
  return out.join('');
}

// ---- apply -------------------------------------------------------------------------------------------

const manifestSelect = $('manifest-select');
async function loadManifestList() {
  const r = await fetch('/api/manifests').catch(() => undefined);
  if (!r?.ok) return;
  const names = await r.json();
  manifestSelect.innerHTML =
    `<option value="">${names.length ? 'example manifests...' : 'no example manifests'}</option>` +
    names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join('');
}
manifestSelect.addEventListener('change', async () => {
  if (!manifestSelect.value) return;
  const r = await fetch(`/api/manifest?name=${encodeURIComponent(manifestSelect.value)}`);
  $('manifest').value = await r.text();
});

$('apply-btn').addEventListener('click', async () => {
  const out = $('apply-result');
  const btn = $('apply-btn');
  btn.disabled = true;
  out.innerHTML = '<span class="muted">applying...</span>';
  try {
    const r = await fetch('/api/apply', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: $('manifest').value,
    });
    const body = await r.json();
    if (!r.ok) {
      out.innerHTML = `<div class="error">${esc(body.message)}</div>`;
      return;
    }
    out.innerHTML = body.results.map(resultHtml).join('');
  } catch (err) {
    out.innerHTML = `<div class="error">${esc(String(err))}</div>`;
  } finally {
    btn.disabled = false;
  }
});

function resultHtml(r) {
  const what = `${(r.kind ?? 'object').toLowerCase()}/${r.name ?? '?'}${r.namespace ? ` in ${r.namespace}` : ''}`;
  if (!r.error)
    return `<div class="ok result" data-action="${esc(r.action)}">${esc(what)} ${esc(r.action)}</div>`;
  const s = r.error;
  const causes = (s.details?.causes ?? [])
    .map(
      (c) =>
        `<div class="cause">${c.field ? `<b>${esc(c.field)}</b>: ` : ''}${esc(c.message)}${c.reason ? ` <span class="muted">(${esc(c.reason)})</span>` : ''}</div>`,
    )
    .join('');
  // With causes, the message repeats them: keep its lead ("Deployment "x" is invalid") and list the causes.
  const message =
    causes && s.message?.includes(': [') ? s.message.slice(0, s.message.indexOf(': [')) : s.message;
  return `<div class="error result"><div>document ${r.doc}, ${esc(what)}: <b>${s.code} ${esc(s.reason ?? '')}</b></div><div>${esc(message)}</div>${causes}</div>`;
}

// ---- time travel -------------------------------------------------------------------------------------

const ttRange = $('tt-range');
const ttRev = $('tt-rev');
function setTTRevision(r) {
  ttRange.max = String(Math.max(1, state.revision));
  ttRange.value = String(r);
  ttRev.value = String(r);
}
ttRange.addEventListener('input', () => (ttRev.value = ttRange.value));
ttRev.addEventListener('change', () => (ttRange.value = ttRev.value));
let ttTimer;
ttRange.addEventListener('change', () => {
  clearTimeout(ttTimer);
  ttTimer = setTimeout(() => showAt(Number(ttRev.value)), 150);
});
$('tt-go').addEventListener('click', () => showAt(Number(ttRev.value)));

let ttSeq = 0;
async function showAt(rev) {
  const seq = ++ttSeq;
  const box = $('tt-result');
  box.innerHTML = '<p class="muted">reading...</p>';
  const r = await fetch(`/api/timetravel?rev=${rev}`);
  const t = await r.json();
  if (seq !== ttSeq) return;
  if (!r.ok) {
    box.innerHTML = `<div class="explain">${esc(t.message)}</div>`;
    return;
  }
  if (!t.ok) {
    box.innerHTML = ttError(t);
    box.querySelector('button[data-rev]')?.addEventListener('click', (e) => {
      setTTRevision(Number(e.target.dataset.rev));
      showAt(Number(e.target.dataset.rev));
    });
    return;
  }
  const rows = t.keys.map(([k, c, m, v]) => {
    const now = state.keys.get(k);
    const cls = !now ? 'gone' : now[1] !== m ? 'changed' : '';
    const tag = !now ? 'deleted since' : now[1] !== m ? `changed since (now v${now[2]})` : '';
    return `<tr class="row ${cls}" data-key="${esc(k)}"><td>${esc(k)}</td><td>${c}</td><td>${m}</td><td>${v}</td><td>${tag ? `<span class="tag">${tag}</span>` : ''}</td></tr>`;
  });
  const then = new Set(t.keys.map((x) => x[0]));
  let added = 0;
  for (const k of state.keys.keys()) if (!then.has(k)) added++;
  box.innerHTML = `<p class="tt-sum">At revision <b>${t.revision}</b> (now ${t.current}) the store held <b>${t.keys.length}</b> keys${t.truncated ? ' (list truncated)' : ''}; ${added} keys exist now that did not then. Click a key for its value at that revision.</p>
    <pre id="tt-value" hidden></pre>
    <table><thead><tr><th>key</th><th>create</th><th>mod</th><th>ver</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function ttError(t) {
  if (t.code === 'compacted') {
    return `<div class="explain" data-code="compacted"><p><b>${esc(t.message)}</b></p>
      <p>The store keeps every old version of a key only until it is <i>compacted</i>: a compaction at revision C drops all versions
      superseded before C, so a Range at a revision below C can no longer be answered. The API server compacts the store's history
      periodically (<code>--etcd-compaction-interval</code>, 5 minutes by default), exactly as kube-apiserver does; a watch or list
      from a compacted resourceVersion gets <code>410 Gone</code> for the same reason.</p>
      ${t.compactRevision ? `<p>The oldest revision still readable is <b>${t.compactRevision}</b> (now ${t.current}). <button type="button" data-rev="${t.compactRevision}">show revision ${t.compactRevision}</button></p>` : ''}</div>`;
  }
  if (t.code === 'future')
    return `<div class="explain"><p><b>${esc(t.message)}</b></p><p>Revision ${t.revision} has not happened yet: the store is at ${t.current}.</p></div>`;
  return `<div class="explain"><p><b>${esc(t.message)}</b></p></div>`;
}

$('tt-result').addEventListener('click', async (e) => {
  const row = e.target.closest('tr.row');
  if (!row) return;
  const rev = Number(ttRev.value);
  const r = await fetch(`/api/value?key=${encodeURIComponent(row.dataset.key)}&rev=${rev}`);
  const v = await r.json();
  const pre = $('tt-value');
  pre.hidden = false;
  pre.textContent = v.ok
    ? v.kv
      ? `${row.dataset.key} at revision ${rev} (mod ${v.kv.rev}, version ${v.kv.version}):\n${v.kv.value}`
      : 'absent'
    : v.message;
  pre.scrollIntoView({ block: 'nearest' });
});

// ---- start -------------------------------------------------------------------------------------------

connect();
loadManifestList();
window.__dashboard.selectKey = selectKey;
window.__dashboard.showAt = showAt;
console.info('dashboard: connected to', location.host, new URLSearchParams(location.search).toString());
