// Small statistics helpers shared by the runner and the report.

export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const median = (v) => quantile(v, 0.5);
export const min = (v) => (v.length ? Math.min(...v) : NaN);
export const max = (v) => (v.length ? Math.max(...v) : NaN);

/** { med, min, max, n } of finite values. */
export function spread(values) {
  const v = values.filter((x) => Number.isFinite(x));
  return { med: median(v), min: min(v), max: max(v), n: v.length };
}
