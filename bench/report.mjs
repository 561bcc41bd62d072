// Turns results.json into RESULTS.md: a table per measure, edgepg's ratio to the best peer,
// round-trip counts, and the targets marked met / missed (with the profile evidence that
// run.mjs collected for each miss).
//
//   node report.mjs [results.json]     rewrites RESULTS.md beside it

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ALL_DRIVERS, DRIVERS } from './drivers.mjs';
import { median, spread } from './stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The line profiles give the glue function whose body contains `text`, in the benchmarked
 * wasm-bindgen glue: profile.mjs names a function by its 1-based start line, which for a
 * one-line-header function is the 0-based index of the body line found here.
 */
function glueLine(text) {
  try {
    const lines = readFileSync(join(here, 'node_modules', 'edgepg', 'dist', 'wasm', 'edgepg.js'), 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes(text));
    return at < 0 ? 'none' : String(at);
  } catch {
    return 'none';
  }
}
const label = (id) => ALL_DRIVERS.find((d) => d.id === id)?.label ?? id;
const TCP_PEERS = ['pg', 'postgres'];
const TARGETS = ['direct', 'bouncer'];
const TARGET_LABEL = { direct: 'direct Postgres', bouncer: 'PgBouncer (transaction mode)' };

// ---------------------------------------------------------------------------------------
// aggregation
// ---------------------------------------------------------------------------------------

/** Everything the tables need, from the raw per-round results. */
export function aggregate(results) {
  const D = results.config.delayMs;
  const late = (results.delayProxy ?? []).filter((s) => s.delayMs === D && s.chunks > 0);
  const meanLate = late.length ? late.reduce((a, s) => a + s.meanLateMs * s.chunks, 0) / late.reduce((a, s) => a + s.chunks, 0) : 0;
  const rtt = 2 * (D + meanLate);
  const agg = { D, rtt, meanLate, main: {}, decode: {}, errors: [] };

  for (const r of results.main ?? []) {
    if (r.error) {
      agg.errors.push(`${r.driver} ${r.target} round ${r.round}: ${r.error.split('\n')[0]}`);
      continue;
    }
    const key = `${r.driver}|${r.target}`;
    (agg.main[key] ??= []).push(r);
  }
  const out = {};
  for (const [key, runs] of Object.entries(agg.main)) {
    const [driver, target] = key.split('|');
    const e = { driver, target, rounds: runs.length };
    e.fresh = spread(runs.map((r) => r.freshProcessMs));
    e.freshOpen = spread(runs.map((r) => r.freshOpenDriverMs));
    for (const q of ['select1', 'param']) {
      e[q] = {
        p50: spread(runs.filter((r) => r.warm).map((r) => r.warm[q].p50)),
        p99: spread(runs.filter((r) => r.warm).map((r) => r.warm[q].p99)),
      };
    }
    if (runs[0].cold) e.cold = rtOf(runs.map((r) => r.cold), rtt);
    if (runs[0].known) e.known = rtOf(runs.map((r) => r.known), rtt);
    for (const op of ['tx', 'txBatch', 'batch3']) {
      const per = runs.map((r) => r.ops?.[op]).filter(Boolean);
      if (per.length) e[op] = rtOf(per, rtt);
    }
    const conc = runs.map((r) => r.concurrency).filter(Boolean);
    if (conc.length) {
      e.concurrency = {
        wall: spread(conc.map((c) => c.wallMs)),
        maxBackends: Math.max(...conc.map((c) => c.maxBackends)),
        maxActive: Math.max(...conc.map((c) => c.maxActive)),
        samples: median(conc.map((c) => c.samples)),
      };
    }
    out[key] = e;
  }
  agg.main = out;

  const byDriver = {};
  for (const r of results.decode ?? []) {
    if (r.error) {
      agg.errors.push(`decode ${r.driver} round ${r.round}: ${r.error.split('\n')[0]}`);
      continue;
    }
    (byDriver[r.driver] ??= []).push(r);
  }
  for (const [driver, runs] of Object.entries(byDriver)) {
    agg.decode[driver] = {
      rounds: runs.length,
      rowsPerSec: spread(runs.map((r) => r.rowsPerSec)),
      ms: spread(runs.map((r) => r.ms)),
      peakMb: spread(runs.map((r) => r.peakRssKb / 1024)),
      beforeMb: spread(runs.map((r) => r.rssBeforeKb / 1024)),
      growthMb: spread(runs.map((r) => (r.peakRssKb - r.rssBeforeKb) / 1024)),
      heapMb: spread(runs.map((r) => r.memory?.heapUsedMb)),
      arrayBuffersMb: spread(runs.map((r) => r.memory?.arrayBuffersMb)),
      rssAfterGcMb: spread(runs.map((r) => r.memory?.rssAfterGcMb)),
      wasmMb: spread(runs.map((r) => r.memory?.wasmMb ?? NaN)),
      wasmBeforeMb: spread(runs.map((r) => r.memory?.wasmBeforeMb ?? NaN)),
      check: runs[0].check,
    };
  }

  if (results.workerd?.runs) {
    const w = {};
    for (const r of results.workerd.runs) {
      if (r.error) {
        agg.errors.push(`workerd ${r.driver} ${r.target} round ${r.round}: ${String(r.error).split('\n')[0]}`);
        continue;
      }
      (w[`${r.driver}|${r.target}`] ??= []).push(r);
    }
    agg.workerd = {};
    for (const [key, runs] of Object.entries(w)) {
      agg.workerd[key] = { mean: spread(runs.map((r) => r.meanMs)), cold: spread(runs.map((r) => r.coldMs)), p99: spread(runs.map((r) => r.p99Ms)), rounds: runs.length };
    }
  }
  return agg;
}

/**
 * Round trips from samples at delay 0 and at D: (median(t_D) − median(t_0)) / RTT, over all
 * samples, and per round (for the spread). `after` uses the time after the WebSocket opened.
 */
function rtOf(perRound, rtt) {
  const all = (d, f) => perRound.flatMap((r) => r[d].map(f)).filter(Number.isFinite);
  const ms = (x) => x.ms;
  const after = (x) => x.afterOpenMs ?? x.ms;
  const rtAll = (f) => (median(all('dD', f)) - median(all('d0', f))) / rtt;
  const rtRounds = (f) => perRound.map((r) => (median(r.dD.map(f)) - median(r.d0.map(f))) / rtt);
  const counted = perRound.flatMap((r) => r.d0.concat(r.dD)).map((x) => x.roundTrips).filter((x) => x !== null && x !== undefined);
  const hasWs = perRound.some((r) => r.d0.some((x) => x.wsOpenMs !== null && x.wsOpenMs !== undefined));
  const turnsD = perRound.flatMap((r) => r.dD.map((x) => x.turns)).filter((x) => Number.isFinite(x));
  return {
    turns: turnsD.length ? { med: median(turnsD), min: Math.min(...turnsD), max: Math.max(...turnsD) } : null,
    ms0: spread(all('d0', ms)),
    msD: spread(all('dD', ms)),
    rt: rtAll(ms),
    rtSpread: spread(rtRounds(ms)),
    rtAfterOpen: hasWs ? rtAll(after) : null,
    rtAfterOpenSpread: hasWs ? spread(rtRounds(after)) : null,
    wsOpenMs0: hasWs ? spread(all('d0', (x) => x.wsOpenMs)) : null,
    counted: counted.length ? { med: median(counted), min: Math.min(...counted), max: Math.max(...counted) } : null,
    newConnection: perRound.flatMap((r) => r.d0.concat(r.dD)).every((x) => x.newConnection !== false),
    n: all('d0', ms).length,
  };
}

// ---------------------------------------------------------------------------------------
// targets
// ---------------------------------------------------------------------------------------

export function evaluateTargets(results, agg) {
  const m = (d, t) => agg.main[`${d}|${t}`];
  // A profiled warm-latency run: longer than the measured one, with its warm-up.
  const warmJob = (driver) => ({ kind: 'main', driver, target: 'direct', steps: ['warm'], iterations: 5000, warmup: results.config.warmup });
  const targets = [];
  const profilesWanted = [];
  const add = (t) => targets.push(t);

  // 1. warm p50 over WebSocket ≤ 0.8 × neon (coalesceWrites:false)
  {
    const cells = [];
    for (const t of TARGETS) {
      for (const q of ['select1', 'param']) {
        const e = m('edgepg-ws', t)?.[q].p50.med;
        const n = m('neon-nocoalesce', t)?.[q].p50.med;
        if (Number.isFinite(e) && Number.isFinite(n)) cells.push({ t, q, e, n, ratio: e / n });
      }
    }
    const met = cells.length > 0 && cells.every((c) => c.ratio <= 0.8);
    add({
      id: 'ws-warm',
      name: 'warm p50 over WebSocket ≤ 0.8× neon (coalesceWrites:false)',
      met: cells.length ? met : null,
      measured: cells.map((c) => `${c.t} ${c.q}: ${fmt(c.e, 3)} vs ${fmt(c.n, 3)} ms = ${fmt(c.ratio, 2)}×`).join('; '),
      by: met ? '' : worst(cells, (c) => c.ratio / 0.8, 'p50 over the target'),
    });
    if (cells.length && !met) {
      profilesWanted.push({ name: 'warm-edgepg-ws', why: 'ws-warm', job: warmJob('edgepg-ws') });
      profilesWanted.push({ name: 'warm-neon-nocoalesce', why: 'ws-warm (peer, for comparison)', job: warmJob('neon-nocoalesce') });
    }
  }
  // 2. warm p50 over TCP ≤ best of pg / postgres.js
  {
    const cells = [];
    for (const t of TARGETS) {
      for (const q of ['select1', 'param']) {
        const e = m('edgepg-tcp', t)?.[q].p50.med;
        const best = bestPeer(agg, t, q, TCP_PEERS);
        if (!Number.isFinite(e) || !best) continue;
        cells.push({ t, q, e, best, ratio: e / best.v });
      }
    }
    const met = cells.length > 0 && cells.every((c) => c.ratio <= 1);
    add({
      id: 'tcp-warm',
      name: 'warm p50 over TCP ≤ best of pg / postgres.js',
      met: cells.length ? met : null,
      measured: cells.map((c) => `${c.t} ${c.q}: ${fmt(c.e, 3)} vs ${label(c.best.p)} ${fmt(c.best.v, 3)} ms = ${fmt(c.ratio, 2)}×`).join('; '),
      by: met ? '' : worst(cells, (c) => c.ratio, 'p50 over the best peer'),
    });
    if (cells.length && !met) {
      const peerId = mostCommon(cells.map((c) => c.best.p));
      profilesWanted.push({ name: 'warm-edgepg-tcp', why: 'tcp-warm', job: warmJob('edgepg-tcp') });
      profilesWanted.push({ name: `warm-${peerId}`, why: 'tcp-warm (best peer, for comparison)', job: warmJob(peerId) });
    }
  }
  // 3. cold connect + SCRAM + first query in 2 round trips after the socket opens, once known
  {
    const cells = [];
    for (const d of ['edgepg-tcp', 'edgepg-ws']) {
      for (const t of TARGETS) {
        const k = m(d, t)?.known;
        if (!k) continue;
        const rt = k.rtAfterOpen ?? k.rt;
        cells.push({ d, t, rt, counted: k.counted?.med, turns: k.turns ? k.turns.med - (d === 'edgepg-ws' ? 1 : 0) : null });
      }
    }
    const met = cells.length > 0 && cells.every((c) => Math.round(c.rt) <= 2);
    add({
      id: 'cold-rt',
      name: 'cold connect + SCRAM + first query in 2 round trips after the socket opens (server known)',
      met: cells.length ? met : null,
      measured: cells.map((c) => `${label(c.d)} ${c.t}: ${Math.round(c.rt)} (raw ${fmt(c.rt, 2)}; proxy-counted ${c.turns ?? '–'}; stats.roundTrips ${c.counted ?? '–'})`).join('; '),
      by: met ? '' : worst(cells, (c) => Math.round(c.rt) - 2, 'round trips over 2', (v) => `+${v}`),
    });
  }
  // 4. transaction and batch in 1 round trip
  {
    const cells = [];
    for (const d of ['edgepg-tcp', 'edgepg-ws']) {
      for (const t of TARGETS) {
        for (const op of ['txBatch', 'batch3']) {
          const o = m(d, t)?.[op];
          if (o) cells.push({ d, t, op, rt: o.rt, counted: o.counted?.med, turns: o.turns?.med });
        }
      }
    }
    const met = cells.length > 0 && cells.every((c) => Math.round(c.rt) === 1);
    add({
      id: 'tx-batch-rt',
      name: 'transaction (as a batch) and a 3-statement batch in 1 round trip',
      met: cells.length ? met : null,
      measured: summarizeRt(cells),
      by: met ? '' : worst(cells, (c) => Math.round(c.rt) - 1, 'round trips over 1', (v) => `+${v}`),
    });
  }
  // 5. decode ≥ 1.5× best of pg / postgres.js, peak memory no worse than the best peer
  {
    const e = agg.decode['edgepg-tcp'];
    const peers = TCP_PEERS.map((p) => ({ p, d: agg.decode[p] })).filter((x) => x.d);
    if (e && peers.length) {
      const fastest = peers.reduce((a, b) => (b.d.rowsPerSec.med > a.d.rowsPerSec.med ? b : a));
      const leanest = peers.reduce((a, b) => (b.d.peakMb.med < a.d.peakMb.med ? b : a));
      const speed = e.rowsPerSec.med / fastest.d.rowsPerSec.med;
      const mem = e.peakMb.med / leanest.d.peakMb.med;
      const met = speed >= 1.5 && mem <= 1;
      const misses = [];
      if (speed < 1.5) misses.push(`throughput ${fmt(speed, 2)}× the fastest peer, ${fmt(((1.5 - speed) / 1.5) * 100, 0)} % short of 1.5×`);
      if (mem > 1) misses.push(`peak RSS ${fmt((mem - 1) * 100, 0)} % above ${label(leanest.p)}`);
      add({
        id: 'decode',
        name: 'decode throughput ≥ 1.5× best of pg / postgres.js, peak memory ≤ the best peer',
        met,
        measured: `edgepg (TCP) ${kfmt(e.rowsPerSec.med)} rows/s vs ${label(fastest.p)} ${kfmt(fastest.d.rowsPerSec.med)} = ${fmt(speed, 2)}×; peak RSS ${fmt(e.peakMb.med, 0)} MB vs ${label(leanest.p)} ${fmt(leanest.d.peakMb.med, 0)} MB = ${fmt(mem, 2)}×`,
        by: misses.join('; '),
      });
      if (!met) {
        profilesWanted.push({ name: 'decode-edgepg-tcp', why: 'decode', job: { kind: 'decode', driver: 'edgepg-tcp', repeat: 3 } });
        profilesWanted.push({ name: `decode-${fastest.p}`, why: 'decode (fastest peer, for comparison)', job: { kind: 'decode', driver: fastest.p, repeat: 3 } });
      }
    }
  }
  // 6. bundle gzip ≤ neon's
  {
    const b = results.bundle;
    if (b?.edgepg && b?.neon) {
      const ratio = b.edgepg.totalGzip / b.neon.totalGzip;
      add({
        id: 'bundle',
        name: "bundle gzip (JS + wasm) ≤ neon's",
        met: ratio <= 1,
        measured: `edgepg ${kb(b.edgepg.totalGzip)} (wasm ${kb(b.edgepg.wasmGzip)} + JS ${kb(b.edgepg.jsGzip)}) vs neon ${kb(b.neon.totalGzip)} = ${fmt(ratio, 2)}×`,
        by: ratio <= 1 ? '' : `${kb(b.edgepg.totalGzip - b.neon.totalGzip)} over (${fmt(ratio, 2)}×)`,
      });
    }
  }
  // 7. concurrency: wall ≤ 1.1× ideal, backends never above max
  {
    const ideal = (results.config.concurrency / results.config.poolMax) * 10;
    const cells = [];
    for (const d of ['edgepg-tcp', 'edgepg-ws']) {
      const c = m(d, 'direct')?.concurrency;
      if (c) cells.push({ d, wall: c.wall.med, ratio: c.wall.med / ideal, backends: c.maxBackends });
    }
    const met = cells.length > 0 && cells.every((c) => c.ratio <= 1.1 && c.backends <= results.config.poolMax);
    add({
      id: 'concurrency',
      name: `${results.config.concurrency} concurrent pg_sleep(0.01) on max ${results.config.poolMax}: wall ≤ 1.1× ideal (${ideal} ms), backends ≤ max`,
      met: cells.length ? met : null,
      measured: cells.map((c) => `${label(c.d)}: ${fmt(c.wall, 0)} ms = ${fmt(c.ratio, 2)}× ideal, ≤ ${c.backends} backends`).join('; '),
      by: met ? '' : cells.filter((c) => c.ratio > 1.1 || c.backends > results.config.poolMax).map((c) => `${label(c.d)} ${fmt((c.ratio / 1.1 - 1) * 100, 0)} % over 1.1× ideal${c.backends > results.config.poolMax ? `, ${c.backends} backends` : ''}`).join('; '),
    });
    if (cells.length && !met) {
      const worstD = cells.reduce((a, b) => (b.ratio > a.ratio ? b : a)).d;
      profilesWanted.push({ name: `concurrency-${worstD}`, why: 'concurrency', job: { kind: 'main', driver: worstD, target: 'direct', steps: ['concurrency'], concurrency: results.config.concurrency } });
    }
  }
  return { targets, profilesWanted };
}

function summarizeRt(cells) {
  const groups = {};
  for (const c of cells) (groups[`${c.op === 'txBatch' ? 'transaction as batch' : 'batch of 3'}`] ??= []).push(c);
  return Object.entries(groups)
    .map(([k, cs]) => `${k}: ${cs.map((c) => `${c.d.replace('edgepg-', '')}/${c.t} ${Math.round(c.rt)} (${fmt(c.rt, 2)}; proxy ${c.turns ?? '–'})`).join(', ')}`)
    .join('; ');
}

function worst(cells, score, what, show = (v) => `${fmt((v - 1) * 100, 0)} %`) {
  if (!cells.length) return '';
  const w = cells.reduce((a, b) => (score(b) > score(a) ? b : a));
  return `worst ${[w.d && label(w.d), w.t, w.q, w.op].filter(Boolean).join(' ')}: ${show(score(w))} ${what}`;
}

function mostCommon(list) {
  const c = {};
  for (const x of list) c[x] = (c[x] ?? 0) + 1;
  return Object.entries(c).sort((a, b) => b[1] - a[1])[0][0];
}

// ---------------------------------------------------------------------------------------
// formatting
// ---------------------------------------------------------------------------------------

function fmt(v, digits = 2) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v.toFixed(digits);
}
const kfmt = (v) => (Number.isFinite(v) ? `${Math.round(v / 1000)}k` : '–');
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const sp = (s, d = 2) => (s && s.n ? `${fmt(s.med, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})` : '–');
const rtCell = (o, afterOpen = false, upgrade = 0) => {
  if (!o) return '–';
  const rt = afterOpen && o.rtAfterOpen !== null ? o.rtAfterOpen : o.rt;
  const s = afterOpen && o.rtAfterOpenSpread ? o.rtAfterOpenSpread : o.rtSpread;
  // † where the timing estimate and the proxy's exact count disagree (CPU noise)
  const counted = o.turns ? o.turns.med - (afterOpen ? upgrade : 0) : null;
  const flag = counted !== null && Math.round(rt) !== counted ? ' †' : '';
  return `**${Math.round(rt)}**${flag} (${fmt(rt, 2)}; rounds ${fmt(s.min, 1)}–${fmt(s.max, 1)})`;
};
/** The delay proxy's structural count at D ms; `minus` = 1 removes a WebSocket upgrade. */
const turnsCell = (o, minus = 0) => {
  if (!o?.turns) return '–';
  const t = o.turns;
  return t.min === t.max ? String(t.med - minus) : `${t.med - minus} (${t.min - minus}–${t.max - minus})`;
};
const mark = (met) => (met === null ? 'not measured' : met ? '✅ met' : '❌ missed');

function table(head, rows) {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** "edgepg X vs best peer Y = r×" for a numeric getter over agg.main (lower is better). */
function ratioLine(agg, target, edgepg, peers, get, digits = 1, unit = 'ms') {
  const e = get(agg.main[`${edgepg}|${target}`]);
  const vals = peers.map((p) => ({ p, v: get(agg.main[`${p}|${target}`]) })).filter((x) => Number.isFinite(x.v));
  if (!Number.isFinite(e) || !vals.length) return '–';
  const best = vals.reduce((a, b) => (b.v < a.v ? b : a));
  return `${fmt(e, digits)} vs ${label(best.p)} ${fmt(best.v, digits)} ${unit} = ${fmt(e / best.v, 2)}×`;
}
const WS_PEERS = ['neon', 'neon-nocoalesce'];

/** The peer with the lowest p50 for query `q` on `target`: `{ p, v }`, or undefined. */
function bestPeer(agg, target, q, peers) {
  const vals = peers.map((p) => ({ p, v: agg.main[`${p}|${target}`]?.[q].p50.med })).filter((x) => Number.isFinite(x.v));
  return vals.length ? vals.reduce((a, b) => (b.v < a.v ? b : a)) : undefined;
}

function bestPeerRatio(agg, target, q, edgepg, peers) {
  const e = agg.main[`${edgepg}|${target}`]?.[q].p50.med;
  const best = bestPeer(agg, target, q, peers);
  if (!Number.isFinite(e) || !best) return '–';
  return `${fmt(e / best.v, 2)}× ${label(best.p)}`;
}

/**
 * edgepg's profile next to the peer's for one target: CPU per operation by category, and
 * without the socket-write syscalls (writeBuffer/writev: the kernel's loopback work, which
 * every driver pays about equally per write).
 */
function compareProfiles(profiles, id) {
  const mine = Object.values(profiles).filter((x) => x.why?.startsWith(id) && !x.error && x.perOp);
  const e = mine.find((x) => x.driver.startsWith('edgepg'));
  const peer = mine.find((x) => !x.driver.startsWith('edgepg'));
  if (!e || !peer) return '';
  const ops = (x) => (x.busyMs * 1000) / x.perOp.us; // operations in the profile
  const perOp = (x, ms) => (ms * 1000) / ops(x);
  const writes = (x) => x.writesMs ?? 0;
  const cats = [...new Set([...e.categories, ...peer.categories].map((c) => c.cat))];
  const rows = cats.map((cat) => {
    const a = e.categories.find((c) => c.cat === cat)?.ms ?? 0;
    const b = peer.categories.find((c) => c.cat === cat)?.ms ?? 0;
    return [cat, fmt(perOp(e, a), 1), fmt(perOp(peer, b), 1)];
  }).filter((r) => r[1] !== '0.0' || r[2] !== '0.0');
  rows.push(['socket write syscalls (writeBuffer, writev; inside "V8 builtins")', fmt(perOp(e, writes(e)), 1), fmt(perOp(peer, writes(peer)), 1)]);
  rows.push(['**total CPU per ' + e.perOp.unit + '**', `**${fmt(e.perOp.us, 1)}**`, `**${fmt(peer.perOp.us, 1)}**`]);
  rows.push(['**total without the socket writes**', `**${fmt(e.perOp.us - perOp(e, writes(e)), 1)}**`, `**${fmt(peer.perOp.us - perOp(peer, writes(peer)), 1)}**`]);
  return `CPU per ${e.perOp.unit}, µs (whole profiled process, so connect and warm-up are included), edgepg vs ${label(peer.driver)}:\n\n` +
    table(['category', label(e.driver), label(peer.driver)], rows);
}

/**
 * What the decode floor (the result received by bench/wire.mjs and never decoded) says: the
 * server's share of every total, and each driver's own time above it. Null without a floor.
 */
function decodeFloorReading(agg) {
  const floor = agg.decode['wire-tcp'];
  const mine = agg.decode['edgepg-tcp'];
  const [peer, theirs] = TCP_PEERS.map((x) => [x, agg.decode[x]]).filter(([, v]) => v).sort((a, b) => a[1].ms.med - b[1].ms.med)[0] ?? [];
  if (!floor || !mine || !theirs) return null;
  const above = (e) => e.ms.med - floor.ms.med;
  return `The server's share: the wire floor (TCP) receives the result without decoding it in ${fmt(floor.ms.med, 0)} ms, and that time is inside every driver's total (a driver decodes while the server still sends). ` +
    `Above it, edgepg (TCP) takes ${fmt(above(mine), 0)} ms and ${label(peer)} ${fmt(above(theirs), 0)} ms: ${fmt(above(theirs) / above(mine), 2)}× edgepg's. ` +
    `1.5× on the totals needs edgepg at ${fmt(theirs.ms.med / 1.5 - floor.ms.med, 0)} ms above the floor.`;
}

/**
 * What the wire floor (bench/wire.mjs: no driver, pre-encoded requests) says about a warm
 * target: how much of each p50 is the path itself, and whether the target leaves a driver any
 * room above it.
 */
function floorReading(id, agg) {
  const ws = id === 'ws-warm';
  const floorId = ws ? 'wire-ws' : 'wire-tcp';
  const us = (ms) => fmt(ms * 1000, 0);
  const cells = [];
  for (const t of TARGETS) {
    for (const q of ['select1', 'param']) {
      const f = agg.main[`${floorId}|${t}`]?.[q].p50.med;
      const e = agg.main[`${ws ? 'edgepg-ws' : 'edgepg-tcp'}|${t}`]?.[q].p50.med;
      const best = bestPeer(agg, t, q, ws ? ['neon-nocoalesce'] : TCP_PEERS);
      if (![f, e].every(Number.isFinite) || !best) continue;
      const goal = ws ? 0.8 * best.v : best.v;
      cells.push(`${t} ${q === 'select1' ? 'SELECT 1' : 'param'}: floor ${us(f)} µs; above it edgepg ${us(e - f)} µs, ${label(best.p)} ${us(best.v - f)} µs; ` +
        `the target (${us(goal)} µs) leaves ${goal <= f ? '**no room**: it is at or below the floor' : `${us(goal - f)} µs above the floor`}`);
    }
  }
  if (!cells.length) return '**The floor.** (no wire-floor measure in this run)';
  return `**The floor.** A client that only writes pre-encoded request bytes and waits for ReadyForQuery (bench/wire.mjs, "${label(floorId)}" in section 1) ` +
    'measures what the path itself costs here: the kernel, ' + (ws ? 'the WebSocket proxy, ' : '') + 'PgBouncer where used, and Postgres, all on the same 2 shared cores. ' +
    'A driver can only add to it, so the comparison that is up to the driver is the part above the floor (p50 medians over rounds):\n\n' +
    cells.map((c) => `- ${c}`).join('\n');
}

/**
 * The reading of the evidence for one missed target, computed from this run's numbers (so a
 * re-run cannot leave a stale claim behind). Points at the source that does the work.
 */
function explain(id, results, agg) {
  const profs = Object.values(results.profiles ?? {}).filter((x) => x.why?.startsWith(id) && !x.error && x.perOp);
  const e = profs.find((x) => x.driver.startsWith('edgepg'));
  const peer = profs.find((x) => !x.driver.startsWith('edgepg'));
  const usPer = (x, ms) => (ms * 1000 * x.perOp.us) / (x.busyMs * 1000);
  const catUs = (x, name) => usPer(x, x.categories.find((c) => c.cat === name)?.ms ?? 0);
  const fnUs = (x, re) => usPer(x, x.top.filter((t) => re.test(t.fn)).reduce((a, t) => a + t.ms, 0));
  const driverJs = (x) => x.categories.filter((c) => !/^(edgepg|GC|Node internals|V8|bench|ws$|idle|root|other)/.test(c.cat)).reduce((a, c) => a + usPer(x, c.ms), 0);
  if ((id === 'tcp-warm' || id === 'ws-warm') && e && peer) {
    const eNoWrite = e.perOp.us - usPer(e, e.writesMs ?? 0);
    const pNoWrite = peer.perOp.us - usPer(peer, peer.writesMs ?? 0);
    const wasm = catUs(e, 'edgepg wasm');
    const glue = catUs(e, 'edgepg wasm-bindgen glue (JS)');
    const ts = catUs(e, 'edgepg TS layer (JS)');
    const closures = fnUs(e, /makeMutClosure|_wbg_cb_unref|__wbindgen_generic|invoke__|Promise::new|future_to_promise|Queue::new|__wbg_then/);
    const strings = fnUs(e, /getStringFromWasm0|decodeUTF8|^decode node:internal\/encoding|passStringToWasm0/);
    const finish = fnUs(e, /^(finish|shapeOf) /);
    const copies = fnUs(e, /__wbg_new_from_slice/);
    return [
      floorReading(id, agg),
      `**CPU.** ${fmt(e.perOp.us, 0)} µs per query for edgepg against ${fmt(peer.perOp.us, 0)} µs for ${label(peer.driver)} (whole profiled process); ` +
        `${fmt(eNoWrite, 0)} µs against ${fmt(pNoWrite, 0)} µs once the socket-write syscalls (the same kernel work for every driver, and on loopback also the receiving side's) are left out. ` +
        `Of edgepg's, ${fmt(wasm, 1)} µs run in the wasm, ${fmt(glue, 1)} µs in the wasm-bindgen glue and ${fmt(ts, 1)} µs in the TS layer, where ${label(peer.driver)}'s whole JS driver costs ${fmt(driverJs(peer), 1)} µs. ` +
        'No single hot spot; the crossings of the JS↔wasm boundary each query makes, from the top functions above:',
      `- the result as JSON text out of the wasm (\`getStringFromWasm0\` → TextDecoder \`decode\`) and the SQL text in (\`passStringToWasm0\`): ≈${fmt(strings, 1)} µs/query; \`finish\`/\`shapeOf\` (js/src/results.ts) parse it, the fields once per shape: ≈${fmt(finish, 1)} µs/query;`,
      `- a Promise per call (\`future_to_promise\` in src/js/mod.rs) and the transport's callbacks (made once per socket: src/js/socket.rs \`Reads\`, src/js/websocket.rs \`Handlers\`): ≈${fmt(closures, 1)} µs/query;`,
      `- a JS-owned copy of every write (\`new_from_slice\`: a runtime must never hold a view into wasm memory): ≈${fmt(copies, 1)} µs/query.`,
      'The protocol work itself (`Connection::handle_input`, encoding) is small.',
    ].join('\n');
  }
  if (id === 'decode' && e) {
    const d = agg.decode['edgepg-tcp'];
    const best = ['pg', 'postgres'].map((x) => agg.decode[x]).filter(Boolean).sort((a, b) => a.peakMb.med - b.peakMb.med)[0];
    const parse = fnUs(e, /^buildRows /);
    const make = fnUs(e, /results\.js/) - parse - fnUs(e, /^(finish|shapeOf) /);
    const emit = fnUs(e, /Builder::write|Emitter|push_json_string|push_int|push_hex|int_array|types::decode|temporal::/);
    const gc = catUs(e, 'GC');
    const lines = [
      `**Reading.** CPU: ${fmt(e.perOp.us, 1)} µs per row for edgepg against ${peer ? `${fmt(peer.perOp.us, 1)} µs for ${label(peer.driver)}` : 'the peer'}. ` +
        'Rows cross the boundary while the result still arrives: every 256 KiB of DataRows the wasm writes the part\'s values as one flat JSON array, the bytes of its bytea values in a buffer beside it (src/js/values.rs `Builder::write`, src/json/mod.rs `Emitter`; most values copied from the text format as they are: ' +
        `≈${fmt(emit, 2)} µs/row); \`buildRows\` (js/src/results.ts) parses the part (\`JSON.parse\`, most of its self time: ≈${fmt(parse, 2)} µs/row, the largest single cost) and makes the rows with a constructor per row shape, timestamps as Date, bytea as slices of the buffer (≈${fmt(make, 2)} µs/row); GC ≈${fmt(gc, 2)} µs/row, about what the peers pay: every driver keeps the same 100k rows of a dozen heap objects each. ` +
        'Measured while building this and not kept: objects made by `JSON.parse` itself (the previous form) cost about a quarter more JS time; strings as slices of one string per part were about 12 % faster in JS but would let one kept value hold its whole part\'s text alive. Reaching 1.5× the best peer would take building rows without a text step at all (values written by the wasm straight into JS objects cost a boundary call each, slower still).',
    ];
    if (d?.wasmMb?.n) {
      lines.push(
        `Memory: edgepg's peak RSS is ${fmt(d.peakMb.med, 0)} MB against ${fmt(best?.peakMb.med, 0)} MB for the leanest peer: ${fmt(d.beforeMb.med, 0)} MB against ${fmt(best?.beforeMb.med, 0)} MB before the query (the compiled wasm module and its instance), then ${fmt(d.growthMb.med, 0)} MB against ${fmt(best?.growthMb.med, 0)} MB of growth for the result. ` +
          `The wasm linear memory went from ${fmt(d.wasmBeforeMb.med, 0)} MB to ${fmt(d.wasmMb.med, 0)} MB: it holds one part of raw rows and its JSON text at a time, never the whole result (wasm memory never shrinks, so this matters for a long-lived isolate).`,
      );
    }
    return lines.join('\n\n');
  }
  if (id === 'bundle' && results.wasmSizes) {
    const w = results.wasmSizes;
    const crate = (...names) => names.reduce((a, n) => a + (w.crates.find((c) => c.crate === n)?.bytes ?? 0), 0);
    const mod = (...names) => names.reduce((a, n) => a + (w.modules?.find((m) => m.module === n)?.bytes ?? 0), 0);
    const { wasmGzip, jsGzip } = results.bundle.edgepg;
    const budget = results.bundle.neon.totalGzip - jsGzip;
    // Gzip per raw byte of the whole module, to put the raw code sizes below in gzip terms.
    const squeeze = wasmGzip / w.bytesWithoutNames;
    const protocol = mod('proto::connection', 'proto::message', 'proto::response', 'proto::query', 'proto::startup');
    const pool = mod('pool', 'pool::lease', 'pool::registry', 'driver');
    const config = mod('proto::config');
    const scram = mod('proto::scram', 'proto::base64');
    const hashing = crate('sha2', 'hmac', 'md5');
    const core = protocol + pool + config + scram + hashing;
    return `**Reading.** The JS is small (${kb(jsGzip)} gzip); the .wasm is ${kb(wasmGzip)} gzip, alone ${fmt(wasmGzip / results.bundle.neon.totalGzip, 1)}× neon's whole bundle. ` +
      `Of its ${kb(w.codeBytes)} of code, edgepg's own is ${kb(crate('edgepg'))}, and most of that is the driver, not value handling: ` +
      `the protocol state machine and messages ${kb(protocol)}, the pool and the driver (async state machines) ${kb(pool)}, ` +
      `the connection-string parser with its error messages ${kb(config)}, SCRAM ${kb(scram)} (and \`sha2\`, \`hmac\`, \`md5\` ${kb(hashing)}), ` +
      `the JS boundary and the transports ${kb(mod('js', 'js::values', 'js::runtime', 'js::socket', 'js::websocket'))}; ` +
      `result values to JSON ${kb(mod('json', 'proto::types'))}. Rust's \`core\` ${kb(crate('core'))} (formatting for error messages, string and slice helpers), ` +
      `\`js_sys\`/\`wasm_bindgen\` glue ${kb(crate('js_sys', 'wasm_bindgen'))}, \`dlmalloc\` ${kb(crate('dlmalloc'))}; the data section adds ${kb(w.sections.data ?? 0)}, mostly error messages. ` +
      'The npm build links none of the Rust API\'s value decoders, printers or float formatting and parsing: result values become JSON straight from their text (src/json/), and the tests check it writes what decoding would. ' +
      `Meeting the target needs the .wasm under ${kb(budget)} gzip, ${fmt((100 * budget) / wasmGzip, 0)} % of today's. ` +
      `The protocol, pool, driver, connection-string and SCRAM code alone is ${kb(core)} raw, about ${kb(core * squeeze)} gzip at this module's compression (${fmt(squeeze, 2)} gzip bytes per byte): ` +
      'more than the whole budget before the boundary, the allocator and `core`. That needs another design (the driver in JS, wasm at most for hashing), not a trim of this one.';
  }
  if (id === 'concurrency') {
    const ideal = (results.config.concurrency / results.config.poolMax) * 10;
    const rows = DRIVERS.map((d) => ({ d, c: agg.main[`${d.id}|direct`]?.concurrency })).filter((x) => x.c);
    const within = rows.filter((x) => x.c.wall.med <= 1.1 * ideal).map((x) => x.d.label);
    const over = rows.filter((x) => x.c.maxBackends > results.config.poolMax);
    return `**Reading.** Wall times in this run: ${rows.map((x) => `${x.d.label} ${fmt(x.c.wall.med, 0)} ms (${fmt(x.c.wall.min, 0)}–${fmt(x.c.wall.max, 0)})`).join(', ')}; ` +
      `within 1.1× the ideal: ${within.length ? within.join(', ') : 'none'}. 20 waves of 10 × 10 ms sleeps each add a wave's worth of server, proxy and event-loop time on 2 shared cores, so the overhead over ${ideal} ms is mostly per-wave latency: a driver with a slower query round trip (see section 1) pays it 20 times. ` +
      'postgres.js does not wait for a free connection: it pipelines queued queries onto busy connections (up to its `max_pipeline`, 100 by default; postgres/src/connection.js), so between its waves there is no client round trip, only the server\'s own time; edgepg, pg and neon give a connection to the next waiting query when the last one ended, which costs a round trip and the client\'s handling per wave (edgepg keeps that order on purpose: a query never queues behind another caller\'s slow one). ' +
      `${over.length ? 'Backends above max: ' + over.map((x) => x.d.label).join(', ') + '.' : 'No driver ever had more than max backends.'} The profile of edgepg's run is above; compare with the peers' wall times in the same run rather than with the ideal alone.`;
  }
  return '';
}

// ---------------------------------------------------------------------------------------
// the report
// ---------------------------------------------------------------------------------------

export function writeReport(results, { path, dryRun = false } = {}) {
  const agg = aggregate(results);
  const { targets, profilesWanted } = evaluateTargets(results, agg);
  if (dryRun) return { agg, targets, profilesWanted };
  const c = results.config;
  const L = [];
  const p = (s = '') => L.push(s);

  p('# edgepg benchmark results');
  p();
  p(`Generated by \`scripts/bench.sh\` (bench/run.mjs) on ${results.startedAt}; ${results.durationSec ?? '?'} s. ` +
    `Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}, **shared with other engineers' jobs: the numbers are noisy**; ` +
    `medians with min–max over ${c.rounds} rounds, drivers interleaved round-robin (each round rotates the order).`);
  p();
  p(`Load (/proc/loadavg) at start: \`${results.machine.loadavgStart}\`; at end: \`${results.machine.loadavgEnd ?? '?'}\`.`);
  p();
  p(`Versions: ${Object.entries(results.versions).map(([k, v]) => `${k} ${v ?? '–'}`).join(', ')}. ` +
    'Every connection string has `sslmode=disable` for every driver (the stack has no TLS; edgepg\'s default `prefer` would add one SSLRequest round trip on TCP). ' +
    'All traffic stays on 127.0.0.1. Postgres 15 with SCRAM-SHA-256 (role `edgepg_scram`), PgBouncer 1.18 in transaction mode, edgepg-proxy for WebSocket.');
  p();
  p('Drivers: ' + DRIVERS.map((d) => `**${d.label}**`).join(', ') + '. edgepg is the packed npm tarball of js/ (node export: node:net TCP, or WebSocket via `webSocketUrl` + the `ws` package). ' +
    'neon is its `Pool` over WebSocket through the same proxy (`wsProxy` → `127.0.0.1:58080/v2?address=host:port`, `useSecureWebSocket=false`, `pipelineConnect=false` (SCRAM: pipelining a cleartext password would be rejected), `pipelineTLS=false`). ' +
    'postgres.js uses `prepare: true` direct and `prepare: false` through PgBouncer 1.18 (which cannot keep named statements in transaction mode); edgepg likewise `statementCache: 100` direct and its default (off, unnamed statements) through PgBouncer.');
  p();

  p('## Targets');
  p();
  p(table(['target', 'result', 'measured', 'miss: by how much'], targets.map((t) => [t.name, mark(t.met), t.measured || '–', t.met ? '' : t.by || ''])));
  p();
  p('Why each missed target is missed, with the profile evidence: [Why the misses](#why-the-misses).');
  p();

  // 1. warm latency
  p('## 1. Warm latency');
  p();
  p(`Sequential queries on one warm connection (pool max 1), straight to the server (no delay proxy): \`SELECT 1\` and \`SELECT $1::int4 + 1, $2::text\` alternating, ${c.warmup} of each as warm-up, then ${c.iterations} of each timed (the first thousands of queries of a fresh process are slower for every driver and for the wire floor too: JIT and wasm tier-up, the server's caches; section 2's \"fresh process\" covers that end). ` +
    'Cells: median over rounds of the per-round percentile, (min–max over rounds), in ms. pg and neon use `pool.query(text, params)`; postgres.js and edgepg their tagged template. ' +
    'The wire floor rows are no driver: bench/wire.mjs writes pre-encoded request bytes (direct: the parameterized query prepared once as a named statement; through PgBouncer an unnamed Parse each time) and waits for ReadyForQuery without reading the rows: the least latency this path allows on this machine.');
  p();
  for (const t of TARGETS) {
    p(`**${TARGET_LABEL[t]}**`);
    p();
    const rows = ALL_DRIVERS.map((d) => {
      const e = agg.main[`${d.id}|${t}`];
      if (!e) return [d.label, '–', '–', '–', '–'];
      return [d.label, sp(e.select1.p50, 3), sp(e.select1.p99, 3), sp(e.param.p50, 3), sp(e.param.p99, 3)];
    });
    p(table(['driver', 'SELECT 1 p50', 'SELECT 1 p99', 'param p50', 'param p99'], rows));
    p();
    p(`edgepg (TCP) p50 vs the best TCP peer: SELECT 1 ${bestPeerRatio(agg, t, 'select1', 'edgepg-tcp', TCP_PEERS)}, param ${bestPeerRatio(agg, t, 'param', 'edgepg-tcp', TCP_PEERS)}. ` +
      `edgepg (WebSocket) p50 vs neon coalesceWrites:false: SELECT 1 ${bestPeerRatio(agg, t, 'select1', 'edgepg-ws', ['neon-nocoalesce'])}, param ${bestPeerRatio(agg, t, 'param', 'edgepg-ws', ['neon-nocoalesce'])}; ` +
      `vs neon default: SELECT 1 ${bestPeerRatio(agg, t, 'select1', 'edgepg-ws', ['neon'])}.`);
    p();
  }

  // 2. cold
  p('## 2. Cold connect + SCRAM + first query');
  p();
  p(`Round trips are counted with the delay proxy (bench/delay-proxy.mjs): each operation runs through it at 0 ms and at ${agg.D} ms one-way, alternating, ` +
    `and round trips = (median t(${agg.D} ms) − median t(0)) / RTT, with RTT = 2 × (${agg.D} ms + the proxy's measured mean lateness ${fmt(agg.meanLate, 3)} ms) = ${fmt(agg.rtt, 2)} ms. ` +
    `Bold: rounded; then the raw value and the min–max of the per-round estimates. ${c.reps} samples per delay per round. ` +
    'The delay proxy accepts TCP locally, so the TCP handshake is not delayed: TCP counts start once the socket is open. ' +
    'For WebSocket drivers the count is given in total (it includes the HTTP upgrade, 1 round trip) and after the socket opened (the `open` event of the `ws` instance handed to the driver). ' +
    `"Proxy-counted": the delay proxy also counts, per connection at ${agg.D} ms, how often server data followed client data (client writes less than ${agg.D} ms apart form one flight): the protocol's round trips, exact and free of CPU noise (median over samples; for WebSocket "after open" removes the upgrade's one).`);
  p();
  p('"Fresh process": the first query a new Node process makes (module load, wasm compile/instantiate, JIT cold), at delay 0. ' +
    '"First contact": a new pool (a fresh pool key for edgepg) each time. "Server known" (edgepg): the same pool\'s second connection after the first closed idle ' +
    '(pool max 1, idleTimeoutMs 20), so the pool has learned the auth method and SCRAM keys: it sends StartupMessage + SASLInitialResponse at once, then SASLResponse + the query.');
  p();
  for (const t of TARGETS) {
    p(`**${TARGET_LABEL[t]}**`);
    p();
    const rows = DRIVERS.map((d) => {
      const e = agg.main[`${d.id}|${t}`];
      if (!e) return [d.label, '–', '–', '–', '–', '–', '–', '–', '–'];
      return [
        d.label,
        `${sp(e.fresh, 1)} (${fmt(e.freshOpen.med, 1)})`,
        sp(e.cold.ms0, 1),
        rtCell(e.cold),
        d.ws ? rtCell(e.cold, true, 1) : 'same',
        e.known ? sp(e.known.ms0, 1) : 'n/a (learns nothing)',
        e.known ? (d.ws ? rtCell(e.known, true, 1) : rtCell(e.known)) : '–',
        `${turnsCell(e.cold)}${d.ws ? ` / ${turnsCell(e.cold, 1)}` : ''}${e.known ? `; known ${turnsCell(e.known, d.ws ? 1 : 0)}` : ''}`,
        e.known ? `first ${e.cold.counted?.med ?? '–'}, known ${e.known.counted?.med ?? '–'}` : '–',
      ];
    });
    p(table(['driver', 'fresh process ms (import + pool ms)', 'first contact ms (0 delay)', 'first contact RT (total)', 'first contact RT after open', 'server known ms', 'server known RT after open', 'proxy-counted RT (total / after open; known after open)', 'edgepg stats.roundTrips'], rows));
    p();
  }

  for (const t of TARGETS) {
    p(`Ratios, ${t}: first contact ms at 0 delay — TCP ${ratioLine(agg, t, 'edgepg-tcp', TCP_PEERS, (e) => e?.cold.ms0.med)}, WebSocket ${ratioLine(agg, t, 'edgepg-ws', WS_PEERS, (e) => e?.cold.ms0.med)}; ` +
      `server known — TCP ${ratioLine(agg, t, 'edgepg-tcp', TCP_PEERS, (e) => (e?.known ?? e?.cold)?.ms0.med)}, WebSocket ${ratioLine(agg, t, 'edgepg-ws', WS_PEERS, (e) => (e?.known ?? e?.cold)?.ms0.med)}; ` +
      `proxy-counted round trips after open — TCP ${ratioLine(agg, t, 'edgepg-tcp', TCP_PEERS, (e) => (e?.known ?? e?.cold)?.turns?.med, 0, 'RT')}, WebSocket ${ratioLine(agg, t, 'edgepg-ws', WS_PEERS, (e) => (e?.known ?? e?.cold)?.turns?.med, 0, 'RT (both incl. the upgrade)')}.`);
    p();
  }
  p('† the timing estimate rounds to another count than the proxy\'s exact one: that driver\'s connect time varies more between samples than the delay adds (neon\'s first contact spans 100+ ms at 0 delay, see its min–max), so the median difference is noise; the proxy count is the one to read there.');
  p();

  // 3. transaction
  p('## 3. Transaction: BEGIN; INSERT; SELECT; COMMIT');
  p();
  p('On a warm connection. edgepg interactive: `db.transaction(async tx => { await tx.sql`INSERT …`; return tx.sql`SELECT …` })` (BEGIN rides with the first statement; the awaited SELECT and COMMIT each need their own round trip). ' +
    'edgepg batch: `db.batch([INSERT, SELECT])` (one transaction, one round trip). pg / neon: `pool.connect()`, BEGIN, INSERT, SELECT, COMMIT. postgres.js: `sql.begin`.');
  p();
  for (const t of TARGETS) {
    p(`**${TARGET_LABEL[t]}**`);
    p();
    const rows = [];
    for (const d of DRIVERS) {
      const e = agg.main[`${d.id}|${t}`];
      if (!e) continue;
      if (e.tx) rows.push([`${d.label}, interactive`, sp(e.tx.ms0, 2), rtCell(e.tx), turnsCell(e.tx), e.tx.counted?.med ?? '–']);
      if (e.txBatch) rows.push([`${d.label}, batch`, sp(e.txBatch.ms0, 2), rtCell(e.txBatch), turnsCell(e.txBatch), e.txBatch.counted?.med ?? '–']);
    }
    p(table(['driver', 'ms at 0 delay', 'round trips (timing)', 'proxy-counted', 'edgepg stats.roundTrips'], rows));
    p();
    p(`Ratios (edgepg batch vs the best peer's transaction): ms — TCP ${ratioLine(agg, t, 'edgepg-tcp', TCP_PEERS, (e) => (e?.txBatch ?? e?.tx)?.ms0.med, 2)}, WebSocket ${ratioLine(agg, t, 'edgepg-ws', WS_PEERS, (e) => (e?.txBatch ?? e?.tx)?.ms0.med, 2)}; ` +
      `round trips — TCP ${ratioLine(agg, t, 'edgepg-tcp', TCP_PEERS, (e) => (e?.txBatch ?? e?.tx)?.turns?.med, 0, 'RT')}, WebSocket ${ratioLine(agg, t, 'edgepg-ws', WS_PEERS, (e) => (e?.txBatch ?? e?.tx)?.turns?.med, 0, 'RT')}. ` +
      `Interactive: TCP ${ratioLine(agg, t, 'edgepg-tcp', TCP_PEERS, (e) => e?.tx?.turns?.med, 0, 'RT')}.`);
    p();
  }

  // 4. batch
  p('## 4. Batch of 3 statements');
  p();
  p('`SELECT $1::int4`, `SELECT $1::text`, `SELECT count(*) FROM bench_tx`, all-or-nothing. edgepg: `db.batch([...])`. ' +
    'pg: its `pipeline: true` client mode (pg ≥ 8.20): BEGIN, the three and COMMIT written at once. postgres.js: `sql.begin(tx => Promise.all([...]))` (pipelined inside the transaction). ' +
    'neon (a pg fork without pipeline mode): BEGIN, the three, COMMIT one after another.');
  p();
  for (const t of TARGETS) {
    p(`**${TARGET_LABEL[t]}**`);
    p();
    const rows = DRIVERS.map((d) => {
      const e = agg.main[`${d.id}|${t}`]?.batch3;
      return e ? [d.label, sp(e.ms0, 2), rtCell(e), turnsCell(e), e.counted?.med ?? '–'] : [d.label, '–', '–', '–', '–'];
    });
    p(table(['driver', 'ms at 0 delay', 'round trips (timing)', 'proxy-counted', 'edgepg stats.roundTrips'], rows));
    p();
    p(`Ratios: ms — TCP ${ratioLine(agg, t, 'edgepg-tcp', TCP_PEERS, (e) => e?.batch3?.ms0.med, 2)}, WebSocket ${ratioLine(agg, t, 'edgepg-ws', WS_PEERS, (e) => e?.batch3?.ms0.med, 2)}; round trips — TCP ${ratioLine(agg, t, 'edgepg-tcp', TCP_PEERS, (e) => e?.batch3?.turns?.med, 0, 'RT')}, WebSocket ${ratioLine(agg, t, 'edgepg-ws', WS_PEERS, (e) => e?.batch3?.turns?.med, 0, 'RT')}.`);
    p();
  }

  // 5. decode
  p('## 5. Decode throughput: 100 000 rows × 9 columns');
  p();
  p('`SELECT * FROM bench_rows`: int4, text, float8, timestamptz, bool, jsonb, uuid, int4[], bytea; rows as objects with each driver\'s default type mapping. ' +
    `${c.decodeRounds ?? c.rounds} rounds (short ones, so more of them than elsewhere); each driver in its own child process per round: 3 warm-up queries of 2 000 rows, then the full query once. Peak = VmHWM of the process (/proc/self/status) after the query; growth = peak − RSS before it. TCP drivers direct to Postgres; WebSocket drivers through the proxy to Postgres.`);
  p();
  {
    const rows = ALL_DRIVERS.filter((d) => agg.decode[d.id]).map((d) => {
      const e = agg.decode[d.id];
      const rate = `${kfmt(e.rowsPerSec.med)} (${kfmt(e.rowsPerSec.min)}–${kfmt(e.rowsPerSec.max)})`;
      if (d.floor) return [d.label, rate, sp(e.ms, 0), '–', '–', '–', '–', '–', '–', 'not decoded: DataRows counted'];
      return [d.label, rate, sp(e.ms, 0), sp(e.peakMb, 0), sp(e.growthMb, 0), fmt(e.heapMb.med, 0), fmt(e.arrayBuffersMb.med, 0), fmt(e.rssAfterGcMb.med, 0), e.wasmMb.n ? `${fmt(e.wasmBeforeMb.med, 0)} → ${fmt(e.wasmMb.med, 0)}` : '–', `${e.check.ts}, json ${e.check.json}, arr ${e.check.arr}, bytea ${e.check.bytea}`];
    });
    p(table(['driver', 'rows/s', 'ms', 'peak RSS MB', 'growth MB', 'V8 heap used MB after', 'ArrayBuffers MB after', 'RSS after GC MB', 'wasm memory MB before → after', 'decoded as (timestamptz, jsonb, int[], bytea)'], rows));
    p();
    const dec = (id) => agg.decode[id];
    const bestBy = (ids, f, hi) => ids.filter(dec).reduce((a, b) => (a === null || (hi ? f(dec(b)) > f(dec(a)) : f(dec(b)) < f(dec(a))) ? b : a), null);
    for (const [e, peers] of [['edgepg-tcp', TCP_PEERS], ['edgepg-ws', ['neon']]]) {
      if (!dec(e)) continue;
      const fast = bestBy(peers, (x) => x.rowsPerSec.med, true);
      const lean = bestBy(peers, (x) => x.peakMb.med, false);
      if (fast && lean) p(`${label(e)}: throughput ${fmt(dec(e).rowsPerSec.med / dec(fast).rowsPerSec.med, 2)}× ${label(fast)}; peak RSS ${fmt(dec(e).peakMb.med / dec(lean).peakMb.med, 2)}× ${label(lean)}.`);
      p();
    }
    const floorLine = decodeFloorReading(agg);
    if (floorLine) {
      p(floorLine);
      p();
    }
    p('"after": process.memoryUsage() right after the query, rows still referenced; "RSS after GC": after dropping nothing but forcing a GC (`--expose-gc`), rows still referenced. wasm linear memory is in RSS only (not in the V8 heap nor ArrayBuffers) and never shrinks.');
    p();
  }

  // 6. concurrency
  p(`## 6. Concurrency: ${c.concurrency} × pg_sleep(0.01) on max ${c.poolMax}`);
  p();
  p(`Ideal wall time ${(c.concurrency / c.poolMax) * 10} ms. The pool is warmed first (2 × ${c.poolMax} concurrent short sleeps). ` +
    'Backends: the parent samples pg_stat_activity about every 2 ms over a separate admin connection for the pool\'s application_name (direct target).');
  p();
  {
    const ideal = (c.concurrency / c.poolMax) * 10;
    const rows = DRIVERS.map((d) => {
      const e = agg.main[`${d.id}|direct`]?.concurrency;
      return e ? [d.label, sp(e.wall, 0), fmt(e.wall.med / ideal, 2) + '×', e.maxBackends, e.maxActive, e.samples] : [d.label, '–', '–', '–', '–', '–'];
    });
    p(table(['driver', 'wall ms', 'vs ideal', 'most backends seen', 'most active at once', 'samples (median)'], rows));
    p();
    p(`Ratios: TCP ${ratioLine(agg, 'direct', 'edgepg-tcp', TCP_PEERS, (e) => e?.concurrency?.wall.med, 0)}; WebSocket ${ratioLine(agg, 'direct', 'edgepg-ws', WS_PEERS, (e) => e?.concurrency?.wall.med, 0)}.`);
    p();
  }

  // 7. bundle
  p('## 7. Bundle size');
  p();
  p('esbuild (ESM, minified, the runtime\'s export conditions), then gzip -9. edgepg: the edge-light entry (dist/edge.js and its imports) plus the .wasm; Node builtins that peers import are left external and not counted (a Worker provides them with nodejs_compat).');
  p();
  if (results.bundle && !results.bundle.error) {
    const rows = Object.values(results.bundle).map((b) => [b.label, kb(b.jsBytes), kb(b.jsGzip), b.wasmGzip ? kb(b.wasmGzip) : '–', `**${kb(b.totalGzip)}**`, (b.externalImports ?? []).join(', ') || '–']);
    p(table(['bundle', 'JS min', 'JS gzip', 'wasm gzip', 'total gzip', 'left external'], rows));
    p();
    if (results.bundle.edgepg && results.bundle.neon) p(`edgepg / neon = ${fmt(results.bundle.edgepg.totalGzip / results.bundle.neon.totalGzip, 2)}×; edgepg / postgres.js = ${fmt(results.bundle.edgepg.totalGzip / results.bundle.postgres.totalGzip, 2)}×.`);
    p();
  } else p(`Not measured: ${results.bundle?.error ?? 'skipped'}`);

  // workerd
  p('## The edge path: workerd');
  p();
  if (agg.workerd) {
    p(`bench/workerd/worker.js under \`wrangler dev\` (local workerd), TCP over \`cloudflare:sockets\`. In each request: connect + first query, ${results.workerd.warmup} warm-up, then ${results.workerd.n} sequential \`SELECT 1\`, timed inside the Worker. ` +
      'workerd\'s clock advances only across I/O and in whole milliseconds (a Spectre mitigation), so the mean (total / n) is the number to read; per-query p50 is 0 or 1 ms and is not shown. ' +
      'postgres.js (its workerd build) and pg (pg-cloudflare) need `nodejs_compat`; edgepg does not.');
    p();
    const rows = [];
    for (const t of TARGETS) {
      for (const d of ['edgepg', 'postgres', 'pg']) {
        const e = agg.workerd[`${d}|${t}`];
        if (e) rows.push([d === 'postgres' ? 'postgres.js' : d, t, sp(e.mean, 3), sp(e.cold, 0), sp(e.p99, 0)]);
      }
    }
    p(table(['driver', 'target', 'mean ms / query', 'connect + first query ms', 'p99 ms (1 ms resolution)'], rows));
    p();
    for (const t of TARGETS) {
      const e = agg.workerd[`edgepg|${t}`]?.mean.med;
      const peers = ['postgres', 'pg'].map((d) => ({ d, v: agg.workerd[`${d}|${t}`]?.mean.med })).filter((x) => Number.isFinite(x.v));
      if (Number.isFinite(e) && peers.length) {
        const best = peers.reduce((a, b) => (b.v < a.v ? b : a));
        p(`${t}: edgepg / best peer (${best.d === 'postgres' ? 'postgres.js' : best.d}) = ${fmt(e / best.v, 2)}×.`);
      }
    }
    p();
  } else p(`Not measured: ${results.workerd?.error ?? 'skipped (--no-workerd)'}.`);
  p();

  // why
  p('## Why the misses');
  p();
  const missed = targets.filter((t) => t.met === false);
  if (!missed.length) p('No target missed in this run.');
  for (const t of missed) {
    p(`### ${t.name}`);
    p();
    p(`Missed: ${t.by}.`);
    p();
    const floorLine = t.id === 'decode' && decodeFloorReading(agg);
    if (floorLine) {
      p(floorLine);
      p();
    }
    if (t.id === 'bundle' && results.wasmSizes) {
      const w = results.wasmSizes;
      p(`The .wasm is ${kb(w.bytesWithoutNames)} (code section ${kb(w.sections.code)}, data section ${kb(w.sections.data ?? 0)}); ${w.functions} functions. Code bytes by crate (from the name section of a byte-identical build that keeps names; names after wasm-opt's inlining are approximate):`);
      p();
      p(table(['crate', 'code bytes', '%'], w.crates.slice(0, 12).map((x) => [x.crate, x.bytes, x.pct])));
      p();
      if (w.modules?.length) {
        p("edgepg's code by module:");
        p();
        p(table(['module', 'code bytes'], w.modules.slice(0, 14).map((x) => [`\`${x.module}\``, x.bytes])));
        p();
      }
      p('Largest functions:');
      p();
      p(table(['function', 'bytes'], w.topFunctions.slice(0, 10).map((x) => [`\`${x.fn.slice(0, 110)}\``, x.bytes])));
      p();
    }
    for (const [name, prof] of Object.entries(results.profiles ?? {})) {
      if (!prof.why?.startsWith(t.id)) continue;
      p(`**Profile \`${name}\`** (\`node --cpu-prof\`, 200 µs sampling${prof.namedWasm ? '; wasm function names from the byte-identical named build' : ''}): ${prof.error ? 'failed: ' + prof.error : `${prof.busyMs} ms busy${prof.perOp ? `, ${fmt(prof.perOp.us, 1)} µs per ${prof.perOp.unit}` : ''}`}.`);
      p();
      if (!prof.error) {
        p(table(['category', 'ms', '%'], prof.categories.slice(0, 9).map((x) => [x.cat, x.ms, x.pct])));
        p();
        p(table(['top self time', 'category', 'ms', '%'], prof.top.slice(0, 12).map((x) => [`\`${x.fn.slice(0, 120)}\``, x.cat, x.ms, x.pct])));
        p();
      }
    }
    const cmp = compareProfiles(results.profiles ?? {}, t.id);
    if (cmp) {
      p(cmp);
      p();
    }
    const why = explain(t.id, results, agg);
    if (why) {
      p(why);
      p();
    }
  }

  // errors and method
  p('## Method notes');
  p();
  p('- Each driver × target runs in its own fresh Node process per round (`child_process.fork`), so drivers never share a heap or an event loop, and "fresh process" really is the first query of a process.');
  p(`- The delay proxy (bench/delay-proxy.mjs) is a separate Node process: a FIFO per direction, each chunk held until due (a timer to ~1 ms before, then setImmediate), order and half-close preserved. Its lateness: ${(results.delayProxy ?? []).map((s) => `${s.listen} @${s.delayMs} ms: ${s.chunks} chunks, mean ${s.meanLateMs} ms, max ${s.maxLateMs} ms`).join('; ') || '–'}.`);
  p('- The WebSocket proxy only allows the Postgres and PgBouncer ports, so for WebSocket drivers the delay proxy sits between the driver and the WebSocket proxy (where the latency of a real edge deployment is).');
  p('- No timed assertions anywhere: this is a benchmark, not a test. Failed samples are retried once and listed below.');
  p();
  if (agg.errors.length) {
    p(`Errors (${agg.errors.length}): PgBouncer restarts by concurrent test runs on this shared stack show up here.`);
    p();
    for (const e of agg.errors.slice(0, 20)) p(`- ${e}`);
    p();
  }
  const text = L.join('\n') + '\n';
  if (path) writeFileSync(path, text);
  return { agg, targets, profilesWanted, text };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? join(here, 'results.json');
  const results = JSON.parse(readFileSync(file, 'utf8'));
  writeReport(results, { path: join(dirname(file), 'RESULTS.md') });
}
