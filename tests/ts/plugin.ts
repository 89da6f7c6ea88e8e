// The client as an Obsidian plugin uses it, installed as the `canvas-live-client` package.
// tests/test_js_client.py compiles this with `tsc --strict --noEmit` under a plugin's settings;
// each `@ts-expect-error` line must be an error, so the types cannot quietly turn into `any`.

import {
  Client,
  ConnectionState,
  RpcError,
  connect,
  type ConnectionStateName,
  type ErrorName,
  type EventEnvelope,
  type EventParams,
  type StateDetail,
  type Subscription,
  type Topic,
} from 'canvas-live-client';

/** `true` only when A and B are the same type. */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

interface TaskInfo {
  id: string;
  kind: string;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  progress: { done: number; total: number; message?: string };
}

interface Scheduled {
  task_id: string;
  status: 'scheduled';
}

interface TaskEvent extends EventEnvelope {
  task_id: string;
  status?: TaskInfo['status'];
  done?: number;
  total?: number;
}

interface ReviewParams {
  canvas: string;
  node_ids?: string[];
}

interface Settings {
  url: string;
  token?: string;
  timeout?: number;
}

export class CanvasLivePlugin {
  client: Client | null = null;
  status = '';
  private subscriptions: Subscription[] = [];

  constructor(private settings: Settings) {}

  async onload(): Promise<void> {
    const { url, token, timeout } = this.settings;
    // Settings left out are passed as undefined: the options take that as "the default".
    const client = connect(url, { token, timeout, onState: (state, detail) => this.showState(state, detail) });
    this.client = client;
    const sameState: Equals<typeof client.state, ConnectionStateName> = true;
    const sameEpoch: Equals<typeof client.epoch, string | null> = true;
    void [sameState, sameEpoch];
    if (client.state === 'open' || client.state === ConnectionState.CONNECTING) this.status = client.state;
    // @ts-expect-error not a connection state
    if (client.state === 'opne') this.status = '';

    const stop: () => void = client.onStateChange((state: ConnectionStateName) => {
      if (state === 'closed') this.status = 'off';
    });
    await client.whenOpen();
    stop();

    const tasks = await client.subscribe<TaskEvent>(
      ['tasks'],
      (method, event) => {
        const id: string = event.task_id;
        if (method === 'task.progress' && event.done !== undefined) this.status = `${id} ${event.done}/${event.total ?? '?'}`;
      },
      { onResync: (topic: string) => void this.reload(topic) },
    );
    const canvas = await client.subscribe([`canvas:${'Photosynthesis'}`, 'agents'], (method: string, event: EventParams) => {
      const seq: number = event.seq;
      // @ts-expect-error an event's own fields are unknown until narrowed
      const version: string = event['version'];
      if (typeof event['version'] === 'string') this.status = `${method} ${seq} ${event['version']}`;
      void version;
    });
    this.subscriptions.push(tasks, canvas);
    const topics: Topic[] = tasks.topics;
    void topics;
    // @ts-expect-error not a topic of the contract
    await client.subscribe(['task'], () => {});
  }

  async generateReview(canvas: string): Promise<string | null> {
    const client = this.client;
    if (client === null) return null;
    const params: ReviewParams = { canvas };
    try {
      const scheduled = await client.call<Scheduled>('review.generate', params, { timeout: 5_000 });
      const info = await client.call<TaskInfo>('task.wait', { id: scheduled.task_id, timeout: 60 }, { timeout: 0 });
      return `${info.status}: ${info.progress.done}/${info.progress.total}`;
    } catch (error) {
      if (error instanceof RpcError && error.error === 'NOT_FOUND') return `no canvas ${String(error.data['kind'])}`;
      if (error instanceof RpcError && (error.error === 'DISCONNECTED' || error.error === 'TIMEOUT')) {
        const code: number | null = error.code;
        return `try again (${code ?? 'local'})`;
      }
      throw error;
    }
  }

  async ping(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const answer = await client.call('ping');
    // @ts-expect-error a result is unknown unless the caller names its type
    const text: string = answer;
    void text;
    const pong: string = await client.call<string>('ping');
    const sent: boolean = client.notify('ping', []);
    void [pong, sent];
  }

  async onunload(): Promise<void> {
    for (const subscription of this.subscriptions.splice(0)) await subscription.unsubscribe();
    this.client?.close();
  }

  private showState(state: ConnectionStateName, detail: StateDetail): void {
    const epoch: string | null = detail.epoch;
    this.status = state === 'reconnecting' ? `retrying in ${detail.retryIn ?? 0} ms (${epoch ?? 'new'})` : state;
  }

  private async reload(topic: string): Promise<void> {
    const name: ErrorName = 'NOT_FOUND';
    this.status = `${topic} ${name}`;
  }
}

// The class works without `connect`, and the error type can be made by a plugin's own fakes.
export const direct = new Client('ws://127.0.0.1:8765/ws', { minDelay: 100, WebSocket });
export const failure = new RpcError('gone', { code: -32001, error: 'NOT_FOUND', data: { kind: 'canvas' } });
// @ts-expect-error not an error name
export const typo = new RpcError('gone', { error: 'NOT_FUOND' });
