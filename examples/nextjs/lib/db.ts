import { createPool, type Pool } from 'edgepg';

/** Which Next.js runtime this code was bundled for (Next inlines `NEXT_RUNTIME` per bundle). */
export const runtime = process.env.NEXT_RUNTIME === 'edge' ? 'edge' : 'nodejs';

/**
 * The pool of this isolate (edge) or process (Node.js).
 *
 * `createPool` returns the same pool for the same arguments, so calling this in every request
 * costs a map lookup, and connections stay open between requests. The environment is read
 * here, at request time, not at module load: `next build` loads route modules without the
 * database's environment.
 *
 * `edgepg` resolves per runtime through its `exports` conditions: the edge bundle gets the
 * `edge-light` entry (WebSocket through a WebSocket-to-TCP proxy, the wasm imported as a
 * compiled module), the Node.js bundle the `node` entry (plain TCP via `node:net`).
 */
export function db(): Pool {
  const url = requireEnv('DATABASE_URL');
  if (runtime === 'edge') {
    return createPool(url, { max: 5, webSocketUrl: proxyTemplate(requireEnv('EDGEPG_WS_URL')) });
  }
  return createPool(url, { max: 5 });
}

/**
 * `ws://proxy/v2` → `ws://proxy/v2?address={host}:{port}` (the Neon-style URL edgepg-proxy
 * takes). A value that already has `{host}` in it is used as it is.
 */
function proxyTemplate(base: string): string {
  if (base.includes('{host}')) return base;
  return base + (base.includes('?') ? '&' : '?') + 'address={host}:{port}';
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigError(`${name} is not set: see examples/nextjs/README.md`);
  return value;
}

/** A missing setting: reported as a 500 with code `config`. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'config';
}
