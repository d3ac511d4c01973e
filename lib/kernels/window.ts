/** Sliding-window geometry shared by Conv, ConvTranspose and the pools: for every kernel offset and every
 * output position, the input position it reads (or -1 in the padding). */

export interface WindowGeometry {
  inSpatial: number[];
  outSpatial: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
}

export interface WindowTable {
  inSize: number; // product of inSpatial
  outSize: number;
  kSize: number;
  /** idx[k * outSize + o] = input spatial offset, or -1 */
  idx: Int32Array;
}

export function windowTable(g: WindowGeometry): WindowTable {
  const D = g.kernel.length;
  const inSize = g.inSpatial.reduce((a, b) => a * b, 1);
  const outSize = g.outSpatial.reduce((a, b) => a * b, 1);
  const kSize = g.kernel.reduce((a, b) => a * b, 1);
  if (kSize * outSize > 2 ** 28) throw new Error(`window table too large (${kSize} × ${outSize})`);
  const idx = new Int32Array(kSize * outSize);
  const kpos = new Array<number>(D).fill(0);
  for (let k = 0; k < kSize; k++) {
    // unravel k
    let r = k;
    for (let d = D - 1; d >= 0; d--) { kpos[d] = r % g.kernel[d]; r = Math.floor(r / g.kernel[d]); }
    const opos = new Array<number>(D).fill(0);
    for (let o = 0; o < outSize; o++) {
      let ro = o;
      for (let d = D - 1; d >= 0; d--) { opos[d] = ro % g.outSpatial[d]; ro = Math.floor(ro / g.outSpatial[d]); }
      let off = 0;
      let ok = true;
      for (let d = 0; d < D; d++) {
        const p = opos[d] * g.strides[d] - g.padsBegin[d] + kpos[d] * g.dilations[d];
        if (p < 0 || p >= g.inSpatial[d]) { ok = false; break; }
        off = off * g.inSpatial[d] + p;
      }
      idx[k * outSize + o] = ok ? off : -1;
    }
  }
  return { inSize, outSize, kSize, idx };
}

/** Output size of a sliding window (floor, or ceil_mode). */
export function outputLength(inLen: number, k: number, stride: number, dil: number, padB: number, padE: number, ceil = false): number {
  const eff = (k - 1) * dil + 1;
  const v = (inLen + padB + padE - eff) / stride;
  let out = (ceil ? Math.ceil(v) : Math.floor(v)) + 1;
  // ceil mode: the last window must start inside the input or left padding
  if (ceil && (out - 1) * stride >= inLen + padB) out--;
  return out;
}

/** Resolves pads from auto_pad (SAME_UPPER / SAME_LOWER / VALID / NOTSET). */
export function resolvePads(autoPad: string, inSpatial: number[], kernel: number[], strides: number[], dilations: number[], pads: number[]): { begin: number[]; end: number[] } {
  const D = kernel.length;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const begin: number[] = [];
    const end: number[] = [];
    for (let d = 0; d < D; d++) {
      const out = Math.ceil(inSpatial[d] / strides[d]);
      const total = Math.max(0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - inSpatial[d]);
      const small = Math.floor(total / 2);
      const big = total - small;
      begin.push(autoPad === 'SAME_UPPER' ? small : big);
      end.push(autoPad === 'SAME_UPPER' ? big : small);
    }
    return { begin, end };
  }
  if (autoPad === 'VALID') return { begin: new Array(D).fill(0), end: new Array(D).fill(0) };
  const p = pads.length ? pads : new Array(2 * D).fill(0);
  return { begin: p.slice(0, D), end: p.slice(D, 2 * D) };
}
