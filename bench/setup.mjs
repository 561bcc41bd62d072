// Creates what the measures read and write (idempotent), as the stack's admin role:
//   bench_tx    the transaction measure's table (INSERT; SELECT)
//   bench_rows  100 000 rows × 9 columns for the decode measure: int, text, float8,
//               timestamptz, bool, jsonb, uuid, int[], bytea
// Usage: node setup.mjs   (EDGEPG_URL_ADMIN from scripts/stack.sh)

import pg from 'pg';

export const ROWS = 100_000;

export async function setup(adminUrl = process.env.EDGEPG_URL_ADMIN) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`CREATE TABLE IF NOT EXISTS bench_tx (id bigserial PRIMARY KEY, v text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
    await c.query(`CREATE INDEX IF NOT EXISTS bench_tx_v ON bench_tx (v)`);
    await c.query(`GRANT SELECT, INSERT, DELETE ON bench_tx TO PUBLIC`);
    await c.query(`GRANT USAGE ON SEQUENCE bench_tx_id_seq TO PUBLIC`);
    const { rows } = await c.query(`SELECT to_regclass('bench_rows') IS NOT NULL AS ok`);
    let count = 0;
    if (rows[0].ok) count = (await c.query('SELECT count(*)::int AS n FROM bench_rows')).rows[0].n;
    if (count !== ROWS) {
      await c.query('DROP TABLE IF EXISTS bench_rows');
      await c.query(`CREATE TABLE bench_rows AS
        SELECT i AS int_col,
               'row number ' || i || ' of the decode benchmark' AS text_col,
               i * 1.25::float8 AS float_col,
               timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' AS ts_col,
               i % 2 = 0 AS bool_col,
               jsonb_build_object('id', i, 'name', 'item ' || i, 'tags', jsonb_build_array('a', 'b')) AS json_col,
               md5(i::text)::uuid AS uuid_col,
               ARRAY[i, i + 1, i + 2] AS arr_col,
               decode(md5(i::text), 'hex') AS bytea_col
        FROM generate_series(1, ${ROWS}) AS i`);
      await c.query('GRANT SELECT ON bench_rows TO PUBLIC');
      await c.query('VACUUM ANALYZE bench_rows');
    }
    // Keep the transaction table small between runs.
    await c.query(`DELETE FROM bench_tx WHERE at < now() - interval '1 hour'`);
  } finally {
    await c.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await setup();
