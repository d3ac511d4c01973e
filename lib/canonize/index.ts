/** The canonizer pipeline: IR → IR rewrites applied once after loading, in this order. */
import { Graph } from '../ir/graph';
import { foldBiasAdd } from './bias';
import { mergeBatchNorm } from './batchnorm';
import { removeIdentity, simplifyPads } from './cleanup';
import { foldConstants } from './constants';
import { explicitSums, stripSoftmax } from './output';
import { foldShapeSubgraphs } from './shapes';
import { foldScale } from './scale';
import { fuseActivations } from './activations';
import { fuseGelu } from './gelu';
import { fuseLayerNorm } from './layernorm';
import { fuseRmsNorm } from './rmsnorm';
import { quantizedToFloat } from './quantized';
import { Canonized, Canonizer } from './rewrite';

export const CANONIZERS: readonly { name: string; run: Canonizer }[] = [
  { name: 'fold-constants', run: foldConstants },
  { name: 'dequantize', run: quantizedToFloat },
  { name: 'fold-shape-subgraphs', run: foldShapeSubgraphs },
  { name: 'remove-identity', run: removeIdentity },
  { name: 'simplify-pads', run: simplifyPads },
  { name: 'fuse-layernorm', run: fuseLayerNorm },
  { name: 'fuse-rmsnorm', run: fuseRmsNorm },
  { name: 'fuse-gelu', run: fuseGelu },
  { name: 'merge-batchnorm', run: mergeBatchNorm },
  { name: 'fold-scale', run: foldScale },
  { name: 'fold-bias-add', run: foldBiasAdd },
  { name: 'fuse-activations', run: fuseActivations },
  { name: 'strip-softmax', run: stripSoftmax },
  { name: 'explicit-sums', run: explicitSums },
];

export interface CanonizeOptions {
  /** names of canonizers to skip */
  skip?: string[];
}

export function canonize(graph: Graph, opts: CanonizeOptions = {}): Canonized {
  let g = graph;
  const actions: string[] = [];
  for (const c of CANONIZERS) {
    if (opts.skip?.includes(c.name)) continue;
    const r = c.run(g);
    g = r.graph;
    actions.push(...r.actions);
  }
  return { graph: g, actions };
}

export type { Canonized, Canonizer };
