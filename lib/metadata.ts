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

/** The zBox bounds implied by a metadata's value range and normalisation, or its explicit bounds. */
export function boundsOf(meta: ModelMetadata | undefined): { low: number | number[]; high: number | number[] } | undefined {
  if (!meta) return undefined;
  if (meta.bounds) return meta.bounds;
  const i = meta.input;
  if (!i?.valueRange) return undefined;
  const [lo, hi] = i.valueRange;
  if (!i.mean || !i.std) return { low: lo, high: hi };
  return { low: i.mean.map((m, c) => (lo - m) / i.std![c]), high: i.mean.map((m, c) => (hi - m) / i.std![c]) };
}

export function labelOf(meta: ModelMetadata | undefined, k: number): string | undefined {
  return meta?.labels?.[k];
}
