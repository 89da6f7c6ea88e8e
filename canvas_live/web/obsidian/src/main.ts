/**
 * The canvas-live plugin for Obsidian: the learning workflows as commands on the active canvas,
 * the tasks they start followed live in the status bar, in notices and in a tasks view.
 *
 * Everything goes through `web/client.js` (bundled in by esbuild, never copied): it reconnects
 * with backoff and resumes the `tasks` subscription, and when the server cannot replay what was
 * missed the plugin re-reads `task.list`. The running tasks are also followed on their own
 * topics through `web/task-feeds.js` (bundled in the same way), for the tokens their agent calls
 * have answered so far: on a slow model that is what moves.
 */

import { ItemView, Notice, Plugin, PluginSettingTab, Setting, TFile, type App } from 'obsidian';

import { RpcError, connect, type Client, type ConnectionStateName, type StateDetail } from '../../client.js';
import { TaskFeeds, tokensText } from '../../task-feeds.js';
import { TaskBoard, isTerminal, progressText, type Scheduled, type TaskInfo } from './tasks';
import { TASKS_VIEW, TasksView } from './view';

export interface CanvasLiveSettings {
  /** The server's WebSocket endpoint. */
  serverUrl: string;
  /** The server's `--token`, sent as `?token=`; empty when it runs without one. */
  token: string;
}

export const DEFAULT_SETTINGS: CanvasLiveSettings = { serverUrl: 'ws://127.0.0.1:8765/ws', token: '' };

/** How long a finished review canvas may take to show up in the vault's index, in ms. */
const APPEAR_WITHIN = 10_000;

/**
 * What Obsidian's canvas view holds beyond `ItemView`; the published API types do not declare it.
 * `selection` is the set of selected nodes, each with the node's `id` in the .canvas file.
 */
interface CanvasViewParts {
  file: TFile | null;
  canvas?: { selection?: ReadonlySet<{ id: string }> };
}

/** The parts of a finished task's result the notices and the review step read. */
interface WorkflowResult {
  review_canvas?: string;
  path?: string;
  question_count?: number;
  questions?: unknown[];
  scored?: unknown[];
}

export default class CanvasLivePlugin extends Plugin {
  settings: CanvasLiveSettings = { ...DEFAULT_SETTINGS };
  readonly board = new TaskBoard();
  #client: Client | null = null;
  /** The running tasks followed on their own topics, through the current client. */
  #feeds: TaskFeeds | null = null;
  #status: HTMLElement | null = null;
  #state: ConnectionStateName = 'connecting';
  #retryIn: number | undefined;
  /** Tasks started from this vault, and whether their outcome was already shown. */
  readonly #mine = new Map<string, boolean>();

  async onload(): Promise<void> {
    const saved = (await this.loadData()) as Partial<CanvasLiveSettings> | null;
    this.settings = { ...DEFAULT_SETTINGS, ...saved };
    this.#status = this.addStatusBarItem();
    this.#status.addClass('canvas-live-status');
    this.registerView(TASKS_VIEW, (leaf) => new TasksView(leaf, this.board, (id) => this.#feeds?.get(id)?.calls));
    this.addSettingTab(new CanvasLiveSettingTab(this.app, this));
    this.addCommand({
      id: 'generate-review-canvas',
      name: 'Generate review canvas',
      checkCallback: (checking) => this.#onCanvas(checking, (canvas) => this.#start('review.generate', { canvas })),
    });
    this.addCommand({
      id: 'decompose-selected-node',
      name: 'Decompose selected node',
      checkCallback: (checking) => this.#onCanvas(checking, (canvas) => this.#decompose(canvas)),
    });
    this.addCommand({
      id: 'score-canvas',
      name: 'Score explanations',
      checkCallback: (checking) => this.#onCanvas(checking, (canvas) => this.#start('learn.score', { canvas })),
    });
    this.addCommand({ id: 'show-tasks', name: 'Show tasks', callback: () => void this.showTasks() });
    this.reconnect();
  }

  onunload(): void {
    this.#client?.close();
    this.#client = null;
  }

  async saveSettings(): Promise<void> {
    await this.saveData(this.settings);
  }

  /** Drop the connection, if any, and open one with the current settings. */
  reconnect(): void {
    const previous = this.#client;
    this.#client = null; // its last state change, `closed`, is not this connection's
    this.#feeds = null;
    previous?.close();
    this.#retryIn = undefined;
    try {
      const client = connect(this.settings.serverUrl, {
        token: this.settings.token === '' ? undefined : this.settings.token,
        onState: (state, detail) => this.#onState(client, state, detail),
      });
      this.#client = client;
      this.#state = client.state;
      this.#feeds = new TaskFeeds(client, {
        onEvent: () => this.#render(),
        onResync: () => this.#render(),
        onError: (err) => {
          if (client === this.#client) this.#report(err);
        },
      });
      this.#watchRunning();
      client
        .subscribe(['tasks'], (method, event) => this.#onEvent(this.board.apply(method, event)), {
          onResync: () => void this.#refresh(client),
        })
        .catch((err: unknown) => {
          // A connection the settings replaced before it opened fails with CLOSED: no news.
          if (client === this.#client) this.#report(err);
        });
    } catch (err) {
      this.#state = 'closed';
      this.#report(err);
    }
    this.#render();
  }

  /** Open the tasks view in the right sidebar, or bring it forward. */
  async showTasks(): Promise<void> {
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
  #onCanvas(checking: boolean, run: (canvas: string) => Promise<void>): boolean {
    const file = this.app.workspace.getActiveFile();
    if (file?.extension !== 'canvas') return false;
    if (!checking) void run(file.path.slice(0, -'.canvas'.length));
    return true;
  }

  async #decompose(canvas: string): Promise<void> {
    const view = this.app.workspace.getActiveViewOfType(ItemView);
    const parts = view?.getViewType() === 'canvas' ? (view as unknown as CanvasViewParts) : null;
    const selected = [...(parts?.canvas?.selection ?? [])];
    if (parts?.file?.path !== `${canvas}.canvas` || selected.length !== 1 || selected[0] === undefined) {
      new Notice('Select one node on the canvas first.');
      return;
    }
    await this.#start('learn.decompose', { canvas, node_id: selected[0].id });
  }

  /** Ask for a workflow; its task is then followed on the `tasks` topic. */
  async #start(method: string, params: Record<string, string>): Promise<void> {
    const client = this.#client;
    if (client === null) {
      new Notice('Not connected to canvas-live: check the server URL in the plugin settings.');
      return;
    }
    if (client.state !== 'open') new Notice('Not connected to canvas-live yet; the request waits for the connection.');
    try {
      const scheduled = await client.call<Scheduled>(method, params);
      this.#mine.set(scheduled.task_id, false);
      new Notice(scheduled.message);
      const known = this.board.get(scheduled.task_id);
      if (known !== undefined && isTerminal(known)) this.#settle(known); // its events came first
    } catch (err) {
      this.#report(err);
    }
  }

  #onState(client: Client, state: ConnectionStateName, detail: StateDetail): void {
    if (client !== this.#client) return;
    this.#state = state;
    this.#retryIn = detail.retryIn;
    if (state === 'open') void this.#refresh(client);
    this.#render();
  }

  /** Re-read the tasks: on every (re)connect, and when the server could not replay missed events. */
  async #refresh(client: Client): Promise<void> {
    try {
      const page = await client.call<{ tasks: TaskInfo[] }>('task.list', { limit: 50 });
      this.board.load(page.tasks);
      this.#watchRunning();
      for (const task of page.tasks) if (isTerminal(task) && this.#mine.get(task.id) === false) this.#settle(task);
    } catch (err) {
      if (client === this.#client) this.#report(err);
    }
    this.#render();
  }

  #onEvent(finished: TaskInfo | undefined): void {
    this.#watchRunning();
    if (finished !== undefined) {
      if (this.#mine.has(finished.id)) this.#settle(finished);
      else new Notice(outcome(finished));
    }
    this.#render();
  }

  /** Follow the running tasks on their own topics, newest first (task-feeds.js bounds how many). */
  #watchRunning(): void {
    this.#feeds?.watch(
      this.board
        .running()
        .filter((task) => task.status === 'running')
        .map((task) => task.id),
    );
  }

  /** Show how a task of ours ended, once, and open the review canvas it made. */
  #settle(task: TaskInfo): void {
    if (this.#mine.get(task.id) !== false) return;
    this.#mine.set(task.id, true);
    new Notice(outcome(task));
    const result = task.result as WorkflowResult | undefined;
    if (task.kind === 'review.generate' && task.status === 'completed' && typeof result?.path === 'string') {
      void this.#open(result.path);
    }
  }

  async #open(path: string): Promise<void> {
    const file = await this.#appearing(path);
    if (file === null) {
      new Notice(`The review canvas ${path} has not appeared in the vault.`);
      return;
    }
    await this.app.workspace.getLeaf('tab').openFile(file);
  }

  /** The vault's file at `path`, once its index has it (the server wrote it on disk). */
  #appearing(path: string): Promise<TFile | null> {
    const { vault } = this.app;
    const found = vault.getFileByPath(path);
    if (found !== null) return Promise.resolve(found);
    return new Promise((resolve) => {
      const done = (file: TFile | null): void => {
        vault.offref(ref);
        window.clearTimeout(timer);
        resolve(file);
      };
      const ref = vault.on('create', (file) => {
        if (file instanceof TFile && file.path === path) done(file);
      });
      const timer = window.setTimeout(() => done(null), APPEAR_WITHIN);
    });
  }

  #report(err: unknown): void {
    if (err instanceof RpcError) new Notice(`canvas-live: ${err.error}: ${err.message}`);
    else new Notice(`canvas-live: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** The status bar and the tasks view, from the connection state and the board. */
  #render(): void {
    const running = this.board.running()[0];
    let text = `canvas-live: ${this.#state}`;
    if (this.#state === 'reconnecting' && this.#retryIn !== undefined) {
      text += ` (retry in ${Math.ceil(this.#retryIn / 1000)} s)`;
    }
    if (running !== undefined) {
      text += ` · ${running.kind} ${progressText(running)}`;
      const calls = this.#feeds?.get(running.id)?.calls;
      if (calls !== undefined && calls.count > 0) text += ` · ${tokensText(calls.tokens)}`;
    }
    this.#status?.setText(text);
    for (const leaf of this.app.workspace.getLeavesOfType(TASKS_VIEW)) {
      if (leaf.view instanceof TasksView) leaf.view.render();
    }
  }
}

/** What a notice says about a finished task. */
export function outcome(task: TaskInfo): string {
  if (task.status === 'failed') {
    const error = task.error === undefined ? 'ERROR' : `${task.error.error}: ${task.error.message}`;
    return `${task.kind} failed: ${error}`;
  }
  if (task.status === 'cancelled') return `${task.kind} was cancelled.`;
  const result = (task.result ?? {}) as WorkflowResult;
  if (task.kind === 'review.generate') {
    return `Review canvas ${String(result.review_canvas)} is ready: ${count(Number(result.question_count), 'question')}.`;
  }
  if (task.kind === 'learn.decompose') return `${count(result.questions?.length ?? 0, 'guiding question')} added.`;
  if (task.kind === 'learn.score') return `${count(result.scored?.length ?? 0, 'explanation')} scored.`;
  return `${task.kind} completed.`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

class CanvasLiveSettingTab extends PluginSettingTab {
  readonly #plugin: CanvasLivePlugin;
  #changed = false;

  constructor(app: App, plugin: CanvasLivePlugin) {
    super(app, plugin);
    this.#plugin = plugin;
  }

  display(): void {
    const { containerEl } = this;
    const settings = this.#plugin.settings;
    containerEl.empty();
    new Setting(containerEl)
      .setName('Server URL')
      .setDesc('The address of the canvas-live server, for example ws://127.0.0.1:8765/ws.')
      .addText((text) =>
        text
          .setPlaceholder(DEFAULT_SETTINGS.serverUrl)
          .setValue(settings.serverUrl)
          .onChange(async (value) => {
            settings.serverUrl = value.trim() === '' ? DEFAULT_SETTINGS.serverUrl : value.trim();
            this.#changed = true;
            await this.#plugin.saveSettings();
          }),
      );
    new Setting(containerEl)
      .setName('Token')
      .setDesc('The token the server was started with, if any.')
      .addText((text) => {
        text.inputEl.type = 'password';
        text.setValue(settings.token).onChange(async (value) => {
          settings.token = value.trim();
          this.#changed = true;
          await this.#plugin.saveSettings();
        });
      });
  }

  /** Reconnect once, when the settings are closed, rather than on every keystroke. */
  hide(): void {
    if (this.#changed) {
      this.#changed = false;
      this.#plugin.reconnect();
    }
  }
}
