// Tests the Rust Worker under `wrangler dev` (scripts/test-rust-worker.sh starts it).
import { test } from 'node:test';
import assert from 'node:assert/strict';

const base = process.env.RUST_WORKER_URL;
assert.ok(base, 'RUST_WORKER_URL is not set: run scripts/test-rust-worker.sh');

async function get(path) {
  const res = await fetch(base + path);
  return { status: res.status, body: await res.json() };
}

test('sequential requests on one isolate all succeed', async () => {
  for (let i = 0; i < 10; i++) {
    const { status, body } = await get('/');
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body.row.slice(0, 2), ['edgepg_scram', '42']);
  }
});

test('concurrent requests all succeed and the pool stays bounded', async () => {
  const results = await Promise.all(Array.from({ length: 30 }, () => get('/')));
  for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
  const { body: stats } = await get('/stats');
  assert.ok(stats.open <= 5, JSON.stringify(stats));
  assert.equal(stats.busy, 0);
});

test('a query error is a clean JSON 500 and does not affect the next request', async () => {
  const { status, body } = await get('/error');
  assert.equal(status, 500);
  assert.equal(body.code, '22012');
  assert.ok(!JSON.stringify(body).includes('scram_pw'));
  assert.equal((await get('/')).status, 200);
});
