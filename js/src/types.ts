/** Public types of edgepg. */

/** A row as an object keyed by column name. */
export type Row = Record<string, unknown>;

/** Pool options. Every option can also come from the connection string (see the README). */
export interface PoolOptions {
  /** Most connections open at once (default 5; URL `pool_max`). */
  max?: number;
  /** Close connections idle this long (default 30000; URL `idle_timeout` in seconds). */
  idleTimeoutMs?: number;
  /** How long a query waits for a free connection (default 10000; URL `acquire_timeout`). */
  acquireTimeoutMs?: number;
  /** Deadline for connect + authentication (default none; URL `connect_timeout`). */
  connectTimeoutMs?: number;
  /** Deadline for each query's answer; the connection is closed when it passes (default none). */
  queryTimeoutMs?: number;
  /** Retire connections older than this (default 3600000; URL `max_lifetime`). */
  maxLifetimeMs?: number;
  /** The most row bytes one query may return (default unlimited). */
  maxResultBytes?: number;
  /**
   * Named prepared statements kept per connection (default 0: every statement unnamed; URL
   * `statement_cache`). For direct connections only: a transaction-mode pooler (PgBouncer,
   * Hyperdrive, Neon's and Supabase's poolers) cannot keep them.
   */
  statementCache?: number;
  /**
   * Connect over WebSocket through a WS→TCP proxy: a template with `{host}` and `{port}`
   * (e.g. `wss://proxy.example.com/v2?address={host}:{port}`) or a function. Required in
   * browsers and Vercel Edge; optional in Node and Workers (which default to TCP sockets).
   */
  webSocketUrl?: string | ((host: string, port: number) => string);
  /** A WebSocket constructor where there is no global one (e.g. the `ws` package on Node 20). */
  WebSocket?: unknown;
  /** TLS: `true` = `sslmode=require`, `false` = `disable`, or an sslmode name. */
  ssl?: boolean | 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
}

/** A column of a result. */
export interface Field {
  name: string;
  /** The type OID. */
  dataTypeID: number;
  /** OID of the source table, or 0. */
  tableID: number;
  /** Column number in the source table, or 0. */
  columnID: number;
}

/** The result of `query()`. */
export interface QueryResult<R = Row> {
  rows: R[];
  fields: Field[];
  /** The command: SELECT, INSERT, UPDATE, … */
  command: string;
  /** Rows returned or affected, when the command reports it. */
  rowCount: number | null;
}

/** Options of one query. */
export interface QueryOptions {
  /** `array`: each row is an array of values in column order. */
  rowMode?: 'array' | 'object';
}

/** Pool counters. */
export interface PoolStats {
  open: number;
  idle: number;
  busy: number;
  waiting: number;
  created: number;
  reused: number;
  discarded: number;
  timeouts: number;
  /** Network round trips of finished queries, handshakes included. */
  roundTrips: number;
  max: number;
}

/**
 * The socket interface a runtime entrypoint provides to the wasm driver (Workers `connect()`,
 * `node:net`). Data handed to `write` is a fresh JS-owned copy.
 */
export interface EdgeSocket {
  readonly security: 'plain' | 'starttls' | 'secure';
  write(data: Uint8Array): Promise<void> | void;
  read(): Promise<Uint8Array | null>;
  /** Optional: let data already received by the host arrive (one event-loop turn). */
  settle?(): Promise<void>;
  /** Optional: what already arrived, synchronously (null: closed; undefined: nothing). */
  pending?(): Uint8Array | null | undefined;
  startTls(): Promise<void>;
  close(): void;
}

/** Opens an {@link EdgeSocket}. */
export type SocketFactory = (host: string, port: number) => Promise<EdgeSocket>;
