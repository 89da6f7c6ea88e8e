/**
 * Following tasks on their own topics, `task:<id>`: the agent results as they arrive, and the agent
 * calls answering right now with the tokens each has streamed so far.
 *
 * The `tasks` topic says how many steps a task has done; only `task:<id>` carries
 * `agent.progress` (a running call's token count, at most 4 a second a call, from a backend that
 * streams) and `agent.result`. On a slow model a step takes seconds to minutes, so the token
 * counts are what shows that anything moves. The dashboard and the Obsidian plugin both follow
 * tasks through this module; the plugin bundles it in, as it does client.js.
 *
 * @module canvas-live/task-feeds
 */

/**
 * Running tasks followed at once for their token counts, newest first. Each is one subscription
 * and up to 4 events a second per call it runs; the server allows 256 subscriptions a connection.
 */
const WATCH_LIMIT = 8;

/** The reason `watch` follows a task for. */
const RUNNING = 'running';

const ENDED = new Set(['task.completed', 'task.failed', 'task.cancelled']);

/**
 * An event of a task's topic as client.js delivers it: the envelope and the event's own fields.
 *
 * @typedef {{topic: string, seq: number} & Record<string, unknown>} EventParams
 */

/**
 * @callback EventHandler
 * @param {string} method
 * @param {EventParams} event
 * @returns {void}
 */

/**
 * What this module needs of client.js's `Client` (declared here rather than imported, so that
 * client.d.ts and this module's declarations are written by one run of tsc).
 *
 * @typedef {object} Subscriber
 * @property {(topics: readonly `task:${string}`[], handler: EventHandler, options: {replay: boolean, onResync: () => void}) => Promise<unknown>} subscribe
 * @property {(topics: readonly `task:${string}`[], handler: EventHandler) => Promise<void>} unsubscribe
 */

/**
 * One agent call that is answering.
 *
 * @typedef {object} RunningCall
 * @property {string} agent
 * @property {string | null} key what the call is about: the node (`node_id`) in the learning workflows, the call's own `key` in `agent.batch`
 * @property {number} tokens the tokens its answer has so far
 */

/**
 * What hears of a followed task.
 *
 * @typedef {object} FeedHooks
 * @property {(id: string, method: string, event: EventParams) => void} [onEvent] after the feed took in an event of the task's topic
 * @property {(id: string) => void} [onResync] the server could not replay what was missed (it restarted, or its history no longer reaches back): the feed starts empty again
 * @property {(error: unknown) => void} [onError] a subscribe or unsubscribe that failed
 */

/**
 * @param {number} n
 * @param {string} noun
 */
function count(n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * `412 tokens`, `1 token`.
 *
 * @param {number} n
 */
export function tokensText(n) {
  return count(n, 'token');
}

/**
 * What tells a call apart from the task's other calls.
 *
 * @param {EventParams} event its `agent.progress` or `agent.result`
 * @param {unknown} key
 */
function callId(event, key) {
  return JSON.stringify([event['agent'], typeof key === 'string' ? key : null]);
}

/**
 * The agent calls of one task that are answering now.
 *
 * A call is known by its agent and key, the pair its `agent.progress` and its `agent.result`
 * share; calls of one `agent.batch` with the same agent and no key cannot be told apart, and count
 * as one.
 */
export class RunningCalls {
  /** @type {Map<string, RunningCall>} */
  #calls = new Map();

  /**
   * Take in one event of the task's topic. The topic's order puts a call's `agent.progress`
   * before its `agent.result`, and both before the task's end.
   *
   * @param {string} method
   * @param {EventParams} event
   * @returns {boolean} whether the calls answering changed
   */
  apply(method, event) {
    if (method === 'agent.progress') {
      const key = event['key'] ?? event['node_id'];
      const call = { agent: String(event['agent']), key: typeof key === 'string' ? key : null, tokens: Number(event['tokens']) };
      this.#calls.set(callId(event, key), call);
      return true;
    }
    if (method === 'agent.result') return this.#calls.delete(callId(event, event['key']));
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
    return this.count === 0 ? '' : `${count(this.count, 'call')} answering · ${tokensText(this.tokens)}`;
  }
}

/** One followed task: its calls answering now, and the agent results that arrived. */
export class TaskFeed {
  calls = new RunningCalls();
  /** @type {EventParams[]} the `agent.result` events, oldest first */
  results = [];
  /** @type {Set<string>} */
  reasons = new Set();

  /**
   * @param {string} method
   * @param {EventParams} event
   */
  apply(method, event) {
    this.calls.apply(method, event);
    if (method === 'agent.result') this.results.push(event);
  }

  /** Start empty again: what came before could not be replayed. */
  forget() {
    this.calls.clear();
    this.results = [];
  }
}

/**
 * The tasks followed on their own topics, each subscribed once however many reasons there are to
 * follow it, and always with replay: a task followed after it started still gets the results and
 * the calls answering so far.
 */
export class TaskFeeds {
  /** @type {Subscriber} */ #client;
  /** @type {FeedHooks} */ #hooks;
  /** @type {Map<string, {feed: TaskFeed, handler: EventHandler}>} */ #followed = new Map();

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
    if (entry === undefined) {
      const feed = new TaskFeed();
      /** @type {EventHandler} */
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
    if (entry === undefined || !entry.feed.reasons.delete(reason) || entry.feed.reasons.size > 0) return;
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
}
