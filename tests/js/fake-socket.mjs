/**
 * An in-process stand-in for the server end of client.js's WebSocket, for unit tests that need
 * to order every frame, drop and timer by hand (the real server is driven by live.test.mjs).
 *
 * `new FakeServer()` hands out a `WebSocket` class to pass as the client's option; every socket
 * the client opens is kept in `sockets`, and the test plays the server on it: `hello`, `answer`,
 * `fail`, `event`, `drop`.
 */

export class FakeServer {
  /** @type {FakeSocket[]} every socket the client opened, oldest first */
  sockets = [];

  /** The class to give the client as `options.WebSocket`. */
  get WebSocket() {
    const server = this;
    return class extends FakeSocket {
      /** @param {string} url */
      constructor(url) {
        super(url);
        server.sockets.push(this);
      }
    };
  }

  /** The socket the client opened last. */
  get socket() {
    const socket = this.sockets.at(-1);
    if (!socket) throw new Error('the client opened no socket');
    return socket;
  }
}

export class FakeSocket {
  /** @param {string} url */
  constructor(url) {
    this.url = url;
    /** @type {any[]} frames the client sent, parsed */
    this.sent = [];
    /** @type {{code: number, reason: string} | null} set once the client closed it */
    this.closedWith = null;
    /** @type {((event: {data: unknown}) => void) | null} */
    this.onmessage = null;
    /** @type {((event: {code: number, reason: string}) => void) | null} */
    this.onclose = null;
    /** @type {((event: unknown) => void) | null} */
    this.onerror = null;
  }

  // -- what the client calls ---------------------------------------------------------------------

  /** @param {string} text */
  send(text) {
    if (this.closedWith) throw new Error(`sent on a closed socket: ${text}`);
    this.sent.push(JSON.parse(text));
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  close(code, reason) {
    this.closedWith = { code, reason };
    // As in a browser, the close event comes later, not inside close().
    setImmediate(() => this.onclose?.({ code, reason }));
  }

  // -- what the test calls, as the server ---------------------------------------------------------

  /** @param {unknown} message */
  receive(message) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** @param {string} epoch */
  hello(epoch) {
    this.receive({ jsonrpc: '2.0', method: 'server.hello', params: { name: 'canvas-live', version: '0.1.0', epoch } });
  }

  /**
   * The requests (frames with an id) the client sent for `method`.
   *
   * @param {string} method
   */
  requests(method) {
    return this.sent.filter((frame) => frame.method === method && frame.id !== undefined);
  }

  /**
   * The last request the client sent for `method`; fails the test if there is none.
   *
   * @param {string} method
   */
  request(method) {
    const request = this.requests(method).at(-1);
    if (!request) throw new Error(`no ${method} request among ${JSON.stringify(this.sent)}`);
    return request;
  }

  /**
   * @param {{id: number}} request
   * @param {unknown} result
   */
  answer(request, result) {
    this.receive({ jsonrpc: '2.0', id: request.id, result });
  }

  /**
   * @param {{id: number}} request
   * @param {{code: number, message: string, data?: Record<string, unknown>}} error
   */
  fail(request, error) {
    this.receive({ jsonrpc: '2.0', id: request.id, error });
  }

  /**
   * Answer the client's last `subscribe` as the server would, with `recovered` as given.
   *
   * @param {string} epoch
   * @param {Record<string, boolean>} [recovered]
   */
  confirmSubscribe(epoch, recovered = {}) {
    const request = this.request('subscribe');
    this.answer(request, { subscribed: request.params.topics, epoch, replayed: 0, recovered });
  }

  /**
   * @param {string} method
   * @param {string} topic
   * @param {number} seq
   * @param {Record<string, unknown>} [fields]
   */
  event(method, topic, seq, fields = {}) {
    this.receive({ jsonrpc: '2.0', method, params: { topic, seq, ...fields } });
  }

  /**
   * The connection is lost (the server went away, the network failed).
   *
   * @param {number} [code]
   * @param {string} [reason]
   */
  drop(code = 1006, reason = '') {
    this.onclose?.({ code, reason });
  }

  /** The connection failed: an `error` event, which a browser follows with `close` and Node may not. */
  error() {
    this.onerror?.({ type: 'error' });
  }
}

/** Let the client's promise chains run (it awaits between frames). */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}
