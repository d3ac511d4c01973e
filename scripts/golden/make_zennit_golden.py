#!/usr/bin/python3
"""Golden files made by Zennit 0.5.1 itself (an independent reference: not our reading of the rules).

Runs Zennit's own composites, rules and BatchNorm canonizer on the golden models of make_golden.py (same seeds,
same weights, same inputs, same ONNX files) in float64 and writes the input relevance and the relevance each
linear layer returns to its input to spec/fixtures/zennit/. spec/e2e/zennit.spec.ts compares both engines of
onnx-lrp with them. Not run in CI; Zennit is never vendored or installed.

Zennit is pinned to tag 0.5.1, commit ZENNIT_COMMIT below (the last release that runs on Debian's torch 1.13).
Get it with the search tool's fetch (github:chr5tphr/zennit) and extract it outside the repository:

    git -C /work/.mirror/chr5tphr+zennit/repo archive 3121bb223061506834ca68abad3eefc792dea999 | tar -x -C /work/scratch/zennit
    /usr/bin/python3 scripts/golden/make_zennit_golden.py --zennit /work/scratch/zennit

How Zennit is used, exactly as its documentation shows:
  * canonizer `SequentialMergeBatchNorm` (merges each BatchNorm into the Conv/Linear registered before it);
  * the resnet's residual additions go through `zennit.layer.Sum` (what Zennit's own ResNet canonizer does to
    torchvision's BasicBlock), so the Add gets Zennit's `Norm` rule (`layer_map_base`);
  * every registered composite of zennit/composites.py, plus `epsilon` (a LayerMapComposite: layer_map_base + Epsilon on every Conv/Linear, the map
    Zennit's docs build for it) and `zero_params='bias'` variants;
  * the seed is the one-hot of the target class (Zennit's usual `attr_output`), relevance = input gradient of
    the hooked model (`torch.autograd.grad`), float64.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

ZENNIT_TAG = '0.5.1'
ZENNIT_COMMIT = '3121bb223061506834ca68abad3eefc792dea999'
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
GOLDEN_DIR = os.path.join(REPO, 'spec', 'fixtures', 'golden')
OUT_DIR = os.path.join(REPO, 'spec', 'fixtures', 'zennit')
torch.set_num_threads(1)


# sha256 of the Zennit files this script relies on, at ZENNIT_COMMIT
ZENNIT_SHA256 = {
    'core.py': 'e999f105f6265640ab1dbd9686a5f0328bb2901dd3c014da8a6fcf22c4216944',
    'rules.py': '2bbebee1f7c03696c5be311b0c3440fe769bcb5b2211bbe9e0cc6482a26f5578',
    'composites.py': '088df696f19ce8e616033e7ecb1e69aa345eb4834f09939daff0ef49a72e3916',
    'canonizers.py': 'f180b28b6ded81c080604c14af68bbba8cacd9f0912a9ed934a5be291e2ab6b4',
    'layer.py': 'b92fa46b961e74c270bcf95e40b3ea4301943ec3493ed84fa32f5b04f8c46107',
    'types.py': '31abe155fdb009d519d929102d39d4ec60642858b2e2da65a1746409957073c9',
}


def load_zennit(root):
    """Imports Zennit from an extracted source tree, after checking its files are the pinned commit's."""
    src = os.path.join(root, 'src')
    for f, want in ZENNIT_SHA256.items():
        path = os.path.join(src, 'zennit', f)
        if not os.path.isfile(path):
            sys.exit('%s: missing; extract Zennit %s (commit %s) there' % (path, ZENNIT_TAG, ZENNIT_COMMIT))
        if hashlib.sha256(open(path, 'rb').read()).hexdigest() != want:
            sys.exit('%s differs from Zennit %s (commit %s)' % (path, ZENNIT_TAG, ZENNIT_COMMIT))
    sys.path.insert(0, src)
    import zennit
    return zennit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--zennit', default='/work/scratch/zennit', help='extracted Zennit %s source tree' % ZENNIT_TAG)
    ap.add_argument('--out', default=OUT_DIR)
    args = ap.parse_args()
    load_zennit(args.zennit)
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import (COMPOSITES, LayerMapComposite, layer_map_base)
    from zennit.core import BasicHook
    from zennit.layer import Sum
    from zennit.rules import Epsilon
    from zennit.types import Linear as ZLinear

    sys.path.insert(0, HERE)
    import make_golden as mg

    # Zennit 0.5.1's MergeBatchNorm.merge_batch_norm (canonizers.py) folds BatchNorm into the layer before it and
    # then sets the BatchNorm's mean 0, var 1, weight 1, bias 0, but leaves its eps: the emptied BatchNorm still
    # divides by sqrt(1 + eps) = 1 + 5e-6. Rules that pass relevance through BatchNorm (Pass) barely notice, but
    # every gradient through it (guided_backprop, deconvnet, excitation_backprop) is scaled by 1 - 5e-6 per
    # BatchNorm. onnx-lrp merges exactly, so the emptied BatchNorm gets eps 0 here: the maps are those of the model.
    from zennit.canonizers import MergeBatchNorm
    original_merge = MergeBatchNorm.merge_batch_norm

    def exact_merge(modules, batch_norm):
        original_merge(modules, batch_norm)
        batch_norm.eps = 0.
    MergeBatchNorm.merge_batch_norm = staticmethod(exact_merge)

    # every relevance a BasicHook returns (Zennit's rules: relevance is what flows backwards) is recorded per module
    recorded = {}
    original_backward = BasicHook.backward

    def recording_backward(self, module, grad_input, grad_output):
        out = original_backward(self, module, grad_input, grad_output)
        if isinstance(module, ZLinear):
            recorded[id(module)] = out[0].detach().clone()
        return out
    BasicHook.backward = recording_backward

    def zennit_model(name, dtype):
        model, shape, _ = mg.build_model(name)
        for blk in model.modules():
            if isinstance(blk, mg.BasicBlock):        # the residual Add as Zennit's Sum module (its ResNet canonizer)
                blk.canonizer_sum = Sum()

                def forward(x, blk=blk):
                    out = blk.relu1(blk.bn1(blk.conv1(x)))
                    out = blk.bn2(blk.conv2(out))
                    identity = x if blk.downsample is None else blk.downsample(x)
                    return blk.relu2(blk.canonizer_sum(torch.stack([identity, out], dim=-1)))
                blk.forward = forward
        return model.to(dtype), shape

    def composite_for(case, dtype, low, high):
        name, kw = case['zennit'], dict(case['kwargs'])
        canon = [SequentialMergeBatchNorm()]
        if name == 'epsilon':
            return LayerMapComposite(layer_map=layer_map_base(kw.get('stabilizer', 1e-6)) + [
                (ZLinear, Epsilon(epsilon=kw.get('epsilon', 1e-6), zero_params=kw.get('zero_params')))],
                canonizers=canon)
        if name == 'epsilon_gamma_box':
            kw['low'], kw['high'] = low.to(dtype), high.to(dtype)
        return COMPOSITES[name](canonizers=canon, **kw)

    def run(name, case, dtype, x, targets, bounds):
        model, _ = zennit_model(name, dtype)
        model.eval()
        C = x.shape[1]
        if case.get('perChannel'):
            low = torch.tensor(bounds['lowPerChannel'], dtype=torch.float64).reshape(1, C, 1, 1)
            high = torch.tensor(bounds['highPerChannel'], dtype=torch.float64).reshape(1, C, 1, 1)
        else:
            low, high = torch.tensor(bounds['low'], dtype=torch.float64), torch.tensor(bounds['high'], dtype=torch.float64)
        composite = composite_for(case, dtype, low, high)
        order = []
        handles = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in model.modules() if isinstance(m, ZLinear)]
        recorded.clear()
        xx = x.to(dtype).clone().requires_grad_(True)
        with composite.context(model) as hooked:
            out = hooked(xx)
            seed = torch.zeros_like(out)
            seed[torch.arange(len(targets)), torch.tensor(targets)] = 1.0
            (rel,) = torch.autograd.grad(out, xx, seed)
        for h in handles:
            h.remove()
        layer_sums = None
        if recorded:
            assert all(id(m) in recorded for m in order), 'a linear layer was not hooked'
            layer_sums = [[float(recorded[id(m)][s].sum()) for m in order] for s in range(x.shape[0])]
        return rel.detach(), out.detach(), layer_sums, [type(composite).__name__]

    cases = [
        {'id': 'epsilon', 'zennit': 'epsilon', 'kwargs': {}, 'composite': 'epsilon'},
        {'id': 'epsilon_plus', 'zennit': 'epsilon_plus', 'kwargs': {}, 'composite': 'epsilon_plus'},
        {'id': 'epsilon_alpha2_beta1', 'zennit': 'epsilon_alpha2_beta1', 'kwargs': {}, 'composite': 'epsilon_alpha2_beta1'},
        {'id': 'epsilon_plus_flat', 'zennit': 'epsilon_plus_flat', 'kwargs': {}, 'composite': 'epsilon_plus_flat'},
        {'id': 'epsilon_alpha2_beta1_flat', 'zennit': 'epsilon_alpha2_beta1_flat', 'kwargs': {},
         'composite': 'epsilon_alpha2_beta1_flat'},
        {'id': 'epsilon_gamma_box', 'zennit': 'epsilon_gamma_box', 'kwargs': {'gamma': 0.25},
         'composite': 'epsilon_gamma_box'},
        {'id': 'epsilon_gamma_box_perchannel', 'zennit': 'epsilon_gamma_box', 'kwargs': {'gamma': 0.25},
         'composite': 'epsilon_gamma_box', 'perChannel': True},
        {'id': 'excitation_backprop', 'zennit': 'excitation_backprop', 'kwargs': {}, 'composite': 'excitation_backprop'},
        {'id': 'guided_backprop', 'zennit': 'guided_backprop', 'kwargs': {}, 'composite': 'guided_backprop'},
        {'id': 'deconvnet', 'zennit': 'deconvnet', 'kwargs': {}, 'composite': 'deconvnet'},
        {'id': 'beta_smooth', 'zennit': 'beta_smooth', 'kwargs': {}, 'composite': 'beta_smooth'},
        {'id': 'beta_smooth_3', 'zennit': 'beta_smooth', 'kwargs': {'beta_smooth': 3.0}, 'composite': 'beta_smooth'},
        {'id': 'epsilon_eps0.25', 'zennit': 'epsilon', 'kwargs': {'epsilon': 0.25}, 'composite': 'epsilon'},
        {'id': 'epsilon_zerobias', 'zennit': 'epsilon', 'kwargs': {'zero_params': ['bias']}, 'composite': 'epsilon'},
        {'id': 'epsilon_plus_zerobias', 'zennit': 'epsilon_plus', 'kwargs': {'zero_params': ['bias']},
         'composite': 'epsilon_plus'},
        {'id': 'epsilon_gamma_box_zerobias', 'zennit': 'epsilon_gamma_box',
         'kwargs': {'gamma': 0.25, 'zero_params': ['bias']}, 'composite': 'epsilon_gamma_box'},
    ]
    os.makedirs(args.out, exist_ok=True)
    for name in mg.MODELS:
        g = json.load(open(os.path.join(GOLDEN_DIR, name + '.golden.json')))
        x = torch.from_numpy(np.load(os.path.join(GOLDEN_DIR, g['input']))).double()
        targets, bounds = g['targets'], g['bounds']
        out_cases = []
        for case in cases:
            rel, out, layer_sums, _ = run(name, case, torch.float64, x, targets, bounds)
            rel32, _, _, _ = run(name, case, torch.float32, x, targets, bounds)
            dev32 = float((rel32.double() - rel).norm() / rel.norm())
            assert torch.isfinite(rel).all() and rel.abs().max() > 0, (name, case['id'])
            assert (out.float() - torch.tensor(g['logits'])).abs().max() < 1e-4, (name, 'logits')
            fn = '%s.%s.npy' % (name, case['id'])
            np.save(os.path.join(args.out, fn), np.ascontiguousarray(rel.numpy().astype(np.float32)))
            params = {k: v for k, v in case['kwargs'].items()}
            opts = {}
            if 'epsilon' in params:
                opts['epsilon'] = params['epsilon']
            if 'gamma' in params:
                opts['gamma'] = params['gamma']
            if params.get('zero_params'):
                opts['zeroBias'] = True
            if 'beta_smooth' in params:
                opts['betaSmooth'] = params['beta_smooth']
            if case['zennit'] == 'epsilon_gamma_box':
                opts['low'] = bounds['lowPerChannel'] if case.get('perChannel') else bounds['low']
                opts['high'] = bounds['highPerChannel'] if case.get('perChannel') else bounds['high']
            entry = {'id': case['id'], 'zennitComposite': case['zennit'], 'zennitKwargs': params,
                     'composite': case['composite'], 'options': opts, 'outputRelevance': 'one',
                     'relevance': fn, 'inputSum': rel.sum(dim=tuple(range(1, rel.dim()))).tolist(),
                     'float32Deviation': dev32}
            if layer_sums is not None and case['zennit'] not in ('guided_backprop', 'deconvnet'):
                entry['layerSums'] = layer_sums
            out_cases.append(entry)
            print('%-9s %-30s in=%s f32dev=%.1e' % (name, case['id'], ['%.4g' % v for v in entry['inputSum']], dev32))
        doc = {'model': name, 'files': g['files'], 'input': g['input'], 'targets': targets,
               'zennit': {'tag': ZENNIT_TAG, 'commit': ZENNIT_COMMIT}, 'torch': torch.__version__,
               'cases': out_cases,
               'notes': 'Made by scripts/golden/make_zennit_golden.py with Zennit %s (%s) in float64: relevance '
                        'is the input gradient of the Zennit-hooked PyTorch model for a one-hot seed at targets; '
                        'layerSums[s][i] is the sum of what the i-th Conv/Linear (forward order, after '
                        'SequentialMergeBatchNorm) returns to its input, for sample s. Model files and inputs '
                        'are those of spec/fixtures/golden.' % (ZENNIT_TAG, ZENNIT_COMMIT)}
        with open(os.path.join(args.out, name + '.zennit.json'), 'w') as f:
            json.dump(doc, f, indent=1)
            f.write('\n')
    BasicHook.backward = original_backward


if __name__ == '__main__':
    sys.exit(main())
