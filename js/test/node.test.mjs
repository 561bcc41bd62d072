// edgepg in Node over node:net TCP (the package's `node` export), against PgBouncer in
// transaction mode and directly against Postgres: the core checks (core-suite.mjs), every
// authentication method, connection failures, the pool's limits and a clean exit after end().

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';

import * as edgepg from 'edgepg';
import { ConnectionError, createPool, Pool, PostgresError } from 'edgepg';

import { coreSuite, env, rejectsConnection, runChild } from './core-suite.mjs';

test('the node export is the one Node resolves', () => {
  assert.equal(typeof createPool, 'function');
  assert.equal(typeof Pool, 'function');
  assert.ok(PostgresError.prototype instanceof Error);
  assert.ok(ConnectionError.prototype instanceof Error);
  // Only the node entrypoint exports its socket adapter.
  assert.equal(typeof edgepg.nodeSocket, 'function');
});

coreSuite('tcp via pgbouncer', { createPool: (options) => createPool(env('EDGEPG_URL_BOUNCER'), options) });
coreSuite('tcp direct', { createPool: (options) => createPool(env('EDGEPG_URL_SCRAM'), options) });
// Every core check again with named prepared statements (direct connections only).
coreSuite('tcp direct, statementCache', { createPool: (options) => createPool(env('EDGEPG_URL_SCRAM'), { statementCache: 20, ...options }) });

test('statementCache: a repeated statement is parsed once and runs on its name', async () => {
  const db = createPool(env('EDGEPG_URL_SCRAM'), { max: 1, statementCache: 10, idleTimeoutMs: 60_000 });
  try {
    for (let i = 0; i < 3; i++) assert.deepEqual(await db.sql`SELECT ${i}::int AS n`, [{ n: i }]);
    for (let i = 0; i < 2; i++) assert.deepEqual((await db.query('SELECT 42 AS x')).rows, [{ x: 42 }]);
    // Several statements in one text still go as one simple query (never prepared).
    assert.deepEqual((await db.query('SELECT 1 AS a; SELECT 2 AS b')).rows, [{ b: 2 }]);
    // The trailing `;` keeps this query itself out of the cache (texts with `;` go as simple queries).
    const { rows } = await db.query('SELECT statement, generic_plans + custom_plans AS runs FROM pg_prepared_statements ORDER BY name;');
    assert.deepEqual(rows.map((r) => [r.statement, Number(r.runs)]), [['SELECT $1::int AS n', 3], ['SELECT 42 AS x', 2]]);
  } finally {
    await db.end();
  }
});

test('statementCache: out-of-range values are a config error', () => {
  assert.throws(() => createPool(env('EDGEPG_URL_SCRAM'), { statementCache: -1, max: 2 }), (e) => e instanceof ConnectionError && e.code === 'config');
  const url = new URL(env('EDGEPG_URL_SCRAM'));
  url.searchParams.set('statement_cache', 'lots');
  assert.throws(() => createPool(url.toString()), (e) => e instanceof ConnectionError && e.code === 'config' && /statement_cache/.test(e.message));
});

describe('authentication', () => {
  const methods = [
    ['trust', 'EDGEPG_URL_TRUST', 'edgepg_trust'],
    ['cleartext password', 'EDGEPG_URL_PASSWORD', 'edgepg_password'],
    ['md5', 'EDGEPG_URL_MD5', 'edgepg_md5'],
    ['scram-sha-256', 'EDGEPG_URL_SCRAM', 'edgepg_scram'],
    ['scram-sha-256 via pgbouncer', 'EDGEPG_URL_BOUNCER', 'edgepg_scram'],
  ];
  for (const [name, variable, user] of methods) {
    test(`${name} connects`, async () => {
      const db = createPool(env(variable), { max: 1 });
      try {
        assert.deepEqual(await db.sql`SELECT current_user AS u, ${name}::text AS n`, [{ u: user, n: name }]);
      } finally {
        await db.end();
      }
    });
  }

  const wrong = [
    ['scram-sha-256', 'EDGEPG_URL_SCRAM'],
    ['md5', 'EDGEPG_URL_MD5'],
    ['cleartext password', 'EDGEPG_URL_PASSWORD'],
    ['scram-sha-256 via pgbouncer', 'EDGEPG_URL_BOUNCER'],
  ];
  for (const [name, variable] of wrong) {
    test(`${name}: a wrong password is ConnectionError auth_failed`, async () => {
      const url = new URL(env(variable));
      url.password = 'definitely-Wrong-pw-4821';
      const db = createPool(url.href, { max: 1 });
      try {
        const e = await rejectsConnection(db.sql`SELECT 1`, 'auth_failed');
        assert.ok(!e.message.includes('definitely-Wrong-pw-4821'), 'the message never contains the password');
      } finally {
        await db.end();
      }
    });
  }

  test('scram-sha-256: a non-ASCII password is SASLprep-ed as Postgres does it (NFKC by the host)', async () => {
    // Full-width letters, a soft hyphen, a decomposed é, a no-break space and a ligature:
    // Postgres derives the role's keys from 'pw-é fi'.
    const password = '\uff50\uff57\u00ad-e\u0301\u00a0\ufb01';
    const role = `edgepg_saslprep_${process.pid}`;
    const admin = createPool(env('EDGEPG_URL_ADMIN'), { max: 1 });
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      for (const given of [password, 'pw-\u00e9 fi']) {
        const url = new URL(env('EDGEPG_URL_SCRAM'));
        url.username = role;
        url.password = given;
        const db = createPool(url.href, { max: 1 });
        try {
          assert.deepEqual(await db.sql`SELECT current_user AS u`, [{ u: role }], JSON.stringify(given));
        } finally {
          await db.end();
        }
      }
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });

  test('scram-sha-256: PBKDF2 runs in WebCrypto; where WebCrypto refuses it, in wasm', async () => {
    const subtle = globalThis.crypto.subtle;
    const seen = [];
    try {
      for (const mode of ['webcrypto', 'refused']) {
        subtle.deriveBits = function (params, key, length) {
          seen.push({ mode, name: params.name, hash: params.hash, iterations: params.iterations, length });
          if (mode === 'refused') return Promise.reject(new Error('refused'));
          return SubtleCrypto.prototype.deriveBits.call(this, params, key, length);
        };
        // A config of its own: no SCRAM keys learned by an earlier connection.
        const url = new URL(env('EDGEPG_URL_SCRAM'));
        url.searchParams.set('application_name', `pbkdf2-${mode}-${process.pid}`);
        const db = createPool(url.href, { max: 1 });
        try {
          assert.deepEqual(await db.sql`SELECT current_user AS u`, [{ u: 'edgepg_scram' }]);
        } finally {
          await db.end();
        }
      }
    } finally {
      delete subtle.deriveBits;
    }
    assert.deepEqual(seen, [
      { mode: 'webcrypto', name: 'PBKDF2', hash: 'SHA-256', iterations: 4096, length: 256 },
      { mode: 'refused', name: 'PBKDF2', hash: 'SHA-256', iterations: 4096, length: 256 },
    ]);
  });
});

describe('connection failures', () => {
  test('an unreachable port is ConnectionError refused, not executed', async () => {
    const port = await freePort();
    const db = createPool(`postgres://u:pw@127.0.0.1:${port}/db`, { max: 1 });
    try {
      const e = await rejectsConnection(db.sql`SELECT 1`, 'refused');
      assert.equal(e.outcome, 'not_executed');
      assert.equal(db.stats().busy, 0);
    } finally {
      await db.end();
    }
  });

  test('a server that never answers hits connectTimeoutMs', async () => {
    const sockets = new Set();
    const silent = createServer((s) => sockets.add(s.on('error', () => {})));
    await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const db = createPool(`postgres://u:pw@127.0.0.1:${silent.address().port}/db`, { max: 1, connectTimeoutMs: 300 });
    try {
      const started = Date.now();
      await rejectsConnection(db.sql`SELECT 1`, 'timeout');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 5000, `timed out after ${elapsed} ms`);
    } finally {
      await db.end();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  test('queryTimeoutMs closes a connection whose query runs too long', async () => {
    const db = createPool(env('EDGEPG_URL_SCRAM'), { max: 1, queryTimeoutMs: 300 });
    try {
      const e = await rejectsConnection(db.sql`SELECT pg_sleep(3)`, 'timeout');
      assert.equal(e.outcome, 'unknown');
      assert.deepEqual(await db.sql`SELECT 1 AS ok`, [{ ok: 1 }], 'the pool recovers with a new connection');
    } finally {
      await db.end();
    }
  });

  test('a json value that is not one JSON value (a broken server) is a decode error; the pool goes on', async () => {
    // A fake server (trust login) answering every simple query with rows of (json, int4):
    // `bad` queries carry one json value `1,2`, which would shift the values after it.
    const msg = (type, body) => {
      const head = Buffer.alloc(5);
      head.write(type, 0, 'latin1');
      head.writeInt32BE(body.length + 4, 1);
      return Buffer.concat([head, body]);
    };
    const int16 = (n) => Buffer.from([n >> 8, n & 255]);
    const int32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
    const field = (name, oid) => Buffer.concat([Buffer.from(name + '\0'), int32(0), int16(0), int32(oid), int16(-1 & 0xffff), int32(-1), int16(0)]);
    const value = (text) => Buffer.concat([int32(Buffer.byteLength(text)), Buffer.from(text)]);
    const rows = (sql) => {
      const n = sql.includes('many') ? 20000 : 1;
      const out = [msg('T', Buffer.concat([int16(2), field('j', 114), field('n', 23)]))];
      for (let i = 0; i < n; i++) {
        const json = sql.includes('bad') && i === n - 1 - (n > 1 ? 10000 : 0) ? '1,2' : '{"i": ' + i + '}';
        out.push(msg('D', Buffer.concat([int16(2), value(json), value(String(i))])));
      }
      out.push(msg('C', Buffer.from(`SELECT ${n}\0`)), msg('Z', Buffer.from('I')));
      return Buffer.concat(out);
    };
    const sockets = new Set();
    const server = createServer((socket) => {
      sockets.add(socket.on('error', () => {}));
      let buf = Buffer.alloc(0);
      let started = false;
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          if (!started) {
            if (buf.length < 4 || buf.length < buf.readInt32BE(0)) return;
            buf = buf.subarray(buf.readInt32BE(0));
            started = true;
            socket.write(Buffer.concat([msg('R', int32(0)), msg('Z', Buffer.from('I'))]));
            continue;
          }
          if (buf.length < 5 || buf.length < 1 + buf.readInt32BE(1)) return;
          const type = String.fromCharCode(buf[0]);
          const body = buf.subarray(5, 1 + buf.readInt32BE(1));
          buf = buf.subarray(1 + buf.readInt32BE(1));
          if (type === 'Q') socket.write(rows(body.toString()));
          if (type === 'X') socket.end();
        }
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const db = createPool(`postgres://u@127.0.0.1:${server.address().port}/db?sslmode=disable`, { max: 1 });
    try {
      assert.deepEqual((await db.query('SELECT good')).rows, [{ j: { i: 0 }, n: 0 }]);
      for (const sql of ['SELECT bad', 'SELECT bad many']) {
        const e = await rejectsConnection(db.query(sql), 'decode');
        assert.match(e.message, /malformed value|could not be made into rows/);
        const many = await db.query('SELECT good many');
        assert.equal(many.rows.length, 20000);
        assert.deepEqual(many.rows[19999], { j: { i: 19999 }, n: 19999 });
      }
    } finally {
      await db.end();
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  test('a malformed URL throws synchronously with code config, never showing the password', () => {
    const secret = 'S3cret-Pa55word';
    const urls = [
      `postgres://user:${secret}@127.0.0.1:notaport/db`,
      `http://user:${secret}@127.0.0.1/db`,
      `postgres://user:${secret}@127.0.0.1/db?sslmode=sometimes`,
      `postgres://user:${secret}@[::1/db`,
      `not a url ${secret}`,
    ];
    for (const url of urls) {
      let error;
      try {
        createPool(url);
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof ConnectionError, `createPool(${JSON.stringify(url)}) must throw a ConnectionError, got ${error}`);
      assert.equal(error.code, 'config');
      for (const text of [error.message, String(error.stack), inspect(error), JSON.stringify(error)]) {
        assert.ok(!text.includes(secret), `the error for ${JSON.stringify(url)} shows the password: ${text}`);
      }
    }
    for (const bad of [undefined, '', 42]) {
      assert.throws(() => createPool(bad), (e) => e instanceof ConnectionError && e.code === 'config');
    }
    assert.throws(() => createPool(env('EDGEPG_URL_SCRAM'), { max: 0 }), (e) => e instanceof ConnectionError && e.code === 'config');
  });
});

describe('pool limits', () => {
  test('max 1: a held transaction makes another query fail with pool_timeout', async () => {
    const db = createPool(env('EDGEPG_URL_BOUNCER'), { max: 1, acquireTimeoutMs: 300 });
    try {
      let release;
      let began;
      const started = new Promise((resolve) => (began = resolve));
      const held = db.transaction(async (tx) => {
        await tx.sql`SELECT 1`;
        began();
        await new Promise((resolve) => (release = resolve));
        return 'held';
      });
      await started;
      const t0 = Date.now();
      const e = await rejectsConnection(db.sql`SELECT 2`, 'pool_timeout');
      const waited = Date.now() - t0;
      assert.equal(e.outcome, 'not_executed');
      assert.ok(waited >= 250 && waited < 5000, `waited ${waited} ms for a 300 ms acquire timeout`);
      const s = db.stats();
      assert.equal(s.busy, 1);
      assert.equal(s.timeouts, 1);
      release();
      assert.equal(await held, 'held');
      assert.deepEqual(await db.sql`SELECT 3 AS n`, [{ n: 3 }]);
      assert.equal(db.stats().busy, 0);
    } finally {
      await db.end();
    }
  });

  test('queries queue for a free connection within acquireTimeoutMs', async () => {
    const db = createPool(env('EDGEPG_URL_SCRAM'), { max: 2, acquireTimeoutMs: 10_000 });
    try {
      const rows = await Promise.all(Array.from({ length: 10 }, (_, i) => db.sql`SELECT ${i}::int AS i FROM pg_sleep(0.02)`));
      assert.deepEqual(rows.map((r) => r[0].i), [...Array(10).keys()]);
      const s = db.stats();
      assert.ok(s.created <= 2, `created ${s.created}`);
      assert.equal(s.timeouts, 0);
    } finally {
      await db.end();
    }
  });

  test('idleTimeoutMs closes idle connections', async () => {
    const db = createPool(env('EDGEPG_URL_SCRAM'), { max: 2, idleTimeoutMs: 200 });
    try {
      await Promise.all([db.sql`SELECT 1`, db.sql`SELECT 2`]);
      assert.ok(db.stats().open >= 1);
      await waitFor(() => db.stats().open === 0, 5000, () => `still open: ${JSON.stringify(db.stats())}`);
      assert.deepEqual(await db.sql`SELECT 3 AS n`, [{ n: 3 }], 'a new connection after the idle ones closed');
    } finally {
      await db.end();
    }
  });
});

test('pool events: every handle of a shared wasm pool has its own listeners, off() removes only its own', async () => {
  // Equal options in another key order: two handles, one wasm pool underneath.
  const a = createPool(env('EDGEPG_URL_SCRAM'), { max: 2, idleTimeoutMs: 4_321 });
  const b = createPool(env('EDGEPG_URL_SCRAM'), { idleTimeoutMs: 4_321, max: 2 });
  const tick = () => new Promise((resolve) => setTimeout(resolve, 20));
  try {
    assert.notEqual(a, b);
    const seen = { a: 0, b: 0 };
    const onA = () => seen.a++;
    const onB = () => seen.b++;
    a.on('acquire', onA);
    b.on('acquire', onB);
    await a.sql`SELECT 1`;
    await tick();
    assert.equal(b.stats().created, a.stats().created, 'the handles share one wasm pool');
    assert.deepEqual(seen, { a: 1, b: 1 });
    a.off('acquire', onA);
    await b.sql`SELECT 1`;
    await tick();
    assert.deepEqual(seen, { a: 1, b: 2 });
  } finally {
    await a.end();
    await b.end();
  }
});

describe('end()', () => {
  test('after end() the process exits by itself (no dangling handles)', async () => {
    const code = `
      import { createPool } from 'edgepg';
      const db = createPool(process.env.EDGEPG_URL_BOUNCER, { max: 3 });
      const direct = createPool(process.env.EDGEPG_URL_SCRAM, { max: 2 });
      await Promise.all([
        db.sql\`SELECT 1\`, db.sql\`SELECT 2\`,
        db.transaction(async (tx) => tx.sql\`SELECT 3\`),
        db.batch([db.sql\`SELECT 4\`]),
        direct.sql\`SELECT 5\`,
      ]);
      await Promise.all([db.end(), direct.end()]);
      console.log('ended');
    `;
    const { status, stdout, stderr, elapsed } = await runChild(code, 10_000);
    assert.equal(status, 0, `child failed: ${stderr}`);
    assert.equal(stdout.trim(), 'ended');
    assert.ok(elapsed < 5000, `the child took ${elapsed} ms to exit after end()`);
  });
});

/** A TCP port nothing listens on. */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(condition, ms, describeFailure) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(describeFailure());
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
