/**
 * Drawing a JSON Canvas as SVG: nodes as rectangles in the colours of their learning state, their
 * text, groups behind them, and edges as curves with arrow heads, the way Obsidian lays them out.
 *
 * Colours carry meaning here, not decoration: a node's colour code is read through the server's
 * palette (`cls` or `obsidian`) as a learning state, and the state decides how it is drawn, so the
 * same file looks the same whichever convention wrote it. The colours themselves live in the CSS.
 *
 * @module canvas-live/canvas-view
 */

import { s } from './dom.js';

/** Colour code → learning state, per palette (docs/canvases.md). */
export const PALETTES = Object.freeze({
  cls: Object.freeze({ 4: 'red', 1: 'red', 3: 'purple', 2: 'green', 6: 'yellow', 5: 'blue' }),
  obsidian: Object.freeze({ 1: 'red', 6: 'purple', 4: 'green', 3: 'yellow', 5: 'blue' }),
});

/** The learning states in the order a learner goes through them, with what each means. */
export const STATES = Object.freeze([
  ['red', 'not understood'],
  ['purple', 'partly understood'],
  ['green', 'understood'],
  ['yellow', 'own explanation'],
  ['blue', 'AI explanation'],
]);

const PADDING = 40;
const HEX = /^#[0-9a-f]{6}$/i;

/**
 * @typedef {{id: string, type: string, x: number, y: number, width: number, height: number,
 *   color?: string, text?: string, file?: string, subpath?: string, url?: string, label?: string}} CanvasNode
 * @typedef {{id: string, fromNode: string, toNode: string, fromSide?: string, toSide?: string,
 *   fromEnd?: string, toEnd?: string, color?: string, label?: string}} CanvasEdge
 */

/**
 * The learning state a colour code stands for in `palette`, or null.
 *
 * @param {string | undefined} color
 * @param {string} palette
 * @returns {string | null}
 */
export function stateOf(color, palette) {
  if (!color) return null;
  const states = /** @type {Record<string, string>} */ (PALETTES[/** @type {keyof PALETTES} */ (palette)] ?? PALETTES.obsidian);
  return states[color] ?? null;
}

/**
 * How a colour is drawn: a state class, an Obsidian preset class for a code that is no state in
 * this palette, or a literal hex colour.
 *
 * @param {string | undefined} color
 * @param {string} palette
 * @returns {{className: string, hex: string | null, state: string | null}}
 */
function paint(color, palette) {
  const state = stateOf(color, palette);
  if (state) return { className: `state-${state}`, hex: null, state };
  if (color && HEX.test(color)) return { className: 'custom', hex: color, state: null };
  if (color) return { className: `preset-${color}`, hex: null, state: null };
  return { className: 'plain', hex: null, state: null };
}

/**
 * Node text as a reader sees it in Obsidian's reading view, near enough: Markdown markers removed.
 *
 * @param {string} text
 */
export function plainText(text) {
  return text
    .replace(/^#{1,6}\s+/gm, '')
    .replace(/\*\*|__|`/g, '')
    .replace(/\[\[([^\]|]+)\|?([^\]]*)\]\]/g, (_, target, alias) => alias || target);
}

/**
 * What a node says, for its label and its accessible name.
 *
 * @param {CanvasNode} node
 */
export function nodeText(node) {
  switch (node.type) {
    case 'text':
      return plainText(node.text ?? '');
    case 'file':
      return `file: ${node.file ?? ''}${node.subpath ?? ''}`;
    case 'link':
      return `link: ${node.url ?? ''}`;
    default:
      return node.label ?? '';
  }
}

/**
 * The point where an edge leaves `node` on `side`, with the direction it leaves in.
 *
 * @param {CanvasNode} node
 * @param {string} side
 * @returns {[number, number, number, number]}
 */
function anchor(node, side) {
  const { x, y, width: w, height: h } = node;
  switch (side) {
    case 'top':
      return [x + w / 2, y, 0, -1];
    case 'bottom':
      return [x + w / 2, y + h, 0, 1];
    case 'left':
      return [x, y + h / 2, -1, 0];
    default:
      return [x + w, y + h / 2, 1, 0];
  }
}

/**
 * Sides to connect two nodes by when the edge names none: the ones facing each other.
 *
 * @param {CanvasNode} a
 * @param {CanvasNode} b
 */
function facingSides(a, b) {
  const dx = b.x + b.width / 2 - (a.x + a.width / 2);
  const dy = b.y + b.height / 2 - (a.y + a.height / 2);
  if (Math.abs(dx) > Math.abs(dy)) return dx > 0 ? ['right', 'left'] : ['left', 'right'];
  return dy > 0 ? ['bottom', 'top'] : ['top', 'bottom'];
}

/**
 * @typedef {object} RenderOptions
 * @property {string} palette the server's palette name
 * @property {string | null} selectedId the selected node, drawn highlighted
 * @property {(node: CanvasNode) => void} onSelect called when a node is clicked or chosen by keyboard
 * @property {number | null} scale screen pixels per canvas unit (the frame scrolls), or null to fit the frame
 */

/**
 * Draw `canvas` into `svg`, replacing what was there; keyboard focus stays on the node that had it.
 *
 * @param {SVGSVGElement} svg
 * @param {{nodes: CanvasNode[], edges: CanvasEdge[]}} canvas
 * @param {RenderOptions} options
 */
export function renderCanvas(svg, canvas, { palette, selectedId, onSelect, scale }) {
  const focusedId = svg.contains(document.activeElement) ? document.activeElement?.getAttribute('data-id') : null;
  const nodes = canvas.nodes.filter((node) => Number.isFinite(node.x) && Number.isFinite(node.y));
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const bounds = boxAround(nodes);
  svg.setAttribute('viewBox', `${bounds.x} ${bounds.y} ${bounds.width} ${bounds.height}`);
  svg.setAttribute('width', scale ? String(Math.round(bounds.width * scale)) : '100%');
  svg.setAttribute('height', scale ? String(Math.round(bounds.height * scale)) : '100%');

  const markers = new Map();
  const defs = s('defs');
  /** @param {string | undefined} color */
  const marker = (color) => {
    const { className, hex } = paint(color, palette);
    const key = hex ? `hex-${hex.slice(1)}` : className;
    if (!markers.has(key)) {
      const id = `arrow-${key}`;
      defs.append(
        s(
          'marker',
          { id, class: `arrow ${className}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
          s('path', { d: 'M0,0 L10,5 L0,10 z', fill: hex }),
        ),
      );
      markers.set(key, `url(#${id})`);
    }
    return markers.get(key);
  };

  const groups = nodes.filter((node) => node.type === 'group');
  const others = nodes.filter((node) => node.type !== 'group');
  const layer = (name) => s('g', { class: name });
  const groupLayer = layer('groups');
  const edgeLayer = layer('edges');
  const nodeLayer = layer('nodes');
  for (const node of groups) groupLayer.append(drawGroup(node, palette));
  for (const edge of canvas.edges) {
    const from = byId.get(edge.fromNode);
    const to = byId.get(edge.toNode);
    if (from && to) edgeLayer.append(drawEdge(edge, from, to, palette, marker));
  }
  for (const node of others) nodeLayer.append(drawNode(node, palette, node.id === selectedId, onSelect));
  svg.replaceChildren(defs, groupLayer, edgeLayer, nodeLayer);

  if (focusedId) {
    const again = svg.querySelector(`[data-id="${CSS.escape(focusedId)}"]`);
    if (again instanceof SVGElement) again.focus();
  }
}

/**
 * The box every node fits in, with a margin; a small default for an empty canvas.
 *
 * @param {CanvasNode[]} nodes
 */
function boxAround(nodes) {
  if (nodes.length === 0) return { x: 0, y: 0, width: 400, height: 200 };
  const left = Math.min(...nodes.map((node) => node.x));
  const top = Math.min(...nodes.map((node) => node.y)) - 30; // room for group labels
  const right = Math.max(...nodes.map((node) => node.x + node.width));
  const bottom = Math.max(...nodes.map((node) => node.y + node.height));
  return { x: left - PADDING, y: top - PADDING, width: right - left + 2 * PADDING, height: bottom - top + 2 * PADDING };
}

/**
 * @param {CanvasNode} node
 * @param {string} palette
 */
function drawGroup(node, palette) {
  const { className, hex } = paint(node.color, palette);
  return s(
    'g',
    { class: `node group ${className}`, 'data-id': node.id, 'data-type': 'group' },
    s('rect', { class: 'shape', x: node.x, y: node.y, width: node.width, height: node.height, rx: 12, stroke: hex }),
    node.label ? s('text', { class: 'group-label', x: node.x + 6, y: node.y - 10 }, node.label) : null,
  );
}

/**
 * @param {CanvasNode} node
 * @param {string} palette
 * @param {boolean} selected
 * @param {(node: CanvasNode) => void} onSelect
 */
function drawNode(node, palette, selected, onSelect) {
  const { className, hex, state } = paint(node.color, palette);
  const text = nodeText(node);
  const label = `${state ?? 'uncoloured'} ${node.type} node: ${text.slice(0, 120)}`;
  const choose = () => onSelect(node);
  const body = document.createElement('div');
  body.className = 'node-text';
  body.textContent = text;
  const foreign = s('foreignObject', { x: node.x, y: node.y, width: node.width, height: node.height });
  foreign.append(body);
  return s(
    'g',
    {
      class: `node ${node.type} ${className}${selected ? ' selected' : ''}`,
      'data-id': node.id,
      'data-type': node.type,
      tabindex: 0,
      role: 'button',
      'aria-pressed': String(selected),
      'aria-label': label,
      onclick: choose,
      onkeydown: (event) => {
        const key = /** @type {KeyboardEvent} */ (event).key;
        if (key === 'Enter' || key === ' ') {
          event.preventDefault();
          choose();
        }
      },
    },
    s('rect', {
      class: 'shape',
      x: node.x,
      y: node.y,
      width: node.width,
      height: node.height,
      rx: 8,
      stroke: hex,
      fill: hex,
      'fill-opacity': hex ? 0.15 : null,
    }),
    foreign,
  );
}

/**
 * @param {CanvasEdge} edge
 * @param {CanvasNode} from
 * @param {CanvasNode} to
 * @param {string} palette
 * @param {(color: string | undefined) => string} marker
 */
function drawEdge(edge, from, to, palette, marker) {
  const [autoFrom, autoTo] = facingSides(from, to);
  const [x1, y1, nx1, ny1] = anchor(from, edge.fromSide ?? autoFrom);
  const [x2, y2, nx2, ny2] = anchor(to, edge.toSide ?? autoTo);
  const pull = Math.min(150, Math.max(30, Math.hypot(x2 - x1, y2 - y1) / 3));
  const c1 = [x1 + nx1 * pull, y1 + ny1 * pull];
  const c2 = [x2 + nx2 * pull, y2 + ny2 * pull];
  const { className, hex } = paint(edge.color, palette);
  const path = s('path', {
    class: 'edge-line',
    d: `M${x1},${y1} C${c1[0]},${c1[1]} ${c2[0]},${c2[1]} ${x2},${y2}`,
    stroke: hex,
    'marker-end': (edge.toEnd ?? 'arrow') === 'arrow' ? marker(edge.color) : null,
    'marker-start': edge.fromEnd === 'arrow' ? marker(edge.color) : null,
  });
  // The midpoint of the cubic curve, where Obsidian puts the label.
  const mx = (x1 + 3 * c1[0] + 3 * c2[0] + x2) / 8;
  const my = (y1 + 3 * c1[1] + 3 * c2[1] + y2) / 8;
  return s(
    'g',
    { class: `edge ${className}`, 'data-id': edge.id },
    path,
    edge.label ? s('text', { class: 'edge-label', x: mx, y: my, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, edge.label) : null,
  );
}
