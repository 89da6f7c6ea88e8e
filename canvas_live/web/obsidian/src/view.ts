/**
 * The tasks view: running and recent tasks with their progress, and the agent calls of a running
 * one that are answering with their tokens so far, refreshed as events arrive.
 */

import { ItemView, type WorkspaceLeaf } from 'obsidian';

import type { RunningCalls } from '../../task-feeds.js';
import { progressText, type TaskBoard, type TaskInfo } from './tasks';

export const TASKS_VIEW = 'canvas-live-tasks';

export class TasksView extends ItemView {
  readonly #board: TaskBoard;
  /** The agent calls of a task answering now, where the plugin follows them. */
  readonly #callsOf: (id: string) => RunningCalls | undefined;

  constructor(leaf: WorkspaceLeaf, board: TaskBoard, callsOf: (id: string) => RunningCalls | undefined) {
    super(leaf);
    this.#board = board;
    this.#callsOf = callsOf;
  }

  getViewType(): string {
    return TASKS_VIEW;
  }

  getDisplayText(): string {
    return 'Tasks of canvas-live';
  }

  getIcon(): string {
    return 'list-checks';
  }

  async onOpen(): Promise<void> {
    this.render();
    return Promise.resolve();
  }

  /** Draw the lists again from the board. */
  render(): void {
    const root = this.contentEl;
    root.empty();
    root.addClass('canvas-live-tasks');
    this.#section(root, 'Running', this.#board.running(), 'No task is running.');
    this.#section(root, 'Recent', this.#board.recent(), 'No task has finished yet.');
  }

  #section(root: HTMLElement, title: string, tasks: readonly TaskInfo[], none: string): void {
    root.createEl('h4', { text: title });
    if (tasks.length === 0) {
      root.createDiv({ cls: 'canvas-live-empty', text: none });
      return;
    }
    for (const task of tasks) {
      const row = root.createDiv({ cls: 'canvas-live-task', attr: { 'data-task-id': task.id } });
      row.createSpan({ cls: 'canvas-live-task-kind', text: task.kind });
      if (task.canvas !== undefined) row.createSpan({ cls: 'canvas-live-task-canvas', text: task.canvas });
      const status = task.error === undefined ? task.status : `${task.status}: ${task.error.error}`;
      row.createSpan({ cls: `canvas-live-task-status is-${task.status}`, text: status });
      const progress = row.createEl('progress', { cls: 'canvas-live-task-progress' });
      progress.max = Math.max(task.progress.total, 1);
      progress.value = task.progress.done;
      row.createSpan({ cls: 'canvas-live-task-count', text: progressText(task) });
      const answering = this.#callsOf(task.id)?.summary() ?? '';
      if (answering !== '') row.createSpan({ cls: 'canvas-live-task-calls', text: answering });
    }
  }
}
