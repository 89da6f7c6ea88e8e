/**
 * The tasks the plugin knows of, kept from `task.list` and the `tasks` topic's events.
 *
 * The events carry the task's fields beside the envelope (docs/protocol.md): `task.created`,
 * `task.started`, `task.progress` (with `done` and `total` flat), and `task.completed`,
 * `task.failed`, `task.cancelled` (with `progress`, and `result` or `error`).
 */

import type { EventParams } from '../../client.js';

export type TaskStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface Progress {
  done: number;
  total: number;
  message?: string;
}

export interface TaskError {
  code: number;
  error: string;
  message: string;
}

/** A task as `task.get` and `task.list` answer it. */
export interface TaskInfo {
  id: string;
  kind: string;
  status: TaskStatus;
  progress: Progress;
  created_at: string;
  canvas?: string;
  result?: unknown;
  error?: TaskError;
}

/** What a workflow method answers at once. */
export interface Scheduled {
  task_id: string;
  status: 'scheduled';
  message: string;
}

const TERMINAL: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

export function isTerminal(task: TaskInfo): boolean {
  return TERMINAL.has(task.status);
}

/** How many finished tasks are kept for the view besides the running ones. */
export const RECENT = 20;

/** The tasks by id, newest first when listed. */
export class TaskBoard {
  readonly #tasks = new Map<string, TaskInfo>();

  get(id: string): TaskInfo | undefined {
    return this.#tasks.get(id);
  }

  /**
   * Take in a `task.list` page. A task an event already finished is kept as the event left it: the
   * page may have been read before that event.
   */
  load(tasks: readonly TaskInfo[]): void {
    for (const task of tasks) {
      const known = this.#tasks.get(task.id);
      if (known === undefined || !isTerminal(known)) this.#tasks.set(task.id, task);
    }
    this.#trim();
  }

  /**
   * Apply one event of the `tasks` topic; returns the task when the event finished it.
   */
  apply(method: string, event: EventParams): TaskInfo | undefined {
    const id = typeof event['task_id'] === 'string' ? event['task_id'] : undefined;
    if (id === undefined || !method.startsWith('task.')) return undefined;
    const known = this.#tasks.get(id);
    const task: TaskInfo = known ?? {
      id,
      kind: String(event['kind']),
      status: 'pending',
      progress: { done: 0, total: 0 },
      created_at: typeof event['created_at'] === 'string' ? event['created_at'] : new Date().toISOString(),
    };
    if (typeof event['status'] === 'string') task.status = event['status'] as TaskStatus;
    if (typeof event['canvas'] === 'string') task.canvas = event['canvas'];
    if (method === 'task.progress') {
      task.progress = { done: Number(event['done']), total: Number(event['total']) };
    } else if (isProgress(event['progress'])) {
      task.progress = event['progress'];
    }
    if ('result' in event) task.result = event['result'];
    if (isError(event['error'])) task.error = event['error'];
    this.#tasks.set(id, task);
    this.#trim();
    return isTerminal(task) && method !== 'task.progress' ? task : undefined;
  }

  /** Running and pending tasks, newest first. */
  running(): TaskInfo[] {
    return this.#sorted().filter((task) => !isTerminal(task));
  }

  /** Finished tasks, newest first, at most `RECENT`. */
  recent(): TaskInfo[] {
    return this.#sorted().filter(isTerminal).slice(0, RECENT);
  }

  #sorted(): TaskInfo[] {
    return [...this.#tasks.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  #trim(): void {
    const keep = new Set([...this.running(), ...this.recent()].map((task) => task.id));
    for (const id of this.#tasks.keys()) if (!keep.has(id)) this.#tasks.delete(id);
  }
}

function isProgress(value: unknown): value is Progress {
  return typeof value === 'object' && value !== null && typeof (value as Progress).done === 'number';
}

function isError(value: unknown): value is TaskError {
  return typeof value === 'object' && value !== null && typeof (value as TaskError).error === 'string';
}

/** `done/total` of a task, e.g. `3/5`. */
export function progressText(task: TaskInfo): string {
  return `${task.progress.done}/${task.progress.total}`;
}
