/**
 * A stand-in for the part of Obsidian's API the canvas-live plugin uses, so that its built main.js
 * runs in Node. Obsidian itself (an Electron app) cannot run here.
 *
 * Names and signatures follow the `obsidian` npm package's obsidian.d.ts: `Plugin`, `ItemView`,
 * `PluginSettingTab`, `Setting`, `Notice`, `TFile`, `Workspace`, `WorkspaceLeaf`, `Vault`, and the
 * HTMLElement helpers Obsidian adds (`createEl`, `createDiv`, `createSpan`, `empty`, `setText`,
 * `addClass`). Two parts are Obsidian's own but unpublished, as plugins meet them: the canvas view
 * (view type `canvas`, with `canvas.selection`, a Set of nodes with their `id`) and
 * `app.commands.executeCommandById('<plugin id>:<command id>')`.
 *
 * What it records for the tests: every Notice, every text the status bar showed, every file a leaf
 * opened, and every leaf revealed.
 */

import fs from 'node:fs';
import path from 'node:path';

// Obsidian runs plugins in a window: `window.setTimeout` and the like are there.
globalThis.window ??= /** @type {any} */ (globalThis);

/** An element with Obsidian's helpers; it keeps its children and text, nothing is drawn. */
export class StandInElement {
  /** @param {string} tagName */
  constructor(tagName) {
    this.tagName = tagName.toUpperCase();
    /** @type {StandInElement[]} */
    this.children = [];
    /** @type {Set<string>} */
    this.classList = new Set();
    /** @type {Record<string, string>} */
    this.attributes = {};
    this.ownText = '';
  }

  /** All the text inside, as the DOM's textContent (children joined by a space here, for reading). */
  get textContent() {
    return [this.ownText, ...this.children.map((child) => child.textContent)].filter((text) => text !== '').join(' ');
  }

  /**
   * @param {string} tag
   * @param {{cls?: string | string[], text?: string, attr?: Record<string, string | number | boolean | null>}} [o]
   * @param {(el: StandInElement) => void} [callback]
   */
  createEl(tag, o = {}, callback) {
    const el = new StandInElement(tag);
    for (const cls of [o.cls ?? []].flat()) for (const name of cls.split(' ')) if (name) el.classList.add(name);
    if (o.text !== undefined) el.ownText = o.text;
    for (const [name, value] of Object.entries(o.attr ?? {})) if (value !== null) el.attributes[name] = String(value);
    this.children.push(el);
    callback?.(el);
    return el;
  }

  /** @param {Parameters<StandInElement['createEl']>[1]} [o] @param {(el: StandInElement) => void} [callback] */
  createDiv(o, callback) {
    return this.createEl('div', o, callback);
  }

  /** @param {Parameters<StandInElement['createEl']>[1]} [o] @param {(el: StandInElement) => void} [callback] */
  createSpan(o, callback) {
    return this.createEl('span', o, callback);
  }

  empty() {
    this.children = [];
    this.ownText = '';
  }

  /** @param {string} text */
  setText(text) {
    this.children = [];
    this.ownText = text;
  }

  /** @param {...string} classes */
  addClass(...classes) {
    for (const cls of classes) this.classList.add(cls);
  }

  /** @param {string} cls */
  hasClass(cls) {
    return this.classList.has(cls);
  }

  /**
   * Every element below this one with the class.
   *
   * @param {string} cls
   * @returns {StandInElement[]}
   */
  findAllByClass(cls) {
    return this.children.flatMap((child) => [...(child.hasClass(cls) ? [child] : []), ...child.findAllByClass(cls)]);
  }
}

/** The status bar item keeps every text it was given. */
class StatusBarItem extends StandInElement {
  constructor() {
    super('div');
    /** @type {string[]} */
    this.history = [];
  }

  /** @param {string} text */
  setText(text) {
    super.setText(text);
    this.history.push(text);
  }
}

/** Every notice shown, oldest first. */
export const notices = [];

export class Notice {
  /**
   * @param {string | DocumentFragment} message
   * @param {number} [duration]
   */
  constructor(message, duration) {
    this.message = String(message);
    this.duration = duration;
    notices.push(this.message);
  }

  /** @param {string} message */
  setMessage(message) {
    this.message = message;
    notices.push(message);
    return this;
  }

  hide() {}
}

export class TAbstractFile {
  /** @param {Vault} vault @param {string} filePath */
  constructor(vault, filePath) {
    this.vault = vault;
    this.path = filePath;
    this.name = path.posix.basename(filePath);
  }
}

export class TFile extends TAbstractFile {
  /** @param {Vault} vault @param {string} filePath */
  constructor(vault, filePath) {
    super(vault, filePath);
    this.extension = path.posix.extname(filePath).slice(1);
    this.basename = this.extension ? this.name.slice(0, -(this.extension.length + 1)) : this.name;
  }
}

/** `Events`: on / off / offref / trigger, as Obsidian's. */
export class Events {
  /** @type {Map<string, Set<{callback: (...args: unknown[]) => unknown, ctx?: unknown}>>} */
  #handlers = new Map();

  /** @param {string} name @param {(...args: any[]) => any} callback @param {unknown} [ctx] */
  on(name, callback, ctx) {
    const ref = { e: this, name, callback, ctx };
    if (!this.#handlers.has(name)) this.#handlers.set(name, new Set());
    this.#handlers.get(name)?.add(ref);
    return ref;
  }

  /** @param {{name: string}} ref */
  offref(ref) {
    for (const set of this.#handlers.values()) set.delete(/** @type {any} */ (ref));
  }

  /** @param {string} name @param {...unknown} data */
  trigger(name, ...data) {
    for (const { callback, ctx } of this.#handlers.get(name) ?? []) callback.apply(ctx, data);
  }
}

/** The vault: the folder on disk, read as it is now (Obsidian's index, without its lag). */
export class Vault extends Events {
  /** @param {string} root */
  constructor(root) {
    super();
    this.root = root;
  }

  /** @param {string} filePath @returns {TFile | null} */
  getFileByPath(filePath) {
    const full = path.join(this.root, filePath);
    return fs.existsSync(full) && fs.statSync(full).isFile() ? new TFile(this, filePath) : null;
  }

  /** @param {string} filePath */
  getAbstractFileByPath(filePath) {
    return this.getFileByPath(filePath);
  }
}

export class Component {
  /** @type {Array<() => unknown>} */
  #cleanups = [];

  load() {
    return this.onload();
  }

  onload() {}

  unload() {
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    this.onunload();
  }

  onunload() {}

  /** @param {() => unknown} cb */
  register(cb) {
    this.#cleanups.push(cb);
  }

  /** @param {{e: Events}} ref */
  registerEvent(ref) {
    this.register(() => ref.e.offref(ref));
  }

  /** @param {number} id */
  registerInterval(id) {
    this.register(() => clearInterval(id));
    return id;
  }
}

export class View extends Component {
  /** @param {WorkspaceLeaf} leaf */
  constructor(leaf) {
    super();
    this.leaf = leaf;
    this.app = leaf.app;
    this.containerEl = new StandInElement('div');
  }

  getIcon() {
    return '';
  }

  async onOpen() {}

  async onClose() {}
}

export class ItemView extends View {
  /** @param {WorkspaceLeaf} leaf */
  constructor(leaf) {
    super(leaf);
    this.contentEl = this.containerEl.createDiv({ cls: 'view-content' });
  }
}

/** Obsidian's canvas view (not in the published types): the open .canvas file and its selected nodes. */
export class CanvasView extends ItemView {
  /** @param {WorkspaceLeaf} leaf @param {TFile} file */
  constructor(leaf, file) {
    super(leaf);
    this.file = file;
    this.canvas = { selection: new Set() };
  }

  getViewType() {
    return 'canvas';
  }

  getDisplayText() {
    return this.file.basename;
  }
}

export class WorkspaceLeaf extends Events {
  /** @param {App} app @param {'main' | 'right'} side */
  constructor(app, side) {
    super();
    this.app = app;
    this.side = side;
    /** @type {View | null} */
    this.view = null;
  }

  /** @param {{type: string, active?: boolean, state?: Record<string, unknown>}} viewState */
  async setViewState(viewState) {
    const creator = this.app.viewCreators.get(viewState.type);
    if (creator === undefined) throw new Error(`no view of type ${viewState.type} is registered`);
    this.view = creator(this);
    await this.view.onOpen();
    if (viewState.active) this.app.workspace.activeLeaf = this;
  }

  /** @param {TFile} file */
  async openFile(file) {
    if (file.extension !== 'canvas') throw new Error('the stand-in opens canvases only');
    this.view = new CanvasView(this, file);
    await this.view.onOpen();
    this.app.workspace.activeLeaf = this;
    this.app.workspace.opened.push(file.path);
  }

  getViewState() {
    return { type: this.view?.getViewType() ?? 'empty' };
  }

  detach() {
    this.app.workspace.leaves = this.app.workspace.leaves.filter((leaf) => leaf !== this);
  }
}

export class Workspace extends Events {
  /** @param {App} app */
  constructor(app) {
    super();
    this.app = app;
    /** @type {WorkspaceLeaf[]} */
    this.leaves = [];
    /** @type {WorkspaceLeaf | null} */
    this.activeLeaf = null;
    /** @type {string[]} paths of the files leaves opened, in order */
    this.opened = [];
    /** @type {WorkspaceLeaf[]} */
    this.revealed = [];
  }

  /** @param {'main' | 'right'} side */
  #newLeaf(side) {
    const leaf = new WorkspaceLeaf(this.app, side);
    this.leaves.push(leaf);
    return leaf;
  }

  /** @param {boolean | 'tab' | 'split' | 'window'} [newLeaf] */
  getLeaf(newLeaf) {
    const active = this.activeLeaf;
    if (!newLeaf && active !== null && active.side === 'main') return active;
    return this.#newLeaf('main');
  }

  /** @param {boolean} split */
  getRightLeaf(split) {
    void split;
    return this.#newLeaf('right');
  }

  /** @param {string} viewType */
  getLeavesOfType(viewType) {
    return this.leaves.filter((leaf) => leaf.view?.getViewType() === viewType);
  }

  /** @param {WorkspaceLeaf} leaf */
  async revealLeaf(leaf) {
    this.revealed.push(leaf);
  }

  /** The file of the most recent main-area leaf that shows one, as Obsidian's. */
  getActiveFile() {
    const active = [this.activeLeaf, ...[...this.leaves].reverse()].find((leaf) => leaf?.side === 'main' && leaf.view?.file);
    return active?.view?.file ?? null;
  }

  /** @template T @param {new (...args: any[]) => T} type @returns {T | null} */
  getActiveViewOfType(type) {
    const view = this.activeLeaf?.view;
    return view instanceof type ? view : null;
  }

  /** @param {string} linktext @param {string} sourcePath @param {boolean | 'tab'} [newLeaf] */
  async openLinkText(linktext, sourcePath, newLeaf) {
    void sourcePath;
    const file = this.app.vault.getFileByPath(linktext) ?? this.app.vault.getFileByPath(`${linktext}.canvas`);
    if (file === null) throw new Error(`the stand-in opens existing files only: ${linktext}`);
    await this.getLeaf(newLeaf).openFile(file);
  }
}

export class App {
  /** @param {string} vaultRoot */
  constructor(vaultRoot) {
    this.vault = new Vault(vaultRoot);
    this.workspace = new Workspace(this);
    /** @type {Map<string, (leaf: WorkspaceLeaf) => View>} */
    this.viewCreators = new Map();
    /** @type {PluginSettingTab[]} */
    this.settingTabs = [];
    /** @type {Map<string, {id: string, name: string, callback?: () => unknown, checkCallback?: (checking: boolean) => boolean | void}>} */
    const commands = new Map();
    this.commands = {
      commands,
      /** Run a command as the palette does; false when it is not available here. @param {string} id */
      executeCommandById(id) {
        const command = commands.get(id);
        if (command === undefined) throw new Error(`no command ${id}`);
        if (command.checkCallback) return command.checkCallback(false) !== false;
        command.callback?.();
        return true;
      },
    };
  }
}

export class Plugin extends Component {
  /** @param {App} app @param {{id: string, dir?: string}} manifest */
  constructor(app, manifest) {
    super();
    this.app = app;
    this.manifest = manifest;
    /** @type {StatusBarItem[]} */
    this.statusBarItems = [];
  }

  get #dataFile() {
    return path.join(this.app.vault.root, this.manifest.dir ?? '', 'data.json');
  }

  async loadData() {
    return fs.existsSync(this.#dataFile) ? JSON.parse(fs.readFileSync(this.#dataFile, 'utf8')) : null;
  }

  /** @param {unknown} data */
  async saveData(data) {
    fs.writeFileSync(this.#dataFile, JSON.stringify(data));
  }

  addStatusBarItem() {
    const item = new StatusBarItem();
    this.statusBarItems.push(item);
    return item;
  }

  /** @param {{id: string, name: string}} command */
  addCommand(command) {
    const registered = { ...command, id: `${this.manifest.id}:${command.id}` };
    this.app.commands.commands.set(registered.id, registered);
    this.register(() => this.app.commands.commands.delete(registered.id));
    return registered;
  }

  /** @param {PluginSettingTab} tab */
  addSettingTab(tab) {
    this.app.settingTabs.push(tab);
  }

  /** @param {string} type @param {(leaf: WorkspaceLeaf) => View} viewCreator */
  registerView(type, viewCreator) {
    this.app.viewCreators.set(type, viewCreator);
    this.register(() => this.app.viewCreators.delete(type));
  }
}

export class SettingTab {
  constructor() {
    this.containerEl = new StandInElement('div');
  }

  display() {}

  hide() {}
}

export class PluginSettingTab extends SettingTab {
  /** @param {App} app @param {Plugin} plugin */
  constructor(app, plugin) {
    super();
    this.app = app;
    this.plugin = plugin;
  }
}

export class TextComponent {
  /** @param {StandInElement} containerEl */
  constructor(containerEl) {
    this.inputEl = containerEl.createEl('input', { attr: { type: 'text' } });
    this.inputEl.value = '';
    this.inputEl.type = 'text';
    /** @type {((value: string) => unknown) | null} */
    this.changeCallback = null;
  }

  getValue() {
    return this.inputEl.value;
  }

  /** @param {string} value */
  setValue(value) {
    this.inputEl.value = value;
    return this;
  }

  /** @param {string} placeholder */
  setPlaceholder(placeholder) {
    this.inputEl.placeholder = placeholder;
    return this;
  }

  /** @param {(value: string) => unknown} callback */
  onChange(callback) {
    this.changeCallback = callback;
    return this;
  }

  /** What typing `value` into the field does: the value changes, then the change callback runs. */
  async type(value) {
    this.setValue(value);
    await this.changeCallback?.(value);
  }
}

export class Setting {
  /** @param {StandInElement} containerEl */
  constructor(containerEl) {
    this.settingEl = containerEl.createDiv({ cls: 'setting-item' });
    this.nameEl = this.settingEl.createDiv({ cls: 'setting-item-name' });
    this.descEl = this.settingEl.createDiv({ cls: 'setting-item-description' });
    this.controlEl = this.settingEl.createDiv({ cls: 'setting-item-control' });
    /** @type {TextComponent[]} */
    this.components = [];
    Setting.all.push(this);
  }

  /** @param {string} name */
  setName(name) {
    this.nameEl.setText(name);
    return this;
  }

  /** @param {string} desc */
  setDesc(desc) {
    this.descEl.setText(desc);
    return this;
  }

  /** @param {(component: TextComponent) => unknown} cb */
  addText(cb) {
    const component = new TextComponent(this.controlEl);
    this.components.push(component);
    cb(component);
    return this;
  }
}

/** Every Setting made, so a test can find a field by its name. @type {Setting[]} */
Setting.all = [];

/**
 * Load a plugin's built main.js as Obsidian does: evaluate the CommonJS file with `obsidian`
 * resolving to this module, make its default export with (app, manifest), and call `load()`.
 *
 * @param {App} app
 * @param {string} pluginDir the plugin's folder in the vault (`.obsidian/plugins/<id>`)
 */
export async function loadPlugin(app, pluginDir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(pluginDir, 'manifest.json'), 'utf8'));
  manifest.dir = path.relative(app.vault.root, pluginDir);
  const module = { exports: /** @type {Record<string, any>} */ ({}) };
  const obsidian = await import('./obsidian-standin.mjs');
  const require = (/** @type {string} */ name) => {
    if (name === 'obsidian') return obsidian;
    throw new Error(`main.js requires ${name}: Obsidian provides only 'obsidian'`);
  };
  const source = fs.readFileSync(path.join(pluginDir, 'main.js'), 'utf8');
  new Function('require', 'module', 'exports', source)(require, module, module.exports);
  const PluginClass = module.exports.default ?? module.exports;
  const plugin = new PluginClass(app, manifest);
  await plugin.load();
  return plugin;
}
