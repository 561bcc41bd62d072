/** Turns the wasm's bulk result (a fields line and the JSON of the rest, or `[text, …parts]`) into rows. */

import type { Field, QueryResult } from './types.js';

/** How a column's JSON values are finished (mirrors `ColumnKind` in src/js/values.rs). */
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
 * `[text, part, part, …]` where each part is an already parsed array of leading rows and the
 * text holds the fields and the last rows (a large result never exists as one text).
 */
export type RawResult = string | [string, ...unknown[][]];

interface ParsedResult {
  command: string;
  rowCount: number | null;
  rows: Record<string | number, unknown>[];
}

/** What a fields line gives, parsed once per distinct line. */
interface Shape {
  fields: readonly Field[];
  /** The columns to convert, by key (object rows) and by index (array rows). */
  byName: [string, Kind][];
  byIndex: [number, Kind][];
}

/** Fields lines seen lately → their shape (queries repeat: most results reuse one). */
const shapes = new Map<string, Shape>();
const SHAPES_MAX = 256;

function shapeOf(line: string): Shape {
  let shape = shapes.get(line);
  if (shape) return shape;
  const raw = JSON.parse(line) as RawField[];
  shape = {
    fields: raw.map(({ name, dataTypeID, tableID, columnID }) => Object.freeze({ name, dataTypeID, tableID, columnID })),
    byName: [],
    byIndex: [],
  };
  raw.forEach((f, i) => {
    if (f.kind !== Kind.Plain) {
      shape!.byName.push([f.name, f.kind]);
      shape!.byIndex.push([i, f.kind]);
    }
  });
  if (shapes.size >= SHAPES_MAX) shapes.clear();
  shapes.set(line, shape);
  return shape;
}

export function finish<R>(result: RawResult, arrayMode: boolean): QueryResult<R> {
  const text = typeof result === 'string' ? result : result[0];
  const cut = text.indexOf('\n');
  const shape = shapeOf(text.slice(0, cut));
  const raw = JSON.parse(text.slice(cut + 1)) as ParsedResult;
  let rows = raw.rows;
  if (typeof result !== 'string') {
    rows = result[1] as ParsedResult['rows'];
    for (let p = 2; p < result.length; p++) for (const row of result[p] as ParsedResult['rows']) rows.push(row);
    for (const row of raw.rows) rows.push(row);
  }
  const special: [string | number, Kind][] = arrayMode ? shape.byIndex : shape.byName;
  if (special.length > 0) {
    for (const row of rows) {
      for (const [key, kind] of special) {
        const v = row[key];
        if (v !== null && v !== undefined) row[key] = convert(v, kind);
      }
    }
  }
  return {
    rows: rows as R[],
    fields: shape.fields.slice(),
    command: raw.command,
    rowCount: raw.rowCount,
  };
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
