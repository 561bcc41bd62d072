/**
 * The Vercel Edge / Next.js edge-route entrypoint (`edge-light`): WebSocket only, the wasm
 * imported with `?module` as Next's edge bundler requires.
 */

import { makeCreatePool, type RuntimeBinding } from './core.js';
import wasmModule from './wasm/edgepg_bg.wasm?module';
import init, { WasmPool } from './wasm/edgepg.js';

let loading: Promise<unknown> | undefined;

const binding: RuntimeBinding = {
  load() {
    loading ??= init({ module_or_path: wasmModule });
    return loading.then(() => WasmPool as never);
  },
  transport(options) {
    return { kind: 'websocket', url: options.webSocketUrl ?? 'wss://{host}/v2?address={host}:{port}', webSocket: options.WebSocket };
  },
};

export const createPool = makeCreatePool(binding);
export { Pool, SqlQuery, Transaction } from './core.js';
export { PostgresError, ConnectionError } from './errors.js';
export type * from './types.js';
