#!/usr/bin/python3
"""Small random-weight transformer graphs for the canonizer specs: spec/fixtures/transformer/.

    /usr/bin/python3 scripts/export_transformer_fixtures.py [--out DIR]

Each case is a tiny seeded PyTorch module (dim 16, sequence 5, batch 2) exported with torch.onnx.export at opsets
13, 14 and 17 (Debian's torch 1.13 exports nothing newer) as `<case>-op<N>.onnx`, eval mode, constant folding on,
static shapes. Beside them: `<case>.<input>.npy` (the seeded input, one file per graph input, shared by the
opsets) and `<case>.output.npy` (PyTorch's float32 output for it); `manifest.json` lists every case, its inputs
(name, shape, dtype), its output shape, the opsets written, the op types of each file, and the combinations that
torch 1.13 could not export with the exception message. README.md beside the files is generated from the same
data (plus the node structure of the shipped transformers in models/). Not run in CI; run again only when a case
changes, then review and commit the files.
"""

import argparse
import json
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, 'spec', 'fixtures', 'transformer')
OPSETS = (13, 14, 17)
SEED = 0
D, S, N, HEADS = 16, 5, 2, 2


def randomise(module):
    """Seeded random weights N(0, 1/fan_in) (nn.TransformerEncoder clones its layer, so the copies would be equal
    and torch.onnx.export would share them through Identity nodes), random biases (PyTorch zero-initialises many)
    and a random LayerNorm affine, so every term matters."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                p.normal_(0, 1 / math.sqrt(p[0].numel()))
            elif name.endswith('bias'):
                p.normal_(0, 0.1)
            elif isinstance(dict(module.named_modules()).get(name.rsplit('.', 1)[0]), nn.LayerNorm) and name.endswith('weight'):
                p.uniform_(0.5, 1.5)
    return module


class EncoderLayer(nn.Module):
    """nn.TransformerEncoderLayer (dropout 0); the input layout follows batch_first."""

    def __init__(self, batch_first, norm_first, activation='relu'):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=32, dropout=0.0, activation=activation,
                                                batch_first=batch_first, norm_first=norm_first)

    def forward(self, x):
        return self.layer(x)


class Encoder2(nn.Module):
    """nn.TransformerEncoder of two layers (batch_first) with a final LayerNorm."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=32, dropout=0.0, batch_first=True, activation='gelu')
        self.enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D), enable_nested_tensor=False)

    def forward(self, x):
        return self.enc(x)


class MHA(nn.Module):
    """nn.MultiheadAttention alone, self-attention, batch_first, need_weights=False."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(D, HEADS, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


class HandAttention(nn.Module):
    """Hand-written attention: fused QKV Linear split with chunk, multi-head reshapes, scaling by a Mul
    (or Div) of 1/sqrt(d), optional additive mask input [N, 1, S, S] or causal mask from triu + where."""

    def __init__(self, mask='none', scale='div'):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)
        self.mask, self.scale = mask, scale
        self.hd = D // HEADS

    def heads(self, t):
        return t.reshape(t.shape[0], t.shape[1], HEADS, self.hd).transpose(1, 2)

    def forward(self, x, mask=None):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = self.heads(q), self.heads(k), self.heads(v)
        s = q @ k.transpose(-2, -1)
        s = s / math.sqrt(self.hd) if self.scale == 'div' else s * (1.0 / math.sqrt(self.hd))
        if self.mask == 'additive':
            s = s + mask
        elif self.mask == 'causal':
            upper = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
            s = torch.where(upper, torch.tensor(float('-inf')), s)
        elif self.mask == 'causal_trilu':
            s = s + torch.triu(torch.full_like(s, -1e4), diagonal=1)
        elif self.mask == 'causal_fill':
            upper = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
            s = s.masked_fill(upper, -1e4)
        a = torch.softmax(s, dim=-1)
        o = (a @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], D)
        return self.out(o)


class MLP(nn.Module):
    """LayerNorm -> Linear 16->32 -> activation -> Linear 32->16 on [N, S, D]."""

    def __init__(self, act):
        super().__init__()
        self.ln = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, 32)
        self.act = act
        self.fc2 = nn.Linear(32, D)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(self.ln(x))))


class RMSNorm(nn.Module):
    """RMSNorm written by hand (Llama style): x * rsqrt(mean(x^2) + eps) * w, or with / sqrt(...)."""

    def __init__(self, form='rsqrt'):
        super().__init__()
        self.w = nn.Parameter(torch.empty(D).uniform_(0.5, 1.5))
        self.fc = nn.Linear(D, D)
        self.form = form

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        if self.form == 'rsqrt':
            y = x * torch.rsqrt(var + 1e-6)
        else:
            y = x / torch.sqrt(var + 1e-6)
        return self.fc(self.w * y)


class EmbedMeanPool(nn.Module):
    """Token ids (int64) -> nn.Embedding(50, 16) + a sinusoidal position table (a constant buffer) -> LayerNorm
    -> Linear -> mean over the tokens -> Linear(16, 3)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, D)
        pos = torch.arange(S, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, D, 2, dtype=torch.float32) * (-math.log(10000.0) / D))
        table = torch.zeros(S, D)
        table[:, 0::2] = torch.sin(pos * freq)
        table[:, 1::2] = torch.cos(pos * freq)
        self.register_buffer('sinusoid', table)
        self.ln = nn.LayerNorm(D)
        self.fc = nn.Linear(D, D)
        self.head = nn.Linear(D, 3)

    def forward(self, ids):
        x = self.ln(self.embed(ids) + self.sinusoid)
        return self.head(torch.relu(self.fc(x)).mean(dim=1))


class TinyViT(nn.Module):
    """A tiny ViT on [N, 1, 8, 8]: 4x4 patches embedded by a Conv with stride = kernel (`patch='conv'`) or by
    Reshape/Transpose + Linear (`'linear'`), a CLS token prepended by Concat of its Expand, a learned position
    embedding (an initializer Added), one pre-norm nn.TransformerEncoderLayer (GELU), a final LayerNorm, pooling by
    the CLS token (`pool='gather'`: x[:, 0]; `'slice'`: x[:, :1] flattened) or the mean over tokens (`'mean'`),
    then Linear(16, 3)."""

    def __init__(self, patch='conv', pool='gather'):
        super().__init__()
        self.patch, self.pool = patch, pool
        self.conv = nn.Conv2d(1, D, 4, stride=4) if patch == 'conv' else None
        self.proj = nn.Linear(16, D) if patch == 'linear' else None
        self.cls = nn.Parameter(torch.randn(1, 1, D))
        self.pos = nn.Parameter(torch.randn(1, 5, D))
        self.layer = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=32, dropout=0.0, activation='gelu',
                                                batch_first=True, norm_first=True)
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, 3)

    def forward(self, x):
        n = x.shape[0]
        if self.patch == 'conv':
            t = self.conv(x).flatten(2).transpose(1, 2)                       # [N, 4, D]
        else:
            t = x.reshape(n, 1, 2, 4, 2, 4).permute(0, 2, 4, 1, 3, 5).reshape(n, 4, 16)
            t = self.proj(t)
        t = torch.cat([self.cls.expand(n, -1, -1), t], dim=1) + self.pos
        t = self.ln(self.layer(t))
        if self.pool == 'gather':
            t = t[:, 0]
        elif self.pool == 'slice':
            t = t[:, :1].reshape(n, D)
        else:
            t = t.mean(dim=1)
        return self.head(t)


class BoolMaskAttention(HandAttention):
    """Hand-written attention with a boolean key-padding mask input [N, 1, 1, S] (True: masked), applied by
    masked_fill(-1e4) (a Where on the input)."""

    def __init__(self):
        super().__init__('none', 'div')

    def forward(self, x, mask):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = self.heads(q), self.heads(k), self.heads(v)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        a = torch.softmax(s.masked_fill(mask, -1e4), dim=-1)
        o = (a @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], D)
        return self.out(o)


def image_input():
    g = torch.Generator().manual_seed(SEED + 3)
    return torch.randn(N, 1, 8, 8, generator=g)


def bool_mask():
    """[N, 1, 1, S]: the last key of sample 0 and the last two of sample 1 masked."""
    m = torch.zeros(N, 1, 1, S, dtype=torch.bool)
    m[0, ..., -1:] = True
    m[1, ..., -2:] = True
    return m


def token_input():
    g = torch.Generator().manual_seed(SEED + 2)
    return torch.randint(0, 50, (N, S), generator=g)


def seq_input(batch_first=True):
    g = torch.Generator().manual_seed(SEED + 1)
    x = torch.randn(N, S, D, generator=g)
    return x if batch_first else x.transpose(0, 1).contiguous()


def additive_mask():
    """[N, 1, S, S]: 0 where allowed, -10000 on the last key of sample 0 and the last two keys of sample 1."""
    m = torch.zeros(N, 1, S, S)
    m[0, :, :, -1:] = -1e4
    m[1, :, :, -2:] = -1e4
    return m


# name -> (constructor, inputs {name: tensor}, description)
def cases():
    c = {}
    for bf in (True, False):
        for nf in (False, True):
            name = f'encoder_layer_bf{int(bf)}_nf{int(nf)}'
            c[name] = (lambda bf=bf, nf=nf: EncoderLayer(bf, nf), {'x': seq_input(bf)},
                       f'nn.TransformerEncoderLayer(16, 2 heads, ff 32, ReLU, dropout 0, batch_first={bf}, '
                       f'norm_first={nf})')
    c['encoder_layer_gelu'] = (lambda: EncoderLayer(True, False, 'gelu'), {'x': seq_input()},
                               'nn.TransformerEncoderLayer(16, 2 heads, ff 32, activation="gelu", batch_first=True)')
    c['encoder2'] = (Encoder2, {'x': seq_input()},
                     'nn.TransformerEncoder: 2 layers (batch_first, GELU, post-norm) + final LayerNorm')
    c['mha'] = (MHA, {'x': seq_input()}, 'nn.MultiheadAttention(16, 2 heads, batch_first=True) self-attention')
    c['attn_hand'] = (lambda: HandAttention('none', 'mul'), {'x': seq_input()},
                      'hand-written attention, fused QKV Linear + chunk, scale by Mul(1/sqrt(8)), no mask')
    c['attn_mask_input'] = (lambda: HandAttention('additive', 'div'), {'x': seq_input(), 'mask': additive_mask()},
                            'hand-written attention, scale by Div(sqrt(8)), additive float mask input [2,1,5,5]')
    c['attn_causal_where'] = (lambda: HandAttention('causal', 'div'), {'x': seq_input()},
                              'hand-written attention, causal mask: torch.triu(ones bool, 1) + torch.where(-inf)')
    c['attn_causal_fill'] = (lambda: HandAttention('causal_fill', 'div'), {'x': seq_input()},
                             'hand-written attention, causal mask: torch.triu(ones bool, 1) + masked_fill(-1e4)')
    c['attn_causal_trilu'] = (lambda: HandAttention('causal_trilu', 'div'), {'x': seq_input()},
                              'hand-written attention, causal mask: s + torch.triu(torch.full_like(s, -1e4), 1) '
                              '(a Trilu on a tensor shaped like the scores)')
    c['embed_meanpool'] = (EmbedMeanPool, {'ids': token_input()},
                           'int64 ids -> nn.Embedding(50, 16) + sinusoidal position constant -> LayerNorm -> Linear '
                           '-> ReLU -> mean over tokens -> Linear(16, 3)')
    c['mlp_gelu'] = (lambda: MLP(nn.GELU()), {'x': seq_input()}, 'LayerNorm, Linear, GELU (exact, erf), Linear')
    c['mlp_gelu_tanh'] = (lambda: MLP(nn.GELU(approximate='tanh')), {'x': seq_input()},
                          'LayerNorm, Linear, GELU(approximate="tanh"), Linear')
    c['mlp_silu'] = (lambda: MLP(nn.SiLU()), {'x': seq_input()}, 'LayerNorm, Linear, SiLU, Linear')
    c['rmsnorm_rsqrt'] = (lambda: RMSNorm('rsqrt'), {'x': seq_input()},
                          'RMSNorm by hand: x * torch.rsqrt(x.pow(2).mean(-1) + 1e-6) * w, then Linear')
    c['rmsnorm_sqrt'] = (lambda: RMSNorm('sqrt'), {'x': seq_input()},
                         'RMSNorm by hand: x / torch.sqrt(x.pow(2).mean(-1) + 1e-6) * w, then Linear')
    c['attn_bool_mask_input'] = (BoolMaskAttention, {'x': seq_input(), 'mask': bool_mask()},
                                 'hand-written attention, boolean key-padding mask input [2,1,1,5] by masked_fill(-1e4)')
    c['vit_conv_gather'] = (lambda: TinyViT('conv', 'gather'), {'x': image_input()},
                            'tiny ViT on [2,1,8,8]: patch embedding Conv 4x4 stride 4, CLS by Concat of Expand, learned '
                            'position embedding, pre-norm encoder layer (GELU), LayerNorm, CLS pooling x[:, 0], Linear')
    c['vit_linear_slice'] = (lambda: TinyViT('linear', 'slice'), {'x': image_input()},
                             'tiny ViT: patch embedding by Reshape/Transpose + Linear, CLS by Concat of Expand, '
                             'learned position embedding, encoder layer, LayerNorm, CLS pooling by Slice x[:, :1]')
    c['vit_linear_mean'] = (lambda: TinyViT('linear', 'mean'), {'x': image_input()},
                            'tiny ViT: patch embedding by Reshape/Transpose + Linear, CLS, learned position '
                            'embedding, encoder layer, LayerNorm, mean pooling over the tokens (ReduceMean), Linear')
    return c


def op_types(path):
    import onnx
    m = onnx.load(path)
    hist = {}
    for node in m.graph.node:
        hist[node.op_type] = hist.get(node.op_type, 0) + 1
    return dict(sorted(hist.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=OUT)
    ap.add_argument('--only', help='comma-separated case names')
    args = ap.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    manifest = {'torch': torch.__version__, 'seed': SEED, 'cases': [], 'skipped': []}
    all_cases = cases()
    names = args.only.split(',') if args.only else list(all_cases)
    old_path = os.path.join(args.out, 'manifest.json')
    if args.only and os.path.exists(old_path):  # --only: the other cases keep their entries (and files)
        with open(old_path) as f:
            old = json.load(f)
        manifest['cases'] = [c for c in old['cases'] if c['name'] not in names]
        manifest['skipped'] = [k for k in old['skipped'] if k['name'] not in names]
    for name in names:
        ctor, inputs, desc = all_cases[name]
        torch.manual_seed(SEED)
        model = randomise(ctor()).eval()
        with torch.no_grad():
            out = model(*inputs.values())
        for k, v in inputs.items():
            np.save(os.path.join(args.out, f'{name}.{k}.npy'), v.numpy())
        np.save(os.path.join(args.out, f'{name}.output.npy'), out.numpy())
        entry = {'name': name, 'description': desc,
                 'inputs': [{'name': k, 'shape': list(v.shape), 'dtype': str(v.dtype).replace('torch.', ''), 'file': f'{name}.{k}.npy'}
                            for k, v in inputs.items()],
                 'output': {'name': 'output', 'shape': list(out.shape), 'file': f'{name}.output.npy'},
                 'files': {}}
        for opset in OPSETS:
            path = os.path.join(args.out, f'{name}-op{opset}.onnx')
            try:
                torch.onnx.export(model, tuple(inputs.values()), path, opset_version=opset,
                                  input_names=list(inputs), output_names=['output'], do_constant_folding=True)
            except Exception as e:  # noqa: BLE001  (recorded in the manifest)
                msg = str(e).strip().splitlines()[0][:300]
                manifest['skipped'].append({'name': name, 'opset': opset, 'error': msg})
                print(f'{name} op{opset}: NOT exported: {msg}')
                if os.path.exists(path):
                    os.remove(path)
                continue
            entry['files'][str(opset)] = {'file': os.path.basename(path), 'bytes': os.path.getsize(path),
                                          'ops': op_types(path)}
            print(f'{name} op{opset}: {os.path.getsize(path)} bytes, ' +
                  ', '.join(f'{k} x{v}' for k, v in entry['files'][str(opset)]['ops'].items()))
        manifest['cases'].append(entry)
    order = list(all_cases)
    manifest['cases'].sort(key=lambda c: order.index(c['name']) if c['name'] in order else len(order))
    with open(os.path.join(args.out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    with open(os.path.join(args.out, 'README.md'), 'w') as f:
        f.write(readme(manifest))


def shipped_structure():
    """Markdown: op types (with counts) of the shipped transformers in models/, and the node sequence of one
    block (the ops between two residual Adds, in graph order) at each opset."""
    import onnx
    lines = []
    for base in ('fashion-vit', 'text-evidence'):
        for suffix in ('', '-op13'):
            path = os.path.join(ROOT, 'models', f'{base}{suffix}.onnx')
            if not os.path.exists(path):
                continue
            m = onnx.load(path)
            opset = next(o.version for o in m.opset_import if o.domain in ('', 'ai.onnx'))
            ops = op_types(path)
            plumbing = shape_plumbing(m.graph)
            inside = [n.op_type for n in m.graph.node if n.name not in plumbing
                      and (n.name.startswith('/blocks.0/') or n.name.startswith('/layers.0/'))]
            outside = [n.op_type for n in m.graph.node if n.name not in plumbing
                       and not (n.name.startswith('/blocks.') or n.name.startswith('/layers.'))]
            ins = ', '.join(f'`{i.name}` {onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type).lower()} '
                            f'[{", ".join(d.dim_param or str(d.dim_value) for d in i.type.tensor_type.shape.dim)}]'
                            for i in m.graph.input)
            lines.append(f'* `models/{base}{suffix}.onnx` (opset {opset}, {len(m.graph.node)} nodes, input {ins}): '
                         + ', '.join(f'{k} ×{v}' for k, v in ops.items()) + '.')
            lines.append(f'  * outside the blocks, in graph order: {" → ".join(outside)}')
            lines.append(f'  * first block, in graph order: {" → ".join(inside)}')
    return '\n'.join(lines) + '\n'


def shape_plumbing(graph):
    """Names of the nodes that only compute shapes or constants: Constant, Shape, and every node whose inputs
    are all initializers or outputs of such nodes (the Gather/Unsqueeze/Concat/... feeding Reshape and Expand)."""
    inits = {t.name for t in graph.initializer}
    const_out, names = set(inits), set()
    for n in graph.node:
        if n.op_type in ('Constant', 'Shape', 'ConstantOfShape') or all(i in const_out for i in n.input if i):
            if n.op_type == 'Gather' and n.input[0] in inits:
                continue  # an embedding lookup with constant ids is still data; none here
            names.add(n.name)
            const_out.update(n.output)
    return names


def readme(manifest):
    out = ['# Transformer test graphs\n',
           'Written by `scripts/export_transformer_fixtures.py` (this file too): small seeded random-weight PyTorch '
           'modules (model dim 16, 2 heads, sequence 5, batch 2; weights N(0, 1/fan_in), random biases and LayerNorm '
           f'affines) exported by torch {manifest["torch"]} with `torch.onnx.export` (eval mode, constant folding, '
           'static shapes) at opsets 13, 14 and 17, for the canonizer specs (onnxruntime output unchanged by each '
           'canonizer). `<case>.<input>.npy` holds the seeded input (shared by the opsets; C order) and '
           '`<case>.output.npy` PyTorch\'s float32 output. `manifest.json` has the same information as the table, '
           'with the op counts per file.\n',
           '| case | module | inputs | output | opsets | ops (op17; op13 differs where noted) |',
           '|---|---|---|---|---|---|']
    for c in manifest['cases']:
        ins = '<br>'.join(f"`{i['name']}` {i['dtype']} [{', '.join(map(str, i['shape']))}]" for i in c['inputs'])
        files = c['files']
        top = files.get('17') or files[max(files, key=int)]
        ops = ', '.join(f'{k} ×{v}' for k, v in top['ops'].items())
        if '13' in files and files['13']['ops'] != top['ops']:
            extra = sorted(set(files['13']['ops']) - set(top['ops']))
            ops += f"; op13 without LayerNormalization, with {', '.join(extra)}" if extra else '; op13: other counts'
        out.append(f"| `{c['name']}` | {c['description']} | {ins} | float32 [{', '.join(map(str, c['output']['shape']))}] "
                   f"| {', '.join(sorted(files, key=int))} | {ops} |")
    out.append('')
    if manifest['skipped']:
        out.append('Not exported (torch 1.13 cannot):\n')
        for k in manifest['skipped']:
            out.append(f"* `{k['name']}` at opset {k['opset']}: {k['error']}")
        out.append('')
    out += ['Notes: LayerNormalization exists from opset 17; at 13 and 14 torch writes the decomposed form '
            '(ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add). `nn.MultiheadAttention` (alone or '
            'inside `nn.TransformerEncoderLayer`) works sequence-first: with `batch_first=True` the input is first '
            'Transposed [1, 0, 2] (and the output back); the fused in-projection is one MatMul + Add, split into q, '
            'k, v by three Slices whose bounds are computed from Shape (Shape, Gather, Add, Div, Mul: shape '
            'arithmetic only); heads are made by Reshape to [S, N*H, d] and Transpose; **q is scaled before** '
            'the score MatMul (Div(q, sqrt(d))); the out-projection is a Gemm on [S*N, D] between two Reshapes. '
            'The hand-written attention scales the scores after the MatMul (Div or Mul). GELU exports as Div, '
            'Erf, Add, Mul, Mul (exact) or Mul, Mul, Mul, Add, Mul, Tanh, Add, Mul, Mul (tanh approximation); SiLU '
            'as Sigmoid, Mul. torch.triu on a constant is folded away (the causal cases keep a Where with a '
            'constant condition); torch.triu on a tensor shaped like the scores keeps a Trilu, which opset 13 '
            'cannot express. `torch.rsqrt` exports as Sqrt then Div(1, ·).\n',
            '## Shipped transformers (models/): the node structure the TypeScript side sees\n',
            'Op counts of each file, then the data-path nodes in graph order (shape plumbing left out: Constant, '
            'Shape, ConstantOfShape and every node computing only from those and initializers), outside the '
            'blocks and in the first block (the others repeat it).\n',
            shipped_structure()]
    return '\n'.join(out)


if __name__ == '__main__':
    main()
