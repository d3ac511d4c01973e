/** What the explainer needs from an inference engine: run a serialized model and fetch named outputs.
 * onnxruntime-node implements it (lib/forward/ort.ts); onnxruntime-web can later. */
import { Tensor } from '../tensor';

export interface InferenceSession {
  run(feeds: Record<string, Tensor>, outputs: string[]): Promise<Map<string, Tensor>>;
  release(): Promise<void>;
}

export interface InferenceBackend {
  create(model: Uint8Array, opts?: { threads?: number }): Promise<InferenceSession>;
}
