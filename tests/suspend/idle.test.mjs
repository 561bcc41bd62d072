// pool.idle(): what a platform's waitUntil holds so the instance is not frozen with open
// connections. It must settle once every connection has been closed — idle ones after
// idleTimeoutMs, not before — and the server must then hold no backend of the pool.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { createPool } from 'edgepg';

import { backendsOf, env, sleep, uniq, waitFor, withAppName } from './lib.mjs';

const IDLE = 1500;

describe('pool.idle()', () => {
  test('settles after idleTimeoutMs, not before, and leaves no backend on the server', async (t) => {
    const app = uniq('suspend_idle');
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), app), { max: 3, idleTimeoutMs: IDLE });
    const removed = [];
    db.on('remove', () => removed.push(Date.now()));
    try {
      // Three connections at once, then a last query on one of them.
      await Promise.all([1, 2, 3].map(() => db.query('SELECT pg_sleep(0.1)')));
      await db.query('SELECT 1');
      const lastRelease = Date.now();
      const busy = await backendsOf(app);
      assert.equal(busy.length, 3, 'three backends while the pool holds three connections');
      assert.equal(db.stats().idle, 3);

      let settled = false;
      const idle = db.idle().then(() => { settled = true; });
      await sleep(IDLE / 2);
      assert.equal(settled, false, 'idle() has not settled halfway through idleTimeoutMs');
      await idle;
      const elapsed = Date.now() - lastRelease;
      const stats = db.stats();
      // The backends exit on our Terminate; give them a moment to leave pg_stat_activity.
      const closedAt = Date.now();
      await waitFor(async () => (await backendsOf(app)).length === 0, 2000, `the backends of ${app} to exit`);
      const serverLag = Date.now() - closedAt;
      t.diagnostic(JSON.stringify({ elapsed, idleTimeoutMs: IDLE, serverLagMs: serverLag, stats, removedAfterMs: removed.map((r) => r - lastRelease) }));
      assert.ok(elapsed >= IDLE - 20, `settled after ${elapsed} ms: not before idleTimeoutMs (${IDLE})`);
      assert.ok(elapsed <= IDLE + 1500, `settled ${elapsed - IDLE} ms after idleTimeoutMs: roughly then`);
      assert.equal(stats.open, 0, 'no connection counted open');
      assert.equal(stats.idle, 0);
      assert.equal(removed.length, 3, 'three remove events');
    } finally {
      await db.end();
    }
  });

  test('settles at once for a pool that never connected', async () => {
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), uniq('suspend_idle0')), { idleTimeoutMs: 60_000 });
    try {
      const start = Date.now();
      await db.idle();
      assert.ok(Date.now() - start < 100);
    } finally {
      await db.end();
    }
  });

  test('waits for a busy connection to come back, then for its idle timeout', async (t) => {
    const app = uniq('suspend_idle_busy');
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), app), { max: 1, idleTimeoutMs: 500 });
    try {
      await db.query('SELECT 1');
      const start = Date.now();
      const running = db.query('SELECT pg_sleep(1)');
      const idle = db.idle();
      await running;
      const returned = Date.now();
      await idle;
      const after = Date.now() - returned;
      t.diagnostic(JSON.stringify({ queryMs: returned - start, idleAfterReturnMs: after }));
      assert.ok(returned - start >= 900, 'the query ran its second');
      assert.ok(after >= 480, `idle() settled ${after} ms after the connection came back: not before its idle timeout`);
      await waitFor(async () => (await backendsOf(app)).length === 0, 2000, `the backend of ${app} to exit`);
    } finally {
      await db.end();
    }
  });
});

describe('pool events', () => {
  test('connect, acquire, release in order; a listener removed with off() is not called', async () => {
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), uniq('suspend_events')), { max: 1, idleTimeoutMs: 500 });
    const seen = [];
    const removedListener = () => seen.push('removed listener called');
    try {
      for (const e of ['connect', 'acquire', 'release', 'remove']) db.on(e, () => seen.push(e));
      db.on('release', removedListener);
      assert.equal(db.off('release', removedListener), db, 'off() chains');
      await db.query('SELECT 1');
      await db.query('SELECT 2');
      await db.idle();
      assert.deepEqual(seen, ['connect', 'acquire', 'release', 'acquire', 'release', 'remove']);
    } finally {
      await db.end();
    }
  });

  test('events flow only while someone listens, from the first on() to the last off()', async () => {
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), uniq('suspend_events_late')), { max: 1 });
    const seen = [];
    const listener = () => seen.push('release');
    try {
      await db.query('SELECT 1');
      db.on('release', listener);
      await db.query('SELECT 2');
      db.off('release', listener);
      await db.query('SELECT 3');
      db.on('release', listener);
      await db.query('SELECT 4');
      await new Promise((ok) => setTimeout(ok, 20)); // events are delivered asynchronously
      assert.deepEqual(seen, ['release', 'release']);
    } finally {
      await db.end();
    }
  });
});
