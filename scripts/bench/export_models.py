#!/usr/bin/python3
"""Exports the benchmark models for `npm run bench`: torchvision VGG16, ResNet50 and ViT-B/16 with seeded random
weights, 224x224, batch dimension dynamic, BatchNorm folded by the exporter (eval mode, do_constant_folding) — the
ResNet50 file therefore has no BatchNormalization nodes. The CNNs are exported at opset 13, the ViT at opset 17
(LayerNormalization as one node) with a fixed batch of 1 (its reshapes then hold constants, not shape
arithmetic). Files are cached outside the repository.

Run:  /usr/bin/python3 scripts/bench/export_models.py [OUT_DIR] [NAME,...]   (default ~/.cache/onnx-lrp/bench, all)
Writes OUT_DIR/vgg16.onnx, OUT_DIR/resnet50.onnx, OUT_DIR/vit_b_16.onnx (skipped when present) and prints one
JSON line per model.
"""

import json
import os
import sys


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.expanduser('~'), '.cache', 'onnx-lrp', 'bench')
    os.makedirs(out, exist_ok=True)
    try:
        import torch
        import torchvision
    except ImportError as e:  # the caller prints the skip message
        print(json.dumps({'skipped': f'torch/torchvision not importable: {e}'}))
        return 3
    torch.set_num_threads(1)
    only = sys.argv[2].split(',') if len(sys.argv) > 2 else None
    models = (('vgg16', torchvision.models.vgg16, 13), ('resnet50', torchvision.models.resnet50, 13),
              ('vit_b_16', torchvision.models.vit_b_16, 17))
    torch.manual_seed(0)  # once, then VGG16, its input, ResNet50 (scripts/bench/zennit_server.py rebuilds them so)
    for name, ctor, opset in models:
        if only and name not in only:
            continue
        if name == 'vit_b_16':
            torch.manual_seed(0)
        path = os.path.join(out, f'{name}.onnx')
        if not os.path.exists(path):
            model = ctor().eval()  # random (seeded) weights; no download
            x = torch.randn(1, 3, 224, 224)
            tmp = path + '.tmp'
            # the ViT with autograd on: under no_grad torch 1.13 takes the fused attention path, which does not export
            with torch.set_grad_enabled(name == 'vit_b_16'):
                torch.onnx.export(model, x, tmp, opset_version=opset, input_names=['input'], output_names=['logits'],
                                  # the ViT at batch 1 only: a dynamic batch leaves Shape/Gather/Concat chains in its reshapes
                                  dynamic_axes=None if name == 'vit_b_16' else {'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                                  do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
            os.replace(tmp, path)
        print(json.dumps({'model': name, 'path': path, 'bytes': os.path.getsize(path)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
