/** torchvision architectures exported from PyTorch (random weights, eval mode, opset 17, dynamic batch) by
 * scripts/export_torchvision.py into the cache outside the repository ($ONNX_LRP_CACHE/torchvision, default
 * ~/.cache/onnx-lrp/torchvision). Each present small-input export is explained end to end on its batch-2
 * sample with epsilon_plus_flat and epsilon_gamma_box (a transformer with attnlrp), and onnxruntime's logits are checked against
 * PyTorch's. A machine without the cache skips with a message; `npm run architectures` also explains the
 * large-input ones (VGG-16-BN, ViT-B/16 at 224×224). */
import { expect } from 'chai';
import { TORCHVISION, explainAll, prepareTorchvision, resultLine, torchvisionDir, torchvisionManifest } from '../../scripts/architectures';
import { checkExplanation } from '../helpers/architectures';

/** Exports explained in CI: inputs up to this side. */
const CI_MAX_SIDE = 96;

describe('real architectures: torchvision exports (cached outside the repository)', function () {
  this.timeout(300000);
  const manifest = torchvisionManifest();

  for (const name of TORCHVISION) {
    it(`${name}: explains end to end with its composites`, async function () {
      const entry = manifest.find((e) => e.name === name);
      if (!entry) {
        console.log(`      (skipped: ${name} is not in ${torchvisionDir()}; export it with /usr/bin/python3 scripts/export_torchvision.py)`);
        this.skip();
      }
      if (Math.max(...entry!.input.slice(2)) > CI_MAX_SIDE) {
        console.log(`      (skipped: ${name} is exported at ${entry!.input.slice(2).join('×')}; npm run architectures explains it)`);
        this.skip();
      }
      const p = prepareTorchvision(entry!);
      const results = await explainAll('torchvision', p, (r, composite) => {
        const scale = Math.max(1, ...Array.from(p.reference!, Math.abs));
        const worst = Math.max(...Array.from(p.reference!, (v, i) => Math.abs(r.output.data[i] - v)));
        expect(worst, `${name}: |onnxruntime − PyTorch| logits`).to.be.at.most(1e-3 * scale);
        expect(r.scores).to.have.length(2);
        checkExplanation(r, `${name} ${composite}`);
      });
      for (const r of results) console.log(`      ${resultLine(r)}`);
    });
  }
});
