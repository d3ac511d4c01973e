/** What an op's math and lowering read of a node while relevance is propagated. */
import { Node } from '../ir/graph';
import { Tensor } from '../tensor';

/** Forward values a node sees while relevance is propagated: activations from the forward pass and constants. */
export interface NodeContext {
  readonly node: Node;
  readonly opset: number;
  value(name: string): Tensor;
  has(name: string): boolean;
  isConstant(name: string): boolean;
}
