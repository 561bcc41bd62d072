/** The browser entrypoint: WebSocket only; the wasm is fetched beside this module. */

import { makeCreatePool, type RuntimeBinding } from './core.js';
import init, { WasmPool } from './wasm/edgepg.js';

let loading: Promise<unknown> | undefined;

const binding: RuntimeBinding = {
  load() {
    loading ??= init({ module_or_path: new URL('./wasm/edgepg_bg.wasm', import.meta.url) });
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
