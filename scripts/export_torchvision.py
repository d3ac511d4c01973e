#!/usr/bin/python3
"""Exports torchvision architectures with random weights to ONNX, for `npm run architectures` and
spec/e2e/architectures-torchvision.spec.ts.

    /usr/bin/python3 scripts/export_torchvision.py [--only resnet18,googlenet] [--force] [--out DIR]

Debian's torch 1.13 / torchvision 0.14 (no downloads: `weights=None`). Each model is seeded, its BatchNorm
running statistics are recalibrated on random inputs (train mode, cumulative average) so that activations
have a trained-like scale instead of growing through residual blocks, then it is exported in eval mode at
opset 17 with a dynamic batch axis. Files go OUTSIDE the repository: $ONNX_LRP_CACHE/torchvision, default
~/.cache/onnx-lrp/torchvision. Beside each `NAME.onnx`: `NAME.input.npy` (a seeded input, batch 2) and
`NAME.logits.npy` (PyTorch's logits for it), and `manifest.json` lists everything. Exports run one at a time;
existing files are kept unless --force.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision

OPSET = 17
SEED = 0

# name → input side (square). 64×64 wherever the architecture allows it; VGG's adaptive pool to 7×7 is
# exported only when the feature map is a multiple of 7, hence 224.
MODELS = {
    'resnet18': 64,
    'resnet50': 64,
    'vgg16_bn': 224,
    'densenet121': 64,
    'mobilenet_v2': 64,
    'mobilenet_v3_small': 64,
    'efficientnet_b0': 64,
    'shufflenet_v2_x1_0': 64,
    'squeezenet1_1': 64,
    'googlenet': 64,
    'regnet_x_400mf': 64,
    'vit_b_16': 224,      # fixed 224 x 224 (its position embedding); random weights, ~350 MB, never shipped
}


def cache_dir():
    root = os.environ.get('ONNX_LRP_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'onnx-lrp')
    return os.path.join(root, 'torchvision')


def build(name):
    kwargs = {'weights': None}
    if name == 'googlenet':
        kwargs.update(aux_logits=False, init_weights=True, transform_input=False)
    model = getattr(torchvision.models, name)(**kwargs)
    if name.startswith('vit_'):
        # torchvision zero-initialises the ViT's classification head: every logit would be 0 and there would
        # be nothing to explain; a random head N(0, 1/fan_in) like the other layers' scale
        head = model.heads.head
        with torch.no_grad():
            head.weight.normal_(0, head.in_features ** -0.5)
            head.bias.normal_(0, 0.1)
    return model


def recalibrate_batchnorm(model, side, batches=3, batch_size=4):
    """Running statistics as the cumulative average over random inputs (what training would estimate)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, 3, side, side, generator=g))
    model.eval()
    return len(bns)


def export(name, side, out_dir):
    torch.manual_seed(SEED)
    model = build(name)
    model.eval()
    n_bn = recalibrate_batchnorm(model, side)
    g = torch.Generator().manual_seed(SEED + 2)
    x = torch.randn(2, 3, side, side, generator=g).clamp(-2.5, 2.5)
    with torch.no_grad():
        logits = model(x)
    path = os.path.join(out_dir, f'{name}.onnx')
    tmp = path + '.tmp'
    torch.onnx.export(
        model, x[:1], tmp, opset_version=OPSET, input_names=['input'], output_names=['logits'],
        dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True,
    )
    os.replace(tmp, path)
    np.save(os.path.join(out_dir, f'{name}.input.npy'), x.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, f'{name}.logits.npy'), logits.numpy().astype(np.float32))
    return {
        'name': name, 'file': f'{name}.onnx', 'input': [1, 3, side, side], 'opset': OPSET, 'seed': SEED,
        'batchnorms': n_bn, 'params': sum(p.numel() for p in model.parameters()), 'bytes': os.path.getsize(path),
        'sample': f'{name}.input.npy', 'logits': f'{name}.logits.npy',
        'torch': torch.__version__, 'torchvision': torchvision.__version__,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', help='comma-separated model names (default: all)')
    ap.add_argument('--force', action='store_true', help='re-export existing files')
    ap.add_argument('--out', default=cache_dir(), help='output folder (default: %(default)s)')
    args = ap.parse_args()
    names = args.only.split(',') if args.only else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f'unknown model(s): {", ".join(unknown)}; known: {", ".join(MODELS)}')
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(2)
    manifest_path = os.path.join(args.out, 'manifest.json')
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = {m['name']: m for m in json.load(f)['models']}
    for name in names:
        done = name in manifest and os.path.exists(os.path.join(args.out, manifest[name]['file']))
        if done and not args.force:
            print(f'{name}: cached ({manifest[name]["file"]})')
            continue
        t0 = time.time()
        manifest[name] = export(name, MODELS[name], args.out)
        print(f'{name}: exported at {MODELS[name]}×{MODELS[name]} in {time.time() - t0:.1f} s '
              f'({manifest[name]["bytes"] / 1e6:.1f} MB)', flush=True)
        with open(manifest_path + '.tmp', 'w') as f:
            json.dump({'models': [manifest[n] for n in MODELS if n in manifest]}, f, indent=2)
        os.replace(manifest_path + '.tmp', manifest_path)
    print(f'folder: {args.out}')


if __name__ == '__main__':
    main()
