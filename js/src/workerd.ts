/**
 * The Cloudflare Workers entrypoint: the wasm is imported as a module (Workers cannot compile
 * wasm from bytes) and sockets come from `connect()` in `cloudflare:sockets`. No other entry
 * imports `cloudflare:sockets`.
 */

import { connect } from 'cloudflare:sockets';

import { makeCreatePool, type RuntimeBinding } from './core.js';
import type { EdgeSocket } from './types.js';
import wasmModule from './wasm/edgepg_bg.wasm';
import { initSync, WasmPool } from './wasm/edgepg.js';

let loaded = false;

const binding: RuntimeBinding = {
  load() {
    if (!loaded) {
      initSync({ module: wasmModule });
      loaded = true;
    }
    return WasmPool as never;
  },
  transport(options) {
    if (options.webSocketUrl) {
      return { kind: 'websocket', url: options.webSocketUrl, webSocket: options.WebSocket, isolatedRequests: true };
    }
    // A Workers socket belongs to the request that opened it: requests never wait on each
    // other's connections (see `isolated_requests` in src/pool/mod.rs).
    return { kind: 'socket', factory: workersSocket, isolatedRequests: true };
  },
};

/** Adapts a Workers socket to the driver's socket interface. */
export async function workersSocket(host: string, port: number): Promise<EdgeSocket> {
  let socket = connect({ hostname: host, port }, { secureTransport: 'starttls', allowHalfOpen: false });
  let writer = socket.writable.getWriter();
  let reader = socket.readable.getReader();
  await socket.opened;
  return {
    security: 'starttls',
    write(data) {
      return writer.write(data);
    },
    async read() {
      const { value, done } = await reader.read();
      return done ? null : (value ?? new Uint8Array(0));
    },
    async startTls() {
      writer.releaseLock();
      reader.releaseLock();
      socket = socket.startTls();
      writer = socket.writable.getWriter();
      reader = socket.readable.getReader();
      await socket.opened;
    },
    close() {
      socket.close().catch(() => {});
    },
  };
}

export const createPool = makeCreatePool(binding);
export { Pool, SqlQuery, Transaction } from './core.js';
export { PostgresError, ConnectionError } from './errors.js';
export type * from './types.js';
