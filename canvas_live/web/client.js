/**
 * The canvas-live client: JSON-RPC 2.0 over one WebSocket, with live events, reconnection and resume.
 *
 * It has no dependencies and needs only a `WebSocket` implementation, so the same file serves the
 * bundled dashboard, any browser page and an Obsidian plugin (Obsidian's `app://obsidian.md` origin
 * is allowed by the server).
 *
 * What it guarantees to the code using it:
 * - `call()` settles exactly once: with the result, with the server's error (an `RpcError` carrying
 *   the JSON-RPC `code`, the stable `error` name and `data`), or with a local `TIMEOUT`,
 *   `DISCONNECTED` or `CLOSED` error (`code` null).
 * - Calls made while the connection is down wait for it (their timeout keeps running). A call that
 *   was already sent when the connection dropped fails with `DISCONNECTED`: the server may or may
 *   not have run it, and only the caller knows whether it is safe to repeat.
 * - Events of a topic reach each handler in `seq` order and at most once. After a reconnect every
 *   topic is subscribed again with the last `seq` seen and the `epoch` of `server.hello`, so the
 *   server replays what was missed. When it cannot (it restarted, or its history no longer reaches
 *   back), the subscription's `onResync(topic)` is called: re-read the state (`task.get`,
 *   `canvas.read`) instead.
 *
 * @module canvas-live/client
 */

/**
 * Where the connection stands: `connecting`, `open`, `reconnecting` or `closed`.
 *
 * @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} ConnectionStateName
 */

/** The connection states by name; every change is reported to the state listeners. */
export const ConnectionState = Object.freeze({
  /** The first attempt is under way. */
  CONNECTING: 'connecting',
  /** `server.hello` arrived and every subscription is live again. */
  OPEN: 'open',
  /** The connection was lost; the next attempt is scheduled or under way. */
  RECONNECTING: 'reconnecting',
  /** `close()` was called; nothing reconnects. */
  CLOSED: 'closed',
});

/**
 * The stable name the server gives each error (`data.error` on the wire; the contract's error table).
 *
 * @typedef {'PARSE_ERROR' | 'INVALID_REQUEST' | 'METHOD_NOT_FOUND' | 'INVALID_PARAMS' | 'INTERNAL_ERROR'
 *   | 'NOT_FOUND' | 'CONFLICT' | 'INVALID_CANVAS' | 'FORBIDDEN_PATH' | 'AGENT_FAILED' | 'CIRCUIT_OPEN'
 *   | 'OVERLOADED' | 'TIMEOUT' | 'CANCELLED' | 'UNAVAILABLE' | 'STORAGE' | 'BUSY'} ServerErrorName
 */

/**
 * The `error` of an `RpcError`: a server's name, or a local failure of the call (`TIMEOUT` is
 * both: the server's for its own limits, the client's for `call`'s), or `ERROR` for an answer that
 * carried no name.
 *
 * @typedef {ServerErrorName | 'DISCONNECTED' | 'CLOSED' | 'ERROR'} ErrorName
 */

/**
 * An error answered by the server, or a local failure of a call (then `code` is null).
 *
 * The server sends its stable name in `error.data.error`; it is lifted to `error` so callers can
 * branch on `err.error === 'NOT_FOUND'` rather than on numbers.
 */
export class RpcError extends Error {
  /**
   * @param {string} message what went wrong, for people
   * @param {{code?: number | null, error: ErrorName, data?: Record<string, unknown>}} detail
   */
  constructor(message, { code = null, error, data = {} }) {
    super(message);
    this.name = 'RpcError';
    /** @type {number | null} the JSON-RPC error code; null for a local failure */
    this.code = code;
    /** @type {ErrorName} the stable UPPER_SNAKE name, e.g. `NOT_FOUND`, `TIMEOUT`, `DISCONNECTED` */
    this.error = error;
    /** @type {Record<string, unknown>} details (`field`, `kind`, `version`, `retry_after`, …) */
    this.data = data;
  }
}

/**
 * A topic of the contract: `tasks`, `canvases`, `agents`, `task:<id>` or `canvas:<name>`.
 *
 * @typedef {'tasks' | 'canvases' | 'agents' | `task:${string}` | `canvas:${string}`} Topic
 */

/**
 * A call's or notification's params: an object (by name) or an array (by position).
 *
 * @typedef {object} Params
 */

/**
 * @callback StateListener
 * @param {ConnectionStateName} state the new state
 * @param {StateDetail} detail
 * @returns {void}
 */

/**
 * Options of a client; one left out or `undefined` takes its default.
 *
 * @typedef {object} ClientOptions
 * @property {string | undefined} [token] sent as `?token=` (browsers cannot set headers on a WebSocket)
 * @property {number | undefined} [timeout=30000] default time limit of a call in ms; 0 waits for ever
 * @property {number | undefined} [minDelay=250] first reconnect delay in ms
 * @property {number | undefined} [maxDelay=15000] longest reconnect delay in ms
 * @property {StateListener | undefined} [onState] connection state listener
 * @property {typeof WebSocket | undefined} [WebSocket] the implementation to use where there is no global one
 */

/**
 * @typedef {object} CallOptions
 * @property {number | undefined} [timeout] this call's time limit in ms (0: none); the client's `timeout` by default
 */

/**
 * @typedef {object} StateDetail
 * @property {number} attempt reconnect attempts since the connection was last open
 * @property {number} [retryIn] ms until the next attempt (when reconnecting)
 * @property {number} [code] close code of the connection that was lost
 * @property {string} [reason] close reason of the connection that was lost
 * @property {string | null} epoch the server's epoch, once known
 */

/**
 * What every event carries: its topic and its place in the topic's order.
 *
 * @typedef {object} EventEnvelope
 * @property {string} topic e.g. `task:3f2a…`
 * @property {number} seq a per-topic counter, starting at 1 for each epoch
 */

/**
 * An event's params as they arrive: the envelope and the event's own fields.
 *
 * @typedef {EventEnvelope & Record<string, unknown>} EventParams
 */

/**
 * Receives the events of a subscription. `P` may name the shape of the topic's events.
 *
 * @template {EventEnvelope} [P=EventParams]
 * @callback EventHandler
 * @param {string} method the event type, e.g. `task.progress`
 * @param {P} params the event's fields, with `topic` and `seq`
 * @returns {void}
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {((topic: string) => void) | undefined} [onResync] events of `topic` may have been missed: re-read state
 * @property {boolean | undefined} [replay=false] also deliver the events the server still holds from before
 *   this subscription (for a topic this client does not already follow); if the server's history
 *   does not reach back to the topic's first event, `onResync` is called instead
 */

/**
 * @typedef {object} Subscription
 * @property {Topic[]} topics
 * @property {() => Promise<void>} unsubscribe stop this handler receiving these topics
 */

/**
 * Open a client to `url` (`ws://host:port/ws`); it connects at once and keeps reconnecting.
 *
 * @param {string} url the server's WebSocket endpoint
 * @param {ClientOptions} [options]
 * @returns {Client}
 */
export function connect(url, options = {}) {
  return new Client(url, options);
}

/** One connection to a canvas-live server, kept alive across network failures and restarts. */
export class Client {
  /** @type {string} */ #url;
  /** @type {{timeout: number, minDelay: number, maxDelay: number, WebSocket: typeof WebSocket}} */ #options;
  /** @type {WebSocket | null} */ #socket = null;
  /** True once the current socket has said hello: frames may be sent. */
  #live = false;
  /** @type {ConnectionStateName} */ #state = ConnectionState.CONNECTING;
  /** @type {string | null} */ #epoch = null;
  #attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */ #retryTimer = null;
  #nextId = 1;
  /**
   * Calls by id, in the order they were made: an unsent one keeps its frame until the socket is
   * live, so the map doubles as the outgoing queue and order is kept across a reconnect.
   * @type {Map<number, {method: string, frame: string | null, resolve: (value: unknown) => void, reject: (error: RpcError) => void, timer: ReturnType<typeof setTimeout> | null}>}
   */
  #pending = new Map();
  /**
   * Followed topics. `lastSeq` is the last event seen (null: nothing to resume from, as for a new
   * subscription or after the server lost our place); `acked` once the server confirmed it.
   * @type {Map<string, {handlers: Set<{handler: EventHandler, onResync?: ((topic: string) => void) | undefined}>, lastSeq: number | null, acked: boolean}>}
   */
  #topics = new Map();
  /** @type {Set<StateListener>} */ #stateListeners = new Set();
  /** @type {Array<{resolve: () => void, reject: (error: RpcError) => void}>} */ #openWaiters = [];

  /**
   * @param {string} url the server's WebSocket endpoint
   * @param {ClientOptions} [options]
   */
  constructor(url, options = {}) {
    const { token, onState } = options;
    const target = new URL(url);
    if (token) target.searchParams.set('token', token);
    this.#url = target.href;
    // `??` rather than a spread: an option given as undefined (`{ timeout: settings.timeout }`)
    // takes its default instead of turning the time limit or the back-off off.
    this.#options = {
      timeout: options.timeout ?? 30_000,
      minDelay: options.minDelay ?? 250,
      maxDelay: options.maxDelay ?? 15_000,
      WebSocket: options.WebSocket ?? globalThis.WebSocket,
    };
    if (typeof this.#options.WebSocket !== 'function') {
      throw new TypeError('canvas-live client: no WebSocket implementation here; pass one as options.WebSocket');
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
    const frame = JSON.stringify(params === undefined ? { jsonrpc: '2.0', method, id } : { jsonrpc: '2.0', method, params, id });
    return new Promise((resolve, reject) => {
      const pending = {
        method,
        frame,
        resolve: /** @type {(value: unknown) => void} */ (resolve),
        reject,
        timer: /** @type {ReturnType<typeof setTimeout> | null} */ (null),
      };
      if (timeout > 0 && Number.isFinite(timeout)) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(new RpcError(`${method} did not answer within ${timeout} ms`, { error: 'TIMEOUT', data: { timeout } }));
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
    this.#socket.send(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }));
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
    const entry = { handler: /** @type {EventHandler} */ (/** @type {unknown} */ (handler)), onResync };
    const fresh = [];
    for (const topic of topics) {
      let followed = this.#topics.get(topic);
      if (!followed) {
        followed = { handlers: new Set(), lastSeq: replay ? 0 : null, acked: false };
        this.#topics.set(topic, followed);
        fresh.push(topic);
      }
      followed.handlers.add(entry);
    }
    const subscription = { topics: [...topics], unsubscribe: () => this.#release(topics, entry) };
    if (fresh.length === 0) return subscription;
    if (!this.#live) {
      // The subscription goes out with the others as soon as the server says hello.
      await this.whenOpen();
      return subscription;
    }
    try {
      // A topic followed with `replay` whose history no longer reaches back must be re-read.
      for (const topic of await this.#subscribeTopics(fresh)) this.#resync(topic);
    } catch (error) {
      if (error instanceof RpcError && error.error === 'DISCONNECTED') {
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
        if (handler === undefined || entry.handler === /** @type {unknown} */ (handler)) followed.handlers.delete(entry);
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
  close(code = 1000, reason = '') {
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
      if (this.#socket === socket && typeof event.data === 'string') this.#onFrame(event.data);
    };
    socket.onclose = (event) => {
      if (this.#socket === socket) this.#onClose(event.code, event.reason);
    };
    // A connection that fails (refused, or its handshake answered 403) is reported by `error`.
    // Browsers follow it with `close` (then ignored: this socket is no longer the current one),
    // but Node's built-in WebSocket may not, and the client would wait for ever.
    socket.onerror = () => {
      if (this.#socket === socket) this.#onClose(1006, '');
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
      (method) => new RpcError(`the connection was lost before ${method} was answered`, { error: 'DISCONNECTED', data: { code } }),
      false,
    );
    // Full back-off doubles per attempt; half of it is random so that many clients cut off by
    // one server restart do not all come back in the same instant.
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
    if (message.id !== undefined && message.id !== null) {
      this.#onResponse(message);
    } else if (message.method === 'server.hello') {
      this.#onHello(message.params);
    } else if (message.params && typeof message.params.topic === 'string') {
      this.#onEvent(message.method, message.params);
    }
  }

  /** @param {{id: number, result?: any, error?: {code: number, message: string, data?: Record<string, any>}}} message */
  #onResponse(message) {
    const pending = this.#pending.get(message.id);
    if (!pending) return; // timed out already
    this.#pending.delete(message.id);
    if (pending.timer !== null) clearTimeout(pending.timer);
    if (message.error) {
      const { code, message: text, data = {} } = message.error;
      const { error = 'ERROR', ...details } = data;
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
      if (restarted) followed.lastSeq = null; // seqs restart with the epoch
      if (followed.lastSeq === null) resync.push(topic);
    }
    const topics = [...this.#topics.keys()];
    const subscribing = topics.length > 0 ? this.#subscribeTopics(topics) : Promise.resolve([]);
    for (const pending of this.#pending.values()) this.#sendPending(pending);
    let lost;
    try {
      lost = await subscribing;
    } catch {
      // Without every subscription live the client is not open: start over with back-off. A lost
      // socket is already being replaced.
      if (this.#socket === socket && socket) socket.close(4000, 'resubscribe failed');
      return;
    }
    if (this.#socket !== socket) return;
    // Only now does the back-off start over: a server that says hello but refuses the
    // resubscription is retried ever more slowly, not every `minDelay`.
    this.#attempt = 0;
    this.#setState(ConnectionState.OPEN, {});
    for (const waiter of this.#openWaiters.splice(0)) waiter.resolve();
    for (const topic of new Set([...resync, ...lost])) this.#resync(topic);
  }

  /**
   * Subscribe `topics` on the server, resuming each from its last seen seq.
   *
   * @param {string[]} topics
   * @returns {Promise<string[]>} the topics whose missed events could not be replayed
   */
  async #subscribeTopics(topics) {
    /** @type {Record<string, number>} */
    const since = {};
    for (const topic of topics) {
      const lastSeq = this.#topics.get(topic)?.lastSeq;
      if (lastSeq !== null && lastSeq !== undefined) since[topic] = lastSeq;
    }
    const params = Object.keys(since).length > 0 ? { topics, since, epoch: this.#epoch } : { topics };
    /** @type {{recovered: Record<string, boolean>}} */
    const result = await this.call('subscribe', params);
    const lost = [];
    for (const topic of topics) {
      const followed = this.#topics.get(topic);
      if (!followed) continue; // unsubscribed meanwhile
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
    if (!followed) return; // an event in flight when we unsubscribed
    if (followed.lastSeq !== null && params.seq <= followed.lastSeq) return; // replayed twice
    followed.lastSeq = params.seq;
    for (const { handler } of [...followed.handlers]) {
      try {
        handler(method, params);
      } catch (error) {
        // One broken handler must not starve the others or the connection: report it as uncaught.
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
      await this.call('unsubscribe', { topics });
    } catch (error) {
      if (!(error instanceof RpcError && (error.error === 'DISCONNECTED' || error.error === 'CLOSED'))) throw error;
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
}

function closedError() {
  return new RpcError('the client was closed', { error: 'CLOSED' });
}
