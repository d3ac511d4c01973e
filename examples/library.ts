import { openModel, readNpy, writeNpy } from 'onnx-lrp';

export async function main(model = 'spec/fixtures/golden/cnn_bn-op17.onnx', input = 'spec/fixtures/golden/cnn_bn.input.npy') {
  const explainer = openModel(model);                 // load, check, canonize (BatchNorm merged, …)
  const x = readNpy(input);                           // float32 [N, C, H, W]
  const r = await explainer.explain(x, { composite: 'epsilon_gamma_box', options: { low: -3.5, high: 3.5 } });
  console.log(r.predictions, r.targets, r.scores);    // explained classes and their logits
  console.log(r.conservation.inputRelevance);         // Σ relevance at the input, per sample
  writeNpy('relevance.npy', r.relevance);             // same shape as x
  await explainer.release();
  return r;
}
