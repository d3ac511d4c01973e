/** Exact kernels for the integer reference of quantized graphs (spec/helpers/quantized-reference.ts): round
 * half to even, saturation, broadcasting, and the convolution / matrix product / pooling loops. Values are
 * Float64Arrays: integers are exact in them up to 2^53, so an int32 accumulation of int8/uint8 products is
 * exact (and checked against the int32 range where the ONNX spec accumulates in int32). Plain loops, no
 * SIMD, no threads: the same numbers on every CPU. */

/** Round half to even (ONNX QuantizeLinear and the QLinear ops' requantization). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r; // r − v is exact near a tie
}

export const QRANGES: Record<string, [number, number]> = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647],
};

export function saturate(v: number, dtype: string): number {
  const lo = dtype === 'uint8' ? 0 : dtype === 'int8' ? -128 : QRANGES[dtype]?.[0];
  const hi = dtype === 'uint8' ? 255 : dtype === 'int8' ? 127 : QRANGES[dtype]?.[1];
  if (lo === undefined || hi === undefined) throw new Error(`quantized reference: no range for ${dtype}`);
  return v < lo ? lo : v > hi ? hi : v;
}

/** Throws where an int32 accumulator would overflow (the spec leaves overflow undefined). */
export function checkInt32(v: number, what: string): number {
  if (v < -2147483648 || v > 2147483647) throw new Error(`quantized reference: ${what}: int32 accumulator overflows (${v})`);
  return v;
}

export function sizeOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** Multidirectional (numpy) broadcasting of two shapes. */
export function broadcastDims(a: readonly number[], b: readonly number[], what: string): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`quantized reference: ${what}: shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** For every element of the broadcast `out` shape, the flat index into a tensor of shape `dims`. */
export function broadcastIndex(dims: readonly number[], out: readonly number[]): Int32Array {
  const n = sizeOf(out);
  const idx = new Int32Array(n);
  const src = stridesOf(dims), dst = stridesOf(out);
  const off = out.length - dims.length;
  for (let i = 0; i < n; i++) {
    let j = 0;
    for (let d = off; d < out.length; d++) {
      const k = Math.floor(i / dst[d]) % out[d];
      if (dims[d - off] !== 1) j += k * src[d - off];
    }
    idx[i] = j;
  }
  return idx;
}

export interface ConvAttrs {
  group: number;
  strides: number[];
  pads: number[]; // [top, left, bottom, right]
  dilations: number[];
  kernel: number[];
}

/** Output spatial size of a 2-D window op (floor mode). */
export function windowOut(inSize: number, k: number, stride: number, padA: number, padB: number, dil = 1): number {
  return Math.floor((inSize + padA + padB - dil * (k - 1) - 1) / stride) + 1;
}

/** Σ over the window of x·w, 2-D NCHW with groups; padding contributes 0 (callers pass x − x_zero_point, so a
 * quantized input is padded with its zero point, as QLinearConv specifies). Exact in float64 for integer
 * operands; for float operands, the float64 sum. */
export function conv2d(x: Float64Array, xDims: readonly number[], w: Float64Array, wDims: readonly number[], a: ConvAttrs): { data: Float64Array; dims: number[] } {
  const [N, C, H, W] = xDims;
  const [M, Cg, KH, KW] = wDims;
  if (C !== Cg * a.group || M % a.group !== 0) throw new Error(`quantized reference: Conv: input channels ${C}, weight [${wDims.join(',')}], group ${a.group} do not match`);
  const [sh, sw] = a.strides, [dh, dw] = a.dilations, [pt, pl, pb, pr] = a.pads;
  const OH = windowOut(H, KH, sh, pt, pb, dh), OW = windowOut(W, KW, sw, pl, pr, dw);
  const out = new Float64Array(N * M * OH * OW);
  const Mg = M / a.group;
  if (KH === 1 && KW === 1 && sh === 1 && sw === 1 && pt + pl + pb + pr === 0) return { data: pointwise(x, w, out, N, C, Cg, M, Mg, H * W), dims: [N, M, OH, OW] };
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const o = out.subarray((n * M + m) * OH * OW, (n * M + m + 1) * OH * OW);
      for (let c = 0; c < Cg; c++) {
        const xc = ((n * C) + g * Cg + c) * H * W;
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            const wv = w[((m * Cg + c) * KH + kh) * KW + kw];
            if (wv === 0) continue;
            // ow range where iw = ow·sw − pl + kw·dw falls inside [0, W)
            const off = kw * dw - pl;
            const ow0 = off >= 0 ? 0 : Math.ceil(-off / sw) | 0, ow1 = Math.min(OW, Math.floor((W - 1 - off) / sw) + 1) | 0;
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * sh - pt + kh * dh;
              if (ih < 0 || ih >= H) continue;
              const row = xc + ih * W + off, orow = oh * OW;
              for (let ow = ow0; ow < ow1; ow++) o[orow + ow] += wv * x[row + ow * sw];
            }
          }
        }
      }
    }
  }
  return { data: out, dims: [N, M, OH, OW] };
}

/** A 1×1 convolution with stride 1 and no padding: a matrix product per image over the P pixels. */
function pointwise(x: Float64Array, w: Float64Array, out: Float64Array, N: number, C: number, Cg: number, M: number, Mg: number, P: number): Float64Array {
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const ob = (n * M + m) * P, g = Math.floor(m / Mg);
      for (let c = 0; c < Cg; c++) {
        const wv = w[m * Cg + c];
        if (wv === 0) continue;
        const xb = (n * C + g * Cg + c) * P;
        for (let p = 0; p < P; p++) out[ob + p] += wv * x[xb + p];
      }
    }
  }
  return out;
}

/** Batched a[…, M, K] · b[…, K, N] with broadcast batch dimensions, exact for integer operands. */
export function matmul(a: Float64Array, aDims: readonly number[], b: Float64Array, bDims: readonly number[]): { data: Float64Array; dims: number[] } {
  if (aDims.length < 2 || bDims.length < 2) throw new Error('quantized reference: MatMul: operands of rank < 2 are not supported');
  const M = aDims[aDims.length - 2], K = aDims[aDims.length - 1], K2 = bDims[bDims.length - 2], N = bDims[bDims.length - 1];
  if (K !== K2) throw new Error(`quantized reference: MatMul: [${aDims.join(',')}] · [${bDims.join(',')}]`);
  const batch = broadcastDims(aDims.slice(0, -2), bDims.slice(0, -2), 'MatMul');
  const ia = broadcastIndex(aDims.slice(0, -2), batch), ib = broadcastIndex(bDims.slice(0, -2), batch);
  const B = sizeOf(batch);
  const out = new Float64Array(B * M * N);
  for (let t = 0; t < B; t++) {
    const ao = ia[t] * M * K, bo = ib[t] * K * N, oo = t * M * N;
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        const av = a[ao + i * K + k];
        if (av === 0) continue;
        for (let j = 0; j < N; j++) out[oo + i * N + j] += av * b[bo + k * N + j];
      }
    }
  }
  return { data: out, dims: [...batch, M, N] };
}

/** 2-D pooling windows over NCHW: `reduce` gets the window's values (padding excluded) and the window's full
 * size (padding included). */
export function pool2d(x: Float64Array, xDims: readonly number[], kernel: number[], strides: number[], pads: number[],
  reduce: (vals: number[], full: number) => number): { data: Float64Array; dims: number[] } {
  const [N, C, H, W] = xDims;
  const [KH, KW] = kernel, [sh, sw] = strides, [pt, pl, pb, pr] = pads;
  const OH = windowOut(H, KH, sh, pt, pb), OW = windowOut(W, KW, sw, pl, pr);
  const out = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const vals: number[] = [];
        let full = 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - pt + kh;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pl + kw;
            if (ih >= H + pb || iw >= W + pr) continue; // beyond the end padding (ceil mode only)
            full++;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) vals.push(x[(nc * H + ih) * W + iw]);
          }
        }
        out[(nc * OH + oh) * OW + ow] = reduce(vals, full);
      }
    }
  }
  return { data: out, dims: [N, C, OH, OW] };
}
