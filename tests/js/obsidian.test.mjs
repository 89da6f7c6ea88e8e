/**
 * The Obsidian plugin's built main.js, as `canvas-live obsidian-install` put it into a vault, run
 * on the Obsidian API stand-in (obsidian-standin.mjs) against the real server. tests/test_obsidian_plugin.py
 * starts the server on that vault (with a token, and a time limit that makes `learn.explain` fail)
 * and names in the environment: CANVAS_LIVE_WS, CANVAS_LIVE_TOKEN, CANVAS_LIVE_VAULT and
 * CANVAS_LIVE_CANVAS (a canvas of the vault, by name). It also starts a second server, on a model
 * that streams its answers slowly (a fake provider), on a second vault with the plugin installed:
 * CANVAS_LIVE_SLOW_WS, CANVAS_LIVE_SLOW_VAULT and CANVAS_LIVE_SLOW_CANVAS (a question with an
 * explanation to score). Node 20 needs --experimental-websocket.
 *
 * The tests run in order, as a learner would: settings, review, decompose, score, tasks, a network
 * failure, then a slow model in the second vault.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { connect } from '../../canvas_live/web/client.js';
import { App, Setting, loadPlugin, notices } from './obsidian-standin.mjs';

const TasksViewType = 'canvas-live-tasks';

const { CANVAS_LIVE_WS: url, CANVAS_LIVE_TOKEN: token, CANVAS_LIVE_VAULT: vault, CANVAS_LIVE_CANVAS: canvas } = process.env;
const { CANVAS_LIVE_SLOW_WS: slowUrl, CANVAS_LIVE_SLOW_VAULT: slowVault, CANVAS_LIVE_SLOW_CANVAS: slowCanvas } = process.env;
if (!url || !token || !vault || !canvas || !slowUrl || !slowVault || !slowCanvas) {
  throw new Error('run tests/test_obsidian_plugin.py: it starts the servers and installs the plugin');
}

const pluginDir = path.join(vault, '.obsidian', 'plugins', 'canvas-live');
const app = new App(vault);
/** The learner's other hands: edits a person would make in Obsidian, and reads to check the outcome. */
const learner = connect(url, { token, timeout: 10_000 });
/** @type {any} */
let plugin;

/**
 * The plugin reaches the server through this TCP relay, so a test can cut its connection (as a
 * network failure would) and restore it, while the learner's own connection stays up.
 */
const relay = {
  down: false,
  /** @type {Set<net.Socket>} */
  sockets: new Set(),
  server: net.createServer((socket) => {
    if (relay.down) return void socket.destroy();
    const upstream = net.connect(Number(new URL(url).port), '127.0.0.1');
    for (const end of [socket, upstream]) {
      relay.sockets.add(end);
      end.on('error', () => {});
      end.on('close', () => {
        relay.sockets.delete(end);
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream);
    upstream.pipe(socket);
  }),
  cut() {
    relay.down = true;
    for (const socket of relay.sockets) socket.destroy();
  },
  url: '',
};

/**
 * Resolve once `predicate` holds.
 *
 * @param {() => unknown} predicate
 * @param {string} what
 */
async function until(predicate, what) {
  const deadline = Date.now() + 15_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; notices: ${JSON.stringify(notices)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const status = () => plugin.statusBarItems[0];
/** @param {RegExp} pattern */
const noticed = (pattern) => notices.some((message) => pattern.test(message));
/** @param {string} id */
const run = (id) => app.commands.executeCommandById(`canvas-live:${id}`);

before(async () => {
  await new Promise((resolve) => relay.server.listen(0, '127.0.0.1', () => resolve(undefined)));
  relay.url = `ws://127.0.0.1:${/** @type {net.AddressInfo} */ (relay.server.address()).port}/ws`;
  // Installed settings as a learner leaves them before typing the token: the server URL only.
  fs.writeFileSync(path.join(pluginDir, 'data.json'), JSON.stringify({ serverUrl: relay.url }));
  plugin = await loadPlugin(app, pluginDir);
  await learner.whenOpen();
});

after(() => {
  plugin?.unload();
  learner.close();
  relay.cut();
  relay.server.close();
});

test('without the token the status bar shows the refused connection retrying; with it, open', async () => {
  await until(() => /^canvas-live: reconnecting \(retry in \d+ s\)$/.test(status().textContent), 'a retry');
  assert.ok(status().history.some((/** @type {string} */ text) => text === 'canvas-live: connecting'));

  const [tab] = app.settingTabs;
  tab.display();
  const field = (/** @type {string} */ name) => Setting.all.find((setting) => setting.nameEl.textContent === name)?.components[0];
  assert.equal(field('Server URL')?.getValue(), relay.url);
  assert.equal(field('Token')?.inputEl.type, 'password');
  await field('Token')?.type(token);
  tab.hide(); // closing the settings reconnects with them
  await until(() => status().textContent === 'canvas-live: open', 'the connection');
  assert.deepEqual(notices, [], 'the connection the new settings replaced is closed without a notice');
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(pluginDir, 'data.json'), 'utf8')), { serverUrl: relay.url, token });
});

test('the commands are registered with their ids, and the canvas ones need a canvas', async () => {
  const ids = [...app.commands.commands.keys()].sort();
  assert.deepEqual(ids, ['canvas-live:decompose-selected-node', 'canvas-live:generate-review-canvas', 'canvas-live:score-canvas', 'canvas-live:show-tasks']);
  assert.equal(run('generate-review-canvas'), false, 'no canvas is open yet');
  await app.workspace.openLinkText(`${canvas}.canvas`, '');
  assert.equal(app.workspace.getActiveFile()?.path, `${canvas}.canvas`);
});

test('generate-review-canvas: the task runs with its progress in the status bar, a notice says it is ready, the review canvas opens', async () => {
  const before = new Set(fs.readdirSync(path.join(vault, path.dirname(canvas))));
  assert.equal(run('generate-review-canvas'), true);
  await until(() => noticed(/^Review canvas .+ is ready: \d+ questions\.$/), 'the review notice');
  assert.ok(noticed(/^review\.generate of '.+' scheduled; follow task:/), JSON.stringify(notices));
  assert.ok(
    status().history.some((/** @type {string} */ text) => /^canvas-live: open · review\.generate \d+\/[1-9]\d*$/.test(text)),
    JSON.stringify(status().history),
  );
  const expected = new RegExp(`^${canvas}-检验白板-\\d{8}\\.canvas$`);
  await until(() => app.workspace.opened.some((opened) => expected.test(opened)), 'the review canvas to open');
  const opened = app.workspace.opened.at(-1);
  assert.match(opened, expected);
  assert.equal(app.workspace.getActiveFile()?.path, opened);
  assert.ok(!before.has(path.basename(opened)) && fs.existsSync(path.join(vault, opened)), 'a new canvas on disk');
  const review = JSON.parse(fs.readFileSync(path.join(vault, opened), 'utf8'));
  assert.ok(review.nodes.some((/** @type {{color?: string}} */ node) => node.color === '1'), 'red question nodes');
  await until(() => status().textContent === 'canvas-live: open', 'the status bar to drop the finished task');
});

test('decompose-selected-node asks to select a node, then decomposes the selected one', async () => {
  await app.workspace.openLinkText(`${canvas}.canvas`, '');
  const view = app.workspace.activeLeaf.view;
  const count = notices.length;
  assert.equal(run('decompose-selected-node'), true);
  await until(() => notices.length > count, 'a notice');
  assert.equal(notices.at(-1), 'Select one node on the canvas first.');

  const source = JSON.parse(fs.readFileSync(path.join(vault, `${canvas}.canvas`), 'utf8'));
  view.canvas.selection.add({ id: source.nodes[0].id });
  run('decompose-selected-node');
  await until(() => noticed(/^\d+ guiding questions? added\.$/), 'the decompose notice');
  const [added] = notices.filter((message) => /guiding questions? added/.test(message));
  const after = JSON.parse(fs.readFileSync(path.join(vault, `${canvas}.canvas`), 'utf8'));
  assert.equal(after.nodes.length, source.nodes.length + 2 * Number.parseInt(added, 10));
});

test('score-canvas scores the explanation the learner wrote', async () => {
  const { tasks } = /** @type {{tasks: Array<{result: {questions: Array<{answer_id: string}>}}>}} */ (
    await learner.call('task.list', { kind: 'learn.decompose', status: 'completed' })
  );
  const answer = tasks[0]?.result.questions[0]?.answer_id;
  assert.ok(answer);
  await learner.call('canvas.updateNode', { name: canvas, id: answer, patch: { text: 'Because the test node stands for every node of the canvas.' } });
  run('score-canvas');
  await until(() => noticed(/^1 explanation scored\.$/), 'the score notice');
});

test('a task that fails shows a notice with its error name', async () => {
  const source = JSON.parse(fs.readFileSync(path.join(vault, `${canvas}.canvas`), 'utf8'));
  await learner.call('learn.explain', { canvas, node_id: source.nodes[0].id, style: 'oral' });
  await until(() => noticed(/^learn\.explain failed: TIMEOUT: /), 'the failure notice');
});

test('show-tasks opens the tasks view listing the tasks with their progress, live', async () => {
  run('show-tasks');
  await until(() => app.workspace.revealed.length === 1, 'the tasks view');
  const [leaf] = app.workspace.getLeavesOfType(TasksViewType);
  assert.equal(leaf.side, 'right');
  assert.deepEqual(app.workspace.revealed, [leaf]);
  const rows = () => leaf.view.contentEl.findAllByClass('canvas-live-task').map((/** @type {any} */ row) => row.textContent);
  for (const kind of ['review.generate', 'learn.decompose', 'learn.score']) {
    assert.ok(rows().some((row) => row.startsWith(`${kind} ${canvas} completed`) && / \d+\/[1-9]\d*$/.test(row)), `${kind}: ${rows()}`);
  }
  assert.ok(rows().some((row) => row.startsWith(`learn.explain ${canvas} failed: TIMEOUT`)), rows().join('\n'));

  // A task started elsewhere appears in the open view as its events arrive.
  const { task_id: id } = /** @type {{task_id: string}} */ (await learner.call('learn.score', { canvas }));
  await until(() => leaf.view.contentEl.findAllByClass('canvas-live-task').some((/** @type {any} */ row) => row.attributes['data-task-id'] === id && row.textContent.includes('completed')), 'the new task in the view');

  // Showing it again reveals the same view rather than opening a second one.
  run('show-tasks');
  await until(() => app.workspace.revealed.length === 2, 'the second reveal');
  assert.equal(app.workspace.getLeavesOfType(TasksViewType).length, 1);
});

test('after a network failure the plugin reconnects and catches up on the events it missed', async () => {
  const [leaf] = app.workspace.getLeavesOfType(TasksViewType);
  const scored = notices.filter((message) => message === '1 explanation scored.').length;
  relay.cut();
  await until(() => /^canvas-live: reconnecting \(retry in \d+ s\)$/.test(status().textContent), 'the lost connection');

  const { task_id: id } = /** @type {{task_id: string}} */ (await learner.call('learn.score', { canvas }));
  const finished = /** @type {{status: string}} */ (await learner.call('task.wait', { id, timeout: 10 }));
  assert.equal(finished.status, 'completed');
  const row = () => leaf.view.contentEl.findAllByClass('canvas-live-task').find((/** @type {any} */ el) => el.attributes['data-task-id'] === id);
  assert.equal(row(), undefined, 'nothing reached the plugin while it was cut off');

  relay.down = false;
  await until(() => status().textContent === 'canvas-live: open', 'the reconnection');
  await until(() => row()?.textContent.includes('completed'), 'the missed task in the view');
  // The missed completion was replayed as an event (a re-read of task.list shows no notice for a task started elsewhere).
  await until(() => notices.filter((message) => message === '1 explanation scored.').length === scored + 1, 'the replayed notice');
});

test('on a slow model the status bar and the tasks view count the tokens answered so far, until the result', async () => {
  const slowApp = new App(slowVault);
  const slowDir = path.join(slowVault, '.obsidian', 'plugins', 'canvas-live');
  fs.writeFileSync(path.join(slowDir, 'data.json'), JSON.stringify({ serverUrl: slowUrl }));
  const slow = await loadPlugin(slowApp, slowDir);
  try {
    const bar = slow.statusBarItems[0];
    await until(() => bar.textContent === 'canvas-live: open', 'the connection to the slow server');
    await slowApp.workspace.openLinkText(`${slowCanvas}.canvas`, '');
    assert.equal(slowApp.commands.executeCommandById('canvas-live:show-tasks'), true);
    await until(() => slowApp.workspace.getLeavesOfType(TasksViewType).length === 1, 'the tasks view');
    const [leaf] = slowApp.workspace.getLeavesOfType(TasksViewType);
    const scored = notices.filter((message) => message === '1 explanation scored.').length;
    assert.equal(slowApp.commands.executeCommandById('canvas-live:score-canvas'), true);

    // While the one scoring call streams, the status bar and the task's row count its tokens.
    const counting = /^canvas-live: open · learn\.score \d+\/\d+ · ([1-9]\d*) tokens?$/;
    await until(() => counting.test(bar.textContent), 'a token count in the status bar');
    const answering = () => leaf.view.contentEl.findAllByClass('canvas-live-task-calls').map((/** @type {any} */ el) => el.textContent);
    await until(() => answering().some((text) => /^1 call answering · [1-9]\d* tokens?$/.test(text)), 'the count in the tasks view');

    // Then its result: the notice, and neither shows a count any more.
    await until(() => notices.filter((message) => message === '1 explanation scored.').length === scored + 1, 'the score notice');
    await until(() => bar.textContent === 'canvas-live: open', 'the status bar to drop the finished task');
    assert.deepEqual(answering(), []);

    // The count rose as the answer streamed, and never went back.
    const counts = bar.history.flatMap((/** @type {string} */ text) => {
      const match = counting.exec(text);
      return match ? [Number(match[1])] : [];
    });
    assert.ok(counts.length >= 2 && counts.every((n, i) => i === 0 || n >= counts[i - 1]) && counts.at(-1) > counts[0], JSON.stringify(bar.history));
  } finally {
    slow.unload();
  }
});
