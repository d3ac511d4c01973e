/** RuleOps over symbolic values: each call appends ONNX nodes to a GraphBuilder. A value is the list of its
 * parts (one per live input, or one for an output). */
import { Bounds, RuleOps } from '../../../rules/linear';
import { WeightMod } from '../../../kernels/kernel';
import { GraphBuilder, UnsupportedTrace } from './builder';
import { Lowering } from './lower';

export type Sym = string[];

export class SymbolicOps implements RuleOps<Sym> {
  readonly hasBias: boolean;

  constructor(
    private readonly b: GraphBuilder,
    private readonly low: Lowering,
    private readonly xs: string[],
    /** dims of the live inputs (batch first) */
    private readonly xDims: (readonly number[])[],
    /** values known to be ≥ 0 */
    private readonly nonNegative: ReadonlySet<string> = new Set(),
  ) {
    this.hasBias = low.hasBias;
  }

  async forward(x: Sym, w: WeightMod, bias: WeightMod | null): Promise<Sym> {
    return [this.low.forward(this.b, x, w, bias, this.xs)];
  }

  async transposed(g: Sym, w: WeightMod): Promise<Sym> {
    return this.low.transposed(this.b, one(g), w, this.xs);
  }

  quotient(R: Sym, z: Sym, eps: number, o?: { keep?: { z: Sym; sign: 1 | -1 }; sign?: 1 | -1; plain?: boolean }): Sym {
    const b = this.b;
    const zv = one(z);
    const sign = this.nonNegative.has(zv) || o?.plain ? 1 : o?.sign;
    let d: string;
    if (eps > 0 && sign === 1) d = b.op('Add', [zv, b.scalar(eps)]);
    else if (eps > 0 && sign === -1) d = b.op('Sub', [zv, b.scalar(eps)]);
    else if (eps > 0) d = b.op('Add', [zv, b.op('Where', [b.op('Less', [zv, b.scalar(0)]), b.scalar(-eps), b.scalar(eps)])]);
    else d = zv;
    let s = b.op('Div', [one(R), d]);
    if (!(eps > 0)) s = b.op('Where', [b.op('Equal', [d, b.scalar(0)]), b.scalar(0), s]);
    // a keep mask z > 0 on a z known ≥ 0 (a Relu's output standing in for it) drops only entries where z = 0,
    // which receive no relevance (exposure.ts: the plan sends none there), so s is ±0 there already (were the
    // stabilised denominator exactly 0 there, a NaN: the fused engine's finiteness check reruns per layer)
    if (o?.keep && !(o.keep.sign > 0 && this.nonNegative.has(one(o.keep.z)))) {
      const kz = one(o.keep.z);
      s = b.op('Where', [b.op(o.keep.sign > 0 ? 'Greater' : 'Less', [kz, b.scalar(0)]), s, b.scalar(0)]);
    }
    return [s];
  }

  private zip(op: string, a: Sym, c: Sym): Sym {
    if (a.length !== c.length) throw new UnsupportedTrace(`${op} of values with ${a.length} and ${c.length} parts`);
    return a.map((v, i) => this.b.op(op, [v, c[i]]));
  }

  add(a: Sym, c: Sym): Sym { return this.zip('Add', a, c); }
  sub(a: Sym, c: Sym): Sym { return this.zip('Sub', a, c); }
  mul(a: Sym, c: Sym): Sym { return this.zip('Mul', a, c); }

  scale(a: Sym, c: number): Sym {
    return a.map((v) => this.b.op('Mul', [v, this.b.scalar(c)]));
  }

  positive(x: Sym): Sym {
    return x.map((v) => this.b.op('Relu', [v]));
  }

  negative(x: Sym): Sym {
    return x.map((v) => this.b.op('Min', [v, this.b.scalar(0)]));
  }

  ones(): Sym {
    return this.xDims.map((d) => {
      const dims = [1, ...d.slice(1)];
      return this.b.constant(`ones:${dims.join('x')}`, () => ({ dtype: 'float32', dims, data: new Float32Array(dims.reduce((a, v) => a * v, 1)).fill(1) }));
    });
  }

  bounds(v: Bounds, what: 'low' | 'high'): Sym {
    if (typeof v === 'number' || v.length === 1) return this.xDims.map(() => this.b.scalar(typeof v === 'number' ? v : v[0]));
    if (this.xDims.length !== 1) throw new UnsupportedTrace('per-channel bounds on several inputs');
    const d = this.xDims[0];
    const C = d.length > 1 ? d[1] : 1;
    if (v.length !== C) throw new Error(`rule zBox: '${what}' has ${v.length} values, the input has ${C} channels (shape [${d.join(',')}])`);
    const dims = d.map((_, i) => (i === 1 ? C : 1));
    return [this.b.constant(`bounds:${what}:${v.join(',')}`, () => ({ dtype: 'float32', dims, data: Float32Array.from(v) }))];
  }

  /** Only a z known to be ≥ 0 answers for itself (never negative); otherwise the branch is kept. */
  any(z: Sym, _R: Sym, sign: 1 | -1): boolean {
    return !(sign < 0 && z.length === 1 && this.nonNegative.has(z[0]));
  }
}

function one(v: Sym): string {
  if (v.length !== 1) throw new UnsupportedTrace(`a value of ${v.length} parts where one was expected`);
  return v[0];
}
