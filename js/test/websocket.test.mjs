// edgepg in Node over WebSocket through edgepg-proxy (EDGEPG_WS_URL), with the `ws` package as
// the `WebSocket` constructor (Node 20 has no global one): the core checks against PgBouncer
// and Postgres, proxy refusals, and a clean exit after end().

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ConnectionError, createPool } from 'edgepg';
import WebSocket from 'ws';

import { coreSuite, env, rejectsConnection, runChild } from './core-suite.mjs';

/** The driver's `webSocketUrl` template for the stack's proxy (Neon-style `?address=`). */
export function webSocketTemplate() {
  const base = env('EDGEPG_WS_URL');
  return `${base}${base.includes('?') ? '&' : '?'}address={host}:{port}`;
}

const overWebSocket = (variable) => (options) =>
  createPool(env(variable), { webSocketUrl: webSocketTemplate(), WebSocket, ...options });

coreSuite('ws via pgbouncer', { createPool: overWebSocket('EDGEPG_URL_BOUNCER'), concurrency: 50 });
coreSuite('ws direct', { createPool: overWebSocket('EDGEPG_URL_SCRAM'), concurrency: 50 });

describe('websocket transport', () => {
  test('EDGEPG_WS_URL is set (the stack runs the proxy)', () => {
    assert.match(env('EDGEPG_WS_URL'), /^wss?:\/\//);
  });

  test('webSocketUrl as a function gets the host and port', async () => {
    const calls = [];
    const { hostname, port } = new URL(env('EDGEPG_URL_BOUNCER'));
    const db = createPool(env('EDGEPG_URL_BOUNCER'), {
      max: 1,
      WebSocket,
      webSocketUrl: (host, p) => {
        calls.push([host, p]);
        return webSocketTemplate().replace('{host}', host).replace('{port}', String(p));
      },
    });
    try {
      assert.deepEqual(await db.sql`SELECT ${'fn'}::text AS via`, [{ via: 'fn' }]);
      assert.deepEqual(calls, [[hostname, Number(port)]]);
    } finally {
      await db.end();
    }
  });

  test('an upstream the proxy does not allow is ConnectionError refused, not executed', async () => {
    const db = createPool('postgres://u:pw@127.0.0.1:1/db', { max: 1, webSocketUrl: webSocketTemplate(), WebSocket });
    try {
      const e = await rejectsConnection(db.sql`SELECT 1`, 'refused');
      assert.equal(e.outcome, 'not_executed');
    } finally {
      await db.end();
    }
  });

  test('a proxy that is not listening is ConnectionError refused', async () => {
    const db = createPool(env('EDGEPG_URL_BOUNCER'), { max: 1, webSocketUrl: 'ws://127.0.0.1:1/v2?address={host}:{port}', WebSocket });
    try {
      await rejectsConnection(db.sql`SELECT 1`, 'refused');
    } finally {
      await db.end();
    }
  });

  test('without a WebSocket constructor on Node 20 the error says so', async (t) => {
    if (globalThis.WebSocket) {
      // Node 22+ has a global WebSocket: then the default must simply work.
      const db = createPool(env('EDGEPG_URL_BOUNCER'), { max: 1, webSocketUrl: webSocketTemplate() });
      try {
        assert.deepEqual(await db.sql`SELECT 1 AS one`, [{ one: 1 }]);
      } finally {
        await db.end();
      }
      return;
    }
    t.diagnostic('no global WebSocket in this Node');
    const db = createPool(env('EDGEPG_URL_BOUNCER'), { max: 1, webSocketUrl: webSocketTemplate() });
    try {
      const e = await rejectsConnection(db.sql`SELECT 1`, 'refused');
      assert.ok(e instanceof ConnectionError);
      assert.match(e.message, /WebSocket/);
    } finally {
      await db.end();
    }
  });

  test('a wrong password through the proxy is ConnectionError auth_failed', async () => {
    const url = new URL(env('EDGEPG_URL_BOUNCER'));
    url.password = 'definitely-Wrong-pw-4821';
    const db = createPool(url.href, { max: 1, webSocketUrl: webSocketTemplate(), WebSocket });
    try {
      await rejectsConnection(db.sql`SELECT 1`, 'auth_failed');
    } finally {
      await db.end();
    }
  });

  test('a large result crosses in many frames', async () => {
    const db = overWebSocket('EDGEPG_URL_BOUNCER')({ max: 1 });
    try {
      const rows = await db.sql`SELECT g AS i, repeat('x', 1000) AS pad FROM generate_series(1, ${3000}::int) g`;
      assert.equal(rows.length, 3000);
      assert.deepEqual(rows[2999], { i: 3000, pad: 'x'.repeat(1000) });
      const big = 'y'.repeat(2_000_000);
      const [echo] = await db.sql`SELECT length(${big}::text) AS n, md5(${big}::text) = md5(repeat('y', 2000000)) AS same`;
      assert.deepEqual(echo, { n: 2_000_000, same: true });
    } finally {
      await db.end();
    }
  });

  test('after end() the process exits by itself (no dangling WebSockets)', async () => {
    const code = `
      import { createPool } from 'edgepg';
      import WebSocket from 'ws';
      const webSocketUrl = ${JSON.stringify(webSocketTemplate())};
      const db = createPool(process.env.EDGEPG_URL_BOUNCER, { max: 3, webSocketUrl, WebSocket });
      await Promise.all([
        db.sql\`SELECT 1\`, db.sql\`SELECT 2\`,
        db.transaction(async (tx) => tx.sql\`SELECT 3\`),
        db.batch([db.sql\`SELECT 4\`]),
      ]);
      await db.end();
      console.log('ended');
    `;
    const { status, stdout, stderr, elapsed } = await runChild(code, 10_000);
    assert.equal(status, 0, `child failed: ${stderr}`);
    assert.equal(stdout.trim(), 'ended');
    assert.ok(elapsed < 5000, `the child took ${elapsed} ms to exit after end()`);
  });
});
