/** What the explainer needs from an inference engine: run a serialized model and fetch named outputs.
 * onnxruntime-node implements it (lib/forward/ort.ts); onnxruntime-web can later. */
import { Tensor } from '../tensor';

export interface InferenceSession {
  run(feeds: Record<string, Tensor>, outputs: string[]): Promise<Map<string, Tensor>>;
  release(): Promise<void>;
}

export interface SessionOptions {
  /** intra-op threads (0: the engine's default) */
  threads?: number;
  /** let worker threads spin after a run, waiting for the next (default true); off for the many small kernel
   * sessions, whose idle workers would compete with the next session's */
  spinning?: boolean;
  /** keep freed memory in a per-session arena (default true) */
  arena?: boolean;
  /** let the engine change the memory layout (onnxruntime's NCHWc convolutions; default true). Off where
   * the reorders at the graph's edges cost more than they save (1×1 convolutions, elementwise graphs). */
  layout?: boolean;
}

export interface InferenceBackend {
  create(model: Uint8Array, opts?: SessionOptions): Promise<InferenceSession>;
}
