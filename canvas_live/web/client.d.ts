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
export function connect(url: string, options?: ClientOptions): Client;
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
export const ConnectionState: Readonly<{
    /** The first attempt is under way. */
    CONNECTING: "connecting";
    /** `server.hello` arrived and every subscription is live again. */
    OPEN: "open";
    /** The connection was lost; the next attempt is scheduled or under way. */
    RECONNECTING: "reconnecting";
    /** `close()` was called; nothing reconnects. */
    CLOSED: "closed";
}>;
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
    constructor(message: string, { code, error, data }: {
        code?: number | null;
        error: ErrorName;
        data?: Record<string, unknown>;
    });
    /** @type {number | null} the JSON-RPC error code; null for a local failure */
    code: number | null;
    /** @type {ErrorName} the stable UPPER_SNAKE name, e.g. `NOT_FOUND`, `TIMEOUT`, `DISCONNECTED` */
    error: ErrorName;
    /** @type {Record<string, unknown>} details (`field`, `kind`, `version`, `retry_after`, …) */
    data: Record<string, unknown>;
}
/** One connection to a canvas-live server, kept alive across network failures and restarts. */
export class Client {
    /**
     * @param {string} url the server's WebSocket endpoint
     * @param {ClientOptions} [options]
     */
    constructor(url: string, options?: ClientOptions);
    /**
     * The current connection state (a `ConnectionState` value).
     *
     * @returns {ConnectionStateName}
     */
    get state(): ConnectionStateName;
    /**
     * The server's epoch from its last `server.hello`: it changes when the server restarts.
     *
     * @returns {string | null} null until the first `server.hello`
     */
    get epoch(): string | null;
    /**
     * Listen to connection state changes.
     *
     * @param {StateListener} listener
     * @returns {() => void} removes the listener
     */
    onStateChange(listener: StateListener): () => void;
    /**
     * Resolve once the connection is open with every subscription live; reject if it is closed.
     *
     * @returns {Promise<void>}
     */
    whenOpen(): Promise<void>;
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
    call<T = unknown>(method: string, params?: Params, { timeout }?: CallOptions): Promise<T>;
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
    notify(method: string, params?: Params): boolean;
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
    subscribe<P extends EventEnvelope = EventParams>(topics: readonly Topic[], handler: EventHandler<P>, { onResync, replay }?: SubscribeOptions): Promise<Subscription>;
    /**
     * Stop `handler` receiving `topics` (every handler when none is given); the server is told once
     * no handler is left on a topic.
     *
     * @template {EventEnvelope} P
     * @param {readonly Topic[]} topics
     * @param {EventHandler<P>} [handler] as given to `subscribe`
     * @returns {Promise<void>}
     */
    unsubscribe<P extends EventEnvelope>(topics: readonly Topic[], handler?: EventHandler<P>): Promise<void>;
    /**
     * Close for good: no reconnect; calls not yet answered fail with `CLOSED`.
     *
     * @param {number} [code=1000]
     * @param {string} [reason]
     */
    close(code?: number, reason?: string): void;
    #private;
}
/**
 * A topic of the contract: `tasks`, `canvases`, `agents`, `task:<id>` or `canvas:<name>`.
 */
export type Topic = "tasks" | "canvases" | "agents" | `task:${string}` | `canvas:${string}`;
/**
 * A call's or notification's params: an object (by name) or an array (by position).
 */
export type Params = object;
export type StateListener = (state: ConnectionStateName, detail: StateDetail) => void;
/**
 * Options of a client; one left out or `undefined` takes its default.
 */
export type ClientOptions = {
    /**
     * sent as `?token=` (browsers cannot set headers on a WebSocket)
     */
    token?: string | undefined;
    /**
     * default time limit of a call in ms; 0 waits for ever
     */
    timeout?: number | undefined;
    /**
     * first reconnect delay in ms
     */
    minDelay?: number | undefined;
    /**
     * longest reconnect delay in ms
     */
    maxDelay?: number | undefined;
    /**
     * connection state listener
     */
    onState?: StateListener | undefined;
    /**
     * the implementation to use where there is no global one
     */
    WebSocket?: typeof WebSocket | undefined;
};
export type CallOptions = {
    /**
     * this call's time limit in ms (0: none); the client's `timeout` by default
     */
    timeout?: number | undefined;
};
export type StateDetail = {
    /**
     * reconnect attempts since the connection was last open
     */
    attempt: number;
    /**
     * ms until the next attempt (when reconnecting)
     */
    retryIn?: number;
    /**
     * close code of the connection that was lost
     */
    code?: number;
    /**
     * close reason of the connection that was lost
     */
    reason?: string;
    /**
     * the server's epoch, once known
     */
    epoch: string | null;
};
/**
 * What every event carries: its topic and its place in the topic's order.
 */
export type EventEnvelope = {
    /**
     * e.g. `task:3f2a…`
     */
    topic: string;
    /**
     * a per-topic counter, starting at 1 for each epoch
     */
    seq: number;
};
/**
 * An event's params as they arrive: the envelope and the event's own fields.
 */
export type EventParams = EventEnvelope & Record<string, unknown>;
/**
 * Receives the events of a subscription. `P` may name the shape of the topic's events.
 */
export type EventHandler<P extends EventEnvelope = EventParams> = (method: string, params: P) => void;
export type SubscribeOptions = {
    /**
     * events of `topic` may have been missed: re-read state
     */
    onResync?: ((topic: string) => void) | undefined;
    /**
     * also deliver the events the server still holds from before
     * this subscription (for a topic this client does not already follow); if the server's history
     * does not reach back to the topic's first event, `onResync` is called instead
     */
    replay?: boolean | undefined;
};
export type Subscription = {
    topics: Topic[];
    /**
     * stop this handler receiving these topics
     */
    unsubscribe: () => Promise<void>;
};
/**
 * Where the connection stands: `connecting`, `open`, `reconnecting` or `closed`.
 */
export type ConnectionStateName = "connecting" | "open" | "reconnecting" | "closed";
/**
 * The stable name the server gives each error (`data.error` on the wire; the contract's error table).
 */
export type ServerErrorName = "PARSE_ERROR" | "INVALID_REQUEST" | "METHOD_NOT_FOUND" | "INVALID_PARAMS" | "INTERNAL_ERROR" | "NOT_FOUND" | "CONFLICT" | "INVALID_CANVAS" | "FORBIDDEN_PATH" | "AGENT_FAILED" | "CIRCUIT_OPEN" | "OVERLOADED" | "TIMEOUT" | "CANCELLED" | "UNAVAILABLE" | "STORAGE" | "BUSY";
/**
 * The `error` of an `RpcError`: a server's name, or a local failure of the call (`TIMEOUT` is
 * both: the server's for its own limits, the client's for `call`'s), or `ERROR` for an answer that
 * carried no name.
 */
export type ErrorName = ServerErrorName | "DISCONNECTED" | "CLOSED" | "ERROR";
