#!/usr/bin/python3
"""The Zennit side of `npm run bench` (scripts/bench.ts), run only when ZENNIT_SRC points at Zennit 0.5.1's `src`
folder (commit 3121bb223061506834ca68abad3eefc792dea999; never installed or vendored), on Debian's torch.

A small server: one JSON command per line on stdin, one JSON answer per line on stdout, so that the bench can
alternate Zennit with onnx-lrp in one run.
  {"op": "load", "model": "vgg16"|"resnet50", "threads": T, "low": [..3], "high": [..3]}
      builds the torchvision model with the weights of scripts/bench/export_models.py (same seed, same order of
      construction), eval mode, and its Zennit canonizer (VGGCanonizer / ResNetCanonizer: BatchNorm merged,
      the residual additions as Zennit's Sum with its Norm rule) -> {"ok": true}
  {"op": "explain", "composite": NAME, "input": FILE, "batch": B}
      one attribution of the float32 NCHW input in FILE (224x224) for the predicted classes, timed from entering
      the composite's context to the relevance: -> {"ms": .., "logits": [first 5 of sample 0], "sum": ..}
Composites: epsilon (layer_map_base + Epsilon on every Conv/Linear, the map Zennit's docs build for it, as in
scripts/golden/make_zennit_golden.py), epsilon_plus_flat, epsilon_gamma_box (low/high per channel), and
epsilon_alpha2_beta1 -- Zennit's registered composites with their defaults.
"""
import json
import os
import sys
import time

import numpy as np
import torch


def build(name):
    import torchvision
    torch.manual_seed(0)  # export_models.py: seed once, VGG16, an input, then ResNet50
    vgg = torchvision.models.vgg16().eval()
    if name == 'vgg16':
        return vgg
    torch.randn(1, 3, 224, 224)
    return torchvision.models.resnet50().eval()


def main():
    sys.path.insert(0, os.environ['ZENNIT_SRC'])
    from zennit.composites import (EpsilonAlpha2Beta1, EpsilonGammaBox, EpsilonPlusFlat, LayerMapComposite,
                                   layer_map_base)
    from zennit.rules import Epsilon
    from zennit.torchvision import ResNetCanonizer, VGGCanonizer
    from zennit.types import Linear as ZLinear

    state = {}

    def composite(name, batch):
        canon = [ResNetCanonizer() if state['model'] == 'resnet50' else VGGCanonizer()]
        if name == 'epsilon':
            return LayerMapComposite(layer_map=layer_map_base() + [(ZLinear, Epsilon())], canonizers=canon)
        if name == 'epsilon_plus_flat':
            return EpsilonPlusFlat(canonizers=canon)
        if name == 'epsilon_alpha2_beta1':
            return EpsilonAlpha2Beta1(canonizers=canon)
        if name == 'epsilon_gamma_box':
            low = torch.tensor(state['low'], dtype=torch.float32).reshape(1, 3, 1, 1).expand(batch, 3, 224, 224)
            high = torch.tensor(state['high'], dtype=torch.float32).reshape(1, 3, 1, 1).expand(batch, 3, 224, 224)
            return EpsilonGammaBox(low=low, high=high, canonizers=canon)
        raise ValueError('no Zennit composite for %s' % name)

    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['op'] == 'load':
            torch.set_num_threads(cmd['threads'])
            state.update(model=cmd['model'], net=build(cmd['model']), low=cmd['low'], high=cmd['high'])
            answer = {'ok': True, 'threads': torch.get_num_threads(), 'torch': torch.__version__}
        elif cmd['op'] == 'explain':
            b = cmd['batch']
            x = torch.from_numpy(np.fromfile(cmd['input'], dtype=np.float32).reshape(b, 3, 224, 224)).clone()
            t0 = time.perf_counter()
            comp = composite(cmd['composite'], b)
            xx = x.requires_grad_(True)
            with comp.context(state['net']) as hooked:
                out = hooked(xx)
                seed = torch.zeros_like(out)
                seed[torch.arange(b), out.argmax(1)] = 1.0
                (rel,) = torch.autograd.grad(out, xx, seed)
            ms = (time.perf_counter() - t0) * 1000
            answer = {'ms': ms, 'logits': out[0, :5].tolist(), 'sum': float(rel[0].sum())}
        else:
            answer = {'error': 'unknown op %s' % cmd['op']}
        sys.stdout.write(json.dumps(answer) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
