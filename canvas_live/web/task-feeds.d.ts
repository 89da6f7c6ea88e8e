/**
 * `412 tokens`, `1 token`.
 *
 * @param {number} n
 */
export function tokensText(n: number): string;
/**
 * The agent calls of one task that are answering now.
 *
 * A call is known by its agent and key, the pair its `agent.progress` and its `agent.result`
 * share; calls of one `agent.batch` with the same agent and no key cannot be told apart, and count
 * as one.
 */
export class RunningCalls {
    /**
     * Take in one event of the task's topic. The topic's order puts a call's `agent.progress`
     * before its `agent.result`, and both before the task's end.
     *
     * @param {string} method
     * @param {EventParams} event
     * @returns {boolean} whether the calls answering changed
     */
    apply(method: string, event: EventParams): boolean;
    /** Forget every call: their ends may have been missed. */
    clear(): void;
    /** @returns {RunningCall[]} in the order they began to answer */
    get list(): RunningCall[];
    /** How many calls are answering. */
    get count(): number;
    /** The tokens of every answering call together. */
    get tokens(): number;
    /** `2 calls answering · 412 tokens`, or empty while none is. */
    summary(): string;
    #private;
}
/** One followed task: its calls answering now, and the agent results that arrived. */
export class TaskFeed {
    calls: RunningCalls;
    /** @type {EventParams[]} the `agent.result` events, oldest first */
    results: EventParams[];
    /** @type {Set<string>} */
    reasons: Set<string>;
    /**
     * @param {string} method
     * @param {EventParams} event
     */
    apply(method: string, event: EventParams): void;
    /** Start empty again: what came before could not be replayed. */
    forget(): void;
}
/**
 * The tasks followed on their own topics, each subscribed once however many reasons there are to
 * follow it, and always with replay: a task followed after it started still gets the results and
 * the calls answering so far.
 */
export class TaskFeeds {
    /**
     * @param {Subscriber} client a client.js `Client`
     * @param {FeedHooks} [hooks]
     */
    constructor(client: Subscriber, hooks?: FeedHooks);
    /**
     * The feed of a task that is followed.
     *
     * @param {string} id
     * @returns {TaskFeed | undefined}
     */
    get(id: string): TaskFeed | undefined;
    /**
     * Follow task `id` for `reason`; its events arrive through the hooks.
     *
     * @param {string} id
     * @param {string} reason
     * @returns {TaskFeed}
     */
    follow(id: string, reason: string): TaskFeed;
    /**
     * Stop following task `id` for `reason`; its topic is unsubscribed once no reason is left.
     *
     * @param {string} id
     * @param {string} reason
     */
    release(id: string, reason: string): void;
    /**
     * Follow the first `WATCH_LIMIT` of these running tasks, and no other, for `RUNNING`.
     *
     * @param {readonly string[]} ids newest first
     * @returns {string[]} the tasks no longer followed for it
     */
    watch(ids: readonly string[]): string[];
    #private;
}
/**
 * An event of a task's topic as client.js delivers it: the envelope and the event's own fields.
 */
export type EventParams = {
    topic: string;
    seq: number;
} & Record<string, unknown>;
export type EventHandler = (method: string, event: EventParams) => void;
/**
 * What this module needs of client.js's `Client` (declared here rather than imported, so that
 * client.d.ts and this module's declarations are written by one run of tsc).
 */
export type Subscriber = {
    subscribe: (topics: readonly `task:${string}`[], handler: EventHandler, options: {
        replay: boolean;
        onResync: () => void;
    }) => Promise<unknown>;
    unsubscribe: (topics: readonly `task:${string}`[], handler: EventHandler) => Promise<void>;
};
/**
 * One agent call that is answering.
 */
export type RunningCall = {
    agent: string;
    /**
     * what the call is about: the node (`node_id`) in the learning workflows, the call's own `key` in `agent.batch`
     */
    key: string | null;
    /**
     * the tokens its answer has so far
     */
    tokens: number;
};
/**
 * What hears of a followed task.
 */
export type FeedHooks = {
    /**
     * after the feed took in an event of the task's topic
     */
    onEvent?: (id: string, method: string, event: EventParams) => void;
    /**
     * the server could not replay what was missed (it restarted, or its history no longer reaches back): the feed starts empty again
     */
    onResync?: (id: string) => void;
    /**
     * a subscribe or unsubscribe that failed
     */
    onError?: (error: unknown) => void;
};
