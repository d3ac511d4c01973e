/** Model metadata (the JSON shipped beside a model): labels, input layout and normalisation, zBox bounds. */
export interface ModelMetadata {
  name?: string;
  file?: string;
  description?: string;
  dataset?: string;
  labels?: string[];
  input?: {
    name?: string;
    shape?: (number | null | string)[];
    layout?: 'NCHW' | 'NHWC';
    channels?: 'rgb' | 'grayscale';
    valueRange?: [number, number];
    mean?: number[];
    std?: number[];
  };
  output?: { name?: string };
  bounds?: { low: number | number[]; high: number | number[] };
  accuracy?: { test: number; split?: string; measuredBy?: string };
  training?: Record<string, unknown>;
  opset?: number;
}

export interface Bounds { low: number | number[]; high: number | number[] }

/** The zBox bounds implied by a metadata's value range and normalisation, or its explicit bounds. */
export function boundsOf(meta: ModelMetadata | undefined): Bounds | undefined {
  if (!meta) return undefined;
  if (meta.bounds) return meta.bounds;
  const i = meta.input;
  if (!i?.valueRange) return undefined;
  const [lo, hi] = i.valueRange;
  if (!i.mean || !i.std) return { low: lo, high: hi };
  return { low: i.mean.map((m, c) => (lo - m) / i.std![c]), high: i.mean.map((m, c) => (hi - m) / i.std![c]) };
}

/** The zBox bounds implied by preprocessing (its value range after normalisation), or undefined without a range. */
export function imageBounds(p: { valueRange?: [number, number]; mean?: number[]; std?: number[] }): Bounds | undefined {
  return boundsOf({ input: { valueRange: p.valueRange, mean: p.mean, std: p.std } });
}

/** The zBox bounds when none are given, the one rule every caller follows: the metadata's (explicit, or implied
 * by its value range and normalisation), else those the preprocessing implies, else none. */
export function defaultBounds(meta: ModelMetadata | undefined, preprocessing?: Parameters<typeof imageBounds>[0]): Bounds | undefined {
  return boundsOf(meta) ?? (preprocessing ? imageBounds(preprocessing) : undefined);
}

/** `options` with zBox `low`/`high` taken from `bounds` where not given: the one place bounds are defaulted
 * (callers choose the bounds: the metadata's, the preprocessing's). Without bounds, `options` unchanged. */
export function withBounds<T extends { low?: number | number[]; high?: number | number[] }>(options: T | undefined, bounds: Bounds | undefined): T | undefined {
  return bounds ? ({ ...options, low: options?.low ?? bounds.low, high: options?.high ?? bounds.high } as T) : options;
}

export function labelOf(meta: ModelMetadata | undefined, k: number): string | undefined {
  return meta?.labels?.[k];
}
