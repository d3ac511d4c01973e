#!/usr/bin/python3
"""Train the two-item Fashion-MNIST model (models/fashion-two-item.onnx) and export it to ONNX.

    /usr/bin/python3 scripts/train_two_item.py            # train, export, write models/fashion-two-item.json

A scene is two Fashion-MNIST items of different classes side by side on a 28 x 56 canvas (left item in
columns 0-27, right item in columns 28-55). The task is multi-label: the model returns 10 logits, trained
with a sigmoid / binary cross-entropy loss against the two-hot vector of the scene's two classes; a scene is
read as its two largest logits. The input is normalised as for the other Fashion-MNIST models:
    x = (pixel / 255 - 0.2860) / 0.3530     (not part of the graph)

The scenes of the test set come from the Fashion-MNIST test split, paired as `scripts/two-item-scenes.ts`
pairs them (the same seeded rule, `test_pairs` here): scene k puts test image a_k left and b_k right.

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). torch 1.13, onnx, numpy; CPU,
one thread by default (the machine is shared). Seeded, but not bit-for-bit reproducible across machines.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_fashion as tf  # noqa: E402  (data loading, ONNX clean-up and JSON formatting are shared)

NAME = 'fashion-two-item'
EPOCHS = 8
LR = 3e-3
WD = 5e-4
BATCH = 128
DESCRIPTION = ('Two-item CNN (multi-label, 28x56 scenes): 3 x (Conv3x3+BN+ReLU, MaxPool 2x2) with 16 | 32 | 64 '
               'channels, then Dense 128 -> ReLU -> Dense 10 (trained with sigmoid / BCE)')


class TwoItemCNN(nn.Module):
    """[conv16-pool] 14x28 [conv32-pool] 7x14 [conv64-pool] 3x7 -> flatten(64*3*7) -> 128 -> 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *tf.conv_bn_relu(1, 16), nn.MaxPool2d(2),
            *tf.conv_bn_relu(16, 32), nn.MaxPool2d(2),
            *tf.conv_bn_relu(32, 64), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 3 * 7, 128), nn.ReLU(inplace=True),
            nn.Dropout(0.3), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def partners(labels, rng):
    """For each item i, a random item of another class (the right-hand item of scene i)."""
    n = labels.shape[0]
    other = rng.randint(0, n, size=n)
    same = labels[other] == labels
    while same.any():
        other[same] = rng.randint(0, n, size=int(same.sum()))
        same = labels[other] == labels
    return other


def test_pairs(labels):
    """The test scenes: scene k = (k, partner k), partners drawn with numpy's RandomState(1)
    (scripts/two-item-scenes.ts reads the same pairs from models/two-item-pairs.json)."""
    return np.arange(labels.shape[0]), partners(labels, np.random.RandomState(1))


def scenes(x, left, right, flip=None):
    """N x 1 x 28 x 56 scenes from items `left` and `right` of x (N x 1 x 28 x 28), optionally flipping items."""
    a, b = x[left], x[right]
    if flip is not None:
        a = torch.where(flip[0][:, None, None, None], a.flip(3), a)
        b = torch.where(flip[1][:, None, None, None], b.flip(3), b)
    return torch.cat([a, b], dim=3)


def two_hot(y, left, right):
    t = torch.zeros(left.shape[0], 10)
    t[torch.arange(left.shape[0]), y[left]] = 1
    t[torch.arange(left.shape[0]), y[right]] = 1
    return t


@torch.no_grad()
def evaluate(model, x, y, left, right, batch=1000):
    """Per-item accuracy (each item's class among the two largest logits), split left/right, and the share of
    scenes with both right."""
    model.eval()
    hits_l, hits_r, both = 0, 0, 0
    for i in range(0, left.shape[0], batch):
        l, r = left[i:i + batch], right[i:i + batch]
        top2 = model(scenes(x, l, r)).topk(2, dim=1).indices
        hl = (top2 == y[l][:, None]).any(1)
        hr = (top2 == y[r][:, None]).any(1)
        hits_l += hl.sum().item()
        hits_r += hr.sum().item()
        both += (hl & hr).sum().item()
    n = left.shape[0]
    return {'left': hits_l / n, 'right': hits_r / n, 'items': (hits_l + hits_r) / (2 * n), 'both': both / n}


def train(data):
    xtr, ytr, xte, yte = data
    tf.seed_everything(tf.SEED)
    rng = np.random.RandomState(tf.SEED)
    model = TwoItemCNN()
    params = sum(p.numel() for p in model.parameters())
    n = xtr.shape[0]
    steps = (n + BATCH - 1) // BATCH
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WD)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, epochs=EPOCHS, steps_per_epoch=steps)
    te_left, te_right = (torch.from_numpy(v) for v in test_pairs(yte.numpy()))
    print(f'[{NAME}] {params} parameters, {EPOCHS} epochs, batch {BATCH}', flush=True)
    t0 = time.time()
    for epoch in range(EPOCHS):
        model.train()
        left = torch.randperm(n)
        right = torch.from_numpy(partners(ytr.numpy(), rng))[left]
        total, seen = 0.0, 0
        for i in range(steps):
            l, r = left[i * BATCH:(i + 1) * BATCH], right[i * BATCH:(i + 1) * BATCH]
            # random order (which item goes left) and random horizontal flips
            swap = torch.rand(l.shape[0]) < 0.5
            l, r = torch.where(swap, r, l), torch.where(swap, l, r)
            flip = (torch.rand(l.shape[0]) < 0.5, torch.rand(l.shape[0]) < 0.5)
            xb = scenes(xtr, l, r, flip)
            loss = F.binary_cross_entropy_with_logits(model(xb), two_hot(ytr, l, r))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * xb.shape[0]
            seen += xb.shape[0]
        acc = evaluate(model, xte, yte, te_left, te_right)
        print(f'[{NAME}] epoch {epoch + 1}/{EPOCHS} loss {total / seen:.4f} test items {acc["items"]:.4f} '
              f'(left {acc["left"]:.4f}, right {acc["right"]:.4f}, both {acc["both"]:.4f}) '
              f'({time.time() - t0:.0f}s)', flush=True)
    model.eval()
    return model, params, acc, time.time() - t0


def export(model):
    warnings.filterwarnings('ignore', message='It is recommended that constant folding be turned off')
    path = os.path.join(tf.MODELS_DIR, f'{NAME}.onnx')
    torch.onnx.export(model, torch.zeros(2, 1, 28, 56), path, opset_version=tf.OPSET, input_names=['input'],
                      output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    tf.finish_export(path, NAME)


def write_pairs(yte):
    """models/two-item-pairs.json: the test scenes' item indices (left, right) in the Fashion-MNIST test split."""
    left, right = test_pairs(yte.numpy())
    path = os.path.join(tf.MODELS_DIR, 'two-item-pairs.json')
    with open(path, 'w') as f:
        f.write('{"split": "Fashion-MNIST test (t10k)", "rule": "scripts/train_two_item.py test_pairs",\n'
                ' "right": [' + ','.join(str(int(v)) for v in right) + ']}\n')
    return path


def write_metadata(params, acc):
    meta = {
        'name': NAME,
        'file': f'{NAME}.onnx',
        'description': DESCRIPTION,
        'dataset': 'Fashion-MNIST, two items of different classes side by side (28 x 56 scenes)',
        'labels': tf.LABELS,
        'task': 'multi-label: the two largest logits name the two items (sigmoid / BCE training)',
        'input': {'name': 'input', 'shape': [None, 1, 28, 56], 'layout': 'NCHW', 'channels': 'grayscale',
                  'valueRange': [0, 1], 'mean': [tf.MEAN], 'std': [tf.STD]},
        'output': {'name': 'logits'},
        'bounds': {'low': [(0 - tf.MEAN) / tf.STD], 'high': [(1 - tf.MEAN) / tf.STD]},
        'accuracy': {'test': round(acc['items'], 4),
                     'split': 'the 10,000 two-item test scenes of models/two-item-pairs.json: share of items whose '
                              'class is among the two largest logits',
                     'left': round(acc['left'], 4), 'right': round(acc['right'], 4),
                     'bothItems': round(acc['both'], 4),
                     'measuredBy': 'scripts/train_two_item.py (PyTorch)'},
        'training': {'command': '/usr/bin/python3 scripts/train_two_item.py', 'seed': tf.SEED, 'epochs': EPOCHS,
                     'torch': torch.__version__.split('a')[0].split('+')[0], 'parameters': params},
        'opset': tf.OPSET,
    }
    path = os.path.join(tf.MODELS_DIR, f'{NAME}.json')
    with open(path, 'w') as f:
        f.write(tf.format_json(meta) + '\n')
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1)')
    args = parser.parse_args()
    if not os.path.isdir(tf.DATA_DIR):
        print(f'{tf.DATA_DIR} not found: `apt-get install dataset-fashion-mnist` provides it', file=sys.stderr)
        sys.exit(1)
    torch.set_num_threads(args.threads)
    xtr, ytr = tf.load_split('train')
    xte, yte = tf.load_split('test')
    model, params, acc, secs = train((xtr, ytr, xte, yte))
    export(model)
    write_pairs(yte)
    write_metadata(params, acc)
    print(f'[{NAME}] done in {secs:.0f}s: items {acc["items"]:.4f}, both {acc["both"]:.4f}')


if __name__ == '__main__':
    main()
