/**
 * The live task table and the task detail pane.
 *
 * Rows are updated in place rather than redrawn, so a keyboard user's focus on a row's buttons
 * survives the ~20 progress events a second a running task can send.
 *
 * @module canvas-live/tasks-view
 */

import { formatDuration, h } from './dom.js';
import { tokensText } from './task-feeds.js';

/**
 * @typedef {{id: string, kind: string, status: string, progress: {done: number, total: number, message?: string},
 *   params?: Record<string, any>, canvas?: string, result?: any, error?: ErrorInfo,
 *   created_at?: string, started_at?: string, finished_at?: string}} TaskInfo
 * @typedef {{code: number, error: string, message: string, category?: string, data?: Record<string, any>}} ErrorInfo
 * @typedef {{agent: string, key?: string, ok: boolean, output?: any, error?: ErrorInfo, attempts: number, duration_ms: number, estimate?: boolean}} AgentResult
 * @typedef {import('./task-feeds.js').RunningCalls} RunningCalls
 * @typedef {import('./task-feeds.js').RunningCall} RunningCall
 * @typedef {{onSelect: (id: string) => void, onCancel: (id: string) => void, callsOf: (id: string) => RunningCalls | undefined}} TableActions
 *   `callsOf` gives the agent calls of a task answering now, where the page follows them
 * @typedef {{kind: HTMLElement, canvas: HTMLElement, status: HTMLElement, bar: HTMLElement, meter: HTMLElement,
 *   progressText: HTMLElement, answering: HTMLElement, duration: HTMLElement, action: HTMLElement}} RowCells
 * @typedef {{row: HTMLTableRowElement, cells: RowCells, task: TaskInfo}} Row
 */

const ACTIVE = new Set(['pending', 'running']);
const MAX_ROWS = 100;

/**
 * @param {TaskInfo} task
 * @returns {boolean} whether the task can still change (and be cancelled)
 */
export function isActive(task) {
  return ACTIVE.has(task.status);
}

/**
 * How far a task has come, in percent; a finished task with no steps counts as done.
 *
 * @param {TaskInfo} task
 */
export function percentOf(task) {
  const { done, total } = task.progress ?? { done: 0, total: 0 };
  if (total > 0) return Math.min(100, Math.round((100 * done) / total));
  return task.status === 'completed' ? 100 : 0;
}

/**
 * How long a task has run (or ran), or null while it waits to start.
 *
 * @param {TaskInfo} task
 * @param {number} now ms since the epoch
 */
function durationOf(task, now) {
  if (!task.started_at) return null;
  const end = task.finished_at ? Date.parse(task.finished_at) : now;
  return Math.max(0, end - Date.parse(task.started_at));
}

/** The live task table: one row per task, newest first. */
export class TaskTable {
  /** @type {HTMLTableSectionElement} */ #body;
  /** @type {Map<string, Row>} */ #rows = new Map();
  /** @type {TableActions} */ #actions;
  /** @type {string | null} */ #selected = null;

  /**
   * @param {HTMLTableSectionElement} body
   * @param {TableActions} actions
   */
  constructor(body, actions) {
    this.#body = body;
    this.#actions = actions;
  }

  /**
   * Show these tasks (a fresh `task.list`) and nothing else.
   *
   * @param {TaskInfo[]} tasks newest first
   */
  replaceAll(tasks) {
    this.#rows.clear();
    this.#body.replaceChildren();
    for (const task of [...tasks].reverse()) this.upsert(task);
  }

  /**
   * Add a task at the top, or update its row where it is.
   *
   * @param {TaskInfo} task
   */
  upsert(task) {
    let entry = this.#rows.get(task.id);
    if (!entry) {
      entry = this.#makeRow(task);
      this.#rows.set(task.id, entry);
      this.#body.prepend(entry.row);
      this.#trim();
    }
    entry.task = task;
    this.#fill(entry, Date.now());
  }

  /**
   * Highlight the task shown in the detail pane.
   *
   * @param {string | null} id
   */
  select(id) {
    this.#selected = id;
    for (const [rowId, { row }] of this.#rows) row.classList.toggle('selected', rowId === id);
  }

  /**
   * Show again what a task's calls are answering.
   *
   * @param {string} id
   */
  refresh(id) {
    const entry = this.#rows.get(id);
    if (entry) this.#fill(entry, Date.now());
  }

  /** Advance the duration of running tasks. */
  tick() {
    const now = Date.now();
    for (const entry of this.#rows.values()) {
      if (isActive(entry.task)) this.#fill(entry, now);
    }
  }

  /**
   * @param {TaskInfo} task
   * @returns {Row}
   */
  #makeRow(task) {
    const open = h('button', { class: 'link', type: 'button', onclick: () => this.#actions.onSelect(task.id) });
    const bar = h('div', { class: 'bar' });
    const meter = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 }, bar);
    const cells = {
      kind: open,
      canvas: h('td', { class: 'canvas-name' }),
      status: h('span', { class: 'status' }),
      bar,
      meter,
      progressText: h('span', { class: 'progress-text' }),
      answering: h('span', { class: 'answering' }),
      duration: h('td', { class: 'duration' }),
      action: h('td', { class: 'action' }),
    };
    const row = /** @type {HTMLTableRowElement} */ (
      h(
        'tr',
        { 'data-task-id': task.id },
        h('td', {}, open),
        cells.canvas,
        h('td', {}, cells.status),
        h('td', { class: 'progress-cell' }, meter, cells.progressText, cells.answering),
        cells.duration,
        cells.action,
      )
    );
    row.classList.toggle('selected', task.id === this.#selected);
    return { row, cells, task };
  }

  /**
   * @param {Row} entry
   * @param {number} now
   */
  #fill({ row, cells, task }, now) {
    const percent = percentOf(task);
    const { done = 0, total = 0 } = task.progress ?? {};
    row.dataset.status = task.status;
    cells.kind.textContent = task.kind;
    cells.kind.setAttribute('aria-label', `show ${task.kind} task ${task.id}`);
    cells.canvas.textContent = task.canvas ?? '—';
    cells.status.textContent = task.status;
    cells.status.className = `status ${task.status}`;
    cells.bar.style.width = `${percent}%`;
    cells.meter.setAttribute('aria-valuenow', String(percent));
    cells.meter.setAttribute('aria-label', `${task.kind} progress`);
    cells.progressText.textContent = total > 0 ? `${done}/${total} · ${percent} %` : `${percent} %`;
    cells.answering.textContent = this.#actions.callsOf(task.id)?.summary() ?? '';
    const ms = durationOf(task, now);
    cells.duration.textContent = ms === null ? 'waiting' : formatDuration(ms);
    const cancellable = isActive(task);
    const button = cells.action.querySelector('button');
    if (cancellable && !button) {
      cells.action.append(
        h('button', { type: 'button', class: 'cancel', 'aria-label': `cancel ${task.kind} task`, onclick: () => this.#actions.onCancel(task.id) }, 'Cancel'),
      );
    } else if (!cancellable && button) {
      button.remove();
    }
  }

  /** Keep the table short: the oldest finished tasks go first. */
  #trim() {
    if (this.#rows.size <= MAX_ROWS) return;
    for (const [id, entry] of [...this.#rows].reverse()) {
      if (this.#rows.size <= MAX_ROWS) break;
      if (isActive(entry.task) || id === this.#selected) continue;
      entry.row.remove();
      this.#rows.delete(id);
    }
  }
}

/**
 * One agent output in a few lines: the questions it asked, the score it gave (an estimate, when a
 * heuristic gave it), why it could not score, or its text.
 *
 * @param {any} output
 * @param {boolean} [estimate]
 * @returns {HTMLElement}
 */
function summarize(output, estimate = false) {
  if (typeof output === 'string') return h('p', { class: 'output' }, clip(output, 600));
  const questions = output?.sub_questions ?? output?.questions;
  if (Array.isArray(questions)) {
    return h('ol', { class: 'output' }, ...questions.map((item) => h('li', {}, item.text ?? item.question_text ?? JSON.stringify(item))));
  }
  if (output?.unscorable) return h('p', { class: 'output' }, `not scored — ${clip(output.reason ?? '', 400)}`);
  if (output && typeof output.total_score === 'number') {
    const verdict = output.pass ? 'pass' : 'not yet';
    const what = estimate ? 'offline estimate' : 'score';
    return h('p', { class: 'output' }, `${what} ${output.total_score}/100 (${verdict}) — ${clip(output.feedback ?? '', 400)}`);
  }
  return h('pre', { class: 'output' }, clip(JSON.stringify(output, null, 1), 600));
}

/**
 * @param {string} text
 * @param {number} length
 */
function clip(text, length) {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

/**
 * The pane showing one task: its state, its outcome, the agent calls answering now, and its agents'
 * results as they arrive.
 *
 * The calls answering are not a live region: their token counts change up to 4 times a second
 * each, which a screen reader would read out without end. Each call's result, in the live list of
 * results, says when it ended.
 */
export class TaskDetail {
  /** @type {HTMLElement} */ #root;
  /** @type {HTMLElement} */ #summary;
  /** @type {HTMLElement} */ #answering;
  /** @type {HTMLElement} */ #calls;
  /** @type {HTMLOListElement} */ #results;
  /** @type {HTMLElement} */ #count;
  /** @type {(name: string) => void} */ #openCanvas;
  #shown = 0;

  /**
   * @param {HTMLElement} root
   * @param {{onOpenCanvas: (name: string) => void}} actions
   */
  constructor(root, { onOpenCanvas }) {
    this.#root = root;
    this.#openCanvas = onOpenCanvas;
    this.#summary = h('div', { class: 'task-summary' });
    this.#calls = h('ol', { class: 'calls', 'aria-labelledby': 'answering-heading' });
    this.#answering = h('div', { class: 'answering-now', hidden: true }, h('h3', { id: 'answering-heading' }, 'Answering now'), this.#calls);
    this.#count = h('h3', {}, 'Agent results');
    this.#results = /** @type {HTMLOListElement} */ (h('ol', { class: 'results', 'aria-live': 'polite' }));
    this.clear('Select a task to see its agents’ results as they arrive.');
  }

  /**
   * Show nothing but a hint.
   *
   * @param {string} hint
   */
  clear(hint) {
    this.#shown = 0;
    this.#results.replaceChildren();
    this.#root.replaceChildren(h('p', { class: 'hint' }, hint));
  }

  /**
   * Start showing `task` (its results list starts empty).
   *
   * @param {TaskInfo} task
   */
  open(task) {
    this.#shown = 0;
    this.#results.replaceChildren();
    this.#count.textContent = 'Agent results';
    this.showCalls([]);
    this.#root.replaceChildren(this.#summary, this.#answering, this.#count, this.#results);
    this.update(task);
  }

  /**
   * Show the agent calls answering now, each with its tokens so far; a call's line goes when its
   * result comes.
   *
   * @param {RunningCall[]} calls
   */
  showCalls(calls) {
    this.#answering.hidden = calls.length === 0;
    this.#calls.replaceChildren(
      ...calls.map((call) =>
        h('li', { class: 'call' }, h('strong', {}, call.agent), call.key ? h('code', {}, call.key) : null, h('span', { class: 'tokens' }, tokensText(call.tokens))),
      ),
    );
  }

  /**
   * Refresh the task's state and outcome.
   *
   * @param {TaskInfo} task
   */
  update(task) {
    const percent = percentOf(task);
    const rows = [
      ['task', task.id],
      ['kind', task.kind],
      ['canvas', task.canvas ?? '—'],
      ['status', task.status],
      ['progress', `${task.progress?.done ?? 0}/${task.progress?.total ?? 0} (${percent} %)${task.progress?.message ? ` — ${task.progress.message}` : ''}`],
    ];
    const list = h('dl', {}, ...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', { 'data-field': term }, value)]));
    const parts = [list];
    if (task.error) parts.push(h('p', { class: 'error' }, `${task.error.error}: ${task.error.message}`));
    if (task.result && typeof task.result === 'object') parts.push(this.#outcome(task.result));
    this.#summary.replaceChildren(...parts);
  }

  /**
   * Append one agent result, newest on top.
   *
   * @param {AgentResult} result
   */
  addResult(result) {
    this.#shown += 1;
    this.#count.textContent = `Agent results (${this.#shown})`;
    const outcome = result.ok ? 'ok' : result.error?.error ?? 'failed';
    const attempts = result.attempts > 1 ? ` · ${result.attempts} attempts` : '';
    this.#results.prepend(
      h(
        'li',
        { class: `result ${result.ok ? 'ok' : 'failed'}` },
        h('div', { class: 'result-head' }, h('strong', {}, result.agent), result.key ? h('code', {}, result.key) : null, h('span', { class: 'outcome' }, outcome), h('span', { class: 'muted' }, `${formatDuration(result.duration_ms)}${attempts}`)),
        result.ok ? summarize(result.output, result.estimate) : h('p', { class: 'error' }, result.error?.message ?? ''),
      ),
    );
  }

  /**
   * The scalar fields of a result, with canvases it names as buttons that open them.
   *
   * @param {Record<string, any>} result
   */
  #outcome(result) {
    const items = [];
    for (const [key, value] of Object.entries(result)) {
      if (value === null || typeof value === 'object') continue;
      const shown = key.endsWith('canvas') && typeof value === 'string'
        ? h('button', { type: 'button', class: 'link', onclick: () => this.#openCanvas(value) }, value)
        : String(value);
      items.push(h('li', {}, `${key.replaceAll('_', ' ')}: `, shown));
    }
    return h('ul', { class: 'task-outcome' }, ...items);
  }
}
