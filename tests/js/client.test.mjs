/**
 * Unit tests of web/client.js against an in-process fake server end (fake-socket.mjs), with
 * Node's mock timers for time limits and back-off. Run by tests/test_js_client.py.
 */

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { Client, ConnectionState, RpcError, connect } from '../../canvas_live/web/client.js';
import { FakeServer, settle } from './fake-socket.mjs';

const URL = 'ws://127.0.0.1:8765/ws';

/** @type {FakeServer} */
let server;

beforeEach(() => {
  server = new FakeServer();
});

/**
 * A client of the fake server whose connection is open (hello said, nothing to resubscribe).
 *
 * @param {import('../../canvas_live/web/client.js').ClientOptions} [options]
 */
async function openClient(options = {}) {
  const client = connect(URL, { WebSocket: server.WebSocket, ...options });
  server.socket.hello('e1');
  await client.whenOpen();
  return client;
}

/**
 * How a promise settled, without letting a rejection go unhandled.
 *
 * @param {Promise<unknown>} promise
 */
function outcome(promise) {
  const seen = { settled: 0, value: /** @type {unknown} */ (undefined), error: /** @type {any} */ (undefined) };
  promise.then(
    (value) => {
      seen.settled += 1;
      seen.value = value;
    },
    (error) => {
      seen.settled += 1;
      seen.error = error;
    },
  );
  return seen;
}

// -- calls ------------------------------------------------------------------------------------------

test('a call sends one JSON-RPC request and resolves with its result', async () => {
  const client = await openClient();
  const named = client.call('canvas.read', { name: 'notes' });
  const positional = client.call('canvas.list', []);
  const bare = client.call('ping');
  const [read, list, ping] = server.socket.sent;
  assert.deepEqual(read, { jsonrpc: '2.0', method: 'canvas.read', params: { name: 'notes' }, id: read.id });
  assert.deepEqual(list.params, []);
  assert.equal('params' in ping, false);
  assert.equal(new Set([read.id, list.id, ping.id]).size, 3);
  server.socket.answer(ping, 'pong');
  server.socket.answer(read, { name: 'notes', nodes: [] });
  server.socket.answer(list, []);
  assert.deepEqual(await Promise.all([named, positional, bare]), [{ name: 'notes', nodes: [] }, [], 'pong']);
});

test("a server error rejects with its code, its stable name lifted out of data, and the rest of data", async () => {
  const client = await openClient();
  const call = client.call('canvas.read', { name: 'missing' });
  server.socket.fail(server.socket.request('canvas.read'), {
    code: -32001,
    message: "canvas 'missing' not found",
    data: { error: 'NOT_FOUND', kind: 'canvas', id: 'missing' },
  });
  const error = await call.catch((e) => e);
  assert.ok(error instanceof RpcError && error instanceof Error);
  assert.equal(error.name, 'RpcError');
  assert.equal(error.message, "canvas 'missing' not found");
  assert.equal(error.code, -32001);
  assert.equal(error.error, 'NOT_FOUND');
  assert.deepEqual(error.data, { kind: 'canvas', id: 'missing' });

  const unnamed = client.call('ping');
  server.socket.fail(server.socket.request('ping'), { code: -32000, message: 'odd' });
  const bare = await unnamed.catch((e) => e);
  assert.deepEqual([bare.code, bare.error, bare.data], [-32000, 'ERROR', {}]);
});

test('a call settles once: a second answer, or one after its timeout, is ignored', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = await openClient();
  const answered = outcome(client.call('ping'));
  const request = server.socket.request('ping');
  server.socket.answer(request, 'pong');
  server.socket.answer(request, 'again');
  server.socket.fail(request, { code: -32603, message: 'late', data: { error: 'INTERNAL_ERROR' } });
  await settle();
  assert.deepEqual([answered.settled, answered.value], [1, 'pong']);

  const slow = outcome(client.call('agent.call', { agent: 'oral' }, { timeout: 100 }));
  t.mock.timers.tick(99);
  await settle();
  assert.equal(slow.settled, 0);
  t.mock.timers.tick(1);
  await settle();
  assert.equal(slow.settled, 1);
  assert.ok(slow.error instanceof RpcError);
  assert.deepEqual([slow.error.code, slow.error.error, slow.error.data], [null, 'TIMEOUT', { timeout: 100 }]);
  server.socket.answer(server.socket.request('agent.call'), { ok: true });
  await settle();
  assert.equal(slow.settled, 1);
});

test("the client's timeout applies to every call; 0 waits for ever", async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = await openClient({ timeout: 500 });
  const limited = outcome(client.call('ping'));
  const unlimited = outcome(client.call('ping', undefined, { timeout: 0 }));
  t.mock.timers.tick(500);
  await settle();
  assert.equal(limited.error?.error, 'TIMEOUT');
  t.mock.timers.tick(10 ** 9);
  await settle();
  assert.equal(unlimited.settled, 0);
  server.socket.answer(server.socket.requests('ping')[1], 'pong');
  await settle();
  assert.equal(unlimited.value, 'pong');
});

test('options given as undefined take their defaults instead of turning limits off', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  t.mock.method(Math, 'random', () => 1);
  const states = [];
  const client = await openClient({
    timeout: undefined,
    minDelay: undefined,
    maxDelay: undefined,
    token: undefined,
    onState: (state, detail) => states.push([state, detail.retryIn]),
  });
  assert.equal(new globalThis.URL(server.socket.url).search, '');
  const call = outcome(client.call('ping'));
  t.mock.timers.tick(29_999);
  await settle();
  assert.equal(call.settled, 0);
  t.mock.timers.tick(1);
  await settle();
  assert.equal(call.error?.error, 'TIMEOUT');
  server.socket.drop();
  assert.deepEqual(states.at(-1), ['reconnecting', 250]);
});

test('a call sent before the connection dropped fails DISCONNECTED; one made while down waits for the next', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = await openClient();
  const inFlight = outcome(client.call('agent.call', { agent: 'oral' }));
  server.socket.drop(1012, 'restarting');
  await settle();
  assert.ok(inFlight.error instanceof RpcError);
  assert.deepEqual([inFlight.error.code, inFlight.error.error, inFlight.error.data], [null, 'DISCONNECTED', { code: 1012 }]);

  const queued = outcome(client.call('ping'));
  assert.equal(client.notify('ping'), false); // a notification is not queued
  t.mock.timers.tick(250);
  assert.equal(server.sockets.length, 2);
  assert.deepEqual(server.socket.sent, []); // nothing goes out before hello
  server.socket.hello('e1');
  assert.deepEqual(server.socket.sent.map((frame) => frame.method), ['ping']);
  server.socket.answer(server.socket.request('ping'), 'pong');
  await settle();
  assert.equal(queued.value, 'pong');
});

test('close fails unanswered calls and later ones with CLOSED, and closes the socket', async () => {
  const client = await openClient();
  const pending = outcome(client.call('agent.call', { agent: 'oral' }));
  const socket = server.socket;
  client.close(1000, 'bye');
  await settle();
  assert.deepEqual(socket.closedWith, { code: 1000, reason: 'bye' });
  assert.deepEqual([pending.error?.code, pending.error?.error], [null, 'CLOSED']);
  const later = await client.call('ping').catch((e) => e);
  assert.equal(later.error, 'CLOSED');
  assert.equal((await client.whenOpen().catch((e) => e)).error, 'CLOSED');
  assert.equal(client.state, ConnectionState.CLOSED);
  assert.equal(server.sockets.length, 1); // nothing reconnects
});

test('close while reconnecting rejects whoever waits for the connection', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = connect(URL, { WebSocket: server.WebSocket });
  const waiting = outcome(client.whenOpen());
  const queued = outcome(client.call('ping'));
  server.socket.drop();
  client.close();
  await settle();
  assert.equal(waiting.error?.error, 'CLOSED');
  assert.equal(queued.error?.error, 'CLOSED');
  t.mock.timers.tick(60_000);
  assert.equal(server.sockets.length, 1);
});

test('notify sends a frame without an id while the connection is open', async () => {
  const client = await openClient();
  assert.equal(client.notify('ping', { note: 1 }), true);
  assert.deepEqual(server.socket.sent.at(-1), { jsonrpc: '2.0', method: 'ping', params: { note: 1 } });
});

// -- the connection -----------------------------------------------------------------------------

test('the token goes in the query; a client needs a WebSocket implementation', () => {
  new Client('ws://127.0.0.1:8765/ws?x=1', { token: 's3cret', WebSocket: server.WebSocket });
  const url = new globalThis.URL(server.socket.url);
  assert.deepEqual([url.searchParams.get('x'), url.searchParams.get('token')], ['1', 's3cret']);
  assert.equal(typeof globalThis.WebSocket, 'undefined', 'run without --experimental-websocket');
  assert.throws(() => connect(URL), { name: 'TypeError', message: /options\.WebSocket/ });
});

test('every state change reaches the listeners with its detail', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  t.mock.method(Math, 'random', () => 0.5);
  const seen = [];
  const client = connect(URL, { WebSocket: server.WebSocket, onState: (state, detail) => seen.push([state, detail]) });
  const also = [];
  const stop = client.onStateChange((state) => also.push(state));
  assert.equal(client.state, 'connecting');
  assert.equal(client.epoch, null);
  server.socket.hello('e1');
  await settle();
  assert.equal(client.state, 'open');
  assert.equal(client.epoch, 'e1');
  server.socket.drop(1012, 'restarting');
  assert.equal(client.state, 'reconnecting');
  stop();
  t.mock.timers.tick(188);
  server.socket.hello('e1');
  await settle();
  client.close();
  assert.deepEqual(seen, [
    ['open', { attempt: 0, epoch: 'e1' }],
    ['reconnecting', { attempt: 1, epoch: 'e1', retryIn: 188, code: 1012, reason: 'restarting' }],
    ['open', { attempt: 0, epoch: 'e1' }],
    ['closed', { attempt: 0, epoch: 'e1' }],
  ]);
  assert.deepEqual(also, ['open', 'reconnecting']);
});

test('reconnect attempts back off, doubling up to maxDelay, and start over once open', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  t.mock.method(Math, 'random', () => 1); // the top of each window: delay = ceiling
  const delays = [];
  const client = connect(URL, {
    WebSocket: server.WebSocket,
    minDelay: 100,
    maxDelay: 1000,
    onState: (state, detail) => state === 'reconnecting' && delays.push(detail.retryIn),
  });
  for (const expected of [100, 200, 400, 800, 1000, 1000]) {
    const before = server.sockets.length;
    server.socket.drop();
    assert.equal(delays.at(-1), expected);
    t.mock.timers.tick(expected - 1);
    assert.equal(server.sockets.length, before, `no attempt before ${expected} ms`);
    t.mock.timers.tick(1);
    assert.equal(server.sockets.length, before + 1, `an attempt after ${expected} ms`);
  }
  server.socket.hello('e1');
  await settle();
  server.socket.drop();
  assert.equal(delays.at(-1), 100);

  // Half of each delay is random, so that clients cut off together do not return together.
  Math.random.mock.mockImplementation(() => 0);
  t.mock.timers.tick(100);
  server.socket.drop();
  assert.equal(delays.at(-1), 100); // ceiling 200, the bottom of [100, 200]
  client.close();
});

test('a server that says hello but refuses the resubscription is retried with growing delays', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  t.mock.method(Math, 'random', () => 1);
  const delays = [];
  const client = connect(URL, {
    WebSocket: server.WebSocket,
    minDelay: 100,
    maxDelay: 10_000,
    onState: (state, detail) => state === 'reconnecting' && delays.push(detail.retryIn),
  });
  server.socket.hello('e1');
  const subscribed = client.subscribe(['tasks'], () => {});
  server.socket.confirmSubscribe('e1');
  await subscribed;
  server.socket.drop();
  for (let round = 0; round < 3; round += 1) {
    t.mock.timers.tick(delays.at(-1));
    const socket = server.socket;
    socket.hello('e1');
    socket.fail(socket.request('subscribe'), { code: -32007, message: 'too many', data: { error: 'OVERLOADED' } });
    await settle();
    assert.equal(socket.closedWith?.code, 4000);
    await settle(); // its close event
  }
  assert.deepEqual(delays, [100, 200, 400, 800]);
  assert.equal(client.state, 'reconnecting');
  client.close();
});

test('a failed connection is retried once, whether its error comes alone or before a close', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  t.mock.method(Math, 'random', () => 1);
  const states = [];
  const client = connect(URL, { WebSocket: server.WebSocket, minDelay: 100, onState: (state) => states.push(state) });
  server.socket.error(); // as Node's WebSocket reports a refused handshake: no close follows
  assert.deepEqual(states, ['reconnecting']);
  t.mock.timers.tick(100);
  assert.equal(server.sockets.length, 2);
  server.socket.error(); // as a browser reports it: error, then close
  server.socket.drop();
  assert.deepEqual(states, ['reconnecting', 'reconnecting']);
  t.mock.timers.tick(200);
  assert.equal(server.sockets.length, 3);
  t.mock.timers.tick(10_000);
  assert.equal(server.sockets.length, 3);
  client.close();
});

// -- events -----------------------------------------------------------------------------------------

test('events reach every handler of their topic in seq order, each once; the server is asked once', async () => {
  const client = await openClient();
  const first = [];
  const second = [];
  const subscribing = client.subscribe(['canvas:notes'], (method, event) => first.push([method, event.seq]));
  server.socket.confirmSubscribe('e1');
  await subscribing;
  await client.subscribe(['canvas:notes'], (_method, event) => second.push(event.seq));
  assert.equal(server.socket.requests('subscribe').length, 1);
  assert.deepEqual(server.socket.request('subscribe').params, { topics: ['canvas:notes'] });

  for (const seq of [1, 2, 2, 1, 3, 5, 4]) server.socket.event('canvas.changed', 'canvas:notes', seq, { version: 'v' });
  server.socket.event('canvas.changed', 'canvas:other', 9); // a topic nobody follows
  server.socket.receive({ jsonrpc: '2.0', method: 'server.stats', params: { load: 1 } }); // not an event
  assert.deepEqual(first, [['canvas.changed', 1], ['canvas.changed', 2], ['canvas.changed', 3], ['canvas.changed', 5]]);
  assert.deepEqual(second, [1, 2, 3, 5]);
});

test("a handler's params carry the event's own fields beside topic and seq", async () => {
  const client = await openClient();
  const seen = [];
  const subscribing = client.subscribe(['tasks'], (method, event) => seen.push({ method, ...event }));
  server.socket.confirmSubscribe('e1');
  await subscribing;
  server.socket.event('task.progress', 'tasks', 1, { task_id: 't1', done: 2, total: 5 });
  assert.deepEqual(seen, [{ method: 'task.progress', topic: 'tasks', seq: 1, task_id: 't1', done: 2, total: 5 }]);
});

test('after a reconnect every topic is subscribed again from its last seq, with the epoch', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = await openClient();
  const seen = [];
  const resyncs = [];
  const subscribing = client.subscribe(['tasks', 'canvas:notes'], (_method, event) => seen.push(`${event.topic}#${event.seq}`), {
    onResync: (topic) => resyncs.push(topic),
  });
  server.socket.confirmSubscribe('e1');
  await subscribing;
  server.socket.event('task.created', 'tasks', 1);
  server.socket.event('task.started', 'tasks', 2);
  server.socket.drop();

  t.mock.timers.tick(250);
  const states = [];
  client.onStateChange((state) => states.push(state));
  const queued = outcome(client.call('ping'));
  server.socket.hello('e1');
  const [subscribe, ping] = server.socket.sent;
  assert.equal(ping.method, 'ping'); // waiting calls go out with the resubscription
  assert.deepEqual(subscribe.params, { topics: ['tasks', 'canvas:notes'], since: { tasks: 2 }, epoch: 'e1' });
  // The server replays what was missed before it answers; the client is open only after the answer.
  server.socket.event('task.progress', 'tasks', 3);
  server.socket.event('task.completed', 'tasks', 4);
  assert.equal(client.state, 'reconnecting');
  server.socket.answer(subscribe, { subscribed: subscribe.params.topics, epoch: 'e1', replayed: 2, recovered: { tasks: true } });
  server.socket.answer(ping, 'pong');
  await settle();
  assert.deepEqual(states, ['open']);
  assert.equal(queued.value, 'pong');
  assert.deepEqual(seen, ['tasks#1', 'tasks#2', 'tasks#3', 'tasks#4']);
  // `canvas:notes` had shown no event, so the client had no place to resume it from: what
  // happened there while it was away can only be re-read.
  assert.deepEqual(resyncs, ['canvas:notes']);
});

test('onResync is called for a topic the server could not replay (recovered: false)', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = await openClient();
  const seen = [];
  const resyncs = [];
  const subscribing = client.subscribe(['tasks', 'agents'], (_method, event) => seen.push(`${event.topic}#${event.seq}`), {
    onResync: (topic) => resyncs.push(topic),
  });
  server.socket.confirmSubscribe('e1');
  await subscribing;
  server.socket.event('task.created', 'tasks', 7);
  server.socket.event('agent.circuit', 'agents', 3);
  server.socket.drop();
  t.mock.timers.tick(250);
  server.socket.hello('e1');
  server.socket.confirmSubscribe('e1', { tasks: false, agents: true });
  await settle();
  assert.deepEqual(resyncs, ['tasks']);

  // The client lost its place on `tasks`: the next event counts whatever its seq, and the next
  // reconnect does not claim a place it does not have.
  server.socket.event('task.created', 'tasks', 2);
  assert.deepEqual(seen, ['tasks#7', 'agents#3', 'tasks#2']);
  server.socket.drop();
  t.mock.timers.tick(250);
  server.socket.hello('e1');
  assert.deepEqual(server.socket.request('subscribe').params.since, { tasks: 2, agents: 3 });
  client.close();
});

test('after a server restart (a new epoch) every topic resyncs and seqs start again', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = await openClient();
  const seen = [];
  const resyncs = [];
  const subscribing = client.subscribe(['canvas:notes'], (_method, event) => seen.push(event.seq), {
    onResync: (topic) => resyncs.push(topic),
  });
  server.socket.confirmSubscribe('e1');
  await subscribing;
  server.socket.event('canvas.changed', 'canvas:notes', 5);
  server.socket.drop(1012);
  t.mock.timers.tick(250);
  server.socket.hello('e2');
  assert.deepEqual(server.socket.request('subscribe').params, { topics: ['canvas:notes'] });
  server.socket.confirmSubscribe('e2');
  await settle();
  assert.equal(client.epoch, 'e2');
  assert.deepEqual(resyncs, ['canvas:notes']);
  server.socket.event('canvas.changed', 'canvas:notes', 1);
  assert.deepEqual(seen, [5, 1]);
});

test('replay asks for a topic from its start; onResync is called when the history does not reach back', async () => {
  const client = await openClient();
  const seen = [];
  const resyncs = [];
  const options = { replay: true, onResync: (/** @type {string} */ topic) => resyncs.push(topic) };
  const kept = client.subscribe(['task:t1'], (_method, event) => seen.push(event.seq), options);
  const request = server.socket.request('subscribe');
  assert.deepEqual(request.params, { topics: ['task:t1'], since: { 'task:t1': 0 }, epoch: 'e1' });
  server.socket.event('agent.result', 'task:t1', 1);
  server.socket.event('agent.result', 'task:t1', 2);
  server.socket.answer(request, { subscribed: ['task:t1'], epoch: 'e1', replayed: 2, recovered: { 'task:t1': true } });
  await kept;
  assert.deepEqual(seen, [1, 2]);
  assert.deepEqual(resyncs, []);

  const lost = client.subscribe(['task:t2'], () => {}, options);
  server.socket.confirmSubscribe('e1', { 'task:t2': false });
  await lost;
  assert.deepEqual(resyncs, ['task:t2']);
});

test('a subscription made before the connection opens goes out with the hello', async () => {
  const client = connect(URL, { WebSocket: server.WebSocket });
  const seen = [];
  const subscribing = client.subscribe(['tasks'], (_method, event) => seen.push(event.seq));
  await settle();
  assert.deepEqual(server.socket.sent, []);
  server.socket.hello('e1');
  assert.deepEqual(server.socket.request('subscribe').params, { topics: ['tasks'] });
  server.socket.confirmSubscribe('e1');
  const subscription = await subscribing;
  assert.deepEqual(subscription.topics, ['tasks']);
  server.socket.event('task.created', 'tasks', 1);
  assert.deepEqual(seen, [1]);
});

test('a refused subscription rejects with the server error and follows nothing', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = await openClient();
  const subscribing = client.subscribe(['canvas:'], () => {});
  server.socket.fail(server.socket.request('subscribe'), {
    code: -32602,
    message: 'invalid topic',
    data: { error: 'INVALID_PARAMS', field: 'topics[0]' },
  });
  const error = await subscribing.catch((e) => e);
  assert.deepEqual([error.code, error.error, error.data], [-32602, 'INVALID_PARAMS', { field: 'topics[0]' }]);
  server.socket.drop();
  t.mock.timers.tick(250);
  server.socket.hello('e1');
  assert.deepEqual(server.socket.requests('subscribe'), []);
  await settle();
  assert.equal(client.state, 'open');
});

test('the server is told once no handler is left on a topic, and it is not resubscribed', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const client = await openClient();
  const seen = [];
  const one = (/** @type {string} */ _method, /** @type {{seq: number}} */ event) => seen.push(['one', event.seq]);
  const two = (/** @type {string} */ _method, /** @type {{seq: number}} */ event) => seen.push(['two', event.seq]);
  const subscribing = client.subscribe(['tasks', 'agents'], one);
  server.socket.confirmSubscribe('e1');
  const subscription = await subscribing;
  await client.subscribe(['tasks'], two);

  const released = subscription.unsubscribe();
  const request = server.socket.request('unsubscribe');
  assert.deepEqual(request.params, { topics: ['agents'] }); // `two` still follows `tasks`
  server.socket.answer(request, { unsubscribed: ['agents'] });
  await released;
  server.socket.event('task.created', 'tasks', 1);
  assert.deepEqual(seen, [['two', 1]]);

  const dropped = client.unsubscribe(['tasks'], two);
  server.socket.answer(server.socket.request('unsubscribe'), { unsubscribed: ['tasks'] });
  await dropped;
  assert.deepEqual(server.socket.request('unsubscribe').params, { topics: ['tasks'] });
  server.socket.drop();
  t.mock.timers.tick(250);
  server.socket.hello('e1');
  await settle();
  assert.deepEqual(server.socket.requests('subscribe'), []);
  assert.equal(client.state, 'open');
});
