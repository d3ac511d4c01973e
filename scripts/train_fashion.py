#!/usr/bin/python3
"""Train the small Fashion-MNIST models shipped in models/ and export them to ONNX.

    /usr/bin/python3 scripts/train_fashion.py --model all        # or mlp | vgg | resnet | mobilenet
    npm run accuracy -- --write                                      # record the onnxruntime accuracy

Every model takes a normalised N x 1 x 28 x 28 tensor named `input`:
    x = (pixel / 255 - 0.2860) / 0.3530
(the normalisation is NOT part of the graph) and returns N x 10 `logits`.
Exported with torch.onnx.export at opset 17, dynamic batch axis, BatchNormalization kept as its
own node (the onnx-lrp loader merges it into the preceding Conv/Gemm).

Data: Debian's dataset-fashion-mnist package, /usr/share/datasets/fashion-mnist/*.gz (IDX files).
Needs torch (1.13), onnx and numpy; runs on CPU. Seeded, but CPU kernels are not guaranteed to be
bit-for-bit reproducible across machines or thread counts.
"""

import argparse
import gzip
import json
import os
import random
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = '/usr/share/datasets/fashion-mnist'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, 'models')
MEAN = 0.2860
STD = 0.3530
SEED = 0
OPSET = 17
LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
          'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']


# ----------------------------------------------------------------------------------------- data

def read_idx(path):
    """Parse a (gzipped) IDX file: magic 0x00 0x00 <type> <ndim>, ndim big-endian uint32 sizes, data."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f'{path}: not an IDX file (bad magic)')
    if raw[2] != 0x08:
        raise ValueError(f'{path}: only unsigned-byte IDX data (type 0x08) is supported, got 0x{raw[2]:02x}')
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) < offset + count:
        raise ValueError(f'{path}: truncated: {len(raw) - offset} data bytes, expected {count}')
    return np.frombuffer(raw, dtype=np.uint8, count=count, offset=offset).reshape(dims)


def load_split(split):
    prefix = 'train' if split == 'train' else 't10k'
    images = read_idx(os.path.join(DATA_DIR, f'{prefix}-images-idx3-ubyte.gz'))
    labels = read_idx(os.path.join(DATA_DIR, f'{prefix}-labels-idx1-ubyte.gz'))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - MEAN) / STD
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def augment(x, shift):
    """Random horizontal flip per image, plus (if shift > 0) a random translation of up to `shift`
    pixels per image, filling with the background value."""
    n = x.shape[0]
    flip = torch.rand(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if shift > 0:
        bg = (0.0 - MEAN) / STD
        padded = F.pad(x, (shift, shift, shift, shift), value=bg)
        dx = torch.randint(0, 2 * shift + 1, (n,))
        dy = torch.randint(0, 2 * shift + 1, (n,))
        # gather rows and columns with per-image offsets
        rows = (dy[:, None] + torch.arange(28)[None, :])  # n x 28
        cols = (dx[:, None] + torch.arange(28)[None, :])  # n x 28
        idx_n = torch.arange(n)[:, None, None]
        x = padded[idx_n, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)
    return x


# --------------------------------------------------------------------------------------- models

class MLP(nn.Module):
    """784 -> 256 -> 128 -> 10, ReLU; dropout only during training."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        x = self.flatten(x)
        x = self.drop(F.relu(self.fc1(x)))
        x = self.drop(F.relu(self.fc2(x)))
        return self.fc3(x)


def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class VGG(nn.Module):
    """[conv16-conv16-pool] [conv32-conv32-pool] [conv64-pool] -> flatten(64*3*3) -> 128 -> 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn_relu(1, 16), *conv_bn_relu(16, 16), nn.MaxPool2d(2),    # 14x14
            *conv_bn_relu(16, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2),   # 7x7
            *conv_bn_relu(32, 64), nn.MaxPool2d(2),                          # 3x3
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 3 * 3, 128), nn.ReLU(inplace=True),
            nn.Dropout(0.3), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU. Strided/widening blocks use a 1x1 conv + BN shortcut."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """stem conv16 @28 -> block16 @28 -> block32/2 @14 -> block64/2 @7 -> GAP -> Linear(64, 10)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn_relu(1, 16))
        self.layer1 = BasicBlock(16, 16)
        self.layer2 = BasicBlock(16, 32, stride=2)
        self.layer3 = BasicBlock(32, 64, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(self.flatten(self.avgpool(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand-BN-ReLU6] -> 3x3 depthwise-BN-ReLU6 -> 1x1 project-BN (linear),
    plus the input when stride 1 and cin == cout."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNet(nn.Module):
    """stem conv16 @28 -> IR(16,t1) -> IR(24,/2,t3) x2 @14 -> IR(32,/2,t3) x2 @7 -> IR(48,t3) x2
    -> 1x1 conv 128 -> GAP -> Linear(128, 10). ReLU6 everywhere."""

    def __init__(self):
        super().__init__()
        cfg = [  # cin, cout, stride, expand
            (16, 16, 1, 1),
            (16, 24, 2, 3), (24, 24, 1, 3),
            (24, 32, 2, 3), (32, 32, 1, 3),
            (32, 48, 1, 3), (48, 48, 1, 3),
        ]
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True))
        self.blocks = nn.Sequential(*[InvertedResidual(*c) for c in cfg])
        self.head = nn.Sequential(nn.Conv2d(48, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(self.drop(self.flatten(self.avgpool(x))))


# name: (constructor, epochs, max learning rate, weight decay, translation augmentation, description)
MODELS = {
    'mlp': (MLP, 12, 2e-3, 1e-4, 0,
            'MLP: flatten -> Dense 256 -> ReLU -> Dense 128 -> ReLU -> Dense 10'),
    'vgg': (VGG, 10, 3e-3, 5e-4, 0,
            'VGG-style CNN: 5 x (Conv3x3+BN+ReLU) in 3 stages (16,16 | 32,32 | 64) with MaxPool, '
            'then Dense 128 -> ReLU -> Dense 10'),
    'resnet': (ResNet, 10, 3e-3, 5e-4, 0,
               'Small ResNet: Conv3x3+BN+ReLU stem, 3 BasicBlocks (16 | 32 /2 | 64 /2, 1x1 conv+BN '
               'downsample), GlobalAveragePool, Dense 10'),
    'mobilenet': (MobileNet, 8, 4e-3, 2e-4, 0,
                  'MobileNetV2-style: Conv3x3 stem, 7 inverted residual blocks (1x1 expand, 3x3 depthwise, '
                  '1x1 linear project, BN, ReLU6, residual adds), 1x1 conv 128, GlobalAveragePool, Dense 10'),
}


# ------------------------------------------------------------------------------------ training

def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


def train(name, data, batch_size=128):
    ctor, epochs, lr, wd, shift, description = MODELS[name]
    seed_everything(SEED)
    model = ctor()
    params = sum(p.numel() for p in model.parameters())
    xtr, ytr, xte, yte = data
    steps = (xtr.shape[0] + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps)
    print(f'[{name}] {params} parameters, {epochs} epochs, batch {batch_size}', flush=True)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(xtr.shape[0])
        total, seen = 0.0, 0
        for i in range(steps):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            xb = xtr[idx] if name == 'mlp' else augment(xtr[idx], shift)
            yb = ytr[idx]
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05 if name != 'mlp' else 0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * xb.shape[0]
            seen += xb.shape[0]
        acc = evaluate(model, xte, yte)
        print(f'[{name}] epoch {epoch + 1}/{epochs} loss {total / seen:.4f} test {acc:.4f} '
              f'({time.time() - t0:.0f}s)', flush=True)
    model.eval()
    return model, params, epochs, acc, time.time() - t0, description


def export(name, model):
    # torch warns about constant folding in PRESERVE mode; it only matters for a model in training mode.
    warnings.filterwarnings('ignore', message='It is recommended that constant folding be turned off')
    path = os.path.join(MODELS_DIR, f'fashion-{name}.onnx')
    dummy = torch.zeros(2, 1, 28, 28)
    # PRESERVE (with the model in eval mode) exports inference-mode BatchNormalization nodes instead of
    # folding them into the convolutions, which the EVAL mode's peephole pass would do.
    torch.onnx.export(model, dummy, path, opset_version=OPSET, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    hist = finish_export(path, name)
    return path, hist, os.path.getsize(path)


def finish_export(path, tag, opset=None):
    """After torch.onnx.export: Identity copies of initializers inlined (inline_constant_identities), the file
    checked (full_check), one line printed; returns the op-type histogram."""
    import onnx
    m = onnx.load(path)
    if inline_constant_identities(m):
        onnx.save(m, path)
    onnx.checker.check_model(m, full_check=True)
    hist = {}
    for node in m.graph.node:
        hist[node.op_type] = hist.get(node.op_type, 0) + 1
    print(f'[{tag}] exported {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes'
          + (f', opset {opset}' if opset is not None else '') + '), ops: '
          + ', '.join(f'{k} x{v}' for k, v in sorted(hist.items())), flush=True)
    return hist


def inline_constant_identities(m):
    """torch.onnx.export deduplicates initializers with equal values (e.g. the biases of two BatchNorms
    that feed the same Add receive identical updates) and reconnects the copies through Identity nodes.
    Replace each Identity of an initializer by a plain initializer again. Returns the number replaced."""
    from onnx import numpy_helper
    inits = {t.name: t for t in m.graph.initializer}
    keep, count = [], 0
    for node in m.graph.node:
        if node.op_type == 'Identity' and node.input[0] in inits:
            m.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(inits[node.input[0]]), node.output[0]))
            count += 1
        else:
            keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return count


def write_metadata(name, params, epochs, acc, description):
    path = os.path.join(MODELS_DIR, f'fashion-{name}.json')
    meta = {
        'name': f'fashion-{name}',
        'file': f'fashion-{name}.onnx',
        'description': description,
        'dataset': 'Fashion-MNIST',
        'labels': LABELS,
        'input': {'name': 'input', 'shape': [None, 1, 28, 28], 'layout': 'NCHW', 'channels': 'grayscale',
                  'valueRange': [0, 1], 'mean': [MEAN], 'std': [STD]},
        'output': {'name': 'logits'},
        'bounds': {'low': [(0 - MEAN) / STD], 'high': [(1 - MEAN) / STD]},
        # PyTorch's number; `npm run accuracy -- --write` replaces it with onnxruntime's.
        'accuracy': {'test': round(acc, 4), 'split': 'Fashion-MNIST test set (10,000 images)',
                     'measuredBy': 'npm run accuracy'},
        'training': {'command': f'/usr/bin/python3 scripts/train_fashion.py --model {name}', 'seed': SEED,
                     'epochs': epochs, 'torch': torch.__version__.split('a')[0].split('+')[0],
                     'parameters': params},
        'opset': OPSET,
    }
    with open(path, 'w') as f:
        f.write(format_json(meta) + '\n')
    return path


def format_json(v, indent=0):
    """JSON with 2-space indentation and arrays of scalars on one line (as scripts/accuracy.ts writes it)."""
    pad, inner = ' ' * indent, ' ' * (indent + 2)
    if isinstance(v, dict):
        if not v:
            return '{}'
        return '{\n' + ',\n'.join(f'{inner}{json.dumps(k)}: {format_json(x, indent + 2)}' for k, x in v.items()) \
            + '\n' + pad + '}'
    if isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v):
            return '[' + ', '.join(json.dumps(x) for x in v) + ']'
        return '[\n' + ',\n'.join(inner + format_json(x, indent + 2) for x in v) + '\n' + pad + ']'
    return json.dumps(v)


def rewrite_metadata(name):
    """Regenerates models/fashion-<name>.json from this script without training, keeping the recorded
    test accuracy (for edits of descriptions or of the metadata format)."""
    path = os.path.join(MODELS_DIR, f'fashion-{name}.json')
    with open(path) as f:
        acc = json.load(f)['accuracy']['test']
    ctor, epochs, _, _, _, description = MODELS[name]
    params = sum(p.numel() for p in ctor().parameters())
    write_metadata(name, params, epochs, acc, description)
    print(f'[{name}] rewrote {os.path.relpath(path, ROOT)} (accuracy {acc} kept)')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='all', choices=['all'] + list(MODELS))
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads (default 2)')
    parser.add_argument('--metadata-only', action='store_true',
                        help='rewrite the metadata JSON of already trained models, keeping their accuracy')
    args = parser.parse_args()
    names = list(MODELS) if args.model == 'all' else [args.model]
    if args.metadata_only:
        for name in names:
            rewrite_metadata(name)
        return
    if not os.path.isdir(DATA_DIR):
        print(f'{DATA_DIR} not found: `apt-get install dataset-fashion-mnist` provides it', file=sys.stderr)
        sys.exit(1)
    torch.set_num_threads(args.threads)
    os.makedirs(MODELS_DIR, exist_ok=True)
    xtr, ytr = load_split('train')
    xte, yte = load_split('test')
    summary = []
    for name in names:
        model, params, epochs, acc, secs, description = train(name, (xtr, ytr, xte, yte))
        _, _, size = export(name, model)
        write_metadata(name, params, epochs, acc, description)
        summary.append((name, params, size, acc, secs))
    print('\nmodel       params   bytes     torch-acc  train-s')
    for name, params, size, acc, secs in summary:
        print(f'{name:<10} {params:>7} {size:>8} {acc:>10.4f} {secs:>8.0f}')


if __name__ == '__main__':
    main()
