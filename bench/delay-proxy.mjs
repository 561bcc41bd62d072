// A userspace TCP delay proxy for counting round trips (this kernel has no netem).
//
//   node delay-proxy.mjs --route 127.0.0.1:0=127.0.0.1:55432@10 [--route …]
//
// Each route listens on a loopback address (port 0: any free port) and forwards every
// connection to its target, holding each chunk for `@ms` in each direction before writing
// it on. Chunks keep their order (a FIFO per direction; a chunk is never sent before the
// one ahead of it), and a half-close (FIN) travels behind the data like one more chunk. So a
// protocol exchange that needs N round trips takes N × 2 × ms longer than at @0, and
//     round trips = (t(@ms) − t(@0)) / (2 × ms).
// The TCP handshake to the proxy itself is not delayed: counts start once the socket is open.
//
// It also counts round trips structurally: per connection, each time data from the server
// follows data from the client (a client flight answered) is one turn. At a delay of D ms,
// client writes less than D ms apart are one flight, so the turns are the round trips the
// protocol needed, free of the CPU noise the timing method has. A control port (loopback,
// one JSON line per "snap" line) gives the counters: {"turns":{"127.0.0.1:41234":17,…}}.
//
// On stdin-close or SIGTERM it exits. Once every route listens it prints one JSON line:
//   {"ready":true,"control":"127.0.0.1:40000","routes":[{"listen":"127.0.0.1:41234","target":"127.0.0.1:55432","delayMs":10}]}
// and on SIGUSR2 (or a "stats" line on stdin) one line with the delays really applied:
//   {"stats":[{"listen":…,"chunks":123,"meanLateMs":0.04,"maxLateMs":0.9}]}
// (late = how much after its due time a chunk was written; timers are not exact).

import net from 'node:net';
import { performance } from 'node:perf_hooks';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[?::1\]?)$/;

const routes = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] !== '--route') die(`unknown argument ${argv[i]}`);
  const spec = argv[++i] ?? '';
  const m = /^(.+):(\d+)=(.+):(\d+)@(\d+(?:\.\d+)?)$/.exec(spec);
  if (!m) die(`bad route ${spec}: want LISTENHOST:PORT=TARGETHOST:PORT@MS`);
  const [, lh, lp, th, tp, ms] = m;
  if (!LOOPBACK.test(lh) || !LOOPBACK.test(th)) die(`route ${spec}: loopback addresses only`);
  routes.push({ listenHost: lh, listenPort: Number(lp), targetHost: th, targetPort: Number(tp), delayMs: Number(ms), chunks: 0, lateSum: 0, lateMax: 0, turns: 0 });
}
if (routes.length === 0) die('no --route given');

function die(msg) {
  process.stderr.write(`[delay-proxy] ${msg}\n`);
  process.exit(2);
}

/**
 * One direction of one connection: chunks wait in a FIFO until due, then are written in
 * order. A timer is armed for the head of the queue only; it fires up to ~1 ms early on
 * purpose and the last stretch is waited out with setImmediate, so chunks leave close to
 * their due time instead of a timer tick late.
 */
function pipe(src, dst, route, conn, dir) {
  const queue = []; // { due, chunk } ; chunk === null means end-of-stream
  let armed = false;

  const flush = () => {
    armed = false;
    const now = performance.now();
    while (queue.length > 0 && queue[0].due <= now) {
      const { due, chunk } = queue.shift();
      const late = now - due;
      route.chunks++;
      route.lateSum += late;
      if (late > route.lateMax) route.lateMax = late;
      if (chunk === null) dst.end();
      else if (!dst.destroyed) dst.write(chunk);
    }
    arm();
  };
  const arm = () => {
    if (armed || queue.length === 0) return;
    armed = true;
    const wait = queue[0].due - performance.now();
    if (wait > 1.5) setTimeout(() => { armed = false; arm(); }, wait - 1);
    else setImmediate(flush);
  };
  const push = (chunk) => {
    if (route.delayMs === 0 && queue.length === 0) {
      route.chunks++;
      if (chunk === null) dst.end();
      else dst.write(chunk);
      return;
    }
    queue.push({ due: performance.now() + route.delayMs, chunk });
    arm();
  };
  src.on('data', (c) => {
    if (dir === 'S' && conn.last === 'C') route.turns++;
    conn.last = dir;
    push(c);
  });
  src.on('end', () => push(null));
}

function serve(route) {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({ host: route.targetHost, port: route.targetPort, allowHalfOpen: true, noDelay: true });
    client.setNoDelay(true);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => setTimeout(() => upstream.destroy(), route.delayMs + 5));
    upstream.on('close', () => setTimeout(() => client.destroy(), route.delayMs + 5));
    // Writes before upstream's connect are buffered by net.Socket itself.
    const conn = { last: null };
    pipe(client, upstream, route, conn, 'C');
    pipe(upstream, client, route, conn, 'S');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(route.listenPort, route.listenHost, () => {
      const a = server.address();
      route.listen = `${a.address}:${a.port}`;
      resolve(server);
    });
  });
}

function printStats() {
  const stats = routes.map((r) => ({
    listen: r.listen,
    delayMs: r.delayMs,
    chunks: r.chunks,
    meanLateMs: r.chunks ? +(r.lateSum / r.chunks).toFixed(3) : 0,
    maxLateMs: +r.lateMax.toFixed(3),
  }));
  process.stdout.write(JSON.stringify({ stats }) + '\n');
}

await Promise.all(routes.map(serve)).catch((e) => die(`listen failed: ${e.message}`));
const control = net.createServer((s) => {
  s.setNoDelay(true);
  s.setEncoding('utf8');
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line === 'snap') s.write(JSON.stringify({ turns: Object.fromEntries(routes.map((r) => [r.listen, r.turns])) }) + '\n');
    }
  });
  s.on('error', () => {});
});
await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve));
control.unref();
process.stdout.write(
  JSON.stringify({
    ready: true,
    control: `127.0.0.1:${control.address().port}`,
    routes: routes.map((r) => ({ listen: r.listen, target: `${r.targetHost}:${r.targetPort}`, delayMs: r.delayMs })),
  }) + '\n',
);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGUSR2', printStats);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (s) => {
  if (s.includes('stats')) printStats();
});
process.stdin.on('end', () => process.exit(0));
