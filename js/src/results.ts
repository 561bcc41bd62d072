/**
 * Turns the wasm's bulk results into rows. Rows cross as JSON arrays of values (a fields line
 * first, then the JSON of the rest, or `[text, …parts]`) and object rows are made of them
 * here: parsing arrays and making the objects in JS costs V8 about 20 % less than `JSON.parse`
 * making the objects itself (and the wasm writes no keys).
 */

import type { Field, QueryResult } from './types.js';

/** How a column's JSON values are finished (mirrors `ColumnKind` in src/json.rs). */
const enum Kind {
  Plain = 0,
  BigInt = 1,
  Date = 2,
  Bytes = 3,
  Float = 4,
}

interface RawField extends Field {
  kind: Kind;
}

/**
 * What the wasm returns for one statement: one JSON text, or for a large result
 * `[text, part, part, …]` where each part is the already built rows of a run of leading rows
 * (from `buildRows`) and the text holds the fields and the last rows (a large result never
 * exists as one text).
 */
export type RawResult = string | [string, ...unknown[][]];

interface ParsedResult {
  command: string;
  rowCount: number | null;
  rows: unknown[][];
}

type Values = unknown[];

/** What a fields line gives, made once per distinct line. */
interface Shape {
  fields: readonly Field[];
  /** The columns whose values are converted: [index, kind]. */
  special: [number, Kind][];
  /** One object row of one row's values (converting them). */
  object: (values: Values) => Record<string, unknown>;
}

/** Fields lines seen lately → their shape (queries repeat: most results reuse one). */
const shapes = new Map<string, Shape>();
const SHAPES_MAX = 256;

function shapeOf(line: string): Shape {
  let shape = shapes.get(line);
  if (shape) return shape;
  const raw = JSON.parse(line) as RawField[];
  const special: [number, Kind][] = [];
  raw.forEach((f, i) => {
    if (f.kind !== Kind.Plain) special.push([i, f.kind]);
  });
  shape = {
    fields: raw.map(({ name, dataTypeID, tableID, columnID }) => Object.freeze({ name, dataTypeID, tableID, columnID })),
    special,
    object: objectMaker(raw),
  };
  if (shapes.size >= SHAPES_MAX) shapes.clear();
  shapes.set(line, shape);
  return shape;
}

/**
 * A function making one object row of a row's values, as `JSON.parse` would make it (keys in
 * column order, a repeated name keeps its last value, `__proto__` is an own property). Rows of
 * one shape get their properties in the same order, so V8 gives them one hidden class. (A
 * generated object literal per shape is only ~5 % faster and needs code generation from
 * strings, which Workers and the Next.js edge runtime forbid.)
 */
function objectMaker(raw: readonly RawField[]): Shape['object'] {
  const names = raw.map((f) => f.name);
  const kinds = raw.map((f) => f.kind);
  const n = names.length;
  if (!names.includes('__proto__')) {
    return (v) => {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) o[names[i]] = kinds[i] === Kind.Plain ? v[i] : convertValue(v[i], kinds[i]);
      return o;
    };
  }
  return (v) => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const value = kinds[i] === Kind.Plain ? v[i] : convertValue(v[i], kinds[i]);
      if (names[i] === '__proto__') Object.defineProperty(o, '__proto__', { value, writable: true, enumerable: true, configurable: true });
      else o[names[i]] = value;
    }
    return o;
  };
}

/** Rows of one batch of value arrays, in place: objects, or the arrays with values converted. */
function rowsOf(shape: Shape, rows: Values[], arrayMode: boolean): unknown[] {
  if (arrayMode) {
    if (shape.special.length > 0) {
      for (const row of rows) for (const [i, kind] of shape.special) row[i] = convertValue(row[i], kind);
    }
    return rows;
  }
  const make = shape.object;
  const out = rows as unknown[];
  for (let i = 0; i < rows.length; i++) out[i] = make(rows[i]);
  return out;
}

/**
 * The wasm's row builder (given to `WasmPool.create`): the rows of one part of a large result,
 * `text` a JSON array of value arrays, `fields` the result's fields line.
 */
export function buildRows(fields: string, text: string, arrayMode: boolean): unknown[] {
  return rowsOf(shapeOf(fields), JSON.parse(text) as Values[], arrayMode);
}

export function finish<R>(result: RawResult, arrayMode: boolean): QueryResult<R> {
  const text = typeof result === 'string' ? result : result[0];
  const cut = text.indexOf('\n');
  const shape = shapeOf(text.slice(0, cut));
  const raw = JSON.parse(text.slice(cut + 1)) as ParsedResult;
  const last = rowsOf(shape, raw.rows, arrayMode);
  const rows = typeof result === 'string' ? last : ([] as unknown[]).concat(...(result.slice(1) as unknown[][]), last);
  return {
    rows: rows as R[],
    fields: shape.fields.slice(),
    command: raw.command,
    rowCount: raw.rowCount,
  };
}

function convertValue(v: unknown, kind: Kind): unknown {
  return v === null ? null : convert(v, kind);
}

function convert(v: unknown, kind: Kind): unknown {
  if (Array.isArray(v)) return v.map((e) => (e === null ? null : convert(e, kind)));
  switch (kind) {
    case Kind.BigInt:
      return BigInt(v as string);
    case Kind.Date:
      return typeof v === 'number' ? new Date(v) : v;
    case Kind.Bytes:
      return hexToBytes(v as string);
    case Kind.Float:
      return typeof v === 'string' ? Number(v) : v;
    default:
      return v;
  }
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0, j = 0; i < out.length; i++, j += 2) {
    out[i] = (nibble(hex.charCodeAt(j)) << 4) | nibble(hex.charCodeAt(j + 1));
  }
  return out;
}

/** The value of one lowercase (or uppercase) hex digit's char code. */
function nibble(c: number): number {
  return c < 58 ? c - 48 : (c | 32) - 87;
}
