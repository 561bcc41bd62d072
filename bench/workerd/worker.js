// The bench Worker. GET /?driver=edgepg|postgres|pg&target=direct|bouncer&n=500
// In one request: connect + first query (cold), `warmup` queries, then n timed SELECT 1.
// workerd's clock only advances across I/O (a Spectre mitigation) and in whole
// milliseconds, so the mean (total / n) is the number to read; per-query p50 is coarse.
import { createPool } from 'edgepg';
import postgres from 'postgres';
import pg from 'pg';

const open = {
  edgepg(url) {
    const db = createPool(url, { max: 1 });
    return { q: () => db.sql`SELECT 1 AS x`, end: () => db.end() };
  },
  postgres(url, bouncer) {
    const sql = postgres(url, { max: 1, prepare: !bouncer, onnotice: () => {} });
    return { q: () => sql`SELECT 1 AS x`, end: () => sql.end({ timeout: 1 }) };
  },
  pg(url) {
    const client = new pg.Client({ connectionString: url });
    let connected;
    return {
      async q() {
        connected ??= client.connect();
        await connected;
        return (await client.query('SELECT 1 AS x')).rows;
      },
      end: () => client.end(),
    };
  },
};

export default {
  async fetch(request, env) {
    const u = new URL(request.url);
    const driver = u.searchParams.get('driver');
    const target = u.searchParams.get('target') === 'bouncer' ? 'bouncer' : 'direct';
    const n = Math.min(5000, Number(u.searchParams.get('n')) || 500);
    const warmup = Math.min(1000, Number(u.searchParams.get('warmup')) || 50);
    if (!open[driver]) return Response.json({ error: `unknown driver ${driver}` }, { status: 400 });
    const url = target === 'bouncer' ? env.BOUNCER_URL : env.DIRECT_URL;
    try {
      const c = open[driver](url, target === 'bouncer');
      let t = performance.now();
      await c.q();
      const coldMs = performance.now() - t;
      for (let i = 0; i < warmup; i++) await c.q();
      const samples = [];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        t = performance.now();
        await c.q();
        samples.push(performance.now() - t);
      }
      const totalMs = performance.now() - t0;
      await c.end();
      samples.sort((a, b) => a - b);
      return Response.json({
        driver,
        target,
        n,
        coldMs,
        meanMs: totalMs / n,
        p50Ms: samples[Math.floor(n * 0.5)],
        p99Ms: samples[Math.floor(n * 0.99)],
      });
    } catch (e) {
      return Response.json({ error: String(e?.stack ?? e) }, { status: 500 });
    }
  },
};
