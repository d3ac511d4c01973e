#!/usr/bin/python3
"""Train the small text classifier shipped as models/text-evidence.onnx on a synthetic "evidence words" task.

    /usr/bin/python3 scripts/train_text.py            # make the data, train, export, write metadata and test set

The task (seeded, built by this script, no download): 4 topics, each with 4 evidence words. A sentence has
8-24 words; all but a few are filler words shared by every topic. A sentence of topic c holds either
  * one evidence word of c (half the sentences), or
  * two evidence words of c, and in half of those also one "decoy" evidence word of another topic,
so the label is the topic with the most evidence words (a strict majority). The positions of the evidence words
(and of the decoy) are known exactly, so token-level explanations can be scored: the relevance mass on the
evidence tokens. The shipped test set models/samples/text-evidence.txt (one sentence per line) and its key
models/samples/text-evidence.json are built the same way with another seed.

Tokenisation: lower-case, split on whitespace, each word one id ([UNK] if not in the vocabulary); the ids are
[CLS] w1 ... wn [PAD] ... (fixed length 25 = 1 + 24). The graph input is `input_ids` int64 [N, 25]; the padding
mask is computed inside the graph from the ids (scores + (ids == [PAD]) * -10000 on the key axis), so the ids
are the only input. Output `logits` float32 [N, 4].

Model (explicit modules, so that scripts/golden/make_lxt_golden.py can run the same weights through LXT):
  nn.Embedding(V, 64) + learned position embedding (parameter 1 x 25 x 64)
  2 post-norm encoder layers (BERT style): x = LN(x + proj(attn(x))); x = LN(x + fc2(gelu(fc1(x))))
  attention: separate q, k, v nn.Linear, 4 heads, softmax(q k^T / sqrt(16) + mask) v
  CLS pooling x[:, 0], Linear(64, 4)
Exported at opset 17 (LayerNormalization) and 13 (decomposed layer norm).
"""

import argparse
import json
import math
import os
import random
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train_fashion as tf  # noqa: E402  (JSON formatting, Identity clean-up)

ROOT = tf.ROOT
MODELS_DIR = tf.MODELS_DIR
SAMPLES_DIR = os.path.join(MODELS_DIR, 'samples')
SEED = 0
TEST_SEED = 1
TRAIN_SIZE = 20000
TEST_SIZE = 1000
MIN_WORDS, MAX_WORDS = 8, 24
MAX_LEN = MAX_WORDS + 1
CONFIG = dict(dim=64, depth=2, heads=4, mlp=128)
EPOCHS = 2
LR = 2e-3
BATCH = 64
MASK_VALUE = -10000.0

SPECIALS = ['[PAD]', '[CLS]', '[UNK]']
LABELS = ['sports', 'weather', 'food', 'music']
EVIDENCE = {
    'sports': ['goal', 'referee', 'stadium', 'tournament'],
    'weather': ['rain', 'storm', 'forecast', 'sunny'],
    'food': ['pizza', 'recipe', 'delicious', 'bakery'],
    'music': ['guitar', 'concert', 'melody', 'drummer'],
}
FILLER = ('the a an of and to in is was it that on for with as at by from this we they he she you very quite '
          'yesterday today tomorrow people city morning evening night friend friends house street really said '
          'went saw thought about after before new old good big small long day week time place there here '
          'then also just some many most every other our their his her my your all when where while because '
          'so but or not only again always never often still around near into over under between during '
          'family neighbour school office train bus car road park river window door table book letter phone').split()
VOCAB = SPECIALS + FILLER + [w for c in LABELS for w in EVIDENCE[c]]
PAD, CLS, UNK = 0, 1, 2
WORD_ID = {w: i for i, w in enumerate(VOCAB)}


# ------------------------------------------------------------------------------------------ data

def make_example(rng):
    """One sentence: (words, label, evidence word indices, decoy word indices); indices are 0-based word positions
    (token position = index + 1, after [CLS])."""
    label = rng.randrange(len(LABELS))
    n = rng.randint(MIN_WORDS, MAX_WORDS)
    words = [rng.choice(FILLER) for _ in range(n)]
    k = 1 if rng.random() < 0.5 else 2
    decoy = k == 2 and rng.random() < 0.5
    slots = rng.sample(range(n), k + (1 if decoy else 0))
    own = EVIDENCE[LABELS[label]]
    picks = rng.sample(own, k)
    for s, w in zip(slots[:k], picks):
        words[s] = w
    decoys = []
    if decoy:
        other = rng.choice([c for c in range(len(LABELS)) if c != label])
        words[slots[k]] = rng.choice(EVIDENCE[LABELS[other]])
        decoys = [slots[k]]
    return words, label, sorted(slots[:k]), decoys


def encode(words):
    ids = [CLS] + [WORD_ID.get(w.lower(), UNK) for w in words][:MAX_WORDS]
    return ids + [PAD] * (MAX_LEN - len(ids))


def make_set(seed, size):
    rng = random.Random(seed)
    examples = [make_example(rng) for _ in range(size)]
    x = torch.tensor([encode(e[0]) for e in examples], dtype=torch.int64)
    y = torch.tensor([e[1] for e in examples], dtype=torch.int64)
    return examples, x, y


# ----------------------------------------------------------------------------------------- model

class SelfAttention(nn.Module):
    """Multi-head self-attention with separate q, k, v projections and an additive key-padding mask."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def split(self, t):
        n, s, _ = t.shape
        return t.reshape(n, s, self.heads, self.head_dim).transpose(1, 2)    # n, heads, s, head_dim

    def forward(self, x, mask):
        n, s, d = x.shape
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim) + mask  # mask: n, 1, 1, s
        out = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(n, s, d)
        return self.proj(out)


class EncoderLayer(nn.Module):
    """Post-norm (BERT-style) encoder layer with an exact GELU."""

    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.attn = SelfAttention(dim, heads)
        self.ln1 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mlp, dim)
        self.ln2 = nn.LayerNorm(dim)

    def forward(self, x, mask):
        x = self.ln1(x + self.attn(x, mask))
        return self.ln2(x + self.fc2(self.act(self.fc1(x))))


class TextClassifier(nn.Module):
    def __init__(self, vocab=len(VOCAB), dim=64, depth=2, heads=4, mlp=128, classes=len(LABELS), max_len=MAX_LEN):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        self.layers = nn.ModuleList([EncoderLayer(dim, heads, mlp) for _ in range(depth)])
        self.head = nn.Linear(dim, classes)

    def padding_mask(self, ids):
        return (ids == PAD).to(torch.float32)[:, None, None, :] * MASK_VALUE

    def forward(self, ids):
        mask = self.padding_mask(ids)
        x = self.embed(ids) + self.pos
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(x[:, 0])


def build():
    return TextClassifier(**CONFIG)


# -------------------------------------------------------------------------------------- training

@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def train(xtr, ytr, xte, yte):
    tf.seed_everything(SEED)
    model = build()
    steps = (xtr.shape[0] + BATCH - 1) // BATCH
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, epochs=EPOCHS, steps_per_epoch=steps, pct_start=0.1)
    t0 = time.time()
    acc = 0.0
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(xtr.shape[0])
        total = 0.0
        for i in range(steps):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, xte, yte)
        print(f'[text] epoch {epoch + 1}/{EPOCHS} loss {total / xtr.shape[0]:.4f} test {acc:.4f} '
              f'({time.time() - t0:.0f}s)', flush=True)
    model.eval()
    return model, acc


def export(model, opset, suffix):
    warnings.filterwarnings('ignore', message='It is recommended that constant folding be turned off')
    path = os.path.join(MODELS_DIR, f'text-evidence{suffix}.onnx')
    dummy = torch.tensor([encode('the goal was good'.split()), encode('rain in the city'.split())])
    torch.onnx.export(model, dummy, path, opset_version=opset, input_names=['input_ids'], output_names=['logits'],
                      dynamic_axes={'input_ids': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True)
    return tf.finish_export(path, 'text', opset)


def write_test_set(examples):
    os.makedirs(SAMPLES_DIR, exist_ok=True)
    with open(os.path.join(SAMPLES_DIR, 'text-evidence.txt'), 'w') as f:
        for words, _, _, _ in examples:
            f.write(' '.join(words) + '\n')
    key = {
        'description': 'Key of text-evidence.txt (line i = examples[i]). evidence / decoys are 0-based WORD indices '
                       'in the line; the token position in input_ids is index + 1 ([CLS] is position 0).',
        'seed': TEST_SEED, 'command': '/usr/bin/python3 scripts/train_text.py',
        'labels': LABELS,
        'examples': [{'label': label, 'evidence': ev, 'decoys': dc} for _, label, ev, dc in examples],
    }
    text = tf.format_json({k: v for k, v in key.items() if k != 'examples'})[:-2]
    rows = ',\n'.join('    ' + json.dumps(e) for e in key['examples'])       # one example per line
    with open(os.path.join(SAMPLES_DIR, 'text-evidence.json'), 'w') as f:
        f.write(text + ',\n  "examples": [\n' + rows + '\n  ]\n}\n')


def write_metadata(suffix, opset, params, acc, hist):
    meta = {
        'name': f'text-evidence{suffix}',
        'file': f'text-evidence{suffix}.onnx',
        'description': 'Transformer text classifier: token embedding + learned position embedding, 2 post-norm '
                       'encoder layers (4-head self-attention with separate q/k/v Linear and an in-graph key '
                       'padding mask, LayerNorm, Linear 128 -> GELU(erf) -> Linear 64, LayerNorm, residual Adds), '
                       'CLS pooling, Linear 4',
        'dataset': 'synthetic evidence-words task (scripts/train_text.py)',
        'labels': LABELS,
        'input': {'name': 'input_ids', 'shape': [None, MAX_LEN], 'dtype': 'int64', 'kind': 'tokens'},
        'output': {'name': 'logits'},
        'tokenizer': {'kind': 'word', 'lowercase': True, 'split': 'whitespace', 'maxLength': MAX_LEN,
                      'prepend': '[CLS]', 'padding': 'right', 'truncation': 'right',
                      'cls': CLS, 'pad': PAD, 'unk': UNK, 'vocabulary': VOCAB},
        'task': {
            'evidence': EVIDENCE,
            'words': [MIN_WORDS, MAX_WORDS],
            'rule': 'a sentence of topic c has 1 evidence word of c (p = 0.5) or 2 (p = 0.5); a sentence with 2 '
                    'also holds, with p = 0.5, one decoy evidence word of another topic; every other word is '
                    'filler. The label is the topic with the most evidence words.',
            'trainSize': TRAIN_SIZE, 'trainSeed': SEED,
            'testSet': {'text': 'samples/text-evidence.txt', 'key': 'samples/text-evidence.json',
                        'size': TEST_SIZE, 'seed': TEST_SEED},
        },
        'accuracy': {'test': round(acc, 4), 'split': f'samples/text-evidence.txt ({TEST_SIZE} sentences)',
                     'measuredBy': 'scripts/train_text.py (PyTorch)'},
        'training': {'command': '/usr/bin/python3 scripts/train_text.py', 'seed': SEED, 'epochs': EPOCHS,
                     'torch': torch.__version__.split('a')[0].split('+')[0], 'parameters': params},
        'opset': opset,
        'architecture': {'kind': 'text-encoder', 'dim': CONFIG['dim'], 'depth': CONFIG['depth'],
                         'heads': CONFIG['heads'], 'mlp': CONFIG['mlp'], 'norm': 'post', 'pooling': 'cls',
                         'activation': 'gelu (erf)', 'layerNormEpsilon': 1e-5, 'maskValue': MASK_VALUE,
                         'ops': dict(sorted(hist.items()))},
    }
    with open(os.path.join(MODELS_DIR, f'text-evidence{suffix}.json'), 'w') as f:
        f.write(tf.format_json(meta) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _, xtr, ytr = make_set(SEED, TRAIN_SIZE)
    test, xte, yte = make_set(TEST_SEED, TEST_SIZE)
    train_rows = {tuple(r) for r in xtr.tolist()}
    overlap = sum(tuple(r) in train_rows for r in xte.tolist())
    print(f'[text] vocabulary {len(VOCAB)}, train {TRAIN_SIZE}, test {TEST_SIZE} ({overlap} test sentences also in train)')
    model, acc = train(xtr, ytr, xte, yte)
    params = sum(p.numel() for p in model.parameters())
    cache = os.environ.get('ONNX_LRP_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'onnx-lrp')
    os.makedirs(cache, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(cache, 'text-evidence.pt'))
    write_test_set(test)
    for opset, suffix in ((17, ''), (13, '-op13')):
        hist = export(model, opset, suffix)
        write_metadata(suffix, opset, params, acc, hist)


if __name__ == '__main__':
    main()
