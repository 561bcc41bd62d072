// Errors on idle connections never escape: a Node process sits idle with pools on PgBouncer
// and on Postgres directly while every backend of the direct pool is terminated (each idle
// socket receives a FATAL, then EOF) and PgBouncer is restarted (each idle socket gets EOF);
// a third pool goes through a TCP forwarder that resets its connections (ECONNRESET).
// Nothing may surface as an uncaught exception or an unhandled rejection, the process stays
// alive, and the next queries succeed. Twice: once queried before idleTimeoutMs (the dead
// connections are checked out: retry-once path) and once after it (the pool's idle reaper
// closes the dead sockets, writing Terminate into them).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  count, env, forwarder, procState, restartPgBouncer, sleep, startChild, terminateBackends, uniq,
  withAppName,
} from './lib.mjs';

const IDLE = 3000;

test('errors on idle sockets are absorbed: no uncaught exception, no unhandled rejection', async (t) => {
  const app = uniq('suspend_idle_err');
  const child = await startChild();
  const fwd = await forwarder(withAppName(env('EDGEPG_URL_SCRAM'), `${app}_rst`));
  const pools = ['direct', 'bouncer', 'reset'];
  try {
    await child.send({ cmd: 'pool', name: 'direct', url: withAppName(env('EDGEPG_URL_SCRAM'), app), options: { max: 2, idleTimeoutMs: IDLE } });
    await child.send({ cmd: 'pool', name: 'bouncer', url: withAppName(env('EDGEPG_URL_BOUNCER'), `${app}_b`), options: { max: 2, idleTimeoutMs: IDLE } });
    await child.send({ cmd: 'pool', name: 'reset', url: fwd.url, options: { max: 2, idleTimeoutMs: IDLE } });
    const warm = async () => {
      for (const name of pools) {
        const r = await child.send({ cmd: 'query', name, sql: 'SELECT pg_sleep(0.05)', concurrent: 2 });
        assert.deepEqual(r.runs.filter((x) => !x.ok), [], `warm-up on ${name}`);
        assert.equal(r.stats.idle, 2);
      }
    };
    const breakAll = async () => {
      const terminated = await terminateBackends(app);
      const bouncer = await restartPgBouncer();
      const reset = fwd.reset();
      return { terminated: terminated.length, bouncer, reset };
    };
    const report = [];
    for (const [round, waitMs] of [['before idleTimeoutMs', 1000], ['after idleTimeoutMs', IDLE + 1500]]) {
      await warm();
      const before = await child.send({ cmd: 'status' });
      const broke = await breakAll();
      await sleep(waitMs);
      assert.notEqual(procState(child.pid), 'gone', 'the process is alive');
      assert.equal(child.exited, null, 'the process did not exit');
      const idleStatus = await child.send({ cmd: 'status' });
      assert.deepEqual(idleStatus.uncaught, [], `no uncaught exception while idle (${round})`);
      assert.deepEqual(idleStatus.unhandled, [], `no unhandled rejection while idle (${round})`);
      const results = {};
      for (const name of pools) {
        const r = await child.send({ cmd: 'query', name, sql: 'SELECT 1 AS one', concurrent: 2 });
        results[name] = r.runs;
        assert.deepEqual(r.runs.filter((x) => !x.ok).map((x) => x.error), [], `queries on ${name} succeed (${round})`);
      }
      const after = await child.send({ cmd: 'status' });
      assert.deepEqual(after.uncaught, []);
      assert.deepEqual(after.unhandled, []);
      const perPool = {};
      for (const name of pools) {
        const n0 = before.pools[name].events.length;
        const events = after.pools[name].events.slice(n0);
        const idleEvents = idleStatus.pools[name].events.slice(n0);
        perPool[name] = {
          discardedBefore: before.pools[name].stats.discarded,
          discardedAfter: after.pools[name].stats.discarded,
          whileIdle: { error: count(idleEvents, 'error'), remove: count(idleEvents, 'remove') },
          onQuery: { error: count(events, 'error') - count(idleEvents, 'error'), remove: count(events, 'remove') - count(idleEvents, 'remove') },
          errorMessages: events.filter((e) => e.event === 'error').map((e) => e.detail),
        };
        assert.ok(perPool[name].discardedAfter >= perPool[name].discardedBefore + 2, `${name}: both dead connections were discarded`);
        assert.ok(count(events, 'remove') >= 2, `${name}: remove fired for both`);
      }
      report.push({ round, waitMs, broke, perPool });
    }
    t.diagnostic(JSON.stringify(report));
  } finally {
    const exit = await child.stop();
    await fwd.close();
    assert.equal(exit.code, 0, `the child exited cleanly (stderr: ${child.stderr})`);
  }
});
