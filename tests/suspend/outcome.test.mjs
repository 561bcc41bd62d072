// Unknown outcome, no double write: a write in flight when its backend is terminated is
// reported with `outcome: 'unknown'` and never retried, even as the first request of a checkout
// of a reused connection (the one case the pool does retry, when the connection was found dead
// before the server could act). Counted with a sequence: nextval() is not rolled back, so the
// sequence says how many times the statement ran. Also: inside an explicit transaction
// nothing is retried after its first statement, while the first statement on a connection
// that died idle is retried transparently.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ConnectionError, createPool, PostgresError } from 'edgepg';

import {
  admin, env, forwarder, psql, sleep, terminateBackends, uniq, waitFor, withAppName,
} from './lib.mjs';

const table = uniq('suspend_writes');
// psql as the role the pools use, straight to Postgres: the table and sequences are its own.
const owner = (sql) => psql(env('EDGEPG_URL_SCRAM'), sql);

before(async () => {
  await owner(`CREATE TABLE ${table} (id serial PRIMARY KEY, tag text NOT NULL, n bigint)`);
});
after(async () => {
  await owner(`DROP TABLE IF EXISTS ${table}`);
});

/** A fresh sequence; `runs()` says how many times nextval() was called on it. */
async function counter() {
  const seq = uniq('suspend_seq');
  await owner(`CREATE SEQUENCE ${seq}`);
  return {
    seq,
    async runs() {
      const [[last, called]] = await owner(`SELECT last_value, is_called FROM ${seq}`);
      return called === 't' ? Number(last) : 0;
    },
    drop: () => owner(`DROP SEQUENCE IF EXISTS ${seq}`),
  };
}

const rowsTagged = async (tag) => Number((await owner(`SELECT count(*) FROM ${table} WHERE tag = '${tag}'`))[0][0]);

/** The server pid running a statement that contains `marker`, once it is active. */
async function activeBackend(marker) {
  let pid;
  await waitFor(async () => {
    const rows = await admin(`SELECT pid FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%${marker}%'`);
    if (rows.length === 1) pid = Number(rows[0][0]);
    return pid !== undefined;
  }, 5000, `the statement ${marker} to be running`);
  return pid;
}

function events(pool) {
  const log = [];
  for (const e of ['connect', 'acquire', 'release', 'remove', 'error']) pool.on(e, () => log.push(e));
  return log;
}

describe('a write in flight when its backend is terminated', () => {
  for (const target of ['direct', 'bouncer']) {
    test(`${target}: outcome unknown, not retried, ran once`, async (t) => {
      const app = uniq(`suspend_uo_${target}`);
      const db = createPool(withAppName(env(target === 'bouncer' ? 'EDGEPG_URL_BOUNCER' : 'EDGEPG_URL_SCRAM'), app), { max: 1, idleTimeoutMs: 30_000 });
      const log = events(db);
      const c = await counter();
      try {
        // A reused connection: its first request of a checkout is where the pool may retry.
        await db.query('SELECT 1');
        const before = db.stats();
        const marker = uniq('inflight');
        const write = db.query(
          `/* ${marker} */ WITH ins AS (INSERT INTO ${table} (tag, n) VALUES ($1, nextval('${c.seq}')) RETURNING id) SELECT id, pg_sleep(2) FROM ins`,
          [marker],
        ).then((r) => ({ ok: true, rows: r.rows }), (e) => ({ ok: false, e }));
        const pid = await activeBackend(marker);
        assert.deepEqual(await admin(`SELECT pg_terminate_backend(${pid})`), [['t']]);
        const result = await write;
        const statsAfter = db.stats();
        // Had it been retried, the retry would have finished its pg_sleep(2) and committed.
        await sleep(2500);
        const runs = await c.runs();
        const rows = await rowsTagged(marker);
        const e = result.e;
        t.diagnostic(JSON.stringify({
          error: e && { class: e.constructor.name, code: e.code, outcome: e.outcome, severity: e.severity, message: e.message },
          runs, rows, before, statsAfter, events: log,
        }));
        assert.equal(result.ok, false, 'the write must not succeed (a success means it was retried)');
        assert.ok(e instanceof PostgresError || e instanceof ConnectionError, `an edgepg error, got ${e}`);
        if (e instanceof PostgresError) assert.match(e.code, /^57P01$|^08/, 'a FATAL: admin shutdown or a connection failure');
        assert.equal(e.outcome, 'unknown', 'the statement may have run: outcome unknown');
        assert.equal(runs, 1, 'the statement ran exactly once (nextval counted once)');
        assert.equal(rows, 0, 'the terminated statement was rolled back, and nothing wrote it again');
        assert.equal(statsAfter.created, before.created, 'no replacement connection was opened to retry it');
        // The pool recovers for the next request.
        assert.deepEqual((await db.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
      } finally {
        await db.end();
        await c.drop();
      }
    });
  }
});

test('a connection cut mid-statement (no FATAL) is ConnectionError, outcome unknown, not retried', async (t) => {
  const app = uniq('suspend_cut');
  const fwd = await forwarder(withAppName(env('EDGEPG_URL_SCRAM'), app));
  const db = createPool(fwd.url, { max: 1, idleTimeoutMs: 30_000 });
  const c = await counter();
  try {
    await db.query('SELECT 1');
    const before = db.stats();
    const marker = uniq('cut');
    const write = db.query(
      `/* ${marker} */ WITH ins AS (INSERT INTO ${table} (tag, n) VALUES ($1, nextval('${c.seq}')) RETURNING id) SELECT id, pg_sleep(1.5) FROM ins`,
      [marker],
    ).then((r) => ({ ok: true, rows: r.rows }), (e) => ({ ok: false, e }));
    await activeBackend(marker);
    assert.equal(fwd.cut(), 1);
    const result = await write;
    const statsAfter = db.stats();
    // The backend notices the lost client only when it answers: the INSERT commits. That is
    // exactly why the outcome is unknown and the driver must not run it again.
    await sleep(2500);
    const runs = await c.runs();
    const rows = await rowsTagged(marker);
    const e = result.e;
    t.diagnostic(JSON.stringify({
      error: e && { class: e.constructor.name, code: e.code, outcome: e.outcome, message: e.message },
      runs, rows, before, statsAfter,
    }));
    assert.equal(result.ok, false, 'the write must not succeed (a success means it was retried)');
    assert.ok(e instanceof ConnectionError, `a ConnectionError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.outcome, 'unknown');
    assert.equal(runs, 1, 'the statement ran exactly once');
    assert.equal(rows, 1, 'it committed server-side although the client saw an error (why unknown matters)');
    assert.equal(statsAfter.created, before.created, 'no replacement connection was opened to retry it');
    assert.deepEqual((await db.query('SELECT 4 AS four')).rows, [{ four: 4 }]);
  } finally {
    await db.end();
    await fwd.close();
    await c.drop();
  }
});

describe('explicit transactions', () => {
  test('nothing is retried after the first statement', async (t) => {
    const app = uniq('suspend_tx');
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), app), { max: 1, idleTimeoutMs: 30_000 });
    const c = await counter();
    const tag = uniq('tx');
    try {
      await db.query('SELECT 1');
      const before = db.stats();
      let second;
      const outcome = await db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} (tag, n) VALUES ($1, nextval('${c.seq}'))`, [tag]);
        // The backend dies while the transaction is open and idle.
        assert.equal((await terminateBackends(app)).length, 1);
        await sleep(100);
        try {
          await tx.query(`INSERT INTO ${table} (tag, n) VALUES ($1, nextval('${c.seq}'))`, [tag]);
          second = { ok: true };
        } catch (e) {
          second = { ok: false, e };
          throw e;
        }
      }).then(() => ({ ok: true }), (e) => ({ ok: false, e }));
      const runs = await c.runs();
      const rows = await rowsTagged(tag);
      const e = second?.e;
      t.diagnostic(JSON.stringify({
        secondStatement: e && { class: e.constructor.name, code: e.code, outcome: e.outcome, message: e.message },
        transaction: outcome.e && { class: outcome.e.constructor.name, code: outcome.e.code, outcome: outcome.e.outcome },
        runs, rows, before, after: db.stats(),
      }));
      assert.equal(second?.ok, false, 'the second statement fails: its transaction is gone');
      assert.equal(outcome.ok, false, 'the transaction rejects');
      assert.equal(runs, 1, 'only the first INSERT ever ran: the second was not retried elsewhere');
      assert.equal(rows, 0, 'the transaction was rolled back; nothing committed outside it');
      assert.deepEqual((await db.query('SELECT 3 AS three')).rows, [{ three: 3 }]);
    } finally {
      await db.end();
      await c.drop();
    }
  });

  test('the first statement on a connection that died idle is retried once, transparently', async (t) => {
    const app = uniq('suspend_tx1');
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), app), { max: 1, idleTimeoutMs: 30_000 });
    const log = events(db);
    const c = await counter();
    const tag = uniq('tx1');
    try {
      await db.query('SELECT 1');
      assert.equal((await terminateBackends(app)).length, 1);
      await sleep(100);
      const value = await db.transaction(async (tx) => {
        const r = await tx.query(`INSERT INTO ${table} (tag, n) VALUES ($1, nextval('${c.seq}')) RETURNING n`, [tag]);
        await tx.query(`INSERT INTO ${table} (tag, n) VALUES ($1, nextval('${c.seq}'))`, [tag]);
        return r.rows[0].n;
      });
      const runs = await c.runs();
      t.diagnostic(JSON.stringify({ value: String(value), runs, stats: db.stats(), events: log }));
      assert.equal(await rowsTagged(tag), 2, 'both statements committed once');
      assert.equal(runs, 2, 'each INSERT ran once');
      assert.ok(log.includes('error'), 'the dead idle connection was reported as a pool error event');
    } finally {
      await db.end();
      await c.drop();
    }
  });
});

describe('the retry-once path', () => {
  test('a batch on a connection that died idle is retried once, transparently', async (t) => {
    const app = uniq('suspend_batch');
    const db = createPool(withAppName(env('EDGEPG_URL_SCRAM'), app), { max: 1, idleTimeoutMs: 30_000 });
    const c = await counter();
    const tag = uniq('batch');
    try {
      await db.query('SELECT 1');
      assert.equal((await terminateBackends(app)).length, 1);
      await sleep(100);
      // The table name is spliced into the template's text (a tagged template would send it as a parameter).
      const strings = [`INSERT INTO ${table} (tag, n) VALUES (`, ', nextval(', ')) RETURNING n'];
      const insert = db.sql(Object.assign([...strings], { raw: strings }), tag, c.seq);
      const [rows] = await db.batch([insert, db.sql`SELECT 1 AS one`]);
      t.diagnostic(JSON.stringify({ rows: rows.map((r) => String(r.n)), stats: db.stats() }));
      assert.equal(await rowsTagged(tag), 1);
      assert.equal(await c.runs(), 1);
    } finally {
      await db.end();
      await c.drop();
    }
  });

  /** A pool whose only connection is dead and whose server refuses the replacement. */
  async function deadAndRefused() {
    const fwd = await forwarder(withAppName(env('EDGEPG_URL_SCRAM'), uniq('suspend_refused')));
    const db = createPool(fwd.url, { max: 1, idleTimeoutMs: 30_000 });
    const log = [];
    for (const e of ['connect', 'acquire', 'release', 'remove', 'error']) db.on(e, () => log.push(e));
    await db.query('SELECT 1');
    assert.equal(fwd.cut(), 1);
    await fwd.refuse();
    await sleep(100);
    const result = await db.query('SELECT 2').then(() => ({ ok: true }), (e) => ({ ok: false, e }));
    await sleep(50);
    return { fwd, db, log, result };
  }

  test('when the replacement cannot connect: ConnectionError not_executed, and the pool recovers', async (t) => {
    const { fwd, db, log, result } = await deadAndRefused();
    try {
      const e = result.e;
      t.diagnostic(JSON.stringify({ error: e && { class: e.constructor.name, code: e.code, outcome: e.outcome }, events: log, stats: db.stats() }));
      assert.equal(result.ok, false);
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.code, 'refused');
      assert.equal(e.outcome, 'not_executed', 'nothing ran: safe to retry');
      assert.equal(db.stats().busy, 0);
      assert.equal(db.stats().open, 0, 'the failed slot was given back');
      await fwd.accept();
      assert.deepEqual((await db.query('SELECT 3 AS three')).rows, [{ three: 3 }]);
    } finally {
      await db.end();
      await fwd.close();
    }
  });

  // A failed replacement ends the lease without a client to give back: the pool still emits
  // the `release` that matches the `acquire`.
  test('every acquire is matched by a release, also when the replacement cannot connect', async (t) => {
    const { fwd, db, log } = await deadAndRefused();
    try {
      t.diagnostic(JSON.stringify({ events: log }));
      assert.equal(log.filter((e) => e === 'release').length, log.filter((e) => e === 'acquire').length,
        `acquire/release unbalanced: ${log.join(', ')}`);
    } finally {
      await db.end();
      await fwd.close();
    }
  });
});
