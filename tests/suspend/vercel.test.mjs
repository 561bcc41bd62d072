// attachDatabasePool from the real @vercel/functions (installed from the npm registry by
// scripts/test-suspend.sh). It duck-types the pool (`on` + `options.idleTimeoutMillis`, like
// pg's Pool), subscribes to `release`, and on every release hands the request's `waitUntil` a
// promise that settles idleTimeoutMillis + 100 ms later, so the function instance stays
// alive (not frozen) until the pool has closed its idle connections.
//
// The request context is provided the way Vercel's Node runtime does: an AsyncLocalStorage
// whose store ({ waitUntil, headers, ... }) is reached through
// globalThis[Symbol.for('@vercel/request-context')].get() (see get-context.js in the package).

import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, test } from 'node:test';

import { createPool } from 'edgepg';

import { backendsOf, env, uniq, waitFor, withAppName } from './lib.mjs';

const IDLE = 1200;

// attachDatabasePool only waits when it believes it runs on Vercel (not during a build).
process.env.VERCEL_URL = 'edgepg-suspend-test.vercel.app';
process.env.VERCEL_REGION = 'iad1';
const { attachDatabasePool } = await import('@vercel/functions');

const requestContext = new AsyncLocalStorage();
globalThis[Symbol.for('@vercel/request-context')] = { get: () => requestContext.getStore() };

/** Runs `fn` as one invocation with its own waitUntil; resolves to what it handed waitUntil. */
async function invoke(fn) {
  const waited = [];
  const context = {
    waitUntil(promise) {
      const entry = { at: Date.now(), settledAt: null };
      entry.done = Promise.resolve(promise).then(() => { entry.settledAt = Date.now(); });
      waited.push(entry);
    },
    headers: { 'x-vercel-id': uniq('iad1::req') },
  };
  await requestContext.run(context, fn);
  return waited;
}

describe('attachDatabasePool (@vercel/functions)', () => {
  test('accepts the pool, subscribes to release, and waits for the idle timeout', async (t) => {
    const app = uniq('suspend_vercel');
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), app), { max: 2, idleTimeoutMs: IDLE });
    assert.equal(db.options.idleTimeoutMillis, IDLE, 'options.idleTimeoutMillis mirrors idleTimeoutMs');

    const subscribed = [];
    const on = db.on.bind(db);
    db.on = (event, listener) => { subscribed.push(event); return on(event, listener); };
    const warnings = [];
    const warn = console.warn;
    console.warn = (...args) => { warnings.push(args.join(' ')); };
    try {
      assert.doesNotThrow(() => attachDatabasePool(db), 'the duck-typing accepts the edgepg pool');
      assert.deepEqual(subscribed, ['release'], 'it subscribed to release');
      db.on = on;

      const released = [];
      db.on('release', () => released.push(Date.now()));
      const waited = await invoke(async () => {
        assert.deepEqual((await db.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
      });
      await waitFor(() => released.length === 1 && waited.length === 1, 2000, 'release, then waitUntil');
      const open = await backendsOf(app);
      assert.equal(open.length, 1, 'the connection is open while waitUntil holds the instance');

      await waited[0].done;
      const heldMs = waited[0].settledAt - released[0];
      const statsAtSettle = db.stats();
      await waitFor(async () => db.stats().open === 0 && (await backendsOf(app)).length === 0, 1000,
        'the pool to have closed its connection once waitUntil settled');
      t.diagnostic(JSON.stringify({ heldMs, idleTimeoutMs: IDLE, statsAtSettle, warnings }));
      assert.ok(heldMs >= IDLE, `waitUntil's promise settled ${heldMs} ms after the release: not before idleTimeoutMillis`);
      assert.ok(heldMs < IDLE + 1000, `and not much later (${heldMs} ms)`);
      assert.equal(statsAtSettle.idle, 0, 'when waitUntil settles, the pool has retired its idle connection');
      assert.deepEqual(warnings.filter((w) => /outside of request scope/.test(w)), [],
        'the release listener ran inside the request context');
    } finally {
      console.warn = warn;
      db.on = on;
      await db.end();
    }
  });

  test('every release of a later invocation extends the wait in that invocation', async () => {
    const app = uniq('suspend_vercel2');
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), app), { max: 1, idleTimeoutMs: IDLE });
    const warnings = [];
    const warn = console.warn;
    console.warn = (...args) => { warnings.push(args.join(' ')); };
    try {
      attachDatabasePool(db);
      const first = await invoke(() => db.query('SELECT 1'));
      await waitFor(() => first.length === 1, 2000, 'waitUntil of the first invocation');
      const second = await invoke(async () => {
        await db.query('SELECT 2');
        await db.query('SELECT 3');
      });
      await waitFor(() => second.length === 2, 2000, 'a waitUntil per release in the second invocation');
      await Promise.all([...first, ...second].map((w) => w.done));
      // The earlier promise is resolved early when a newer release restarts the wait.
      assert.ok(second[1].settledAt - second[1].at >= IDLE, 'the last wait lasts the idle timeout');
      assert.deepEqual(warnings.filter((w) => /outside of request scope/.test(w)), []);
    } finally {
      console.warn = warn;
      await db.end();
    }
  });

  test('an idle_timeout from the connection string is what attachDatabasePool reads', async () => {
    const url = new URL(withAppName(env('EDGEPG_URL_SCRAM'), uniq('suspend_vercel3')));
    url.searchParams.set('idle_timeout', '7');
    const db = createPool(url.href);
    try {
      assert.equal(db.options.idleTimeoutMillis, 7000);
    } finally {
      await db.end();
    }
  });
});
