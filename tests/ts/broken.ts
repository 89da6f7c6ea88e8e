// Mistakes a plugin could make with the client: tests/test_js_client.py expects `tsc --strict` to
// fail on exactly the lines marked `expect TS<code>`, with that code, and on no other line.

import { RpcError, connect } from 'canvas-live-client';

const client = connect('ws://127.0.0.1:8765/ws', { token: 's3cret' });

export function misspelled(): boolean {
  return client.state === 'opne'; // expect TS2367
}

export async function untyped(): Promise<number> {
  const result = await client.call('task.get', { id: '3f2a' });
  return result.progress.done; // expect TS18046
}

export function wrongName(error: unknown): boolean {
  return error instanceof RpcError && error.error === 'NOT_FUOND'; // expect TS2367
}

export const slow = connect('ws://127.0.0.1:8765/ws', { timeout: '30s' }); // expect TS2322

export const stale: string = client.epoch; // expect TS2322
