/**
 * The dashboard: one page that shows what the server is doing and what a canvas looks like, live.
 *
 * State comes from two places and both are needed: a read (`canvas.list`, `task.list`,
 * `canvas.read`, `server.info`) gives the picture now, events keep it current. Subscriptions are
 * made before the reads, so nothing happens unseen between the two; when the client reports that
 * events of a topic were lost (a server restart), that topic's state is read again.
 *
 * Tasks are followed on two levels: the `tasks` topic for every task's status and steps, and the
 * task's own topic (task-feeds.js) for the agent calls answering now and the agent results, for
 * the selected task and the newest running ones.
 *
 * @module canvas-live/dashboard
 */

import { ConnectionState, RpcError, connect } from './client.js';
import { STATES, nodeText, renderCanvas, stateOf } from './canvas-view.js';
import { formatDuration, h } from './dom.js';
import { TaskFeeds } from './task-feeds.js';
import { TaskDetail, TaskTable, isActive } from './tasks-view.js';

/** Nodes sent to agents by one "run agents" click, at most. */
const BATCH_LIMIT = 24;

/** The reason the task in the detail pane is followed on its own topic. */
const SHOWN = 'shown';

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const ui = {
  connection: $('connection'),
  server: $('server'),
  gauge: $('gauge'),
  gaugeBar: $('gauge-bar'),
  gaugeText: $('gauge-text'),
  circuit: $('circuit'),
  notice: $('notice'),
  canvasList: $('canvas-list'),
  legend: $('legend'),
  canvasTitle: $('canvas-title'),
  canvasMeta: $('canvas-meta'),
  frame: $('canvas-frame'),
  svg: /** @type {SVGSVGElement} */ (/** @type {unknown} */ ($('canvas-svg'))),
  selection: $('selection'),
  zoomOut: $('zoom-out'),
  zoomFit: $('zoom-fit'),
  zoomIn: $('zoom-in'),
  review: $('action-review'),
  decompose: $('action-decompose'),
  score: $('action-score'),
  batch: $('action-batch'),
  taskBody: /** @type {HTMLTableSectionElement} */ ($('task-body')),
  detail: $('task-detail'),
};

const app = {
  /** @type {Record<string, any> | null} */ info: null,
  palette: 'obsidian',
  /** @type {Array<{name: string, modified: number, nodes?: number, edges?: number, error?: {message: string}}>} */ canvases: [],
  /** @type {string | null} */ selected: null,
  /** @type {{name: string, version: string, nodes: any[], edges: any[], dangling_edges?: string[]} | null} */ canvas: null,
  /** @type {string | null} */ selectedNode: null,
  /** Screen pixels per canvas unit, or null to fit the drawing in its frame. */
  /** @type {number | null} */ scale: null,
  /** @type {Map<string, import('./tasks-view.js').TaskInfo>} */ tasks: new Map(),
  /** @type {string | null} */ detailId: null,
  /** @type {import('./client.js').Subscription | null} */ canvasSubscription: null,
  everOpen: false,
  ticks: 0,
};

const token = new URLSearchParams(location.search).get('token') ?? undefined;
const endpoint = new URL('ws', location.href);
endpoint.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
const client = connect(endpoint.href, { token, onState: showConnection });

const feeds = new TaskFeeds(client, {
  onEvent: onTaskEvent,
  onResync: onTaskResync,
  onError: (error) => reportUnlessDisconnected('following a task', error),
});
const table = new TaskTable(ui.taskBody, {
  onSelect: (id) => showTask(id),
  onCancel: (id) => cancelTask(id),
  callsOf: (id) => feeds.get(id)?.calls,
});
const detail = new TaskDetail(ui.detail, { onOpenCanvas: (name) => selectCanvas(name) });

// -- notices --------------------------------------------------------------------------------------

/**
 * Tell the user something happened; errors stay until dismissed or replaced.
 *
 * @param {string} text
 * @param {'info' | 'error'} [kind]
 */
function notify(text, kind = 'info') {
  ui.notice.replaceChildren(
    h('span', {}, text),
    h('button', { type: 'button', class: 'dismiss', 'aria-label': 'dismiss message', onclick: () => ui.notice.replaceChildren() }, '×'),
  );
  ui.notice.dataset.kind = kind;
}

/**
 * Say what a failed call means, in the words of the server's error.
 *
 * @param {string} what the action, for the message
 * @param {unknown} error
 */
function reportError(what, error) {
  if (error instanceof RpcError) {
    const hint = error.error === 'METHOD_NOT_FOUND' ? ' (this server does not offer it yet)' : '';
    notify(`${what} failed: ${error.error}${hint} — ${error.message}`, 'error');
  } else {
    notify(`${what} failed: ${String(error)}`, 'error');
  }
}

/**
 * Report a failure, but not a lost connection: that is not worth a message because the topic
 * resync reloads what is needed once the connection is back.
 *
 * @param {string} what
 * @param {unknown} error
 */
function reportUnlessDisconnected(what, error) {
  if (error instanceof RpcError && (error.error === 'DISCONNECTED' || error.error === 'CLOSED')) return;
  reportError(what, error);
}

/**
 * Run a load, reporting a failure instead of throwing.
 *
 * @param {string} what
 * @param {() => Promise<void>} load
 */
async function quietly(what, load) {
  try {
    await load();
  } catch (error) {
    reportUnlessDisconnected(what, error);
  }
}

/**
 * Wrap a load so that overlapping requests collapse into one more run after the current one (the
 * last read always starts after the last event that asked for it), and so that it reports its
 * failure instead of throwing: events and timers call these without waiting for them.
 *
 * @param {string} what
 * @param {() => Promise<void>} load
 * @returns {() => Promise<void>}
 */
function coalesced(what, load) {
  /** @type {Promise<void> | null} */
  let running = null;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await quietly(what, load);
      } while (again);
    })().finally(() => {
      running = null;
    });
    return running;
  };
}

// -- connection and agents ----------------------------------------------------------------------

/**
 * @param {string} state
 * @param {import('./client.js').StateDetail} info
 */
function showConnection(state, info) {
  ui.connection.dataset.state = state;
  const text = {
    [ConnectionState.CONNECTING]: 'connecting…',
    [ConnectionState.OPEN]: 'live',
    [ConnectionState.RECONNECTING]: `reconnecting${info.retryIn ? ` in ${formatDuration(info.retryIn)}` : ''} (attempt ${info.attempt})`,
    [ConnectionState.CLOSED]: 'closed',
  }[state];
  ui.connection.textContent = text ?? state;
  if (state === ConnectionState.OPEN && app.everOpen) loadInfo();
  if (state === ConnectionState.OPEN) app.everOpen = true;
}

const loadInfo = coalesced('reading server state', async () => {
  const info = await client.call('server.info');
  app.info = info;
  app.palette = info.palette;
  ui.server.textContent = `${info.name} ${info.version} · palette ${info.palette}`;
  showAgents(info.agents.in_flight, info.agents.max_concurrent);
  showCircuit(info.agents.circuit, null);
  renderLegend();
});

/**
 * @param {number} inFlight
 * @param {number} max
 */
function showAgents(inFlight, max) {
  const percent = max > 0 ? Math.round((100 * inFlight) / max) : 0;
  ui.gaugeBar.style.width = `${percent}%`;
  ui.gauge.setAttribute('aria-valuenow', String(inFlight));
  ui.gauge.setAttribute('aria-valuemax', String(max));
  ui.gaugeText.textContent = `${inFlight} / ${max} in flight`;
}

/**
 * @param {string} state closed, open or half_open
 * @param {number | null} retryAt seconds since the epoch when an open circuit lets a probe through
 */
function showCircuit(state, retryAt) {
  ui.circuit.dataset.state = state;
  const until = retryAt ? ` until ${new Date(retryAt * 1000).toLocaleTimeString()}` : '';
  ui.circuit.textContent = `circuit ${state.replace('_', '-')}${until}`;
}

/**
 * @param {string} method
 * @param {Record<string, any>} event
 */
function onAgentsEvent(method, event) {
  if (method === 'agent.circuit') showCircuit(event.state, event.retry_at ?? null);
}

// -- canvases -----------------------------------------------------------------------------------

const loadCanvases = coalesced('listing canvases', async () => {
  const entries = await client.call('canvas.list', {});
  app.canvases = entries.sort((a, b) => b.modified - a.modified || a.name.localeCompare(b.name));
  renderCanvasList();
  if (app.selected === null && app.canvases.length > 0) await selectCanvas(app.canvases[0].name);
  else if (app.selected !== null && !app.canvases.some((entry) => entry.name === app.selected)) showNoCanvas(`${app.selected} is gone.`);
});

/** Draw the list again (it re-sorts as canvases change); keyboard focus stays on the canvas that had it. */
function renderCanvasList() {
  const focused = ui.canvasList.contains(document.activeElement) ? document.activeElement?.getAttribute('data-name') : null;
  ui.canvasList.replaceChildren(
    ...app.canvases.map((entry) =>
      h(
        'li',
        {},
        h(
          'button',
          { type: 'button', class: 'canvas-entry', 'aria-current': entry.name === app.selected ? 'true' : null, 'data-name': entry.name, onclick: () => selectCanvas(entry.name) },
          h('span', { class: 'name' }, entry.name),
          h('span', { class: 'muted' }, entry.error ? `unreadable: ${entry.error.message}` : `${entry.nodes} nodes · ${entry.edges} edges`),
        ),
      ),
    ),
  );
  if (app.canvases.length === 0) ui.canvasList.replaceChildren(h('li', { class: 'hint' }, 'No canvases in the vault yet.'));
  const again = focused ? [...ui.canvasList.querySelectorAll('button')].find((button) => button.dataset.name === focused) : null;
  if (again) again.focus();
}

function renderLegend() {
  ui.legend.replaceChildren(...STATES.map(([state, meaning]) => h('li', { class: `state-${state}` }, h('span', { class: 'swatch' }), meaning)));
}

/**
 * Show `name`: follow its changes, read it, draw it.
 *
 * @param {string} name
 */
async function selectCanvas(name) {
  if (name === app.selected && app.canvas) return;
  const previous = app.canvasSubscription;
  app.selected = name;
  app.canvas = null;
  app.selectedNode = null;
  app.canvasSubscription = null;
  renderCanvasList();
  ui.canvasTitle.textContent = name;
  ui.canvasMeta.textContent = 'loading…';
  ui.svg.replaceChildren();
  updateActions();
  await quietly('unfollowing the previous canvas', async () => {
    if (previous) await previous.unsubscribe();
  });
  await quietly(`opening ${name}`, async () => {
    const subscription = await client.subscribe([`canvas:${name}`], onCanvasEvent, { onResync: () => loadCanvas() });
    // Another canvas may have been chosen while this subscription was on its way.
    if (name !== app.selected) return subscription.unsubscribe();
    app.canvasSubscription = subscription;
    await loadCanvas();
  });
}

const loadCanvas = coalesced('reading the canvas', async () => {
  const name = app.selected;
  if (name === null) return;
  let canvas;
  try {
    canvas = await client.call('canvas.read', { name });
  } catch (error) {
    if (name === app.selected && error instanceof RpcError && error.code !== null) showNoCanvas(error.message, name);
    throw error;
  }
  if (name !== app.selected) return;
  app.canvas = canvas;
  if (app.selectedNode && !canvas.nodes.some((node) => node.id === app.selectedNode)) app.selectedNode = null;
  drawCanvas();
});

/**
 * @param {string} method
 * @param {Record<string, any>} event
 */
function onCanvasEvent(method, event) {
  if (method !== 'canvas.changed' || event.name !== app.selected) return;
  if (app.canvas && event.version === app.canvas.version) return;
  loadCanvas();
  loadCanvases();
}

/**
 * Draw nothing, and say why.
 *
 * @param {string} text
 * @param {string} [title]
 */
function showNoCanvas(text, title = 'No canvas') {
  ui.canvasTitle.textContent = title;
  ui.canvasMeta.textContent = text;
  ui.svg.replaceChildren();
}

function drawCanvas() {
  const canvas = app.canvas;
  if (!canvas) return;
  const dangling = canvas.dangling_edges?.length ? ` · ${canvas.dangling_edges.length} dangling edges` : '';
  ui.canvasTitle.textContent = canvas.name;
  ui.canvasMeta.textContent = `${canvas.nodes.length} nodes · ${canvas.edges.length} edges${dangling} · version ${canvas.version}`;
  ui.frame.classList.toggle('zoomed', app.scale !== null);
  ui.zoomFit.setAttribute('aria-pressed', String(app.scale === null));
  renderCanvas(ui.svg, canvas, {
    palette: app.palette,
    selectedId: app.selectedNode,
    scale: app.scale,
    onSelect: (node) => {
      app.selectedNode = node.id === app.selectedNode ? null : node.id;
      drawCanvas();
    },
  });
  updateActions();
}

function selectedNode() {
  return app.canvas?.nodes.find((node) => node.id === app.selectedNode) ?? null;
}

/** Nodes the learner does not (fully) understand yet: what the agents should work on. */
function nodesToStudy() {
  return (app.canvas?.nodes ?? []).filter((node) => node.type === 'text' && node.text && ['red', 'purple'].includes(stateOf(node.color, app.palette) ?? ''));
}

function updateActions() {
  const node = selectedNode();
  const ready = app.canvas !== null;
  ui.review.toggleAttribute('disabled', !ready);
  ui.score.toggleAttribute('disabled', !ready);
  ui.decompose.toggleAttribute('disabled', !(node && node.type === 'text'));
  ui.batch.toggleAttribute('disabled', nodesToStudy().length === 0);
  if (node) {
    const state = stateOf(node.color, app.palette) ?? 'uncoloured';
    ui.selection.textContent = `Selected (${state}): ${nodeText(node).slice(0, 80)}`;
  } else {
    ui.selection.textContent = ready ? 'Select a node (click, or Tab and Enter) to decompose it.' : '';
  }
}

// -- actions --------------------------------------------------------------------------------------

/**
 * Start a background task with `method` and show it.
 *
 * @param {string} method
 * @param {Record<string, unknown>} params
 * @param {string} what
 */
async function schedule(method, params, what) {
  try {
    const scheduled = await client.call(method, params);
    notify(`${what}: ${scheduled.message ?? `task ${scheduled.task_id} scheduled`}`);
    await showTask(scheduled.task_id);
  } catch (error) {
    reportError(what, error);
  }
}

ui.review.addEventListener('click', () => {
  if (app.selected) schedule('review.generate', { canvas: app.selected }, 'Generating a review canvas');
});

ui.decompose.addEventListener('click', () => {
  const node = selectedNode();
  if (app.selected && node) schedule('learn.decompose', { canvas: app.selected, node_id: node.id }, 'Decomposing the node');
});

ui.score.addEventListener('click', () => {
  if (app.selected) schedule('learn.score', { canvas: app.selected }, 'Scoring the explanations');
});

ui.batch.addEventListener('click', () => {
  const calls = nodesToStudy()
    .slice(0, BATCH_LIMIT)
    .map((node) => ({ agent: 'basic-decomposition', input: { material_content: node.text, topic: app.selected }, key: node.id }));
  if (calls.length > 0) schedule('agent.batch', { calls }, `Asking agents about ${calls.length} nodes`);
});

/**
 * Zoom by `factor`, starting from the scale at which the drawing fits the frame now.
 *
 * @param {number} factor
 */
function zoom(factor) {
  const box = ui.svg.viewBox.baseVal;
  const fit = box.width > 0 ? Math.min(ui.frame.clientWidth / box.width, ui.frame.clientHeight / box.height) : 1;
  app.scale = Math.min(4, Math.max(0.1, (app.scale ?? fit) * factor));
  drawCanvas();
}

ui.zoomIn.addEventListener('click', () => zoom(1.25));
ui.zoomOut.addEventListener('click', () => zoom(0.8));
ui.zoomFit.addEventListener('click', () => {
  app.scale = null;
  drawCanvas();
});

document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && app.selectedNode) {
    app.selectedNode = null;
    drawCanvas();
  }
});

// -- tasks ----------------------------------------------------------------------------------------

const loadTasks = coalesced('listing tasks', async () => {
  const page = await client.call('task.list', { limit: 50 });
  app.tasks = new Map(page.tasks.map((task) => [task.id, task]));
  table.replaceAll(page.tasks);
  watchRunning();
  if (app.detailId && app.tasks.has(app.detailId)) detail.update(/** @type {any} */ (app.tasks.get(app.detailId)));
});

/**
 * Follow the newest running tasks on their own topics, for their calls' token counts in the table
 * (task-feeds.js bounds how many).
 */
function watchRunning() {
  const running = [...app.tasks.values()]
    .filter((task) => task.status === 'running')
    .sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? ''));
  for (const id of feeds.watch(running.map((task) => task.id))) table.refresh(id);
}

/**
 * Fold a `tasks` event into the task it is about.
 *
 * @param {string} method
 * @param {Record<string, any>} event
 */
function onTasksEvent(method, event) {
  const { topic, seq, task_id: id, done, total, message, ...fields } = event;
  const known = app.tasks.get(id);
  const task = { ...(known ?? { id, progress: { done: 0, total: 0 } }), ...fields };
  if (method === 'task.progress') task.progress = message === undefined ? { done, total } : { done, total, message };
  app.tasks.set(id, task);
  table.upsert(task);
  if (method !== 'task.progress') watchRunning();
  if (id === app.detailId) detail.update(task);
}

/**
 * Show a task in the detail pane and stream its agents' calls and results there.
 *
 * Its feed replays the results that came before the click (or has them already, for a running
 * task the table follows); when the server no longer has them (it restarted, or forgot an old
 * topic) the task's own result is the record.
 *
 * @param {string} id
 */
async function showTask(id) {
  if (id === app.detailId) return;
  const previous = app.detailId;
  app.detailId = id;
  table.select(id);
  detail.clear('loading…');
  if (previous) {
    feeds.release(previous, SHOWN);
    table.refresh(previous);
  }
  await quietly('following the task', async () => {
    const task = app.tasks.get(id) ?? (await fetchTask(id));
    if (id !== app.detailId) return;
    detail.open(task);
    const feed = feeds.follow(id, SHOWN);
    for (const result of feed.results) detail.addResult(/** @type {any} */ (result));
    detail.showCalls(feed.calls.list);
  });
}

/**
 * Read a task again and put it in the table.
 *
 * @param {string} id
 */
async function fetchTask(id) {
  const task = await client.call('task.get', { id });
  app.tasks.set(id, task);
  table.upsert(task);
  return task;
}

/**
 * Start the detail pane over from the task as the server has it now.
 *
 * @param {string} id
 */
async function reopenTask(id) {
  const task = await fetchTask(id);
  if (id !== app.detailId) return;
  detail.open(task);
  for (const result of task.result?.results ?? []) detail.addResult(result);
}

/**
 * An event of a followed task's own topic, already taken into its feed.
 *
 * @param {string} id
 * @param {string} method
 * @param {Record<string, any>} event
 */
function onTaskEvent(id, method, event) {
  table.refresh(id);
  if (id !== app.detailId) return;
  if (method === 'agent.result') detail.addResult(/** @type {any} */ (event));
  detail.showCalls(feeds.get(id)?.calls.list ?? []);
}

/**
 * A followed task's events were lost: its feed starts empty, and the detail pane reads it again.
 *
 * @param {string} id
 */
function onTaskResync(id) {
  table.refresh(id);
  if (id === app.detailId) quietly('reloading the task', () => reopenTask(id));
}

/** @param {string} id */
async function cancelTask(id) {
  try {
    const task = await client.call('task.cancel', { id });
    app.tasks.set(id, task);
    table.upsert(task);
    notify(`Task ${id} cancelled.`);
  } catch (error) {
    reportError('Cancelling the task', error);
  }
}

// -- start ----------------------------------------------------------------------------------------

/** Once a second: durations move on; the agent gauge is read often while work runs, rarely otherwise. */
function tick() {
  app.ticks += 1;
  table.tick();
  const busy = [...app.tasks.values()].some(isActive) || (app.info?.agents.in_flight ?? 0) > 0;
  if (client.state === ConnectionState.OPEN && (busy || app.ticks % 5 === 0)) loadInfo();
}

async function start() {
  await quietly('connecting', async () => {
    await client.subscribe(['tasks'], onTasksEvent, { onResync: loadTasks });
    await client.subscribe(['canvases'], () => loadCanvases(), { onResync: loadCanvases });
    await client.subscribe(['agents'], onAgentsEvent, { onResync: loadInfo });
  });
  await loadInfo();
  await Promise.all([loadCanvases(), loadTasks()]);
  setInterval(tick, 1000);
}

start();
