#!/usr/bin/python3
"""Golden relevance maps made by LXT itself (AttnLRP's authors' library) for the shipped transformers.

    /usr/bin/python3 scripts/golden/make_lxt_golden.py --lxt /work/scratch/lxt      # or LXT_SRC=/work/scratch/lxt

Runs models/fashion-vit.onnx and models/text-evidence.onnx (weights read back from the ONNX files, so the goldens
are those of the shipped graphs) in float64 through a forward that calls LXT's explicit rule functions, for the
composites `attnlrp` and `cp_lrp`, and writes spec/fixtures/lxt/<model>-<composite>.json. Not run in CI; LXT is
never vendored or installed. See scripts/golden/README.md ("LXT goldens") for the conventions and the JSON format.

LXT is pinned to commit LXT_COMMIT: the script checks the sha256 of every LXT file it imports and refuses others.
LXT's package __init__ imports its Hugging Face patches (transformers), so the pure-torch files
lxt/explicit/functional.py and lxt/explicit/rules.py are imported directly with importlib under their own module
names, with empty stand-ins for the packages `lxt` and `lxt.explicit` (their __init__ files are not run).
Shim (Debian's torch 1.13): rules.py does `from torch.func import jvp, vjp`; torch 1.13 has no torch.func, so
`torch.func` is aliased to functorch 1.13 (which has both). jvp/vjp are only used by rules LXT's
TaylorDecompositionRule needs, which this script does not call.
"""

import argparse
import hashlib
import importlib.util
import json
import math
import os
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

LXT_COMMIT = 'f04344177551bfcc3665e88afe96501f43fe560b'
LXT_SHA256 = {
    'lxt/explicit/functional.py': 'f4e153eac07b218c42a6106e441a14caecc8dcf94435db9e087f3c7cf36bb968',
    'lxt/explicit/rules.py': '1f888a77629dc232641d7b86ffe4b83b089b6ce4f7e24651ac1f1848ce066076',
}
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
OUT_DIR = os.path.join(REPO, 'spec', 'fixtures', 'lxt')
MODELS_DIR = os.path.join(REPO, 'models')
sys.path.insert(0, os.path.join(REPO, 'scripts'))
torch.set_num_threads(1)

# epsilon values: those LXT's functions use when called as its own models call them (see the README)
EPS_LINEAR = 1e-6          # lf.linear_epsilon default
EPS_CONV = 1e-6            # rules.epsilon_lrp(conv2d, 1e-6, x): the patch embedding, as a linear layer
EPS_LAYERNORM = 1e-6       # layer_norm_grad_fn.forward default (lf.layer_norm cannot change it)
EPS_MATMUL = 1e-8          # lf.matmul default
EPS_ADD = 1e-8             # lf.add2 default
EPS_CP_AV = 1e-6           # special.multi_head_attention_cp: rules.epsilon_lrp(torch.matmul, 1e-6, A.detach(), v)


# ------------------------------------------------------------------------------------------ LXT

def load_lxt(root):
    """Imports lxt.explicit.functional and lxt.explicit.rules from `root` after checking their sha256."""
    for rel, want in LXT_SHA256.items():
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            sys.exit(f'{path}: missing; extract LXT commit {LXT_COMMIT} to {root}')
        got = hashlib.sha256(open(path, 'rb').read()).hexdigest()
        if got != want:
            sys.exit(f'{path}: sha256 {got} is not that of LXT commit {LXT_COMMIT}')
    if not hasattr(torch, 'func'):
        import functorch
        torch.func = functorch
        sys.modules['torch.func'] = functorch
    for pkg in ('lxt', 'lxt.explicit'):
        mod = types.ModuleType(pkg)
        mod.__path__ = [os.path.join(root, *pkg.split('.'))]
        sys.modules[pkg] = mod
    loaded = {}
    for name in ('functional', 'rules'):
        full = f'lxt.explicit.{name}'
        spec = importlib.util.spec_from_file_location(full, os.path.join(root, 'lxt', 'explicit', f'{name}.py'))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[full] = mod
        spec.loader.exec_module(mod)
        setattr(sys.modules['lxt.explicit'], name, mod)
        loaded[name] = mod
    return loaded['functional'], loaded['rules']


# --------------------------------------------------------------------------- weights from ONNX

def load_weights_from_onnx(model, path):
    """Sets every parameter of `model` from the ONNX file's initializers. torch.onnx.export keeps a parameter's
    name when the parameter is used as is (embeddings, Conv, LayerNorm, biases, Gemm); an nn.Linear applied to a
    3-D tensor becomes MatMul(x, W^T) + Add(bias) with W^T stored under a generated name, found here through the
    Add that adds '<linear>.bias' to that MatMul's output. Every parameter must be found."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    linear_weight = {}
    for n in graph.node:
        if n.op_type != 'Add':
            continue
        bias = [i for i in n.input if i in inits and i.endswith('.bias')]
        live = [i for i in n.input if i not in inits]
        if len(bias) == 1 and len(live) == 1 and live[0] in producer and producer[live[0]].op_type == 'MatMul':
            mm = producer[live[0]]
            if mm.input[1] in inits:
                linear_weight[bias[0][:-len('.bias')] + '.weight'] = inits[mm.input[1]].T
    with torch.no_grad():
        for name, p in model.named_parameters():
            a = inits.get(name)
            if a is None:
                a = linear_weight.get(name)
            if a is None or tuple(a.shape) != tuple(p.shape):
                raise SystemExit(f'{path}: no initializer for parameter {name} {tuple(p.shape)}')
            p.copy_(torch.from_numpy(np.ascontiguousarray(a)))
    return model


# ------------------------------------------------------------------------------------- forwards

class Recorder:
    """Sums of the relevance reaching chosen tensors of the forward (tensor hooks; a hook sees the total the
    tensor receives from all its uses)."""

    def __init__(self):
        self.sums = {}
        self.per_token = {}

    def record(self, name, g):
        self.sums[name] = g.sum(dim=tuple(range(1, g.ndim)))
        self.per_token[name] = g.sum(-1)                  # [N, tokens]: summed over the model width

    def watch(self, name, t):
        if t.requires_grad:
            t.register_hook(lambda g, name=name: self.record(name, g.detach()))
        return t


def attention_lxt(lf, rules, cp, x_q, x_k, v, heads, head_dim, mask=None):
    """softmax(q k^T / sqrt(d) [+ mask]) v on [n, heads, s, head_dim] tensors, with LXT's rules.
    attnlrp: lf.matmul (epsilon 1e-8 + even split) for q k^T and A v, lf.mul2 (identity) for the scaling,
    lf.add2 for the mask (as LXT's BERT), lf.softmax (LXT's softmax rule).
    cp_lrp: q, k, the mask and the softmax under no_grad; A v by rules.epsilon_lrp(torch.matmul, 1e-6, A, v)
    (exactly LXT's special.multi_head_attention_cp)."""
    if cp:
        with torch.no_grad():
            s = torch.matmul(x_q, x_k.transpose(-2, -1)) / math.sqrt(head_dim)
            if mask is not None:
                s = s + mask
            a = torch.softmax(s, -1)
        return rules.epsilon_lrp(torch.matmul, EPS_CP_AV, a.detach(), v)
    s = lf.matmul(x_q, x_k.transpose(-2, -1))
    s = lf.mul2(s, 1 / math.sqrt(head_dim))
    if mask is not None:
        s = lf.add2(s, mask.expand_as(s))
    a = lf.softmax(s, -1)
    return lf.matmul(a, v)


def vit_forward_lxt(m, x, lf, rules, cp, rec):
    """The ViT of scripts/train_vit.py, with LXT's rules (see attention_lxt)."""
    pe = m.patch_embed
    h = rules.epsilon_lrp(lambda t: F.conv2d(t, pe.weight, pe.bias, stride=pe.stride), EPS_CONV, x)
    h = h.flatten(2).transpose(1, 2)
    h = torch.cat([m.cls.expand(h.shape[0], -1, -1), h], dim=1)
    rec.watch('tokens', h)
    h = lf.add2(h, m.pos.expand_as(h))
    for i, blk in enumerate(m.blocks):
        rec.watch(f'block{i}.input', h)
        a = blk.attn
        t = lf.layer_norm(h, blk.ln1.weight, blk.ln1.bias, blk.ln1.eps)
        n, s, d = t.shape
        qkv = lf.linear_epsilon(t, a.qkv.weight, a.qkv.bias)
        qkv = qkv.reshape(n, s, 3, a.heads, a.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        o = attention_lxt(lf, rules, cp, q, k, v, a.heads, a.head_dim)
        o = lf.linear_epsilon(o.transpose(1, 2).reshape(n, s, d), a.proj.weight, a.proj.bias)
        h = lf.add2(h, o)
        t = lf.layer_norm(h, blk.ln2.weight, blk.ln2.bias, blk.ln2.eps)
        t = lf.linear_epsilon(t, blk.fc1.weight, blk.fc1.bias)
        t = rules.identity(F.gelu, t)
        t = lf.linear_epsilon(t, blk.fc2.weight, blk.fc2.bias)
        h = lf.add2(h, t)
    rec.watch('final.input', h)
    h = lf.layer_norm(h, m.norm.weight, m.norm.bias, m.norm.eps)
    return lf.linear_epsilon(h[:, 0], m.head.weight, m.head.bias)


def text_forward_lxt(m, e, mask, lf, rules, cp, rec):
    """The text classifier of scripts/train_text.py from its token embeddings `e` (the relevance leaf)."""
    h = lf.add2(e, m.pos.expand_as(e))
    for i, layer in enumerate(m.layers):
        rec.watch(f'layer{i}.input', h)
        a = layer.attn
        n, s, d = h.shape
        q = a.split(lf.linear_epsilon(h, a.q.weight, a.q.bias))
        k = a.split(lf.linear_epsilon(h, a.k.weight, a.k.bias))
        v = a.split(lf.linear_epsilon(h, a.v.weight, a.v.bias))
        o = attention_lxt(lf, rules, cp, q, k, v, a.heads, a.head_dim, mask)
        o = lf.linear_epsilon(o.transpose(1, 2).reshape(n, s, d), a.proj.weight, a.proj.bias)
        h = lf.layer_norm(lf.add2(h, o), layer.ln1.weight, layer.ln1.bias, layer.ln1.eps)
        t = lf.linear_epsilon(h, layer.fc1.weight, layer.fc1.bias)
        t = rules.identity(F.gelu, t)
        t = lf.linear_epsilon(t, layer.fc2.weight, layer.fc2.bias)
        h = lf.layer_norm(lf.add2(h, t), layer.ln2.weight, layer.ln2.bias, layer.ln2.eps)
    rec.watch('final.input', h)
    return lf.linear_epsilon(h[:, 0], m.head.weight, m.head.bias)


# ------------------------------------------------------------------------------------- running

COMPOSITES = {'attnlrp': False, 'cp_lrp': True}


def seed_relevance(out, targets):
    """The project's default `logit` output relevance: the target logit at the target, 0 elsewhere."""
    seed = torch.zeros_like(out)
    idx = torch.arange(out.shape[0])
    seed[idx, targets] = out[idx, targets].detach()
    return seed


def lst(t, digits=None):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def vit_cases(lf, rules, onnx_path):
    import train_vit as tv
    import train_fashion as tf
    model = load_weights_from_onnx(tv.build(), onnx_path).eval()
    samples = json.load(open(os.path.join(MODELS_DIR, 'samples', 'samples.json')))
    picks = [s for s in samples if s['label'] in (0, 3, 7, 9)]   # the shipped sample PNGs of these classes
    xte, yte = tf.load_split('test')
    indices = [s['testIndex'] for s in picks]
    x32 = xte[indices]
    with torch.no_grad():
        logits32 = model(x32)
    top2 = logits32.topk(2, dim=1).indices
    targets = top2[:, 0].clone()
    targets[-1] = top2[-1, 1]            # the last sample explains its runner-up class
    m64 = tv.build()
    m64.load_state_dict(model.state_dict())
    m64 = m64.double().eval()
    for p in m64.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        plain64 = m64(x32.double())
    results = {}
    for comp, cp in COMPOSITES.items():
        rec = Recorder()
        x = x32.double().clone().requires_grad_(True)
        out = vit_forward_lxt(m64, x, lf, rules, cp, rec)
        check_forward('fashion-vit', comp, out, plain64, logits32)
        seed = seed_relevance(out, targets)
        out.backward(seed)
        rel = x.grad.detach()
        # LXT's own float32 run of the same rules: how well conditioned each sample is in float32
        x_32 = x32.clone().requires_grad_(True)
        out32 = vit_forward_lxt(model, x_32, lf, rules, cp, Recorder())
        out32.backward(seed_relevance(out32, targets))
        rel32 = x_32.grad.detach().double()
        dev32 = relative_l2(rel32, rel)
        results[comp] = {
            'samples': [{
                'testIndex': int(indices[i]), 'label': int(yte[indices[i]]),
                'input': lst(x32[i]), 'target': int(targets[i]), 'logits': lst(logits32[i]),
                'relevance': lst(rel[i]), 'float32Deviation': float(dev32[i]), 'relevanceFloat32': lst(rel32[i]),
                'outputSum': float(seed[i].sum()), 'inputSum': float(rel[i].sum()),
                'sums': {k: float(v[i]) for k, v in rec.sums.items()},
                'tokenSums': {k: lst(v[i]) for k, v in rec.per_token.items()},
            } for i in range(len(indices))],
            'inputShape': [1, 1, 28, 28],
        }
    return results


def text_cases(lf, rules, onnx_path):
    import train_text as tt
    model = load_weights_from_onnx(tt.build(), onnx_path).eval()
    lines = open(os.path.join(MODELS_DIR, 'samples', 'text-evidence.txt')).read().splitlines()
    key = json.load(open(os.path.join(MODELS_DIR, 'samples', 'text-evidence.json')))['examples']
    # first sentences of the test set with: one evidence word, two, two plus a decoy; plus the first with a decoy
    chosen = []
    for want in ((1, 0), (2, 0), (2, 1)):
        chosen.append(next(i for i, k in enumerate(key) if (len(k['evidence']), len(k['decoys'])) == want))
    chosen.append(next(i for i, k in enumerate(key) if len(k['decoys']) == 1 and i not in chosen))
    ids = torch.tensor([tt.encode(lines[i].split()) for i in chosen], dtype=torch.int64)
    with torch.no_grad():
        logits32 = model(ids)
    top2 = logits32.topk(2, dim=1).indices
    targets = top2[:, 0].clone()
    targets[-1] = top2[-1, 1]
    m64 = tt.build()
    m64.load_state_dict(model.state_dict())
    m64 = m64.double().eval()
    for p in m64.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        plain64 = m64.head.weight.new_zeros(1)  # placeholder, replaced below
        mask64 = m64.padding_mask(ids).double()
        h = m64.embed(ids) + m64.pos
        for layer in m64.layers:
            h = layer(h, mask64)
        plain64 = m64.head(h[:, 0])
    results = {}
    for comp, cp in COMPOSITES.items():
        rec = Recorder()
        e = m64.embed(ids).detach().clone().requires_grad_(True)
        out = text_forward_lxt(m64, e, mask64, lf, rules, cp, rec)
        check_forward('text-evidence', comp, out, plain64, logits32)
        seed = seed_relevance(out, targets)
        out.backward(seed)
        rel = e.grad.detach()
        per_token = rel.sum(-1)
        results[comp] = {
            'samples': [{
                'line': int(chosen[i]), 'text': lines[chosen[i]], 'label': int(key[chosen[i]]['label']),
                'evidence': [p + 1 for p in key[chosen[i]]['evidence']],
                'decoys': [p + 1 for p in key[chosen[i]]['decoys']],
                'ids': [int(v) for v in ids[i].tolist()], 'tokens': [tt.VOCAB[v] for v in ids[i].tolist()],
                'target': int(targets[i]), 'logits': lst(logits32[i]),
                'relevance': lst(per_token[i]),
                'outputSum': float(seed[i].sum()), 'inputSum': float(per_token[i].sum()),
                'sums': {k: float(v[i]) for k, v in rec.sums.items()},
                'tokenSums': {k: lst(v[i]) for k, v in rec.per_token.items()},
            } for i in range(len(chosen))],
        }
    return results


def relative_l2(a, b):
    """Per sample: ||a - b|| / ||b|| over all but the first axis."""
    n = a.shape[0]
    return ((a - b).reshape(n, -1).norm(dim=1) / b.reshape(n, -1).norm(dim=1)).tolist()


def check_forward(name, comp, out, plain64, logits32):
    d64 = (out.detach() - plain64).abs().max().item()
    d32 = (out.detach() - logits32.double()).abs().max().item()
    scale = logits32.abs().max().item()
    print(f'{name} {comp}: LXT forward vs torch float64 {d64:.2e}, vs torch float32 {d32:.2e} (|logits| <= {scale:.1f})')
    if d64 > 1e-9 or d32 > 1e-5 * max(1.0, scale):
        raise SystemExit(f'{name} {comp}: the LXT forward does not reproduce the model')


RULES_USED = {
    'linear': 'lxt.explicit.functional.linear_epsilon (epsilon 1e-6, bias in z)',
    'patchEmbedding': 'lxt.explicit.rules.epsilon_lrp(conv2d, 1e-6, x) (bias in z)',
    'layerNorm': 'lxt.explicit.functional.layer_norm (std detached, epsilon 1e-6 on y, affine bias in y)',
    'matmul': 'lxt.explicit.functional.matmul (attnlrp: q k^T and A v; n = R / (2z + 1e-8), even split)',
    'scale': 'lxt.explicit.functional.mul2 with the constant 1/sqrt(head_dim) (identity)',
    'softmax': 'lxt.explicit.functional.softmax (R_in = x * (R - s * sum R))',
    'gelu': 'lxt.explicit.rules.identity',
    'residual': 'lxt.explicit.functional.add2 (epsilon 1e-8)',
    'positionEmbedding': 'lxt.explicit.functional.add2 (epsilon 1e-8); the embedding parameter share is dropped',
    'mask': 'lxt.explicit.functional.add2 (text model, attnlrp; as LXT BERT adds its attention mask)',
    'cpAttention': 'cp_lrp: q, k, mask, softmax under no_grad; rules.epsilon_lrp(torch.matmul, 1e-6, A.detach(), v) '
                   '(lxt.explicit.special.multi_head_attention_cp)',
    'pooling': 'CLS token x[:, 0] (plain indexing: relevance of the other tokens at the last layer is 0)',
}


def write(out_dir, model, comp, onnx_files, res, extra):
    doc = {
        'format': 'onnx-lrp LXT golden v1 (see scripts/golden/README.md, "LXT goldens")',
        'generator': 'scripts/golden/make_lxt_golden.py',
        'lxt': {'commit': LXT_COMMIT, 'files': LXT_SHA256},
        'torch': torch.__version__,
        'model': model, 'onnx': onnx_files, 'composite': comp,
        'outputRelevance': 'logit',
        'dtype': 'float64 (weights and input are the float32 values, widened)',
        'rules': {k: v for k, v in RULES_USED.items() if not (comp == 'attnlrp' and k == 'cpAttention')},
        **extra, **res,
    }
    path = os.path.join(out_dir, f'{model}-{comp}.json')
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1)
        f.write('\n')
    print(f'wrote {os.path.relpath(path, REPO)} ({os.path.getsize(path)} bytes)')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--lxt', default=os.environ.get('LXT_SRC', '/work/scratch/lxt'),
                    help='extracted LXT source tree (default $LXT_SRC or /work/scratch/lxt)')
    ap.add_argument('--out', default=OUT_DIR)
    ap.add_argument('--models', default='fashion-vit,text-evidence')
    args = ap.parse_args()
    lf, rules = load_lxt(args.lxt)
    os.makedirs(args.out, exist_ok=True)
    wanted = args.models.split(',')
    if 'fashion-vit' in wanted:
        res = vit_cases(lf, rules, os.path.join(MODELS_DIR, 'fashion-vit.onnx'))
        for comp, r in res.items():
            write(args.out, 'fashion-vit', comp, ['models/fashion-vit.onnx', 'models/fashion-vit-op13.onnx'], r,
                  {'input': {'name': 'input', 'kind': 'image', 'normalised': '(pixel / 255 - 0.286) / 0.353'},
                   'relevanceAt': 'input pixels (through the patch-embedding Conv)'})
    if 'text-evidence' in wanted:
        res = text_cases(lf, rules, os.path.join(MODELS_DIR, 'text-evidence.onnx'))
        for comp, r in res.items():
            write(args.out, 'text-evidence', comp, ['models/text-evidence.onnx', 'models/text-evidence-op13.onnx'],
                  r, {'input': {'name': 'input_ids', 'kind': 'tokens', 'dtype': 'int64'},
                      'relevanceAt': 'embedding output, summed over the embedding width (one value per token)'})


if __name__ == '__main__':
    main()
