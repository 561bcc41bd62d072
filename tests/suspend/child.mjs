// A Node process that holds edgepg pools and sits idle between commands, like a serverless
// instance between invocations. The parent (lib.mjs `startChild`) freezes it with SIGSTOP,
// breaks its connections, thaws it and drives it with JSON lines on stdin:
//
//   {"id":1,"cmd":"pool","name":"p","url":"postgres://…","options":{"idleTimeoutMs":2000}}
//   {"id":2,"cmd":"query","name":"p","sql":"SELECT 1","concurrent":2}
//   {"id":3,"cmd":"status"}
//   {"id":4,"cmd":"exit"}
//
// Each reply is one JSON line: {"id":…, "ok":true, "result":…}. A query command never fails:
// its result lists what each of the `concurrent` queries returned or threw, so the parent sees
// every user-visible error. Uncaught exceptions and unhandled rejections are recorded (the
// process keeps running) and reported by `status`.

import { createInterface } from 'node:readline';

import { createPool } from 'edgepg';

const pools = new Map();
const events = new Map();
const uncaught = [];
const unhandled = [];
// The command being handled (events that fire while none runs are housekeeping).
let current = null;

process.on('uncaughtException', (e) => { uncaught.push(describe(e)); });
process.on('unhandledRejection', (e) => { unhandled.push(describe(e)); });

function describe(e) {
  if (!e || typeof e !== 'object') return { message: String(e) };
  return {
    name: e.name,
    message: e.message,
    code: e.code,
    outcome: e.outcome,
    severity: e.severity,
    class: e.constructor?.name,
  };
}

function reply(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

const handlers = {
  pool({ name, url, options }) {
    const pool = createPool(url, options ?? {});
    const log = [];
    for (const event of ['connect', 'acquire', 'release', 'remove', 'error']) {
      pool.on(event, (detail) => {
        log.push({
          event,
          at: Date.now(),
          during: current,
          detail: event === 'error' ? String(detail?.message ?? detail) : undefined,
        });
      });
    }
    pools.set(name, pool);
    events.set(name, log);
    return { options: pool.options };
  },

  async query({ name, sql, params = [], concurrent = 1 }) {
    const pool = pools.get(name);
    const started = Date.now();
    const runs = await Promise.all(
      Array.from({ length: concurrent }, () =>
        pool.query(sql, params).then(
          (r) => ({ ok: true, rows: r.rows }),
          (e) => ({ ok: false, error: describe(e) }),
        )),
    );
    return { runs, ms: Date.now() - started, stats: pool.stats() };
  },

  status() {
    const out = { pid: process.pid, uncaught, unhandled, pools: {} };
    for (const [name, pool] of pools) out.pools[name] = { stats: pool.stats(), events: events.get(name) };
    return out;
  },

  async exit() {
    await Promise.all([...pools.values()].map((p) => p.end().catch(() => {})));
    process.exit(0);
  },
};

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    return;
  }
  const label = `${cmd.cmd}#${cmd.id}`;
  current = label;
  try {
    const result = await handlers[cmd.cmd](cmd);
    reply({ id: cmd.id, ok: true, result, received: label });
  } catch (e) {
    reply({ id: cmd.id, ok: false, error: `${e?.name}: ${e?.message}` });
  } finally {
    if (current === label) current = null;
  }
});
rl.on('close', () => {
  handlers.exit();
});

reply({ ready: true, pid: process.pid });
