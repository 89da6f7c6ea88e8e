/* canvas-live for Obsidian: built from src/ by `make obsidian-plugin`; do not edit. */
"use strict";
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);

// src/main.ts
var main_exports = {};
__export(main_exports, {
  DEFAULT_SETTINGS: () => DEFAULT_SETTINGS,
  default: () => CanvasLivePlugin,
  outcome: () => outcome
});
module.exports = __toCommonJS(main_exports);
var import_obsidian2 = require("obsidian");

// ../client.js
var ConnectionState = Object.freeze({
  /** The first attempt is under way. */
  CONNECTING: "connecting",
  /** `server.hello` arrived and every subscription is live again. */
  OPEN: "open",
  /** The connection was lost; the next attempt is scheduled or under way. */
  RECONNECTING: "reconnecting",
  /** `close()` was called; nothing reconnects. */
  CLOSED: "closed"
});
var RpcError = class extends Error {
  /**
   * @param {string} message what went wrong, for people
   * @param {{code?: number | null, error: ErrorName, data?: Record<string, unknown>}} detail
   */
  constructor(message, { code = null, error, data = {} }) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.error = error;
    this.data = data;
  }
};
function connect(url, options = {}) {
  return new Client(url, options);
}
var Client = class {
  /** @type {string} */
  #url;
  /** @type {{timeout: number, minDelay: number, maxDelay: number, WebSocket: typeof WebSocket}} */
  #options;
  /** @type {WebSocket | null} */
  #socket = null;
  /** True once the current socket has said hello: frames may be sent. */
  #live = false;
  /** @type {ConnectionStateName} */
  #state = ConnectionState.CONNECTING;
  /** @type {string | null} */
  #epoch = null;
  #attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #retryTimer = null;
  #nextId = 1;
  /**
   * Calls by id, in the order they were made: an unsent one keeps its frame until the socket is
   * live, so the map doubles as the outgoing queue and order is kept across a reconnect.
   * @type {Map<number, {method: string, frame: string | null, resolve: (value: unknown) => void, reject: (error: RpcError) => void, timer: ReturnType<typeof setTimeout> | null}>}
   */
  #pending = /* @__PURE__ */ new Map();
  /**
   * Followed topics. `lastSeq` is the last event seen (null: nothing to resume from, as for a new
   * subscription or after the server lost our place); `acked` once the server confirmed it.
   * @type {Map<string, {handlers: Set<{handler: EventHandler, onResync?: ((topic: string) => void) | undefined}>, lastSeq: number | null, acked: boolean}>}
   */
  #topics = /* @__PURE__ */ new Map();
  /** @type {Set<StateListener>} */
  #stateListeners = /* @__PURE__ */ new Set();
  /** @type {Array<{resolve: () => void, reject: (error: RpcError) => void}>} */
  #openWaiters = [];
  /**
   * @param {string} url the server's WebSocket endpoint
   * @param {ClientOptions} [options]
   */
  constructor(url, options = {}) {
    const { token, onState } = options;
    const target = new URL(url);
    if (token) target.searchParams.set("token", token);
    this.#url = target.href;
    this.#options = {
      timeout: options.timeout ?? 3e4,
      minDelay: options.minDelay ?? 250,
      maxDelay: options.maxDelay ?? 15e3,
      WebSocket: options.WebSocket ?? globalThis.WebSocket
    };
    if (typeof this.#options.WebSocket !== "function") {
      throw new TypeError("canvas-live client: no WebSocket implementation here; pass one as options.WebSocket");
    }
    if (onState) this.#stateListeners.add(onState);
    this.#open();
  }
  /**
   * The current connection state (a `ConnectionState` value).
   *
   * @returns {ConnectionStateName}
   */
  get state() {
    return this.#state;
  }
  /**
   * The server's epoch from its last `server.hello`: it changes when the server restarts.
   *
   * @returns {string | null} null until the first `server.hello`
   */
  get epoch() {
    return this.#epoch;
  }
  /**
   * Listen to connection state changes.
   *
   * @param {StateListener} listener
   * @returns {() => void} removes the listener
   */
  onStateChange(listener) {
    this.#stateListeners.add(listener);
    return () => {
      this.#stateListeners.delete(listener);
    };
  }
  /**
   * Resolve once the connection is open with every subscription live; reject if it is closed.
   *
   * @returns {Promise<void>}
   */
  whenOpen() {
    if (this.#state === ConnectionState.OPEN) return Promise.resolve();
    if (this.#state === ConnectionState.CLOSED) return Promise.reject(closedError());
    return new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
  }
  /**
   * Call a method and get its result.
   *
   * The client does not check the result: `T` is what the caller knows the method returns
   * (`unknown` unless given, e.g. `client.call<TaskInfo>('task.get', { id })`).
   *
   * @template [T=unknown]
   * @param {string} method e.g. `canvas.read`
   * @param {Params} [params] by name (an object) or by position (an array)
   * @param {CallOptions} [options]
   * @returns {Promise<T>} the result; rejects with an `RpcError`
   */
  call(method, params, { timeout = this.#options.timeout } = {}) {
    if (this.#state === ConnectionState.CLOSED) return Promise.reject(closedError());
    const id = this.#nextId++;
    const frame = JSON.stringify(params === void 0 ? { jsonrpc: "2.0", method, id } : { jsonrpc: "2.0", method, params, id });
    return new Promise((resolve, reject) => {
      const pending = {
        method,
        frame,
        resolve: (
          /** @type {(value: unknown) => void} */
          resolve
        ),
        reject,
        timer: (
          /** @type {ReturnType<typeof setTimeout> | null} */
          null
        )
      };
      if (timeout > 0 && Number.isFinite(timeout)) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(new RpcError(`${method} did not answer within ${timeout} ms`, { error: "TIMEOUT", data: { timeout } }));
        }, timeout);
      }
      this.#pending.set(id, pending);
      if (this.#live) this.#sendPending(pending);
    });
  }
  /**
   * Send a notification (no answer, not even an error).
   *
   * Nothing can confirm a notification, so one made while the connection is down is dropped
   * rather than queued for an unknown time.
   *
   * @param {string} method
   * @param {Params} [params] by name (an object) or by position (an array)
   * @returns {boolean} whether it was sent
   */
  notify(method, params) {
    if (!this.#live || !this.#socket) return false;
    this.#socket.send(JSON.stringify(params === void 0 ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params }));
    return true;
  }
  /**
   * Receive the events of `topics` (`tasks`, `task:<id>`, `canvases`, `canvas:<name>`, `agents`).
   *
   * Several handlers may follow one topic; the server is asked once. The subscription survives
   * reconnects until `unsubscribe`. `P` may name the shape of the topics' events (the client does
   * not check it).
   *
   * @template {EventEnvelope} [P=EventParams]
   * @param {readonly Topic[]} topics
   * @param {EventHandler<P>} handler
   * @param {SubscribeOptions} [options]
   * @returns {Promise<Subscription>} once the server confirmed it; rejects with the server's error
   */
  async subscribe(topics, handler, { onResync, replay = false } = {}) {
    const entry = { handler: (
      /** @type {EventHandler} */
      /** @type {unknown} */
      handler
    ), onResync };
    const fresh = [];
    for (const topic of topics) {
      let followed = this.#topics.get(topic);
      if (!followed) {
        followed = { handlers: /* @__PURE__ */ new Set(), lastSeq: replay ? 0 : null, acked: false };
        this.#topics.set(topic, followed);
        fresh.push(topic);
      }
      followed.handlers.add(entry);
    }
    const subscription = { topics: [...topics], unsubscribe: () => this.#release(topics, entry) };
    if (fresh.length === 0) return subscription;
    if (!this.#live) {
      await this.whenOpen();
      return subscription;
    }
    try {
      for (const topic of await this.#subscribeTopics(fresh)) this.#resync(topic);
    } catch (error) {
      if (error instanceof RpcError && error.error === "DISCONNECTED") {
        await this.whenOpen();
        return subscription;
      }
      this.#forget(fresh, entry);
      throw error;
    }
    return subscription;
  }
  /**
   * Stop `handler` receiving `topics` (every handler when none is given); the server is told once
   * no handler is left on a topic.
   *
   * @template {EventEnvelope} P
   * @param {readonly Topic[]} topics
   * @param {EventHandler<P>} [handler] as given to `subscribe`
   * @returns {Promise<void>}
   */
  async unsubscribe(topics, handler) {
    const emptied = [];
    for (const topic of topics) {
      const followed = this.#topics.get(topic);
      if (!followed) continue;
      for (const entry of [...followed.handlers]) {
        if (handler === void 0 || entry.handler === /** @type {unknown} */
        handler) followed.handlers.delete(entry);
      }
      if (followed.handlers.size === 0) {
        this.#topics.delete(topic);
        emptied.push(topic);
      }
    }
    await this.#tellUnsubscribed(emptied);
  }
  /**
   * Close for good: no reconnect; calls not yet answered fail with `CLOSED`.
   *
   * @param {number} [code=1000]
   * @param {string} [reason]
   */
  close(code = 1e3, reason = "") {
    if (this.#state === ConnectionState.CLOSED) return;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#live = false;
    const socket = this.#socket;
    this.#socket = null;
    if (socket) socket.close(code, reason);
    this.#failPending(() => closedError(), true);
    this.#setState(ConnectionState.CLOSED, {});
    for (const waiter of this.#openWaiters.splice(0)) waiter.reject(closedError());
  }
  // -- the socket ------------------------------------------------------------------------------
  #open() {
    const socket = new this.#options.WebSocket(this.#url);
    this.#socket = socket;
    socket.onmessage = (event) => {
      if (this.#socket === socket && typeof event.data === "string") this.#onFrame(event.data);
    };
    socket.onclose = (event) => {
      if (this.#socket === socket) this.#onClose(event.code, event.reason);
    };
    socket.onerror = () => {
      if (this.#socket === socket) this.#onClose(1006, "");
    };
  }
  /**
   * @param {number} code
   * @param {string} reason
   */
  #onClose(code, reason) {
    this.#socket = null;
    this.#live = false;
    this.#failPending(
      (method) => new RpcError(`the connection was lost before ${method} was answered`, { error: "DISCONNECTED", data: { code } }),
      false
    );
    const ceiling = Math.min(this.#options.maxDelay, this.#options.minDelay * 2 ** this.#attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.#attempt += 1;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#open();
    }, delay);
    this.#setState(ConnectionState.RECONNECTING, { retryIn: delay, code, reason });
  }
  /** @param {string} text */
  #onFrame(text) {
    const message = JSON.parse(text);
    if (message.id !== void 0 && message.id !== null) {
      this.#onResponse(message);
    } else if (message.method === "server.hello") {
      this.#onHello(message.params);
    } else if (message.params && typeof message.params.topic === "string") {
      this.#onEvent(message.method, message.params);
    }
  }
  /** @param {{id: number, result?: any, error?: {code: number, message: string, data?: Record<string, any>}}} message */
  #onResponse(message) {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (pending.timer !== null) clearTimeout(pending.timer);
    if (message.error) {
      const { code, message: text, data = {} } = message.error;
      const { error = "ERROR", ...details } = data;
      pending.reject(new RpcError(text, { code, error, data: details }));
    } else {
      pending.resolve(message.result);
    }
  }
  /**
   * The server is ready: take its epoch, subscribe again to everything followed (resuming where
   * possible), send the calls that waited, and only then report the connection open.
   *
   * @param {{epoch: string}} hello
   */
  async #onHello(hello) {
    const socket = this.#socket;
    const restarted = this.#epoch !== null && hello.epoch !== this.#epoch;
    this.#epoch = hello.epoch;
    this.#live = true;
    const resync = [];
    for (const [topic, followed] of this.#topics) {
      if (!followed.acked) continue;
      if (restarted) followed.lastSeq = null;
      if (followed.lastSeq === null) resync.push(topic);
    }
    const topics = [...this.#topics.keys()];
    const subscribing = topics.length > 0 ? this.#subscribeTopics(topics) : Promise.resolve([]);
    for (const pending of this.#pending.values()) this.#sendPending(pending);
    let lost;
    try {
      lost = await subscribing;
    } catch {
      if (this.#socket === socket && socket) socket.close(4e3, "resubscribe failed");
      return;
    }
    if (this.#socket !== socket) return;
    this.#attempt = 0;
    this.#setState(ConnectionState.OPEN, {});
    for (const waiter of this.#openWaiters.splice(0)) waiter.resolve();
    for (const topic of /* @__PURE__ */ new Set([...resync, ...lost])) this.#resync(topic);
  }
  /**
   * Subscribe `topics` on the server, resuming each from its last seen seq.
   *
   * @param {string[]} topics
   * @returns {Promise<string[]>} the topics whose missed events could not be replayed
   */
  async #subscribeTopics(topics) {
    const since = {};
    for (const topic of topics) {
      const lastSeq = this.#topics.get(topic)?.lastSeq;
      if (lastSeq !== null && lastSeq !== void 0) since[topic] = lastSeq;
    }
    const params = Object.keys(since).length > 0 ? { topics, since, epoch: this.#epoch } : { topics };
    const result = await this.call("subscribe", params);
    const lost = [];
    for (const topic of topics) {
      const followed = this.#topics.get(topic);
      if (!followed) continue;
      followed.acked = true;
      if (result.recovered[topic] === false) {
        followed.lastSeq = null;
        lost.push(topic);
      }
    }
    return lost;
  }
  /**
   * @param {string} method
   * @param {EventParams} params
   */
  #onEvent(method, params) {
    const followed = this.#topics.get(params.topic);
    if (!followed) return;
    if (followed.lastSeq !== null && params.seq <= followed.lastSeq) return;
    followed.lastSeq = params.seq;
    for (const { handler } of [...followed.handlers]) {
      try {
        handler(method, params);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
  /** @param {string} topic */
  #resync(topic) {
    const followed = this.#topics.get(topic);
    if (!followed) return;
    for (const { onResync } of [...followed.handlers]) {
      if (onResync) onResync(topic);
    }
  }
  /** @param {{frame: string | null}} pending */
  #sendPending(pending) {
    if (pending.frame === null || !this.#socket) return;
    this.#socket.send(pending.frame);
    pending.frame = null;
  }
  /**
   * Reject calls: those already sent (their outcome is unknown), or every one when closing.
   *
   * @param {(method: string) => RpcError} makeError
   * @param {boolean} all
   */
  #failPending(makeError, all) {
    for (const [id, pending] of this.#pending) {
      if (!all && pending.frame !== null) continue;
      this.#pending.delete(id);
      if (pending.timer !== null) clearTimeout(pending.timer);
      pending.reject(makeError(pending.method));
    }
  }
  /**
   * @param {readonly string[]} topics
   * @param {{handler: EventHandler}} entry
   */
  async #release(topics, entry) {
    await this.#tellUnsubscribed(this.#forget(topics, entry));
  }
  /**
   * Drop `entry` from `topics`; returns the topics no handler follows any more.
   *
   * @param {readonly string[]} topics
   * @param {{handler: EventHandler}} entry
   */
  #forget(topics, entry) {
    const emptied = [];
    for (const topic of topics) {
      const followed = this.#topics.get(topic);
      if (!followed || !followed.handlers.delete(entry) || followed.handlers.size > 0) continue;
      this.#topics.delete(topic);
      emptied.push(topic);
    }
    return emptied;
  }
  /**
   * Tell the server about topics nobody follows any more; a server that is not connected forgets
   * them anyway, and they are not subscribed again on reconnect.
   *
   * @param {string[]} topics
   */
  async #tellUnsubscribed(topics) {
    if (topics.length === 0 || !this.#live) return;
    try {
      await this.call("unsubscribe", { topics });
    } catch (error) {
      if (!(error instanceof RpcError && (error.error === "DISCONNECTED" || error.error === "CLOSED"))) throw error;
    }
  }
  /**
   * @param {ConnectionStateName} state
   * @param {Partial<StateDetail>} detail
   */
  #setState(state, detail) {
    this.#state = state;
    const full = { attempt: this.#attempt, epoch: this.#epoch, ...detail };
    for (const listener of [...this.#stateListeners]) listener(state, full);
  }
};
function closedError() {
  return new RpcError("the client was closed", { error: "CLOSED" });
}

// ../task-feeds.js
var WATCH_LIMIT = 8;
var RUNNING = "running";
var ENDED = /* @__PURE__ */ new Set(["task.completed", "task.failed", "task.cancelled"]);
function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
function tokensText(n) {
  return count(n, "token");
}
function callId(event, key) {
  return JSON.stringify([event["agent"], typeof key === "string" ? key : null]);
}
var RunningCalls = class {
  /** @type {Map<string, RunningCall>} */
  #calls = /* @__PURE__ */ new Map();
  /**
   * Take in one event of the task's topic. The topic's order puts a call's `agent.progress`
   * before its `agent.result`, and both before the task's end.
   *
   * @param {string} method
   * @param {EventParams} event
   * @returns {boolean} whether the calls answering changed
   */
  apply(method, event) {
    if (method === "agent.progress") {
      const key = event["key"] ?? event["node_id"];
      const call = { agent: String(event["agent"]), key: typeof key === "string" ? key : null, tokens: Number(event["tokens"]) };
      this.#calls.set(callId(event, key), call);
      return true;
    }
    if (method === "agent.result") return this.#calls.delete(callId(event, event["key"]));
    if (ENDED.has(method) && this.#calls.size > 0) {
      this.#calls.clear();
      return true;
    }
    return false;
  }
  /** Forget every call: their ends may have been missed. */
  clear() {
    this.#calls.clear();
  }
  /** @returns {RunningCall[]} in the order they began to answer */
  get list() {
    return [...this.#calls.values()];
  }
  /** How many calls are answering. */
  get count() {
    return this.#calls.size;
  }
  /** The tokens of every answering call together. */
  get tokens() {
    let sum = 0;
    for (const call of this.#calls.values()) sum += call.tokens;
    return sum;
  }
  /** `2 calls answering · 412 tokens`, or empty while none is. */
  summary() {
    return this.count === 0 ? "" : `${count(this.count, "call")} answering · ${tokensText(this.tokens)}`;
  }
};
var TaskFeed = class {
  calls = new RunningCalls();
  /** @type {EventParams[]} the `agent.result` events, oldest first */
  results = [];
  /** @type {Set<string>} */
  reasons = /* @__PURE__ */ new Set();
  /**
   * @param {string} method
   * @param {EventParams} event
   */
  apply(method, event) {
    this.calls.apply(method, event);
    if (method === "agent.result") this.results.push(event);
  }
  /** Start empty again: what came before could not be replayed. */
  forget() {
    this.calls.clear();
    this.results = [];
  }
};
var TaskFeeds = class {
  /** @type {Subscriber} */
  #client;
  /** @type {FeedHooks} */
  #hooks;
  /** @type {Map<string, {feed: TaskFeed, handler: EventHandler}>} */
  #followed = /* @__PURE__ */ new Map();
  /**
   * @param {Subscriber} client a client.js `Client`
   * @param {FeedHooks} [hooks]
   */
  constructor(client, hooks = {}) {
    this.#client = client;
    this.#hooks = hooks;
  }
  /**
   * The feed of a task that is followed.
   *
   * @param {string} id
   * @returns {TaskFeed | undefined}
   */
  get(id) {
    return this.#followed.get(id)?.feed;
  }
  /**
   * Follow task `id` for `reason`; its events arrive through the hooks.
   *
   * @param {string} id
   * @param {string} reason
   * @returns {TaskFeed}
   */
  follow(id, reason) {
    let entry = this.#followed.get(id);
    if (entry === void 0) {
      const feed = new TaskFeed();
      const handler = (method, event) => {
        feed.apply(method, event);
        this.#hooks.onEvent?.(id, method, event);
      };
      const onResync = () => {
        feed.forget();
        this.#hooks.onResync?.(id);
      };
      entry = { feed, handler };
      this.#followed.set(id, entry);
      this.#client.subscribe([`task:${id}`], handler, { replay: true, onResync }).catch((error) => this.#hooks.onError?.(error));
    }
    entry.feed.reasons.add(reason);
    return entry.feed;
  }
  /**
   * Stop following task `id` for `reason`; its topic is unsubscribed once no reason is left.
   *
   * @param {string} id
   * @param {string} reason
   */
  release(id, reason) {
    const entry = this.#followed.get(id);
    if (entry === void 0 || !entry.feed.reasons.delete(reason) || entry.feed.reasons.size > 0) return;
    this.#followed.delete(id);
    this.#client.unsubscribe([`task:${id}`], entry.handler).catch((error) => this.#hooks.onError?.(error));
  }
  /**
   * Follow the first `WATCH_LIMIT` of these running tasks, and no other, for `RUNNING`.
   *
   * @param {readonly string[]} ids newest first
   * @returns {string[]} the tasks no longer followed for it
   */
  watch(ids) {
    const wanted = new Set(ids.slice(0, WATCH_LIMIT));
    const dropped = [...this.#followed].filter(([id, { feed }]) => feed.reasons.has(RUNNING) && !wanted.has(id)).map(([id]) => id);
    for (const id of dropped) this.release(id, RUNNING);
    for (const id of wanted) this.follow(id, RUNNING);
    return dropped;
  }
};

// src/tasks.ts
var TERMINAL = /* @__PURE__ */ new Set(["completed", "failed", "cancelled"]);
function isTerminal(task) {
  return TERMINAL.has(task.status);
}
var RECENT = 20;
var TaskBoard = class {
  #tasks = /* @__PURE__ */ new Map();
  get(id) {
    return this.#tasks.get(id);
  }
  /**
   * Take in a `task.list` page. A task an event already finished is kept as the event left it: the
   * page may have been read before that event.
   */
  load(tasks) {
    for (const task of tasks) {
      const known = this.#tasks.get(task.id);
      if (known === void 0 || !isTerminal(known)) this.#tasks.set(task.id, task);
    }
    this.#trim();
  }
  /**
   * Apply one event of the `tasks` topic; returns the task when the event finished it.
   */
  apply(method, event) {
    const id = typeof event["task_id"] === "string" ? event["task_id"] : void 0;
    if (id === void 0 || !method.startsWith("task.")) return void 0;
    const known = this.#tasks.get(id);
    const task = known ?? {
      id,
      kind: String(event["kind"]),
      status: "pending",
      progress: { done: 0, total: 0 },
      created_at: typeof event["created_at"] === "string" ? event["created_at"] : (/* @__PURE__ */ new Date()).toISOString()
    };
    if (typeof event["status"] === "string") task.status = event["status"];
    if (typeof event["canvas"] === "string") task.canvas = event["canvas"];
    if (method === "task.progress") {
      task.progress = { done: Number(event["done"]), total: Number(event["total"]) };
    } else if (isProgress(event["progress"])) {
      task.progress = event["progress"];
    }
    if ("result" in event) task.result = event["result"];
    if (isError(event["error"])) task.error = event["error"];
    this.#tasks.set(id, task);
    this.#trim();
    return isTerminal(task) && method !== "task.progress" ? task : void 0;
  }
  /** Running and pending tasks, newest first. */
  running() {
    return this.#sorted().filter((task) => !isTerminal(task));
  }
  /** Finished tasks, newest first, at most `RECENT`. */
  recent() {
    return this.#sorted().filter(isTerminal).slice(0, RECENT);
  }
  #sorted() {
    return [...this.#tasks.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  }
  #trim() {
    const keep = new Set([...this.running(), ...this.recent()].map((task) => task.id));
    for (const id of this.#tasks.keys()) if (!keep.has(id)) this.#tasks.delete(id);
  }
};
function isProgress(value) {
  return typeof value === "object" && value !== null && typeof value.done === "number";
}
function isError(value) {
  return typeof value === "object" && value !== null && typeof value.error === "string";
}
function progressText(task) {
  return `${task.progress.done}/${task.progress.total}`;
}

// src/view.ts
var import_obsidian = require("obsidian");
var TASKS_VIEW = "canvas-live-tasks";
var TasksView = class extends import_obsidian.ItemView {
  #board;
  /** The agent calls of a task answering now, where the plugin follows them. */
  #callsOf;
  constructor(leaf, board, callsOf) {
    super(leaf);
    this.#board = board;
    this.#callsOf = callsOf;
  }
  getViewType() {
    return TASKS_VIEW;
  }
  getDisplayText() {
    return "Tasks of canvas-live";
  }
  getIcon() {
    return "list-checks";
  }
  async onOpen() {
    this.render();
    return Promise.resolve();
  }
  /** Draw the lists again from the board. */
  render() {
    const root = this.contentEl;
    root.empty();
    root.addClass("canvas-live-tasks");
    this.#section(root, "Running", this.#board.running(), "No task is running.");
    this.#section(root, "Recent", this.#board.recent(), "No task has finished yet.");
  }
  #section(root, title, tasks, none) {
    root.createEl("h4", { text: title });
    if (tasks.length === 0) {
      root.createDiv({ cls: "canvas-live-empty", text: none });
      return;
    }
    for (const task of tasks) {
      const row = root.createDiv({ cls: "canvas-live-task", attr: { "data-task-id": task.id } });
      row.createSpan({ cls: "canvas-live-task-kind", text: task.kind });
      if (task.canvas !== void 0) row.createSpan({ cls: "canvas-live-task-canvas", text: task.canvas });
      const status = task.error === void 0 ? task.status : `${task.status}: ${task.error.error}`;
      row.createSpan({ cls: `canvas-live-task-status is-${task.status}`, text: status });
      const progress = row.createEl("progress", { cls: "canvas-live-task-progress" });
      progress.max = Math.max(task.progress.total, 1);
      progress.value = task.progress.done;
      row.createSpan({ cls: "canvas-live-task-count", text: progressText(task) });
      const answering = this.#callsOf(task.id)?.summary() ?? "";
      if (answering !== "") row.createSpan({ cls: "canvas-live-task-calls", text: answering });
    }
  }
};

// src/main.ts
var DEFAULT_SETTINGS = { serverUrl: "ws://127.0.0.1:8765/ws", token: "" };
var APPEAR_WITHIN = 1e4;
var CanvasLivePlugin = class extends import_obsidian2.Plugin {
  settings = { ...DEFAULT_SETTINGS };
  board = new TaskBoard();
  #client = null;
  /** The running tasks followed on their own topics, through the current client. */
  #feeds = null;
  #status = null;
  #state = "connecting";
  #retryIn;
  /** Tasks started from this vault, and whether their outcome was already shown. */
  #mine = /* @__PURE__ */ new Map();
  async onload() {
    const saved = await this.loadData();
    this.settings = { ...DEFAULT_SETTINGS, ...saved };
    this.#status = this.addStatusBarItem();
    this.#status.addClass("canvas-live-status");
    this.registerView(TASKS_VIEW, (leaf) => new TasksView(leaf, this.board, (id) => this.#feeds?.get(id)?.calls));
    this.addSettingTab(new CanvasLiveSettingTab(this.app, this));
    this.addCommand({
      id: "generate-review-canvas",
      name: "Generate review canvas",
      checkCallback: (checking) => this.#onCanvas(checking, (canvas) => this.#start("review.generate", { canvas }))
    });
    this.addCommand({
      id: "decompose-selected-node",
      name: "Decompose selected node",
      checkCallback: (checking) => this.#onCanvas(checking, (canvas) => this.#decompose(canvas))
    });
    this.addCommand({
      id: "score-canvas",
      name: "Score explanations",
      checkCallback: (checking) => this.#onCanvas(checking, (canvas) => this.#start("learn.score", { canvas }))
    });
    this.addCommand({ id: "show-tasks", name: "Show tasks", callback: () => void this.showTasks() });
    this.reconnect();
  }
  onunload() {
    this.#client?.close();
    this.#client = null;
  }
  async saveSettings() {
    await this.saveData(this.settings);
  }
  /** Drop the connection, if any, and open one with the current settings. */
  reconnect() {
    const previous = this.#client;
    this.#client = null;
    this.#feeds = null;
    previous?.close();
    this.#retryIn = void 0;
    try {
      const client = connect(this.settings.serverUrl, {
        token: this.settings.token === "" ? void 0 : this.settings.token,
        onState: (state, detail) => this.#onState(client, state, detail)
      });
      this.#client = client;
      this.#state = client.state;
      this.#feeds = new TaskFeeds(client, {
        onEvent: () => this.#render(),
        onResync: () => this.#render(),
        onError: (err) => {
          if (client === this.#client) this.#report(err);
        }
      });
      this.#watchRunning();
      client.subscribe(["tasks"], (method, event) => this.#onEvent(this.board.apply(method, event)), {
        onResync: () => void this.#refresh(client)
      }).catch((err) => {
        if (client === this.#client) this.#report(err);
      });
    } catch (err) {
      this.#state = "closed";
      this.#report(err);
    }
    this.#render();
  }
  /** Open the tasks view in the right sidebar, or bring it forward. */
  async showTasks() {
    const { workspace } = this.app;
    let leaf = workspace.getLeavesOfType(TASKS_VIEW)[0] ?? null;
    if (leaf === null) {
      leaf = workspace.getRightLeaf(false);
      if (leaf === null) return;
      await leaf.setViewState({ type: TASKS_VIEW, active: true });
    }
    await workspace.revealLeaf(leaf);
  }
  /** A command available while a canvas is the active file; `run` gets its name (its path without `.canvas`). */
  #onCanvas(checking, run) {
    const file = this.app.workspace.getActiveFile();
    if (file?.extension !== "canvas") return false;
    if (!checking) void run(file.path.slice(0, -".canvas".length));
    return true;
  }
  async #decompose(canvas) {
    const view = this.app.workspace.getActiveViewOfType(import_obsidian2.ItemView);
    const parts = view?.getViewType() === "canvas" ? view : null;
    const selected = [...parts?.canvas?.selection ?? []];
    if (parts?.file?.path !== `${canvas}.canvas` || selected.length !== 1 || selected[0] === void 0) {
      new import_obsidian2.Notice("Select one node on the canvas first.");
      return;
    }
    await this.#start("learn.decompose", { canvas, node_id: selected[0].id });
  }
  /** Ask for a workflow; its task is then followed on the `tasks` topic. */
  async #start(method, params) {
    const client = this.#client;
    if (client === null) {
      new import_obsidian2.Notice("Not connected to canvas-live: check the server URL in the plugin settings.");
      return;
    }
    if (client.state !== "open") new import_obsidian2.Notice("Not connected to canvas-live yet; the request waits for the connection.");
    try {
      const scheduled = await client.call(method, params);
      this.#mine.set(scheduled.task_id, false);
      new import_obsidian2.Notice(scheduled.message);
      const known = this.board.get(scheduled.task_id);
      if (known !== void 0 && isTerminal(known)) this.#settle(known);
    } catch (err) {
      this.#report(err);
    }
  }
  #onState(client, state, detail) {
    if (client !== this.#client) return;
    this.#state = state;
    this.#retryIn = detail.retryIn;
    if (state === "open") void this.#refresh(client);
    this.#render();
  }
  /** Re-read the tasks: on every (re)connect, and when the server could not replay missed events. */
  async #refresh(client) {
    try {
      const page = await client.call("task.list", { limit: 50 });
      this.board.load(page.tasks);
      this.#watchRunning();
      for (const task of page.tasks) if (isTerminal(task) && this.#mine.get(task.id) === false) this.#settle(task);
    } catch (err) {
      if (client === this.#client) this.#report(err);
    }
    this.#render();
  }
  #onEvent(finished) {
    this.#watchRunning();
    if (finished !== void 0) {
      if (this.#mine.has(finished.id)) this.#settle(finished);
      else new import_obsidian2.Notice(outcome(finished));
    }
    this.#render();
  }
  /** Follow the running tasks on their own topics, newest first (task-feeds.js bounds how many). */
  #watchRunning() {
    this.#feeds?.watch(
      this.board.running().filter((task) => task.status === "running").map((task) => task.id)
    );
  }
  /** Show how a task of ours ended, once, and open the review canvas it made. */
  #settle(task) {
    if (this.#mine.get(task.id) !== false) return;
    this.#mine.set(task.id, true);
    new import_obsidian2.Notice(outcome(task));
    const result = task.result;
    if (task.kind === "review.generate" && task.status === "completed" && typeof result?.path === "string") {
      void this.#open(result.path);
    }
  }
  async #open(path) {
    const file = await this.#appearing(path);
    if (file === null) {
      new import_obsidian2.Notice(`The review canvas ${path} has not appeared in the vault.`);
      return;
    }
    await this.app.workspace.getLeaf("tab").openFile(file);
  }
  /** The vault's file at `path`, once its index has it (the server wrote it on disk). */
  #appearing(path) {
    const { vault } = this.app;
    const found = vault.getFileByPath(path);
    if (found !== null) return Promise.resolve(found);
    return new Promise((resolve) => {
      const done = (file) => {
        vault.offref(ref);
        window.clearTimeout(timer);
        resolve(file);
      };
      const ref = vault.on("create", (file) => {
        if (file instanceof import_obsidian2.TFile && file.path === path) done(file);
      });
      const timer = window.setTimeout(() => done(null), APPEAR_WITHIN);
    });
  }
  #report(err) {
    if (err instanceof RpcError) new import_obsidian2.Notice(`canvas-live: ${err.error}: ${err.message}`);
    else new import_obsidian2.Notice(`canvas-live: ${err instanceof Error ? err.message : String(err)}`);
  }
  /** The status bar and the tasks view, from the connection state and the board. */
  #render() {
    const running = this.board.running()[0];
    let text = `canvas-live: ${this.#state}`;
    if (this.#state === "reconnecting" && this.#retryIn !== void 0) {
      text += ` (retry in ${Math.ceil(this.#retryIn / 1e3)} s)`;
    }
    if (running !== void 0) {
      text += ` · ${running.kind} ${progressText(running)}`;
      const calls = this.#feeds?.get(running.id)?.calls;
      if (calls !== void 0 && calls.count > 0) text += ` · ${tokensText(calls.tokens)}`;
    }
    this.#status?.setText(text);
    for (const leaf of this.app.workspace.getLeavesOfType(TASKS_VIEW)) {
      if (leaf.view instanceof TasksView) leaf.view.render();
    }
  }
};
function outcome(task) {
  if (task.status === "failed") {
    const error = task.error === void 0 ? "ERROR" : `${task.error.error}: ${task.error.message}`;
    return `${task.kind} failed: ${error}`;
  }
  if (task.status === "cancelled") return `${task.kind} was cancelled.`;
  const result = task.result ?? {};
  if (task.kind === "review.generate") {
    return `Review canvas ${String(result.review_canvas)} is ready: ${count2(Number(result.question_count), "question")}.`;
  }
  if (task.kind === "learn.decompose") return `${count2(result.questions?.length ?? 0, "guiding question")} added.`;
  if (task.kind === "learn.score") return `${count2(result.scored?.length ?? 0, "explanation")} scored.`;
  return `${task.kind} completed.`;
}
function count2(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
var CanvasLiveSettingTab = class extends import_obsidian2.PluginSettingTab {
  #plugin;
  #changed = false;
  constructor(app, plugin) {
    super(app, plugin);
    this.#plugin = plugin;
  }
  display() {
    const { containerEl } = this;
    const settings = this.#plugin.settings;
    containerEl.empty();
    new import_obsidian2.Setting(containerEl).setName("Server URL").setDesc("The address of the canvas-live server, for example ws://127.0.0.1:8765/ws.").addText(
      (text) => text.setPlaceholder(DEFAULT_SETTINGS.serverUrl).setValue(settings.serverUrl).onChange(async (value) => {
        settings.serverUrl = value.trim() === "" ? DEFAULT_SETTINGS.serverUrl : value.trim();
        this.#changed = true;
        await this.#plugin.saveSettings();
      })
    );
    new import_obsidian2.Setting(containerEl).setName("Token").setDesc("The token the server was started with, if any.").addText((text) => {
      text.inputEl.type = "password";
      text.setValue(settings.token).onChange(async (value) => {
        settings.token = value.trim();
        this.#changed = true;
        await this.#plugin.saveSettings();
      });
    });
  }
  /** Reconnect once, when the settings are closed, rather than on every keystroke. */
  hide() {
    if (this.#changed) {
      this.#changed = false;
      this.#plugin.reconnect();
    }
  }
};
