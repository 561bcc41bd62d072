/**
 * Makes rows of what the wasm sends. Each part of a result's rows is one JSON array of all
 * its values in row order, then the row count (`[1,"a",2,"b",2]`), with its `bytea` bytes in a
 * buffer beside it. Parsing flat values and making the objects here costs V8 about a quarter
 * less than `JSON.parse` making objects (and the wasm writes no keys).
 */

import { ConnectionError } from './errors.js';
import type { Field, QueryResult } from './types.js';

/** How a column's JSON values are finished (mirrors `ColumnKind` in src/json/mod.rs). */
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
 * What the wasm returns for one statement: `[head, part, …]`, the head its fields line and
 * `{"command":…,"rowCount":…}`, each part the rows `buildRows` made of a run of rows (a large
 * result never exists as one text). A small result has its values in the head
 * (`"values":[…]`) and no parts.
 */
export type RawResult = [string, ...unknown[][]];

/**
 * A part's `bytea` bytes and where the next value starts (values come in order). Values of
 * up to `SHARED_MAX` bytes are views into a shared copy of up to `CHUNK` bytes (`chunk`,
 * starting at `from` in `buf`), as Node's `Buffer` pools small buffers: one `ArrayBuffer` per
 * value costs V8 a backing store and GC bookkeeping each. A kept value keeps at most `CHUNK`
 * bytes alive; larger values get their own copy.
 */
interface Bytes {
  buf: Uint8Array | undefined;
  at: number;
  chunk: Uint8Array | undefined;
  from: number;
}

const CHUNK = 8192;
const SHARED_MAX = CHUNK >>> 1;

/** What a fields line gives, made once per distinct line. */
interface Shape {
  fields: readonly Field[];
  /** The columns whose values are converted: [index, kind]. */
  special: [number, Kind][];
  /** The object row of the values at `values[start…]` (converting them). */
  object: (values: unknown[], start: number, bytes: Bytes) => Record<string, unknown>;
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
 * A function making one object row, as `JSON.parse` would make it (keys in column order, a
 * repeated name keeps its last value, `__proto__` is an own property, the prototype is
 * `Object.prototype`). Rows are made by a constructor per shape: V8 then sizes the objects to
 * hold every column in-object (an object literal keeps 4 and puts the rest in a second
 * allocation). A generated object literal per shape is hardly faster and needs code
 * generation from strings, which Workers and the Next.js edge runtime forbid.
 */
function objectMaker(raw: readonly RawField[]): Shape['object'] {
  const names = raw.map((f) => f.name);
  const kinds = raw.map((f) => f.kind);
  const n = names.length;
  // Nameless (a returned function gets no inferred name), so debuggers that name objects after
  // their constructor show rows as plain objects, not as `Row {…}`.
  const Row = nameless() as unknown as new () => Record<string, unknown>;
  Row.prototype = Object.prototype;
  if (!names.includes('__proto__')) {
    return (v, start, bytes) => {
      const o = new Row();
      for (let i = 0; i < n; i++) o[names[i]] = kinds[i] === Kind.Plain ? v[start + i] : convertValue(v[start + i], kinds[i], bytes);
      return o;
    };
  }
  return (v, start, bytes) => {
    const o = new Row();
    for (let i = 0; i < n; i++) {
      const value = kinds[i] === Kind.Plain ? v[start + i] : convertValue(v[start + i], kinds[i], bytes);
      if (names[i] === '__proto__') Object.defineProperty(o, '__proto__', { value, writable: true, enumerable: true, configurable: true });
      else o[names[i]] = value;
    }
    return o;
  };
}

function nameless(): () => void {
  return function () {};
}

/**
 * The wasm's row builder (given to `WasmPool.create`): the rows of one part, `text` its JSON
 * values, `buf` its `bytea` bytes, `fields` the result's fields line.
 */
export function buildRows(fields: string, text: string, buf: Uint8Array | undefined, arrayMode: boolean): unknown[] {
  return rowsOf(shapeOf(fields), JSON.parse(text) as unknown[], buf, arrayMode);
}

/** The rows of a part's values (`[…values, count]`). */
function rowsOf(shape: Shape, values: unknown[], buf: Uint8Array | undefined, arrayMode: boolean): unknown[] {
  const n = shape.fields.length;
  const count = values[values.length - 1] as number;
  // A json value is copied as the server sent it: one that is not a single JSON value would
  // shift every value after it. Postgres never sends one; a broken server is an error.
  if (!Array.isArray(values) || values.length !== count * n + 1) throw malformed('a part of the result does not hold whole rows');
  const bytes: Bytes = { buf, at: 0, chunk: undefined, from: 0 };
  const rows: unknown[] = [];
  if (arrayMode) {
    for (let r = 0, start = 0; r < count; r++, start += n) {
      const row = values.slice(start, start + n);
      for (const [i, kind] of shape.special) row[i] = convertValue(row[i], kind, bytes);
      rows.push(row);
    }
  } else {
    const make = shape.object;
    for (let r = 0, start = 0; r < count; r++, start += n) rows.push(make(values, start, bytes));
  }
  return rows;
}

export function finish<R>(result: RawResult, arrayMode: boolean): QueryResult<R> {
  const head = result[0];
  const cut = head.indexOf('\n');
  const shape = shapeOf(head.slice(0, cut));
  let parsed: { command: string; rowCount: number | null; values?: unknown[] };
  try {
    parsed = JSON.parse(head.slice(cut + 1));
  } catch {
    throw malformed('the result is not valid JSON');
  }
  const { command, rowCount, values } = parsed;
  let rows: unknown[];
  if (values) rows = rowsOf(shape, values, undefined, arrayMode);
  else if (result.length === 1) rows = [];
  else if (result.length === 2) rows = result[1];
  else rows = ([] as unknown[]).concat(...(result.slice(1) as unknown[][]));
  return {
    rows: rows as R[],
    fields: shape.fields.slice(),
    command,
    rowCount,
  };
}

function malformed(what: string): ConnectionError {
  return new ConnectionError({ code: 'decode', message: `the server sent a malformed value: ${what}` });
}

function convertValue(v: unknown, kind: Kind, bytes: Bytes): unknown {
  return v === null ? null : convert(v, kind, bytes);
}

function convert(v: unknown, kind: Kind, bytes: Bytes): unknown {
  if (Array.isArray(v)) return v.map((e) => (e === null ? null : convert(e, kind, bytes)));
  switch (kind) {
    case Kind.BigInt:
      return BigInt(v as string);
    case Kind.Date:
      return typeof v === 'number' ? new Date(v) : v;
    case Kind.Bytes:
      return byteaValue(bytes, v as number);
    case Kind.Float:
      return typeof v === 'string' ? Number(v) : v;
    default:
      return v;
  }
}

/** The next `len` bytes of the part's `bytea` bytes, as a value of its own (see `Bytes`). */
function byteaValue(bytes: Bytes, len: number): Uint8Array {
  const { buf, at } = bytes;
  const end = at + len;
  bytes.at = end;
  if (!buf || len === 0) return new Uint8Array(0);
  if (len > SHARED_MAX) return buf.slice(at, end);
  let chunk = bytes.chunk;
  if (!chunk || end > bytes.from + chunk.length) {
    chunk = bytes.chunk = buf.slice(at, at + CHUNK);
    bytes.from = at;
  }
  return chunk.subarray(at - bytes.from, end - bytes.from);
}
