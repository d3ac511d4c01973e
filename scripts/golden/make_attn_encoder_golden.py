#!/usr/bin/python3
"""LXT golden maps for a small nn.TransformerEncoder export (nn.MultiheadAttention: fused in-projection, q scaled
before QK^T, out-projection Gemm; post-norm layers, exact GELU; mean over tokens; opset 13, so the layer norms are
decomposed): spec/fixtures/transformer-attn/. Complements scripts/golden/make_lxt_golden.py (the shipped models),
whose LXT loading it repeats; LXT commit f04344177551bfcc3665e88afe96501f43fe560b, functions called as that script
documents (lf.mul2 for the 1/sqrt(d) scale, as LXT's own models do). Not run in CI.

    /usr/bin/python3 scripts/golden/make_attn_encoder_golden.py [LXT_SRC, default /work/scratch/lxt]
"""
import sys, types, importlib.util, os, math, numpy as np, torch, torch.nn as nn
torch.set_num_threads(1)
root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('LXT_SRC', '/work/scratch/lxt')
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'spec', 'fixtures', 'transformer-attn')
if not hasattr(torch, 'func'):
    import functorch; torch.func = functorch; sys.modules['torch.func'] = functorch
for pkg in ('lxt', 'lxt.explicit'):
    m = types.ModuleType(pkg); m.__path__ = [os.path.join(root, *pkg.split('.'))]; sys.modules[pkg] = m
def load(name):
    full = f'lxt.explicit.{name}'
    spec = importlib.util.spec_from_file_location(full, os.path.join(root, 'lxt', 'explicit', f'{name}.py'))
    mod = importlib.util.module_from_spec(spec); sys.modules[full] = mod; spec.loader.exec_module(mod); return mod
lf = load('functional'); rules = load('rules')

class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation='gelu', batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(16, 3)
    def forward(self, x):
        return self.head(self.enc(x).mean(1))

torch.manual_seed(1)
m = Enc().eval()
with torch.no_grad():
    for p in m.parameters(): p.add_(torch.randn_like(p) * 0.1)
x = torch.randn(1, 5, 16)
torch.onnx.export(m, x, os.path.join(OUT, 'encoder.onnx'), opset_version=13, input_names=['x'], output_names=['y'])
np.save(os.path.join(OUT, 'encoder.x.npy'), x.numpy())
m = m.double()

def lin(h, l): return lf.linear_epsilon(h, l.weight, l.bias, 1e-6)

def mha(h, a, cp):
    n, s, d = h.shape; H = a.num_heads; hd = d // H
    W, b = a.in_proj_weight, a.in_proj_bias
    q = lf.linear_epsilon(h, W[:d], b[:d], 1e-6); k = lf.linear_epsilon(h, W[d:2*d], b[d:2*d], 1e-6); v = lf.linear_epsilon(h, W[2*d:], b[2*d:], 1e-6)
    sh = lambda t: t.reshape(n, s, H, hd).transpose(1, 2)
    q, k, v = sh(q), sh(k), sh(v)
    q = lf.mul2(q, 1 / math.sqrt(hd))  # a constant scale: identity (LXT mul2)
    if cp:
        with torch.no_grad():
            A = torch.softmax(torch.matmul(q, k.transpose(-2, -1)), -1)
        o = rules.epsilon_lrp(torch.matmul, 1e-6, A.detach(), v)
    else:
        A = lf.softmax(lf.matmul(q, k.transpose(-2, -1)), -1)
        o = lf.matmul(A, v)
    o = o.transpose(1, 2).reshape(n, s, d)
    return lin(o, a.out_proj)

def ln(h, l): return lf.layer_norm(h, l.weight, l.bias, l.eps)

def forward(x, cp):
    h = x
    for L in m.enc.layers:
        h = ln(lf.add2(h, mha(h, L.self_attn, cp)), L.norm1)
        f = lin(rules.identity(torch.nn.functional.gelu, lin(h, L.linear1)), L.linear2)
        h = ln(lf.add2(h, f), L.norm2)
    return lin(lf.mean(h, 1, False, 1e-6), m.head)

xd = x.double()
with torch.no_grad(): ref = m(xd)
out = {}
for cp in [False, True]:
    xi = xd.clone().requires_grad_()
    y = forward(xi, cp)
    assert torch.allclose(y, ref, atol=1e-9), (y, ref)
    t = y.argmax(1)
    seed = torch.zeros_like(y); seed[0, t] = y[0, t]
    y.backward(seed)
    r = (xi.grad * 1.0).numpy()  # input relevance: LXT's rules return relevance at the input (grad slot)
    np.save(os.path.join(OUT, f'encoder.{"cp_lrp" if cp else "attnlrp"}.npy'), r.astype(np.float32))
    print('cp' if cp else 'attnlrp', float(y[0, t]), r.sum())
