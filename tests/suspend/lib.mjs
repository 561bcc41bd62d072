// Shared helpers of the suspension suite (tests/suspend/*.test.mjs): the stack's variables,
// psql against the stack (independent of the driver under test), PgBouncer restarts, backend
// termination, and a child Node process that holds edgepg pools and can be frozen with SIGSTOP.

import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * A variable the stack exports. Missing means the stack is not up: a failure, never a skip.
 */
export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the suite with scripts/test-suspend.sh, which starts the stack (scripts/stack.sh up) and exports it`);
  }
  return value;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A name nobody else on the stack uses (application_name, table, marker). */
export function uniq(prefix) {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** `url` with `application_name` set (Postgres shows it in pg_stat_activity). */
export function withAppName(url, name) {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.href;
}

/** The stack's psql, without the caller's libpq variables. */
function psqlBin() {
  for (const p of ['/usr/lib/postgresql/15/bin/psql', '/usr/bin/psql']) if (existsSync(p)) return p;
  return 'psql';
}

function cleanEnv() {
  const e = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) e[k] = v;
  e.PGCONNECT_TIMEOUT = '5';
  return e;
}

/** Runs `sql` with psql; resolves to the rows, each an array of text fields. */
export function psql(url, sql) {
  return new Promise((resolve, reject) => {
    execFile(psqlBin(), ['-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql],
      { env: cleanEnv(), timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`psql failed (${err.message.split('\n')[0]}): ${stderr.trim()}\nSQL: ${sql}`));
        resolve(stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t')));
      });
  });
}

/** psql as the superuser, straight to Postgres. */
export const admin = (sql) => psql(env('EDGEPG_URL_ADMIN'), sql);

/** Backend pids of `application_name = app` (direct connections only). */
export async function backendsOf(app) {
  const rows = await admin(`SELECT pid FROM pg_stat_activity WHERE application_name = '${app}' ORDER BY pid`);
  return rows.map((r) => Number(r[0]));
}

/** pg_terminate_backend for every backend of `app`; resolves once they are gone. */
export async function terminateBackends(app) {
  // The CTE is materialized so that pg_terminate_backend only ever sees the pids of `app`: in a
  // plain `WHERE application_name = … AND pg_terminate_backend(pid)` the planner may call it first,
  // on every backend of the server.
  const killed = await admin(
    `WITH mine AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE application_name = '${app}' AND pid <> pg_backend_pid())
     SELECT pid FROM mine WHERE pg_terminate_backend(pid)`);
  await waitFor(async () => (await backendsOf(app)).length === 0, 5000, `backends of ${app} to exit`);
  return killed.map((r) => Number(r[0]));
}

/**
 * The same, synchronously: the event loop stays blocked meanwhile, so whatever the server
 * sends the dying connections stays unread in the kernel until the caller yields.
 */
export function terminateBackendsSync(app) {
  const out = execFileSync(psqlBin(), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', env('EDGEPG_URL_ADMIN'), '-c',
    `WITH mine AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE application_name = '${app}' AND pid <> pg_backend_pid())
     SELECT pid FROM mine WHERE pg_terminate_backend(pid)`], { env: cleanEnv(), encoding: 'utf8', timeout: 20_000 });
  return out.split('\n').filter(Boolean).map(Number);
}

/** restartPgBouncer, synchronously (see terminateBackendsSync). */
export function restartPgBouncerSync() {
  const out = execFileSync('bash', [join(here, 'pgbouncer-restart.sh')], { env: process.env, encoding: 'utf8', timeout: 60_000 });
  const [oldPid, newPid] = out.trim().split(/\s+/).map(Number);
  return { oldPid, newPid };
}

/** Blocks the event loop for `ms` (a handler busy with synchronous work). */
export function busyWait(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

/**
 * A TCP forwarder to `target`'s host and port that can cut every connection at once (no FATAL,
 * no goodbye: the client just sees its socket close, as when a NAT or load balancer drops it)
 * and stop accepting new ones. `url` is `target` pointed at the forwarder.
 */
export async function forwarder(target) {
  const { hostname, port } = new URL(target);
  const pairs = new Set();
  const server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port) });
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); pairs.delete(pair); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const listenPort = server.address().port;
  const url = new URL(target);
  url.host = `127.0.0.1:${listenPort}`;
  const cutAll = () => {
    const n = pairs.size;
    for (const { client, upstream } of pairs) { client.destroy(); upstream.destroy(); }
    pairs.clear();
    return n;
  };
  return {
    url: url.href,
    cut: cutAll,
    /** Resets every client connection (TCP RST: the client's socket errors with ECONNRESET). */
    reset() {
      const n = pairs.size;
      for (const { client, upstream } of pairs) { client.resetAndDestroy(); upstream.destroy(); }
      pairs.clear();
      return n;
    },
    /** Stops accepting: new connections are refused. */
    refuse: () => new Promise((resolve) => server.close(() => resolve())),
    /** Accepts again, on the same port. */
    accept: () => new Promise((resolve, reject) => { server.once('error', reject); server.listen(listenPort, '127.0.0.1', resolve); }),
    close: () => new Promise((resolve) => { cutAll(); if (server.listening) server.close(() => resolve()); else resolve(); }),
  };
}

/** Polls `check` every 50 ms until it returns true; throws after `ms`. */
export async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Restarts the stack's PgBouncer (SIGINT, then started again exactly as scripts/stack.sh
 * starts it), under the stack's lock; resolves once it serves queries again. Every client
 * connection PgBouncer held is closed by it.
 */
export function restartPgBouncer() {
  return new Promise((resolve, reject) => {
    execFile('bash', [join(here, 'pgbouncer-restart.sh')], { env: process.env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`restarting PgBouncer failed: ${err.message}\n${stderr}`));
      const [oldPid, newPid] = stdout.trim().split(/\s+/).map(Number);
      resolve({ oldPid, newPid });
    });
  });
}

/** The scheduler state of a process (`T` = stopped, `S` = sleeping, ...). */
export function procState(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
  } catch {
    return 'gone';
  }
}

/**
 * Starts tests/suspend/child.mjs: a Node process holding edgepg pools, driven by JSON lines on
 * its stdin (see child.mjs). `send` writes a command and resolves to its reply; `write`
 * only writes it (for commands queued while the child is frozen) and returns the reply promise.
 */
export async function startChild() {
  const proc = spawn(process.execPath, [join(here, 'child.mjs')], {
    cwd: process.cwd(),
    stdio: ['pipe', 'pipe', 'pipe'],
    env: process.env,
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const waiting = new Map();
  let nextId = 1;
  let ready;
  const readyP = new Promise((r) => { ready = r; });
  let exited = null;
  proc.on('exit', (code, signal) => {
    exited = { code, signal };
    for (const w of waiting.values()) w.reject(new Error(`child exited (${code ?? signal}) before replying; stderr:\n${stderr}`));
    waiting.clear();
  });
  createInterface({ input: proc.stdout }).on('line', (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch { stderr += `[stdout] ${line}\n`; return; }
    if (msg.ready) return ready();
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.ok) w.resolve(msg.result); else w.reject(new Error(`child command failed: ${msg.error}`));
  });
  const child = {
    proc,
    pid: proc.pid,
    get stderr() { return stderr; },
    get exited() { return exited; },
    write(cmd) {
      const id = nextId++;
      const p = new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
      proc.stdin.write(JSON.stringify({ id, ...cmd }) + '\n');
      return p;
    },
    send(cmd, timeoutMs = 30_000) {
      const p = child.write(cmd);
      let timer;
      const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`child did not answer ${cmd.cmd} within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
      });
      return Promise.race([p, t]).finally(() => clearTimeout(timer));
    },
    freeze() {
      process.kill(proc.pid, 'SIGSTOP');
    },
    thaw() {
      process.kill(proc.pid, 'SIGCONT');
    },
    async stop() {
      if (exited) return exited;
      const done = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
      try { process.kill(proc.pid, 'SIGCONT'); } catch {}
      proc.stdin.end(JSON.stringify({ id: 0, cmd: 'exit' }) + '\n');
      const t = setTimeout(() => { try { proc.kill('SIGKILL'); } catch {} }, 5000);
      const r = await done;
      clearTimeout(t);
      return r;
    },
  };
  const t = setTimeout(() => { try { proc.kill('SIGKILL'); } catch {} }, 20_000);
  await Promise.race([readyP, new Promise((_, rej) => proc.once('exit', () => rej(new Error(`child died at start:\n${stderr}`))))]);
  clearTimeout(t);
  return child;
}

/** Waits until the process is really stopped (state T), so a freeze is a freeze. */
export async function waitStopped(pid) {
  await waitFor(() => procState(pid) === 'T', 2000, `process ${pid} to stop`);
}

/** Events of one kind in a child's event log. */
export const count = (events, name) => events.filter((e) => e.event === name).length;
