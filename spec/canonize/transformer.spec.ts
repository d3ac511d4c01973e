/** fuse-layernorm, fuse-rmsnorm, fuse-gelu: PyTorch's exported layer norm, RMSNorm and GELU (erf and tanh
 * forms) become one node each, at opsets 13, 14 and 17 (and ONNX's own Gelu at 20); onnxruntime's outputs are
 * unchanged; near misses are left alone. */
import { expect } from 'chai';
import { fuseGelu } from '../../lib/canonize/gelu';
import { fuseLayerNorm } from '../../lib/canonize/layernorm';
import { fuseRmsNorm } from '../../lib/canonize/rmsnorm';
import { Canonized } from '../../lib/canonize/rewrite';
import { Graph, Node } from '../../lib/ir/graph';
import { Tensor, float32 } from '../../lib/tensor';
import { expectClose, f32of, graphOf, node, prng, randomFeeds, randomTensor, runGraph } from '../helpers/onnx';

const rng = prng(1713);
const ops = (g: Graph) => g.nodes.map((n) => `${n.domain ? `${n.domain}::` : ''}${n.opType}`);
const s = (v: number) => float32([], [v]);
const OPSETS = [13, 14, 17];

async function sameOutputs(before: Graph, after: Graph): Promise<void> {
  const feeds = randomFeeds(before, rng, -3, 3);
  const [a, b] = await Promise.all([runGraph(before, feeds), runGraph(after, feeds)]);
  a.forEach((t, i) => expectClose(f32of(b[i]), f32of(t), 2e-5, `output ${i}`));
}

async function fuses(run: (g: Graph) => Canonized, g: Graph, after: string[], action: RegExp): Promise<Canonized> {
  const c = run(g);
  expect(ops(c.graph)).to.deep.equal(after);
  expect(c.actions.length).to.equal(1);
  expect(c.actions[0]).to.match(action);
  await sameOutputs(g, c.graph);
  return c;
}

/** PyTorch's nn.LayerNorm below opset 17; `affine`: which of Mul/Add follow. */
function layerNorm(opset: number, affine: { scale: boolean; bias: boolean }, axes = [-1]): Graph {
  const nodes: Node[] = [
    node('ReduceMean', ['x'], ['m'], { axes }), node('Sub', ['x', 'm'], ['d']), node('Pow', ['d', 'two'], ['p']),
    node('ReduceMean', ['p'], ['v'], { axes }), node('Add', ['v', 'eps'], ['ve']), node('Sqrt', ['ve'], ['sd']),
    node('Div', ['d', 'sd'], ['n']),
  ];
  let last = 'n';
  if (affine.scale) { nodes.push(node('Mul', [last, 'w'], ['nw'])); last = 'nw'; }
  if (affine.bias) { nodes.push(node('Add', [last, 'b'], ['nb'])); last = 'nb'; }
  nodes.push(node('Relu', [last], ['y']));
  return graphOf({
    nodes, inputs: { x: [2, 5, 8] }, outputs: ['y'], opset,
    constants: { two: s(2), eps: s(1e-5), w: randomTensor(rng, [8], 0.5, 1.5), b: randomTensor(rng, [8]) },
  });
}

describe('canonizer fuse-layernorm', () => {
  for (const opset of OPSETS) {
    it(`opset ${opset}: the decomposed layer norm with weight and bias becomes one LayerNormalization (ε kept)`, async () => {
      const c = await fuses(fuseLayerNorm, layerNorm(opset, { scale: true, bias: true }), ['LayerNormalization', 'Relu'], /layer norm.*9 nodes.*LayerNormalization/);
      expect(c.graph.nodes[0].attrs.epsilon).to.be.closeTo(1e-5, 1e-9);
      expect(c.graph.nodes[0].inputs[0]).to.equal('x');
    });
  }

  it('without a bias (zero bias) and without a weight (ones) when the other gives the width', async () => {
    await fuses(fuseLayerNorm, layerNorm(13, { scale: true, bias: false }), ['LayerNormalization', 'Relu'], /8 nodes/);
    await fuses(fuseLayerNorm, layerNorm(13, { scale: false, bias: true }), ['LayerNormalization', 'Relu'], /8 nodes/);
  });

  it('leaves alone a mean over another axis, a norm whose centred value is read elsewhere, and no affine part', () => {
    for (const g of [layerNorm(13, { scale: true, bias: true }, [1]), layerNorm(13, { scale: false, bias: false })]) {
      expect(fuseLayerNorm(g).actions).to.deep.equal([]);
    }
    const g = layerNorm(13, { scale: true, bias: true });
    const spec = g.toSpec();
    spec.nodes.push(node('Relu', ['d'], ['extra']));
    spec.outputs.push({ name: 'extra', dtype: 'float32', dims: null });
    expect(fuseLayerNorm(new Graph(spec)).actions).to.deep.equal([]);
  });
});

function rms(opset: number, form: 'div' | 'reciprocal' | 'one-over'): Graph {
  const nodes: Node[] = [
    node('Pow', ['x', 'two'], ['p']), node('ReduceMean', ['p'], ['v'], { axes: [-1] }), node('Add', ['v', 'eps'], ['ve']),
    node('Sqrt', ['ve'], ['sd']),
  ];
  if (form === 'div') nodes.push(node('Div', ['x', 'sd'], ['n']));
  else {
    nodes.push(form === 'reciprocal' ? node('Reciprocal', ['sd'], ['r']) : node('Div', ['one', 'sd'], ['r']));
    nodes.push(node('Mul', ['x', 'r'], ['n']));
  }
  nodes.push(node('Mul', ['w', 'n'], ['nw']), node('Relu', ['nw'], ['y']));
  return graphOf({ nodes, inputs: { x: [2, 4, 8] }, outputs: ['y'], opset, constants: { two: s(2), one: s(1), eps: s(1e-6), w: randomTensor(rng, [8], 0.5, 1.5) } });
}

describe('canonizer fuse-rmsnorm', () => {
  for (const opset of OPSETS) {
    for (const form of ['div', 'reciprocal', 'one-over'] as const) {
      it(`opset ${opset}: RMSNorm (${form}) with its weight becomes one SimplifiedLayerNormalization`, async () => {
        await fuses(fuseRmsNorm, rms(opset, form), ['SimplifiedLayerNormalization', 'Relu'], /RMSNorm.*SimplifiedLayerNormalization/);
      });
    }
  }

  it('leaves alone x / rms(z) of another tensor', () => {
    const g = rms(13, 'div');
    const spec = g.toSpec();
    spec.inputs.push({ name: 'z', dtype: 'float32', dims: [2, 4, 8] });
    spec.nodes = spec.nodes.map((n) => (n.opType === 'Div' ? { ...n, inputs: ['z', n.inputs[1]] } : n));
    expect(fuseRmsNorm(new Graph(spec)).actions).to.deep.equal([]);
  });
});

/** 0.5 · x · (1 + erf(x / √2)) in PyTorch's order, or the tanh approximation with (x · 0.5) first. */
function gelu(opset: number, form: 'erf' | 'tanh' | 'erf-half-first', c: Record<string, Tensor> = {}): Graph {
  const consts = { sqrt2: s(Math.SQRT2), one: s(1), half: s(0.5), three: s(3), k: s(0.044715), a: s(Math.sqrt(2 / Math.PI)), ...c };
  const tail = form === 'erf-half-first'
    ? [node('Mul', ['u', 'half'], ['uh']), node('Mul', ['x', 'uh'], ['g'])]
    : form === 'erf' ? [node('Mul', ['x', 'u'], ['xu']), node('Mul', ['xu', 'half'], ['g'])] : [node('Mul', ['x', 'half'], ['xh']), node('Mul', ['xh', 'u'], ['g'])];
  const head = form === 'tanh'
    ? [node('Pow', ['x', 'three'], ['x3']), node('Mul', ['x3', 'k'], ['kx3']), node('Add', ['x', 'kx3'], ['in']), node('Mul', ['in', 'a'], ['t0']), node('Tanh', ['t0'], ['t']), node('Add', ['t', 'one'], ['u'])]
    : [node('Div', ['x', 'sqrt2'], ['t0']), node('Erf', ['t0'], ['t']), node('Add', ['t', 'one'], ['u'])];
  return graphOf({ nodes: [node('Relu', ['x0'], ['x']), ...head, ...tail, node('Neg', ['g'], ['y'])], inputs: { x0: [3, 16] }, outputs: ['y'], opset, constants: consts });
}

describe('canonizer fuse-gelu', () => {
  for (const opset of OPSETS) {
    it(`opset ${opset}: the erf GELU (both orders of the Muls) becomes com.microsoft Gelu, the tanh form FastGelu`, async () => {
      await fuses(fuseGelu, gelu(opset, 'erf'), ['Relu', 'com.microsoft::Gelu', 'Neg'], /erf GELU.*5 nodes.*com.microsoft Gelu/);
      await fuses(fuseGelu, gelu(opset, 'erf-half-first'), ['Relu', 'com.microsoft::Gelu', 'Neg'], /erf GELU/);
      await fuses(fuseGelu, gelu(opset, 'tanh'), ['Relu', 'com.microsoft::FastGelu', 'Neg'], /tanh-approximated GELU.*8 nodes.*FastGelu/);
    });
  }

  it('opset 20: ONNX Gelu, with approximate=tanh for the tanh form', async () => {
    const c = await fuses(fuseGelu, gelu(20, 'tanh'), ['Relu', 'Gelu', 'Neg'], /Gelu/);
    expect(c.graph.nodes[1].attrs.approximate).to.equal('tanh');
    await fuses(fuseGelu, gelu(20, 'erf'), ['Relu', 'Gelu', 'Neg'], /Gelu/);
  });

  it('leaves alone other constants (x/2 inside erf, 0.4 outside)', () => {
    expect(fuseGelu(gelu(13, 'erf', { sqrt2: s(2) })).actions).to.deep.equal([]);
    expect(fuseGelu(gelu(13, 'erf', { half: s(0.4) })).actions).to.deep.equal([]);
  });
});
