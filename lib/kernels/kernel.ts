/** The generic linear kernel every LRP rule is written against: `z = W'x + b'` and `Wᵀ'g`, where the
 * primes are elementwise weight modifiers (w⁺, w⁻, 1, w², w + γw⁺ …). Kernels cache modified weights per
 * modifier key; results are fresh arrays (inputs are never mutated). Async so that a kernel may run in
 * onnxruntime or a worker. Browser-safe. */

export interface WeightMod {
  readonly key: string;
  readonly fn: (w: number) => number;
}

export const mod = {
  id: { key: 'id', fn: (w: number) => w } as WeightMod,
  pos: { key: 'pos', fn: (w: number) => (w > 0 ? w : 0) } as WeightMod,
  neg: { key: 'neg', fn: (w: number) => (w < 0 ? w : 0) } as WeightMod,
  one: { key: 'one', fn: (_: number) => 1 } as WeightMod,
  square: { key: 'square', fn: (w: number) => w * w } as WeightMod,
  /** w + γ·w⁺ */
  gammaPos: (g: number): WeightMod => ({ key: `gamma+${g}`, fn: (w) => w + g * (w > 0 ? w : 0) }),
  /** w + γ·w⁻ */
  gammaNeg: (g: number): WeightMod => ({ key: `gamma-${g}`, fn: (w) => w + g * (w < 0 ? w : 0) }),
};

export interface LinearKernel {
  /** Elements of the (batched, concatenated) input and output. */
  readonly inSize: number;
  readonly outSize: number;
  readonly hasBias: boolean;
  /** z = W'x + b'; `bias` null leaves the bias out. */
  forward(x: Float32Array, weight: WeightMod, bias: WeightMod | null): Promise<Float32Array>;
  /** Wᵀ'g: the vector-Jacobian product of the modified forward, shaped like the input. */
  transposed(g: Float32Array, weight: WeightMod): Promise<Float32Array>;
}

/** Caches elementwise-modified copies of a weight array. */
export class ModifiedWeights {
  private cache = new Map<string, Float32Array>();
  constructor(readonly base: Float32Array) {}
  get(m: WeightMod): Float32Array {
    if (m.key === 'id') return this.base;
    let w = this.cache.get(m.key);
    if (!w) {
      w = new Float32Array(this.base.length);
      for (let i = 0; i < w.length; i++) w[i] = m.fn(this.base[i]);
      this.cache.set(m.key, w);
    }
    return w;
  }
}
