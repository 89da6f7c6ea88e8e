/**
 * web/client.js in Node against the real server, which tests/test_js_client.py starts (with a
 * token and a history of 2 events per topic) and names in the environment:
 * CANVAS_LIVE_WS (the /ws URL) and CANVAS_LIVE_TOKEN. Node 20 needs --experimental-websocket.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { RpcError, connect } from '../../canvas_live/web/client.js';

const { CANVAS_LIVE_WS: url, CANVAS_LIVE_TOKEN: token } = process.env;
if (!url || !token) throw new Error('CANVAS_LIVE_WS and CANVAS_LIVE_TOKEN must name a running server: run tests/test_js_client.py');

/** @type {import('../../canvas_live/web/client.js').Client[]} */
const clients = [];

/** @param {import('../../canvas_live/web/client.js').ClientOptions} [options] */
async function openClient(options = {}) {
  const client = connect(url, { token, timeout: 10_000, ...options });
  clients.push(client);
  await client.whenOpen();
  return client;
}

after(() => {
  for (const client of clients) client.close();
});

/**
 * A canvas with `count` nodes added one by one: `count` events on its topic.
 *
 * @param {import('../../canvas_live/web/client.js').Client} client
 * @param {string} name
 * @param {number} count
 */
async function canvasWithNodes(client, name, count) {
  await client.call('canvas.create', { name });
  for (let i = 0; i < count; i += 1) await client.call('canvas.addNode', { name, node: { type: 'text', text: `node ${i}` } });
}

/**
 * Resolve once `predicate` holds, checking as events arrive.
 *
 * @param {() => boolean} predicate
 */
async function until(predicate) {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('calls resolve, and server errors carry their code, name and data', async () => {
  const client = await openClient();
  assert.equal(client.state, 'open');
  assert.equal(await client.call('ping'), 'pong');
  const info = /** @type {{name: string, epoch: string}} */ (await client.call('server.info'));
  assert.equal(info.name, 'canvas-live');
  assert.equal(info.epoch, client.epoch);

  const missing = await client.call('canvas.read', { name: 'missing' }).catch((e) => e);
  assert.ok(missing instanceof RpcError);
  assert.deepEqual([missing.code, missing.error, missing.data.kind], [-32001, 'NOT_FOUND', 'canvas']);
  const invalid = await client.call('subscribe', { topics: [7] }).catch((e) => e);
  assert.deepEqual([invalid.code, invalid.error, invalid.data.field], [-32602, 'INVALID_PARAMS', 'topics[0]']);
  const unknown = await client.call('no.such').catch((e) => e);
  assert.deepEqual([unknown.code, unknown.error, unknown.data], [-32601, 'METHOD_NOT_FOUND', { method: 'no.such' }]);
});

test('events of a followed canvas arrive in seq order, and stop after unsubscribe', async () => {
  const client = await openClient();
  await client.call('canvas.create', { name: 'live-events' });
  /** @type {Array<[string, number, unknown]>} */
  const seen = [];
  const subscription = await client.subscribe(['canvas:live-events'], (method, event) => seen.push([method, event.seq, event['name']]));
  for (const text of ['one', 'two', 'three']) await client.call('canvas.addNode', { name: 'live-events', node: { type: 'text', text } });
  await until(() => seen.length === 3);
  const first = seen[0]?.[1] ?? 0;
  assert.deepEqual(seen, [1, 2, 3].map((i) => ['canvas.changed', first + i - 1, 'live-events']));

  await subscription.unsubscribe();
  await client.call('canvas.addNode', { name: 'live-events', node: { type: 'text', text: 'four' } });
  assert.equal(await client.call('ping'), 'pong');
  assert.equal(seen.length, 3);
});

test('replay delivers what the server still holds, and asks for a re-read when it holds too little', async () => {
  const writer = await openClient();
  await canvasWithNodes(writer, 'live-kept', 2);
  await canvasWithNodes(writer, 'live-lost', 3); // one more than the server's history

  const client = await openClient();
  /** @type {string[]} */
  const seen = [];
  /** @type {string[]} */
  const resyncs = [];
  const onEvent = (/** @type {string} */ _method, /** @type {{topic: string, seq: number}} */ event) => seen.push(`${event.topic}#${event.seq}`);
  const options = { replay: true, onResync: (/** @type {string} */ topic) => resyncs.push(topic) };
  await client.subscribe(['canvas:live-kept'], onEvent, options);
  assert.deepEqual(seen, ['canvas:live-kept#1', 'canvas:live-kept#2']);
  assert.deepEqual(resyncs, []);

  await client.subscribe(['canvas:live-lost'], onEvent, options);
  assert.deepEqual(resyncs, ['canvas:live-lost']);
  assert.deepEqual(seen, ['canvas:live-kept#1', 'canvas:live-kept#2']);
});

test('without the token the server refuses the connection and the client keeps trying', async () => {
  /** @type {Array<[string, number | undefined]>} */
  const states = [];
  const client = connect(url, { minDelay: 50, maxDelay: 50, onState: (state, detail) => states.push([state, detail.attempt]) });
  clients.push(client);
  await until(() => states.length >= 2);
  client.close();
  assert.deepEqual(states.slice(0, 2), [
    ['reconnecting', 1],
    ['reconnecting', 2],
  ]);
  assert.equal(client.state, 'closed');
});
