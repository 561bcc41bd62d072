// Real suspension: a child Node process holds a pool, is frozen with SIGSTOP while its pool is
// idle, its connections die meanwhile (PgBouncer restarted, or its backends terminated with
// pg_terminate_backend), then it is thawed and queries again. The next queries must succeed
// with no user-visible error, and nothing may escape as an uncaught exception or unhandled
// rejection. Freezes longer than idleTimeoutMs (the connections count as expired) and shorter
// (the dead connection is checked out: the retry-once path), with the next command delivered
// after the thaw or already waiting when the process is thawed (a serverless invocation is
// what thaws the instance).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { createPool } from 'edgepg';

import {
  backendsOf, busyWait, count, env, restartPgBouncer, restartPgBouncerSync, sleep, startChild,
  terminateBackends, terminateBackendsSync, uniq, waitStopped, withAppName,
} from './lib.mjs';

const SHORT_IDLE = 2000;
const LONG_IDLE = 60_000;

/**
 * One freeze: warm two connections, freeze, kill them, wait `freezeMs`, thaw, query twice
 * concurrently and once more. Returns what the child saw.
 */
async function freezeScenario(t, { target, idleTimeoutMs, freezeMs, delivery }) {
  const app = uniq(`suspend_${target}`);
  const url = withAppName(env(target === 'bouncer' ? 'EDGEPG_URL_BOUNCER' : 'EDGEPG_URL_SCRAM'), app);
  const child = await startChild();
  try {
    await child.send({ cmd: 'pool', name: 'p', url, options: { max: 2, idleTimeoutMs } });
    const warm = await child.send({ cmd: 'query', name: 'p', sql: 'SELECT pg_backend_pid() AS pid, pg_sleep(0.05)', concurrent: 2 });
    assert.deepEqual(warm.runs.filter((r) => !r.ok), [], 'warm-up queries succeed');
    assert.equal(warm.stats.idle, 2, 'two idle connections before the freeze');
    const warmPids = warm.runs.map((r) => r.rows[0].pid);
    if (target === 'direct') assert.deepEqual((await backendsOf(app)).sort(), [...warmPids].sort());

    child.freeze();
    const frozenAt = Date.now();
    await waitStopped(child.pid);
    let broke;
    if (target === 'bouncer') {
      broke = await restartPgBouncer();
    } else {
      broke = { terminated: await terminateBackends(app) };
      assert.equal(broke.terminated.length, 2, 'both backends terminated');
    }
    const left = freezeMs - (Date.now() - frozenAt);
    if (left > 0) await sleep(left);

    let pending;
    if (delivery === 'queued') pending = child.write({ cmd: 'query', name: 'p', sql: 'SELECT pg_backend_pid() AS pid', concurrent: 2 });
    child.thaw();
    const frozenMs = Date.now() - frozenAt;
    if (delivery === 'after') {
      await sleep(300);
      pending = child.write({ cmd: 'query', name: 'p', sql: 'SELECT pg_backend_pid() AS pid', concurrent: 2 });
    }
    const burst = await pending;
    const burstStatus = await child.send({ cmd: 'status' });
    const again = await child.send({ cmd: 'query', name: 'p', sql: 'SELECT pg_backend_pid() AS pid' });
    const status = await child.send({ cmd: 'status' });
    const { stats, events } = status.pools.p;
    const since = events.filter((e) => e.at >= frozenAt);
    const summary = {
      frozenMs,
      idleTimeoutMs,
      broke,
      errorsAfterThaw: [...burst.runs, ...again.runs].filter((r) => !r.ok).map((r) => r.error),
      statsBefore: warm.stats,
      statsAfterBurst: burstStatus.pools.p.stats,
      stats,
      eventsSinceFreeze: since.map((e) => `${e.event}${e.during ? '@' + e.during : '@idle'}${e.detail ? ' (' + e.detail + ')' : ''}`),
      uncaught: status.uncaught,
      unhandled: status.unhandled,
    };
    t.diagnostic(JSON.stringify(summary));

    assert.deepEqual(summary.errorsAfterThaw, [], 'no user-visible error after the thaw');
    assert.deepEqual(status.uncaught, [], 'no uncaught exception');
    assert.deepEqual(status.unhandled, [], 'no unhandled rejection');
    if (target === 'direct') {
      const after = [...burst.runs, ...again.runs].map((r) => r.rows[0].pid);
      for (const pid of after) assert.ok(!warmPids.includes(pid), `a terminated backend (${pid}) answered`);
    }
    assert.ok(stats.discarded >= 2, 'both dead connections were discarded');
    assert.ok(stats.created >= 3, 'new connections replaced the dead ones');
    return { summary, since, burstStats: burstStatus.pools.p.stats, warmStats: warm.stats };
  } finally {
    const exit = await child.stop();
    assert.equal(exit.code, 0, `child exited cleanly (stderr: ${child.stderr})`);
  }
}

for (const target of ['bouncer', 'direct']) {
  const how = target === 'bouncer' ? 'PgBouncer restarted' : 'backends terminated';
  describe(`${target}: frozen while ${how}`, () => {
    for (const delivery of ['after', 'queued']) {
      const when = delivery === 'after' ? 'command after the thaw' : 'command waiting at the thaw';
      test(`freeze longer than idleTimeoutMs (${when}): expired connections are never used`, async (t) => {
        const { summary, since, burstStats, warmStats } = await freezeScenario(t, {
          target, idleTimeoutMs: SHORT_IDLE, freezeMs: SHORT_IDLE + 1200, delivery,
        });
        assert.ok(summary.frozenMs > SHORT_IDLE, 'the freeze outlasted idleTimeoutMs');
        // Expired: nothing was checked out and found dead (that is the `error` event of the
        // retry path), and no checkout reused a connection from before the freeze.
        assert.equal(count(since, 'error'), 0, 'no expired connection was checked out');
        assert.equal(burstStats.reused, warmStats.reused, 'no reuse across the freeze');
      });
      test(`freeze shorter than idleTimeoutMs (${when}): the dead connection is replaced, retried once`, async (t) => {
        const { summary, since } = await freezeScenario(t, {
          target, idleTimeoutMs: LONG_IDLE, freezeMs: 1500, delivery,
        });
        assert.ok(summary.frozenMs < LONG_IDLE, `the freeze (${summary.frozenMs} ms) stayed shorter than idleTimeoutMs`);
        assert.ok(count(since, 'error') >= 1, 'the broken idle connection was reported as a pool error event');
        assert.ok(count(since, 'remove') >= 2, 'the dead connections were removed');
      });
    }
  });
}

describe('stale-on-resume uses the wall clock', () => {
  // A VM snapshot or a frozen microVM can resume with timers that have not caught up while
  // Date.now() has jumped: the age check on checkout must use the wall clock, not a timer.
  test('after Date.now() jumps past idleTimeoutMs, the idle connection is replaced on checkout', async (t) => {
    const app = uniq('suspend_clock');
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), app), { max: 1, idleTimeoutMs: 5000 });
    const realNow = Date.now;
    try {
      const first = (await db.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const reusedPid = (await db.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      assert.equal(reusedPid, first, 'without a jump the idle connection is reused');
      const before = db.stats();
      const offset = 60_000;
      Date.now = () => realNow.call(Date) + offset;
      const after = (await db.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const stats = db.stats();
      t.diagnostic(JSON.stringify({ before, stats }));
      assert.notEqual(after, first, 'the connection idle for "60 s" was not used');
      assert.equal(stats.reused, before.reused, 'no reuse');
      assert.equal(stats.created, before.created + 1);
      assert.ok(stats.discarded >= before.discarded + 1);
    } finally {
      Date.now = realNow;
      await db.end();
    }
  });
});

describe('a connection that died while the event loop was busy', () => {
  // The FATAL (terminated backend) or the EOF (PgBouncer restarted) is already in the socket's
  // kernel buffer when the query is issued, but Node has not read it yet: the handler was busy
  // with synchronous work since it arrived. The server never saw the query, so it is safe to
  // retry: a connection idle for a while first lets one event-loop turn pass (settle()), so
  // the death is seen before anything is written.
  for (const target of ['direct', 'bouncer']) {
    test(`${target}: the first query of the checkout is retried, not failed`, async (t) => {
      const app = uniq(`suspend_busy_${target}`);
      const db = createPool(withAppName(env(target === 'bouncer' ? 'EDGEPG_URL_BOUNCER' : 'EDGEPG_URL_SCRAM'), app), { max: 1, idleTimeoutMs: 60_000 });
      const log = [];
      for (const e of ['connect', 'remove', 'error']) db.on(e, () => log.push(e));
      try {
        await db.query('SELECT 1');
        const before = db.stats();
        if (target === 'bouncer') restartPgBouncerSync();
        else assert.equal(terminateBackendsSync(app).length, 1);
        busyWait(300);
        const result = await db.query('SELECT 42 AS x').then((r) => ({ ok: true, rows: r.rows }), (e) => ({ ok: false, e }));
        const e = result.e;
        t.diagnostic(JSON.stringify({
          error: e && { class: e.constructor.name, code: e.code, outcome: e.outcome, message: e.message },
          before, stats: db.stats(), events: log,
        }));
        assert.equal(result.ok, true, `the query failed: ${e?.constructor?.name} ${e?.code} outcome=${e?.outcome}`);
        assert.deepEqual(result.rows, [{ x: 42 }]);
      } finally {
        await db.end();
      }
    });
  }
});
