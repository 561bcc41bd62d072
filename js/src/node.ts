/** The Node.js entrypoint: TCP through `node:net` (TLS via `node:tls`), or WebSocket. */

import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { makeCreatePool, type RuntimeBinding } from './core.js';
import type { EdgeSocket } from './types.js';
import { initSync, WasmPool } from './wasm/edgepg.js';

let loaded = false;

const binding: RuntimeBinding = {
  load() {
    if (!loaded) {
      initSync({ module: readFileSync(new URL('./wasm/edgepg_bg.wasm', import.meta.url)) });
      loaded = true;
    }
    return WasmPool as never;
  },
  transport(options) {
    if (options.webSocketUrl) {
      return { kind: 'websocket', url: options.webSocketUrl, webSocket: options.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket };
    }
    return { kind: 'socket', factory: nodeSocket };
  },
};

/** Adapts a `node:net` socket to the driver's socket interface. */
export function nodeSocket(host: string, port: number): Promise<EdgeSocket> {
  return new Promise((resolve, reject) => {
    let sock: net.Socket | tls.TLSSocket = net.connect({ host, port });
    sock.setNoDelay(true);
    const chunks: Buffer[] = [];
    let buffered = 0;
    let ended = false;
    let failure: Error | null = null;
    let waiting: { resolve: (v: Uint8Array | null) => void; reject: (e: Error) => void } | null = null;

    const deliver = () => {
      if (!waiting) return;
      const w = waiting;
      if (chunks.length > 0) {
        waiting = null;
        const c = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        chunks.length = 0;
        buffered = 0;
        sock.resume();
        w.resolve(new Uint8Array(c.buffer, c.byteOffset, c.length));
      } else if (failure) {
        waiting = null;
        w.reject(failure);
      } else if (ended) {
        waiting = null;
        w.resolve(null);
      }
    };
    const wire = (s: net.Socket) => {
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        buffered += c.length;
        if (buffered > 1 << 20) s.pause();
        deliver();
      });
      s.on('end', () => { ended = true; deliver(); });
      s.on('close', () => { ended = true; deliver(); });
      // Always listened to: an error on an idle socket never crashes the process.
      s.on('error', (e: Error) => { failure = e; deliver(); });
    };
    wire(sock);

    const api: EdgeSocket = {
      security: 'starttls',
      write(data) {
        if (failure) throw failure;
        if (sock.destroyed || ended) throw new Error('the socket is closed');
        // Synchronous when the kernel takes it (no promise per query); a failure that shows up
        // later arrives through 'error' and fails the next read. Under backpressure, wait for
        // 'drain'.
        if (sock.write(data)) return;
        return new Promise<void>((ok, fail) => {
          const drained = () => {
            sock.off('close', closed);
            ok();
          };
          const closed = () => {
            sock.off('drain', drained);
            fail(failure ?? new Error('the socket closed'));
          };
          sock.once('drain', drained);
          sock.once('close', closed);
        });
      },
      async settle() {
        // Bytes already in the kernel (a FATAL, the peer's FIN) are read in the event loop's
        // poll phase. Called from a callback, the next check phase comes before any new poll:
        // the second setImmediate runs after one.
        await new Promise<void>((ok) => setImmediate(ok));
        await new Promise<void>((ok) => setImmediate(ok));
      },
      pending() {
        if (chunks.length > 0) {
          const c = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          chunks.length = 0;
          buffered = 0;
          sock.resume();
          return new Uint8Array(c.buffer, c.byteOffset, c.length);
        }
        return failure || ended ? null : undefined;
      },
      read() {
        if (chunks.length === 0 && !failure && !ended) {
          return new Promise((ok, fail) => { waiting = { resolve: ok, reject: fail }; });
        }
        return new Promise((ok, fail) => { waiting = { resolve: ok, reject: fail }; deliver(); });
      },
      startTls() {
        return new Promise<void>((ok, fail) => {
          const raw = sock;
          raw.removeAllListeners('data');
          raw.removeAllListeners('end');
          raw.removeAllListeners('close');
          const secure = tls.connect({ socket: raw, servername: net.isIP(host) ? undefined : host });
          secure.once('secureConnect', () => ok());
          secure.once('error', fail);
          sock = secure;
          wire(secure);
        });
      },
      close() {
        sock.destroy();
      },
    };
    sock.once('connect', () => resolve(api));
    sock.once('error', (e) => reject(e));
  });
}

export const createPool = makeCreatePool(binding);
export { Pool, SqlQuery, Transaction } from './core.js';
export { PostgresError, ConnectionError } from './errors.js';
export type * from './types.js';
