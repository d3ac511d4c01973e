/** How the propagation core hands the heavy steps to a faster executor than the reference kernels. An
 * executor answers null for what it does not handle; the core then uses the reference (op.linear + the
 * rule on Float32Arrays, or op.vjp). Browser-safe. */
import type { NodeContext } from '../../ops/op';
import type { BuiltRule } from '../../rules/kinds';

/** What an engine sees of a linear node's rule: the rule built once for its plan entry (its name and
 * parameters key the compiled graphs; its body is traced against the engine's own RuleOps). */
export type BuiltLinearRule = Extract<BuiltRule, { kind: 'linear' }>;

export interface KernelExecutor {
  readonly name: string;
  /** Relevance for each input of a linear node (null where none flows), or null: not handled (the executor
   * records why, `referenceReasons`). */
  linear(ctx: NodeContext, rule: BuiltLinearRule, R: Float32Array): Promise<(Float32Array | null)[] | null>;
  /** Gradient routing (MaxPool) for each input, or null: not handled. */
  route(ctx: NodeContext, R: (Float32Array | null)[]): Promise<(Float32Array | null)[] | null>;
  /** The node's vector-Jacobian product at `g` (attention MatMuls) for each input, or null: not handled. */
  vjp(ctx: NodeContext, g: Float32Array): Promise<(Float32Array | null)[] | null>;
  /** a + b elementwise (relevance arriving at a value from several consumers), as a new array. */
  add(a: Float32Array, b: Float32Array): Promise<Float32Array>;
  release(): Promise<void>;
  /** Nodes it handed back to the reference kernels so far, each with the reason (never a silent fallback). */
  referenceReasons(): ReadonlyMap<string, string>;
}
