/** Errors thrown by edgepg. */

/** An error the server reported (an ErrorResponse). Carries every field Postgres sends. */
export class PostgresError extends Error {
  override name = 'PostgresError';
  /** SQLSTATE, e.g. `23505` for a unique violation. */
  code: string;
  severity?: string;
  detail?: string;
  hint?: string;
  position?: number;
  internalPosition?: number;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: number;
  routine?: string;
  /** For a failure mid-request: `unknown` when the statement may have run. */
  outcome: 'unknown' | 'not_executed';

  constructor(fields: Record<string, unknown>) {
    super(String(fields.message ?? 'database error'));
    this.code = String(fields.code ?? 'XX000');
    this.outcome = fields.outcome === 'not_executed' ? 'not_executed' : 'unknown';
    for (const key of [
      'severity', 'detail', 'hint', 'position', 'internalPosition', 'internalQuery', 'where',
      'schema', 'table', 'column', 'dataType', 'constraint', 'file', 'line', 'routine',
    ] as const) {
      if (fields[key] !== undefined) (this as Record<string, unknown>)[key] = fields[key];
    }
  }
}

/**
 * A failure to reach or keep talking to the server, or of the pool. `code` is stable:
 * `refused`, `timeout`, `closed`, `auth_failed`, `pool_timeout`, `pool_closed`, `protocol`,
 * `config`, `tls`, `unsupported`, `decode`, `encode`, `too_large`, `aborted`.
 */
export class ConnectionError extends Error {
  override name = 'ConnectionError';
  code: string;
  /** `not_executed`: nothing reached the server, safe to retry; `unknown`: it may have run. */
  outcome: 'unknown' | 'not_executed';
  /** For `auth_failed`: the SQLSTATE the server sent (28P01, 28000, or a pooler's 08P01). */
  sqlState?: string;

  constructor(fields: Record<string, unknown>) {
    super(String(fields.message ?? 'connection error'));
    this.code = String(fields.code ?? 'closed');
    this.outcome = fields.outcome === 'not_executed' ? 'not_executed' : 'unknown';
    if (typeof fields.sqlState === 'string') this.sqlState = fields.sqlState;
  }
}

/** Turns what the wasm rejected with into a proper error. */
export function toError(e: unknown): Error {
  if (e && typeof e === 'object' && (e as Record<string, unknown>).edgepgError) {
    const fields = e as Record<string, unknown>;
    return fields.kind === 'postgres' ? new PostgresError(fields) : new ConnectionError(fields);
  }
  if (e instanceof Error) return e;
  return new ConnectionError({ message: String(e), code: 'closed' });
}
