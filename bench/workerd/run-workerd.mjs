// The edge path: bench/workerd/worker.js under `wrangler dev` (local workerd, no account),
// each driver timing warm SELECT 1 from inside the Worker over cloudflare:sockets TCP.
// Drivers interleaved round-robin; wrangler is started on free loopback ports and stopped
// (its whole process group) at the end.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DRIVERS = ['edgepg', 'postgres', 'pg'];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function workerdBench({ urls, rounds = 5, n = 500, warmup = 100, log = () => {} }) {
  const port = await freePort();
  const inspector = await freePort();
  const withSsl = (u) => `${u}${u.includes('?') ? '&' : '?'}sslmode=disable`;
  const wrangler = spawn(
    join(here, '..', 'node_modules', '.bin', 'wrangler'),
    ['dev', '--port', String(port), '--ip', '127.0.0.1', '--inspector-port', String(inspector),
      '--var', `DIRECT_URL:${withSsl(urls.direct)}`, '--var', `BOUNCER_URL:${withSsl(urls.bouncer)}`],
    { cwd: here, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } },
  );
  let output = '';
  const readyP = new Promise((resolve, reject) => {
    const onData = (d) => {
      output += d;
      if (output.includes('Ready on')) resolve();
    };
    wrangler.stdout.on('data', onData);
    wrangler.stderr.on('data', onData);
    wrangler.on('exit', (code) => reject(new Error(`wrangler dev exited (${code}): ${output.slice(-800)}`)));
    setTimeout(() => reject(new Error(`wrangler dev not ready in 60 s: ${output.slice(-800)}`)), 60_000);
  });
  const stop = () => {
    try {
      process.kill(-wrangler.pid, 'SIGTERM');
    } catch {}
  };
  try {
    const t0 = Date.now();
    await readyP;
    log(`workerd: wrangler dev ready in ${Date.now() - t0} ms`);
    const runs = [];
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < DRIVERS.length; i++) {
        const driver = DRIVERS[(i + r) % DRIVERS.length];
        for (const target of r % 2 ? ['bouncer', 'direct'] : ['direct', 'bouncer']) {
          const res = await fetch(`http://127.0.0.1:${port}/?driver=${driver}&target=${target}&n=${n}&warmup=${warmup}`);
          const body = await res.json();
          runs.push({ round: r, ...body, driver, target });
        }
      }
    }
    log('workerd done');
    return { n, warmup, wrangler: 'wrangler dev (local workerd)', runs };
  } finally {
    stop();
  }
}
