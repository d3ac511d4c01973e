/** The explainer's public types: its options, the explanation it returns and its error. */
import { CompositeOptions } from '../plan/composites';
import { RuleMap, RulePlan } from '../plan/plan';
import { NodeConservation } from '../propagate/core';
import { Tensor } from '../tensor';

export type OutputRelevance = 'logit' | 'one';

export type Engine = 'auto' | 'fused' | 'ort' | 'reference';

/** The engine that ran an explanation, and why it is not the one asked for (or 'auto''s first choice). */
export interface EngineUse {
  used: 'fused' | 'ort' | 'reference';
  note?: string;
}

export interface ExplainOptions {
  composite?: string;
  /** rule parameters: epsilon, gamma, low/high, zeroBias … */
  options?: CompositeOptions;
  ruleMap?: RuleMap;
  /** one class per sample, or one for all; default: the predicted class */
  target?: number | number[];
  /** relevance started at the output, times a one-hot on the target: the target logit ('logit') or 1 ('one').
   * Default: 'logit' for LRP (composites and rule maps), 'one' for the gradient composites (gradient,
   * gradient_x_input, guided_backprop, deconvnet: the plain gradient, as in Captum and Zennit). */
  outputRelevance?: OutputRelevance;
  /** keep the relevance of every value (by value name) */
  keepAll?: boolean;
  /** which graph output to explain (default: the first) */
  output?: string;
  /** who runs the explanation: 'auto' (default: 'fused' when it covers the plan, else 'ort'), 'fused' (the
   * whole explanation, forward included, as one onnxruntime graph; falls back to 'ort' with the reason in
   * `Explanation.engine.note` when it does not cover the plan), 'ort' (the forward, then one small onnxruntime
   * graph per linear layer, cached) or 'reference' (plain TypeScript kernels) */
  engine?: Engine;
}

export interface ConservationSummary {
  /** per sample */
  outputRelevance: number[];
  inputRelevance: number[];
  /** (output − input) / |output|: the share absorbed by biases and stabilisers (or created by them) */
  absorbed: number[];
  nodes: (NodeConservation & { absorbed: number[] })[];
}

export interface Explanation {
  /** relevance at the (first) model input, shaped like it */
  relevance: Tensor & { data: Float32Array };
  /** relevance of every graph input, by name */
  inputs: Map<string, Tensor & { data: Float32Array }>;
  /** the explained output (logits), as computed by the forward pass */
  output: Tensor & { data: Float32Array };
  predictions: number[];
  targets: number[];
  /** the seeds' values: logit[target] per sample */
  scores: number[];
  /** the output relevance used */
  outputRelevance: OutputRelevance;
  /** true when it is the default of the plan's mode (not asked for) */
  outputRelevanceDefault: boolean;
  plan: RulePlan;
  /** the engine that ran it (and, when it is not the one asked for, why) */
  engine: EngineUse;
  conservation: ConservationSummary;
  /** every value's relevance when keepAll was set */
  values?: Map<string, Float32Array>;
  /** what the caller should know about this explanation: an input outside the zBox bounds, a map that vanishes
   * (relevance at the input exactly 0, or ≥ 99% absorbed) with the cause and a remedy; empty when none */
  warnings: string[];
  /** with keepAll: the shape of every value in `values` (that of the value in the forward pass) */
  valueDims?: Map<string, number[]>;
}

export class ExplainError extends Error {
  override name = 'ExplainError';
}
