// The wire floor: the least a client can do for the warm-latency queries, as a yardstick for
// the drivers. No pool, no parsing of rows, no type decoding, no promise chain beyond one per
// query: the request bytes are encoded once (only the parameter changes), the reply is
// scanned for ReadyForQuery and dropped. What is left of a query's latency is the network
// path itself (kernel, the WebSocket proxy, PgBouncer, Postgres) on this machine; a driver's
// p50 minus the floor's is the driver's own share.
//
// Authenticates with SCRAM-SHA-256 (what the stack's roles use), cleartext or trust. Direct
// (not through PgBouncer) it prepares the parameterized query once as a named statement, like
// the drivers with a statement cache there; through PgBouncer it sends an unnamed Parse each
// time.

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';

import WebSocket from 'ws';

const int32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const int16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const cstr = (s) => Buffer.from(`${s}\0`);
/** One frontend message: type byte, length, body. */
const msg = (type, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
};

const PARAM_SQL = 'SELECT $1::int4 + 1 AS n, $2::text AS t';
const HELLO = Buffer.from('hello');

/**
 * Opens a raw connection. `ep` is a bench endpoint ({ pgUrl, tcp, ws, bouncer }); `ws`: go
 * through the WebSocket proxy instead of TCP.
 */
export async function openWire(ep, ws) {
  const url = new URL(ep.pgUrl);
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const database = url.pathname.slice(1) || user;
  const link = ws ? await wsLink(`ws://${ep.ws}/v2?address=${url.hostname}:${url.port}`) : await tcpLink(ep.tcp ?? `${url.hostname}:${url.port}`);
  const conn = new Wire(link);
  await conn.startup(user, password, database);
  const named = !ep.bouncer;
  if (named) await conn.request(Buffer.concat([msg('P', cstr('floor'), cstr(PARAM_SQL), int16(0)), msg('S')]));
  const select1 = msg('Q', cstr('SELECT 1 AS x'));
  const head = named ? Buffer.alloc(0) : msg('P', cstr(''), cstr(PARAM_SQL), int16(0));
  const tail = Buffer.concat([msg('E', cstr(''), int32(0)), msg('S')]);
  const statement = cstr(named ? 'floor' : '');
  return {
    select1: () => conn.request(select1),
    param: (i) => {
      const n = Buffer.from(String(i));
      const bind = msg('B', cstr(''), statement, int16(0), int16(2), int32(n.length), n, int32(HELLO.length), HELLO, int16(0));
      return conn.request(Buffer.concat([head, bind, tail]));
    },
    /** Runs `sql` (simple protocol) and counts its DataRows without reading them. */
    rows: async (sql) => {
      let rows = 0;
      await conn.request(msg('Q', cstr(sql)), (type) => {
        if (type === 0x44 /* D */) rows++;
        return type === 0x5a;
      });
      return rows;
    },
    end: () => conn.end(),
  };
}

/** A byte stream over TCP. */
function tcpLink(hostPort) {
  const [host, port] = hostPort.split(':');
  const s = net.connect({ host, port: Number(port), noDelay: true });
  return link(s, 'connect', 'data', (b) => s.write(b), () => s.destroy());
}

/** A byte stream over a WebSocket (binary frames). */
function wsLink(address) {
  const w = new WebSocket(address);
  w.binaryType = 'nodebuffer';
  return link(w, 'open', 'message', (b) => w.send(b), () => w.terminate());
}

/**
 * `{ write(buf), onData(fn), onEnd(fn), close() }` over an emitter (a socket or a WebSocket)
 * once its `ready` event fired; rejects on an error before that.
 */
function link(emitter, ready, dataEvent, write, close) {
  return new Promise((resolve, reject) => {
    emitter.once('error', reject);
    emitter.once(ready, () => {
      emitter.off('error', reject);
      resolve({
        write,
        onData: (fn) => emitter.on(dataEvent, fn),
        onEnd: (fn) => (emitter.on('close', fn), emitter.on('error', fn)),
        close,
      });
    });
  });
}

class Wire {
  constructor(link) {
    this.link = link;
    this.buf = Buffer.alloc(0);
    this.waiting = null; // { resolve, reject, stop(type), messages, error }
    link.onData((chunk) => this.data(chunk));
    link.onEnd((e) => this.fail(e instanceof Error ? e : new Error('connection closed')));
  }

  data(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.drain();
  }

  /** Hands complete messages to the waiting request; what arrives before one waits stays. */
  drain() {
    let at = 0;
    while (this.waiting && this.buf.length - at >= 5) {
      const len = this.buf.readInt32BE(at + 1);
      if (this.buf.length - at < 1 + len) break;
      const type = this.buf[at];
      const body = this.buf.subarray(at + 5, at + 1 + len);
      at += 1 + len;
      const w = this.waiting;
      if (type === 0x45 /* E */) w.error ??= new Error(`server error: ${errorText(body)}`);
      if (w.messages) w.messages.push([type, Buffer.from(body)]);
      if (w.stop(type)) {
        this.waiting = null;
        if (w.error) w.reject(w.error);
        else w.resolve(w.messages);
      }
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
  }

  fail(e) {
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  /** Writes `bytes` and waits until `stop(type)` holds for a message (ReadyForQuery by default). */
  request(bytes, stop = (type) => type === 0x5a /* Z */, keep = false) {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject, stop, messages: keep ? [] : null, error: null };
      if (bytes.length) this.link.write(bytes);
      this.drain();
    });
  }

  async startup(user, password, database) {
    const params = Buffer.concat([cstr('user'), cstr(user), cstr('database'), cstr(database), cstr('application_name'), cstr('bench-wire-floor'), Buffer.from([0])]);
    const body = Buffer.concat([int32(196608), params]);
    let out = Buffer.concat([int32(body.length + 4), body]);
    let scram = null;
    // Each step answers one Authentication request; ReadyForQuery ends the startup. (An
    // ErrorResponse during startup rejects the request at once: the server closes.)
    const authStep = (type) => type === 0x52 || type === 0x5a || type === 0x45;
    for (;;) {
      const messages = await this.request(out, authStep, true);
      const [type, auth] = messages[messages.length - 1];
      if (type === 0x5a) return;
      const code = auth.readInt32BE(0);
      if (code === 0 || code === 12) {
        out = Buffer.alloc(0); // AuthenticationOk / SASLFinal: the rest follows unasked
      } else if (code === 3) {
        out = msg('p', cstr(password));
      } else if (code === 10) {
        const nonce = randomBytes(18).toString('base64');
        scram = { nonce, first: `n=*,r=${nonce}` };
        const m = Buffer.from(`n,,${scram.first}`);
        out = msg('p', cstr('SCRAM-SHA-256'), int32(m.length), m);
      } else if (code === 11) {
        const server = auth.subarray(4).toString();
        const attrs = Object.fromEntries(server.split(',').map((kv) => [kv[0], kv.slice(2)]));
        if (!scram || !attrs.r?.startsWith(scram.nonce)) throw new Error('wire floor: bad SCRAM server nonce');
        const salted = pbkdf2Sync(password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
        const clientKey = createHmac('sha256', salted).update('Client Key').digest();
        const storedKey = createHash('sha256').update(clientKey).digest();
        const without = `c=biws,r=${attrs.r}`;
        const signature = createHmac('sha256', storedKey).update(`${scram.first},${server},${without}`).digest();
        const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i])).toString('base64');
        out = msg('p', Buffer.from(`${without},p=${proof}`));
      } else {
        throw new Error(`wire floor: authentication method ${code} is not supported`);
      }
    }
  }

  end() {
    try {
      this.link.write(msg('X'));
    } catch {}
    this.link.close();
  }
}

function errorText(body) {
  const fields = {};
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    fields[String.fromCharCode(body[at])] = body.subarray(at + 1, end).toString();
    at = end + 1;
  }
  return `${fields.C ?? ''} ${fields.M ?? ''}`.trim();
}
