// The Next.js example against a running `next start` (NEXTJS_URL) and the real stack: every
// route on both runtimes, over HTTP, the way a client sees them. scripts/test-nextjs.sh builds
// and starts the app and sets the environment.
//
// One thing shapes the stats assertions: `next start` (like Vercel) runs each edge route in its
// own isolate, so on the edge runtime /api/edge/read and /api/edge/stats have separate pools.
// The read and write routes return their own pool's counters with every answer; on the edge,
// those are what the tests check. On Node.js all routes share the process, and its pool.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { createPool } from 'edgepg';

const base = requiredEnv('NEXTJS_URL').replace(/\/$/, '');
const databaseUrl = requiredEnv('DATABASE_URL');
const password = decodeURIComponent(new URL(databaseUrl).password);
const user = decodeURIComponent(new URL(databaseUrl).username);

// A direct connection (the package's Node.js entry, over TCP) to check what the app wrote.
const direct = createPool(databaseUrl, { max: 1 });
after(() => direct.end());

test('the home page links every route', async () => {
  const res = await fetch(base + '/');
  assert.equal(res.status, 200);
  const html = await res.text();
  for (const rt of ['edge', 'node']) {
    for (const name of ['read', 'stats', 'fail']) assert.match(html, new RegExp(`href="/api/${rt}/${name}"`));
    assert.ok(html.includes(`POST /api/${rt}/write`), `no POST /api/${rt}/write in the page`);
  }
});

for (const [rt, runtime] of [['edge', 'edge'], ['node', 'nodejs']]) {
  describe(`${runtime} runtime`, () => {
    const route = (name) => `${base}/api/${rt}/${name}`;

    test('read: current_user, now() and a parameterized query', async () => {
      const name = "O'Brien'); DROP TABLE edgepg_nextjs_notes; --";
      const { status, body } = await getJson(route('read') + '?name=' + encodeURIComponent(name));
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.runtime, runtime);
      assert.equal(body.user, user);
      assert.equal(body.greeting, `hello, ${name}`);
      const skew = Math.abs(Date.parse(body.now) - Date.now());
      assert.ok(skew < 60_000, `now() is ${body.now}, ${skew} ms away from this clock`);
      assert.ok(body.pool.created >= 1 && body.pool.open >= 1, JSON.stringify(body.pool));
    });

    test('50 concurrent reads all succeed on at most max connections, reused', async () => {
      const before = (await getJson(route('read'))).body.pool;
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => getJson(route('read') + '?name=' + i)));
      answers.forEach(({ status, body }, i) => {
        assert.equal(status, 200, `request ${i}: ${JSON.stringify(body)}`);
        assert.equal(body.greeting, `hello, ${i}`);
        assert.ok(body.pool.created <= body.pool.max, `request ${i}: ${JSON.stringify(body.pool)}`);
      });
      // Counters only grow: the answer with the most queries counted is the latest snapshot.
      const last = answers.map((a) => a.body.pool).reduce((a, b) => (b.created + b.reused > a.created + a.reused ? b : a));
      const latest = rt === 'node' ? (await getJson(route('stats'))).body.pool : last;
      assert.ok(latest.created <= latest.max, JSON.stringify(latest));
      assert.equal(latest.timeouts, before.timeouts, 'no request timed out waiting for a connection');
      // 50 queries on at most `max` new connections: at least 50 - max of them reused one.
      assert.ok(latest.reused - before.reused >= 50 - latest.max,
        `reused went from ${before.reused} to ${latest.reused} (max ${latest.max})`);
    });

    test('stats: the pool counters of this isolate', async () => {
      const read = (await getJson(route('read'))).body.pool;
      const { status, body } = await getJson(route('stats'));
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.runtime, runtime);
      for (const key of ['open', 'idle', 'busy', 'waiting', 'created', 'reused', 'discarded', 'timeouts', 'roundTrips', 'max']) {
        assert.equal(typeof body.pool[key], 'number', `pool.${key} in ${JSON.stringify(body.pool)}`);
      }
      assert.equal(body.pool.max, 5);
      assert.ok(body.pool.open <= body.pool.max && body.pool.busy === 0, JSON.stringify(body.pool));
      if (rt === 'node') {
        // One process, one pool: the read just made is counted here.
        assert.ok(body.pool.created + body.pool.reused >= read.created + read.reused,
          `read saw ${JSON.stringify(read)}, stats ${JSON.stringify(body.pool)}`);
      }
    });

    test('write: the transaction commits', async () => {
      const first = await postJson(route('write'), { note: `first from ${runtime}` });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.equal(first.body.runtime, runtime);
      assert.equal(first.body.inserted.note, `first from ${runtime}`);
      assert.equal(first.body.inserted.runtime, runtime);
      assert.match(first.body.inserted.id, /^\d+$/, 'int8 ids come back as bigint, sent as a string');
      assert.ok(first.body.count >= 1);

      const second = await postJson(route('write'), { note: `second from ${runtime}` });
      assert.equal(second.status, 201, JSON.stringify(second.body));
      assert.ok(second.body.count > first.body.count, `count ${first.body.count} then ${second.body.count}`);
      assert.ok(BigInt(second.body.inserted.id) > BigInt(first.body.inserted.id));

      // Committed: another connection, outside the app, sees both rows.
      const rows = await direct.sql`
        SELECT id::text AS id, note FROM edgepg_nextjs_notes
        WHERE id IN (${first.body.inserted.id}::bigint, ${second.body.inserted.id}::bigint)
        ORDER BY edgepg_nextjs_notes.id`; // the bigint: the output column `id` is text ('10' < '9')
      assert.deepEqual(rows, [
        { id: first.body.inserted.id, note: `first from ${runtime}` },
        { id: second.body.inserted.id, note: `second from ${runtime}` },
      ]);
    });

    test('write: a failing statement rolls back, answers 500, and the next write works', async () => {
      const failed = await postJson(route('write'), { note: '' });
      assert.equal(failed.status, 500, JSON.stringify(failed.body));
      assert.deepEqual(Object.keys(failed.body).sort(), ['code', 'error']);
      assert.equal(failed.body.code, '23514', 'check_violation');

      const [{ count }] = await direct.sql`SELECT count(*)::int AS count FROM edgepg_nextjs_notes`;
      const next = await postJson(route('write'), { note: `after the failure, ${runtime}` });
      assert.equal(next.status, 201, JSON.stringify(next.body));
      assert.equal(next.body.count, count + 1);
    });

    test('fail: JSON 500 with the SQLSTATE, no stack trace, no secrets', async () => {
      const res = await fetch(route('fail'));
      const text = await res.text();
      assert.equal(res.status, 500, text);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const body = JSON.parse(text);
      assert.deepEqual(Object.keys(body).sort(), ['code', 'error']);
      assert.equal(body.code, '42P01', 'undefined_table');
      assert.match(body.error, /edgepg_nextjs_no_such_table.*does not exist/);
      for (const secret of [password, databaseUrl, 'postgres://', 'postgresql://', process.env.EDGEPG_WS_URL ?? 'ws://']) {
        assert.ok(!text.includes(secret), `the body gives away ${JSON.stringify(secret)}: ${text}`);
      }
      assert.doesNotMatch(text, /\n\s+at |\bat .*:\d+:\d+|node_modules|\.next\//, `a stack trace: ${text}`);
    });
  });
}

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/test-nextjs.sh`);
  return value;
}

async function getJson(url) {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

async function postJson(url, data) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(data) });
  return { status: res.status, body: await res.json() };
}
