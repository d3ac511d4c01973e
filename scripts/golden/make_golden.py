#!/usr/bin/python3
"""Golden reference files for onnx-lrp.

Builds small PyTorch models with seeded random weights, exports them to ONNX (opset 13 and 17), and computes
reference LRP relevance in float64 with an implementation of the rules written here from the formulas in
RULES.md (no Zennit or other LRP library). Writes everything to spec/fixtures/golden/.

Run:  /usr/bin/python3 scripts/golden/make_golden.py        (from the repository root; see README.md)

Two independent implementations of every rule are run and must agree (every check is an assert: a failing run
stops with an error and the output directory must not be used):
  * the reference ("vjp engine"): each linear rule as a modified forward (F.conv2d / F.linear) followed by a
    vector-Jacobian product with torch.autograd.grad, batched, float64;
  * a cross-check ("dense engine"): every layer turned into an explicit dense matrix W[j, k] per sample, and the
    rule written on the contribution matrix z_jk = x_j w_jk with numpy.
A third, naive nested-loop version checks each rule on tiny layers, and the gradient composites are compared
with plain torch autograd on the float64 PyTorch model.
"""

import argparse
import copy
import json
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

torch.set_num_threads(1)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT_DIR = os.path.join(REPO, 'spec', 'fixtures', 'golden')
STAB = 1e-6        # stabiliser of every non-epsilon rule and of norm layers
NUM_CLASSES = 10


# ----------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """torchvision-style BasicBlock: conv-bn-relu-conv-bn, + identity (or 1x1 conv+bn downsample), relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + identity)


def build_model(name):
    """Returns (model, input shape without batch, seed)."""
    seeds = {'mlp': 101, 'cnn_pool': 202, 'cnn_bn': 303, 'resnet': 404, 'vgg': 505, 'gap': 606}
    torch.manual_seed(seeds[name])
    if name == 'mlp':
        m = nn.Sequential(nn.Flatten(), nn.Linear(144, 32), nn.ReLU(), nn.Linear(32, 24), nn.BatchNorm1d(24),
                          nn.ReLU(), nn.Linear(24, NUM_CLASSES))
        shape = (1, 12, 12)
    elif name == 'cnn_pool':
        m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(12 * 4 * 4, NUM_CLASSES))
        shape = (3, 16, 16)
    elif name == 'cnn_bn':
        m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),      # 8x8x8
                          nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.BatchNorm2d(16), nn.ReLU(),     # 16x8x8
                          nn.MaxPool2d(2), nn.Flatten(),                                               # 256
                          nn.Linear(256, 24), nn.ReLU(), nn.Linear(24, NUM_CLASSES))
        shape = (3, 16, 16)
    elif name == 'resnet':
        m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          BasicBlock(8, 8, 1), BasicBlock(8, 16, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, NUM_CLASSES))
        shape = (3, 16, 16)
    elif name == 'vgg':
        m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(256, 32), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(32, 32), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(32, NUM_CLASSES))
        shape = (3, 16, 16)
    elif name == 'gap':
        m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),                  # depthwise
                          nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),                            # no padding, 7x7
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, NUM_CLASSES))
        shape = (3, 16, 16)
    else:
        raise ValueError(name)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):       # He-normal weights keep activations O(1)
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape) * math.sqrt(2.0 / fan_in))
                if mod.bias is not None:
                    mod.bias.copy_(torch.empty(mod.bias.shape).uniform_(-0.3, 0.3))
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = mod.num_features
                mod.weight.copy_(torch.empty(c).uniform_(0.6, 1.6))
                mod.bias.copy_(torch.randn(c) * 0.2)
                mod.running_mean.copy_(torch.randn(c) * 0.2)
                mod.running_var.copy_(torch.empty(c).uniform_(0.5, 2.0))
    m.eval()
    return m, shape, seeds[name]


MODELS = ['mlp', 'cnn_pool', 'cnn_bn', 'resnet', 'vgg', 'gap']


# ----------------------------------------------------------------------------------------------------------
# Tape: the model's forward as a list of primitive nodes (BatchNorm after Conv/Linear merged)
# ----------------------------------------------------------------------------------------------------------

class Tape:
    def __init__(self, dtype):
        self.dtype = dtype
        self.values = {}   # tensor id -> tensor
        self.nodes = []    # dict(op, ins, out, ...)
        self.linear = []   # the linear nodes, forward order
        self.next_id = 0

    def new(self, value):
        i = self.next_id
        self.next_id += 1
        self.values[i] = value
        return i

    def add_node(self, op, ins, value, **attrs):
        out = self.new(value)
        node = dict(op=op, ins=ins, out=out, **attrs)
        self.nodes.append(node)
        return out, node

    # primitive ops --------------------------------------------------------------------------------------
    def linear_layer(self, x, kind, w, b, stride=1, padding=0, groups=1, name='', merged_bn=False):
        node = dict(kind=kind, w=w, b=b, stride=stride, padding=padding, groups=groups, name=name,
                    merged_bn=merged_bn, index=len(self.linear))
        z = lin_fwd(node, self.values[x], w) + bias_view(node, b)
        out, n = self.add_node('linear', [x], z, **node)
        self.linear.append(n)
        return out

    def relu(self, x):
        return self.add_node('relu', [x], self.values[x].clamp(min=0))[0]

    def maxpool(self, x, k, s):
        return self.add_node('maxpool', [x], F.max_pool2d(self.values[x], k, s), k=k, s=s)[0]

    def avgpool(self, x, k, s):
        return self.add_node('avgpool', [x], F.avg_pool2d(self.values[x], k, s), k=k, s=s)[0]

    def gap(self, x):
        return self.add_node('gap', [x], self.values[x].mean(dim=(2, 3), keepdim=True))[0]

    def flatten(self, x):
        v = self.values[x]
        return self.add_node('flatten', [x], v.reshape(v.shape[0], -1), shape=tuple(v.shape))[0]

    def add(self, x, y):
        return self.add_node('add', [x, y], self.values[x] + self.values[y])[0]


def lin_fwd(node, x, w):
    """The linear map without bias: conv2d or dense."""
    if node['kind'] == 'conv':
        return F.conv2d(x, w, None, node['stride'], node['padding'], 1, node['groups'])
    return F.linear(x, w)


def bias_view(node, b):
    return b.view(1, -1, 1, 1) if node['kind'] == 'conv' else b.view(1, -1)


def lin_vjp(node, x_shape, w, s):
    """Transposed linear map: Σ_k w_jk s_k, by autograd of the (linear) forward."""
    xv = torch.zeros(x_shape, dtype=w.dtype, requires_grad=True)
    with torch.enable_grad():
        out = lin_fwd(node, xv, w)
        (g,) = torch.autograd.grad(out, xv, s)
    return g.detach()


def params(mod, dtype):
    w = mod.weight.detach().to(dtype).clone()
    b = mod.bias.detach().to(dtype).clone() if mod.bias is not None else torch.zeros(w.shape[0], dtype=dtype)
    return w, b


def merge_bn(w, b, bn, dtype):
    """w' = w γ/√(var+eps), b' = (b − mean) γ/√(var+eps) + β."""
    scale = bn.weight.detach().to(dtype) / torch.sqrt(bn.running_var.detach().to(dtype) + bn.eps)
    shape = (-1,) + (1,) * (w.dim() - 1)
    return w * scale.view(shape), (b - bn.running_mean.detach().to(dtype)) * scale + bn.bias.detach().to(dtype)


def trace(model, x, dtype):
    """Build the tape of `model` on input x (converted to dtype)."""
    T = Tape(dtype)
    T.input = T.new(x.to(dtype))
    names = {id(mod): n for n, mod in model.named_modules()}

    def linear_from(mod, bn, xi):
        w, b = params(mod, dtype)
        if bn is not None:
            w, b = merge_bn(w, b, bn, dtype)
        if isinstance(mod, nn.Conv2d):
            assert mod.dilation == (1, 1) and mod.padding_mode == 'zeros'
            return T.linear_layer(xi, 'conv', w, b, mod.stride, mod.padding, mod.groups, names[id(mod)], bn is not None)
        return T.linear_layer(xi, 'dense', w, b, name=names[id(mod)], merged_bn=bn is not None)

    def walk(mods, xi):
        mods = list(mods)
        i = 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bn = nxt if isinstance(nxt, (nn.BatchNorm1d, nn.BatchNorm2d)) else None
                xi = linear_from(m, bn, xi)
                i += 1 if bn is not None else 0
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                raise NotImplementedError('BatchNorm not after a linear layer (pass) is not used by these models')
            elif isinstance(m, nn.ReLU):
                xi = T.relu(xi)
            elif isinstance(m, nn.MaxPool2d):
                assert m.padding == 0 and m.dilation == 1 and not m.ceil_mode
                xi = T.maxpool(xi, m.kernel_size, m.stride)
            elif isinstance(m, nn.AvgPool2d):
                assert m.padding == 0 and not m.ceil_mode
                xi = T.avgpool(xi, m.kernel_size, m.stride)
            elif isinstance(m, nn.AdaptiveAvgPool2d):
                assert m.output_size in (1, (1, 1))
                xi = T.gap(xi)
            elif isinstance(m, nn.Flatten):
                xi = T.flatten(xi)
            elif isinstance(m, nn.Dropout):
                pass
            elif isinstance(m, BasicBlock):
                h = T.relu(linear_from(m.conv1, m.bn1, xi))
                h = linear_from(m.conv2, m.bn2, h)
                sc = xi if m.downsample is None else linear_from(m.downsample[0], m.downsample[1], xi)
                xi = T.relu(T.add(h, sc))
            elif isinstance(m, nn.Sequential):
                xi = walk(m, xi)
            else:
                raise NotImplementedError(type(m))
            i += 1
        return xi

    T.output = walk(model, T.input)
    return T


# ----------------------------------------------------------------------------------------------------------
# Reference engine: rules as modified forward + vector-Jacobian product (batched)
# ----------------------------------------------------------------------------------------------------------

def stab(z, eps):
    """z + ε·sign₀(z), sign₀(0) = +1: zennit/core.py stabilize (0.5.1, line 94), `input + ((input == 0) + sign) * eps`."""
    return z + eps * torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))


def per_channel(v, x, node):
    """Bounds as a tensor of x's shape: scalar, or one value per input channel."""
    v = torch.as_tensor(v, dtype=x.dtype)
    if v.dim() == 0:
        return torch.full_like(x, float(v))
    assert node['kind'] == 'conv' and v.numel() == x.shape[1]
    return v.view(1, -1, 1, 1).expand_as(x).clone()


def linear_rule(rule, node, x, r):
    """One rule on one linear layer, following Zennit 0.5.1's zennit/rules.py (line numbers at commit 3121bb2;
    README.md 'What Zennit 0.5.1 does, rule by rule'). zeroBias is Zennit's zero_params=['bias']."""
    name, p = rule
    w, b = node['w'], node['b']
    if p.get('zeroBias'):
        b = torch.zeros_like(b)
    bv = lambda v: bias_view(node, v)
    fwd = lambda xx, ww: lin_fwd(node, xx, ww)
    vjp = lambda ww, s: lin_vjp(node, x.shape, ww, s)
    xp, xn = x.clamp(min=0), x.clamp(max=0)
    wp, wn = w.clamp(min=0), w.clamp(max=0)
    bp, bn = b.clamp(min=0), b.clamp(max=0)
    if name == 'epsilon':
        # rules.py Epsilon (line 97): NoMod(zero_params), out_grad / stab(outputs[0]), inputs[0] * gradients[0]
        z = fwd(x, w) + bv(b)
        return x * vjp(w, r / stab(z, p['epsilon']))
    if name == 'alphaBeta':
        # rules.py AlphaBeta (line 214), ZPlus (line 178) = alphaBeta(1, 0): ClampMod with zero_params on the x⁺
        # terms (b⁺ in the positive, b⁻ in the negative denominator), zero_bias(zero_params) on the x⁻ terms; the β
        # part times 0 is skipped here (it is finite: stab never returns 0)
        a, be, eps = p['alpha'], p['beta'], p['stabilizer']
        sp = r / stab(fwd(xp, wp) + fwd(xn, wn) + bv(bp), eps)
        out = a * (xp * vjp(wp, sp) + xn * vjp(wn, sp))
        if be != 0:
            sn = r / stab(fwd(xp, wn) + fwd(xn, wp) + bv(bn), eps)
            out = out - be * (xp * vjp(wn, sn) + xn * vjp(wp, sn))
        return out
    if name == 'gamma':
        # rules.py Gamma (line 125): GammaMod (line 64) param + γ·param.clamp(…) with zero_params on the x⁺ terms and
        # zero_bias(zero_params) on the x⁻ terms; the fifth output, NoMod() without zero_params, keeps the bias: the branch
        # mask (outputs[4] > 0 / < 0) uses the layer's own z even with zeroBias
        g, eps = p['gamma'], p['stabilizer']
        z = fwd(x, w) + bv(node['b'])
        wP, wN = w + g * wp, w + g * wn
        zpos = fwd(xp, wP) + fwd(xn, wN) + bv(b + g * bp)
        zneg = fwd(xp, wN) + fwd(xn, wP) + bv(b + g * bn)
        zero = torch.zeros_like(r)
        sP = torch.where(z > 0, r / stab(zpos, eps), zero)
        sN = torch.where(z < 0, r / stab(zneg, eps), zero)
        return xp * vjp(wP, sP) + xn * vjp(wN, sP) + xp * vjp(wN, sN) + xn * vjp(wP, sN)
    if name == 'zBox':
        eps = p['stabilizer']
        L, H = per_channel(p['low'], x, node), per_channel(p['high'], x, node)
        # rules.py ZBox (line 272): f(x; W, b) − f(l; W⁺, b⁺) − f(h; W⁻, b⁻), and b − b⁺ − b⁻ = 0: no bias
        s = r / stab(fwd(x, w) - fwd(L, wp) - fwd(H, wn), eps)
        return x * vjp(w, s) - L * vjp(wp, s) - H * vjp(wn, s)
    if name == 'flat':
        # rules.py Flat (line 373): ones for input and weight, zero_bias(zero_params): never a bias
        ones_w = torch.ones_like(w)
        s = r / stab(fwd(torch.ones_like(x), ones_w), p['stabilizer'])
        return vjp(ones_w, s)
    if name == 'wSquare':
        # rules.py WSquare (line 347): input ones, param ** 2 on weight and bias (the bias unless zero_params)
        s = r / stab(fwd(torch.ones_like(x), w * w) + bv(b * b), p['stabilizer'])
        return vjp(w * w, s)
    raise ValueError(name)


def maxpool_route(x, r, k, s):
    """Winner takes all; ties go to the first maximum of the window in row-major order."""
    n, c, h, wd = x.shape
    cols = F.unfold(x, k, stride=s).view(n, c, k * k, -1)          # (n, c, k*k, L)
    idx = torch.argmax(cols, dim=2, keepdim=True)                  # first maximal value
    rc = torch.zeros_like(cols).scatter_(2, idx, r.reshape(n, c, 1, -1))
    return F.fold(rc.view(n, c * k * k, -1), (h, wd), k, stride=s)


def backward(T, seed, plan, mode):
    """Propagate `seed` (at the output) to the input. mode 'lrp' (plan: linear index -> rule) or 'gradient'.
    Returns (input relevance, per-layer relevance returned to the input of each linear layer)."""
    R = {T.output: seed}
    layer_in = [None] * len(T.linear)
    for node in reversed(T.nodes):
        r = R.pop(node['out'], None)
        if r is None:
            r = torch.zeros_like(T.values[node['out']])
        xs = [T.values[i] for i in node['ins']]
        x = xs[0]
        op = node['op']
        if op == 'linear':
            if mode == 'lrp':
                rin = [linear_rule(plan[node['index']], node, x, r)]
            else:
                rin = [lin_vjp(node, x.shape, node['w'], r)]
            layer_in[node['index']] = rin[0]
        elif op == 'relu':
            rin = [r if mode == 'lrp' else r * (x > 0).to(r.dtype)]
        elif op == 'maxpool':
            rin = [maxpool_route(x, r, node['k'], node['s'])]
        elif op in ('avgpool', 'gap'):
            if op == 'avgpool':
                pool = lambda v: F.avg_pool2d(v, node['k'], node['s'])
            else:
                pool = lambda v: v.mean(dim=(2, 3), keepdim=True)
            xv = torch.zeros_like(x, requires_grad=True)
            with torch.enable_grad():
                s = r / stab(pool(x), STAB) if mode == 'lrp' else r
                (g,) = torch.autograd.grad(pool(xv), xv, s)        # g_i = s / N  (pool weights 1/N)
            rin = [x * g if mode == 'lrp' else g]
        elif op == 'flatten':
            rin = [r.reshape(node['shape'])]
        elif op == 'add':
            if mode == 'lrp':
                q = r / stab(xs[0] + xs[1], STAB)
                rin = [xs[0] * q, xs[1] * q]
            else:
                rin = [r, r]
        else:
            raise ValueError(op)
        for i, v in zip(node['ins'], rin):
            R[i] = R[i] + v if i in R else v
    return R[T.input], layer_in


# ----------------------------------------------------------------------------------------------------------
# Cross-check engine: explicit dense matrices and contribution matrices, numpy, one sample at a time
# ----------------------------------------------------------------------------------------------------------

def dense_matrix(node, in_shape):
    """W[j, k] of a linear node acting on one sample of shape in_shape (without batch), and its structure mask."""
    J = int(np.prod(in_shape))
    basis = torch.eye(J, dtype=torch.float64).view((J,) + tuple(in_shape))
    w = node['w'].to(torch.float64)
    W = lin_fwd(node, basis, w).reshape(J, -1).numpy()
    M = lin_fwd(node, basis, torch.ones_like(w)).reshape(J, -1).numpy()
    return W, M


def np_stab(z, eps):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def np_rule(rule, W, M, b, x, r, low=None, high=None):
    name, p = rule
    b_own = b                      # the unmodified layer (the gamma rule's branch mask keeps the bias)
    if p.get('zeroBias'):
        b = np.zeros_like(b)
    xp, xn = np.maximum(x, 0)[:, None], np.minimum(x, 0)[:, None]
    Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
    if name == 'epsilon':
        Z = x[:, None] * W
        return (Z * (r / np_stab(Z.sum(0) + b, p['epsilon']))[None, :]).sum(1)
    if name == 'alphaBeta':
        P = xp * Wp + xn * Wn
        out = p['alpha'] * (P * (r / np_stab(P.sum(0) + np.maximum(b, 0), p['stabilizer']))).sum(1)
        if p['beta'] != 0:
            N = xp * Wn + xn * Wp
            out -= p['beta'] * (N * (r / np_stab(N.sum(0) + np.minimum(b, 0), p['stabilizer']))).sum(1)
        return out
    if name == 'gamma':
        g = p['gamma']
        z = x @ W + b_own
        Cpos = xp * (W + g * Wp) + xn * (W + g * Wn)
        Cneg = xp * (W + g * Wn) + xn * (W + g * Wp)
        qpos = np.where(z > 0, r / np_stab(Cpos.sum(0) + b + g * np.maximum(b, 0), p['stabilizer']), 0)
        qneg = np.where(z < 0, r / np_stab(Cneg.sum(0) + b + g * np.minimum(b, 0), p['stabilizer']), 0)
        return (Cpos * qpos).sum(1) + (Cneg * qneg).sum(1)
    if name == 'zBox':
        C = x[:, None] * W - low[:, None] * Wp - high[:, None] * Wn
        return (C * (r / np_stab(C.sum(0), p['stabilizer']))).sum(1)
    if name == 'flat':
        return (M * (r / np_stab(M.sum(0), p['stabilizer']))).sum(1)
    if name == 'wSquare':
        C = W * W
        return (C * (r / np_stab(C.sum(0) + b * b, p['stabilizer']))).sum(1)
    raise ValueError(name)


def np_pool_windows(shape, k, s):
    """For a (c, h, w) input: list of flat input indices of every output (c, oy, ox) window, row-major."""
    c, h, w = shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    wins = []
    for ch in range(c):
        for oy in range(oh):
            for ox in range(ow):
                wins.append([ch * h * w + (oy * s + ky) * w + (ox * s + kx) for ky in range(k) for kx in range(k)])
    return wins


def dense_engine(T, sample, seed, plan, mode, bounds_for):
    """Forward and backward of one sample on dense matrices. Returns (logits, input relevance, layer sums)."""
    shapes = {i: tuple(v.shape[1:]) for i, v in T.values.items()}
    vals = {T.input: T.values[T.input][sample].reshape(-1).double().numpy()}
    cache = {}
    for node in T.nodes:                    # forward
        xs = [vals[i] for i in node['ins']]
        op = node['op']
        if op == 'linear':
            if '_dense' not in node:
                node['_dense'] = dense_matrix(node, shapes[node['ins'][0]])
            W, M = node['_dense']
            b = node['b'].double().numpy()
            bk = np.broadcast_to(b.reshape((-1,) + (1,) * (len(shapes[node['out']]) - 1)),
                                 shapes[node['out']]).reshape(-1).copy()
            cache[node['out']] = (W, M, bk)
            y = xs[0] @ W + bk
        elif op == 'relu':
            y = np.maximum(xs[0], 0)
        elif op in ('maxpool', 'avgpool'):
            wins = np_pool_windows(shapes[node['ins'][0]], node['k'], node['s'])
            cache[node['out']] = wins
            if op == 'maxpool':
                y = np.array([max(xs[0][j] for j in win) for win in wins])
            else:
                y = np.array([sum(xs[0][j] for j in win) / len(win) for win in wins])
        elif op == 'gap':
            c = shapes[node['ins'][0]][0]
            n = xs[0].size // c
            wins = [list(range(ch * n, (ch + 1) * n)) for ch in range(c)]
            cache[node['out']] = wins
            y = np.array([xs[0][win].sum() / len(win) for win in wins])
        elif op == 'flatten':
            y = xs[0]
        elif op == 'add':
            y = xs[0] + xs[1]
        vals[node['out']] = y
    R = {T.output: seed}
    sums = [None] * len(T.linear)
    for node in reversed(T.nodes):          # backward
        r = R.pop(node['out'], np.zeros_like(vals[node['out']]))
        xs = [vals[i] for i in node['ins']]
        op = node['op']
        if op == 'linear':
            W, M, bk = cache[node['out']]
            if mode == 'lrp':
                rule = plan[node['index']]
                lo, hi = bounds_for(rule, shapes[node['ins'][0]])
                rin = [np_rule(rule, W, M, bk, xs[0], r, lo, hi)]
            else:
                rin = [W @ r]
            sums[node['index']] = float(rin[0].sum())
        elif op == 'relu':
            rin = [r if mode == 'lrp' else r * (xs[0] > 0)]
        elif op == 'maxpool':
            g = np.zeros_like(xs[0])
            for k, win in enumerate(cache[node['out']]):
                best = win[0]
                for j in win[1:]:
                    if xs[0][j] > xs[0][best]:
                        best = j
                g[best] += r[k]
            rin = [g]
        elif op in ('avgpool', 'gap'):        # norm: epsilon(1e-6) with the pool's own weights 1/N, no bias
            g = np.zeros_like(xs[0])
            for k, win in enumerate(cache[node['out']]):
                n = len(win)
                z = sum(xs[0][j] / n for j in win)
                for j in win:
                    g[j] += (xs[0][j] / n) * r[k] / np_stab(z, STAB) if mode == 'lrp' else r[k] / n
            rin = [g]
        elif op == 'flatten':
            rin = [r]
        elif op == 'add':
            if mode == 'lrp':
                q = r / np_stab(xs[0] + xs[1], STAB)
                rin = [xs[0] * q, xs[1] * q]
            else:
                rin = [r, r]
        for i, v in zip(node['ins'], rin):
            R[i] = R[i] + v if i in R else v
    return vals[T.output], R[T.input], sums


# ----------------------------------------------------------------------------------------------------------
# Composites
# ----------------------------------------------------------------------------------------------------------

def make_plan(T, composite, p):
    """Linear-layer index -> (rule name, params)."""
    eps, st, zb = p.get('epsilon', 1e-6), p.get('stabilizer', STAB), p.get('zeroBias', False)
    E = lambda e: ('epsilon', {'epsilon': e, 'zeroBias': zb})
    AB = lambda a, b: ('alphaBeta', {'alpha': a, 'beta': b, 'stabilizer': st, 'zeroBias': zb})
    FLAT = ('flat', {'stabilizer': st})          # Zennit's Flat always drops the bias (zero_bias(zero_params))
    kinds = [n['kind'] for n in T.linear]
    first_any = 0
    first_conv = kinds.index('conv') if 'conv' in kinds else None
    plan = []
    for i, kind in enumerate(kinds):
        if composite == 'epsilon':
            r = E(eps)
        elif composite in ('epsilon_plus', 'epsilon_plus_flat'):
            r = AB(1.0, 0.0) if kind == 'conv' else E(eps)
            if composite.endswith('_flat') and i == first_any:
                r = FLAT
        elif composite in ('epsilon_alpha2_beta1', 'epsilon_alpha2_beta1_flat'):
            r = AB(2.0, 1.0) if kind == 'conv' else E(eps)
            if composite.endswith('_flat') and i == first_any:
                r = FLAT
        elif composite == 'epsilon_gamma_box':
            r = ('gamma', {'gamma': p['gamma'], 'stabilizer': st, 'zeroBias': zb}) if kind == 'conv' else E(eps)
            if i == first_conv:
                r = ('zBox', {'low': p['low'], 'high': p['high'], 'stabilizer': st, 'zeroBias': zb})
        elif composite == 'sequential_preset_a':
            r = AB(1.0, 0.0) if kind == 'conv' else E(eps)
        elif composite == 'sequential_preset_b':
            r = AB(2.0, 1.0) if kind == 'conv' else E(eps)
        else:
            raise ValueError(composite)
        plan.append(r)
    return plan


def rule_label(rule):
    name, p = rule
    if name == 'alphaBeta':
        return 'zPlus' if (p['alpha'], p['beta']) == (1.0, 0.0) else 'alphaBeta(%g,%g)' % (p['alpha'], p['beta'])
    if name == 'epsilon':
        return 'epsilon(%g)' % p['epsilon']
    if name == 'gamma':
        return 'gamma(%g)' % p['gamma']
    return name


def case_list(bounds):
    lo, hi, loc, hic = bounds['low'], bounds['high'], bounds['lowPerChannel'], bounds['highPerChannel']
    base = {'epsilon': 1e-6, 'stabilizer': STAB, 'zeroBias': False}
    gb = dict(base, gamma=0.25, low=lo, high=hi)
    pre = dict(base, epsilon=0.1)
    cases = [
        ('epsilon', 'epsilon', base, 'logit'),
        ('epsilon_plus', 'epsilon_plus', base, 'logit'),
        ('epsilon_plus_flat', 'epsilon_plus_flat', base, 'logit'),
        ('epsilon_alpha2_beta1', 'epsilon_alpha2_beta1', base, 'logit'),
        ('epsilon_alpha2_beta1_flat', 'epsilon_alpha2_beta1_flat', base, 'logit'),
        ('epsilon_gamma_box', 'epsilon_gamma_box', gb, 'logit'),
        ('sequential_preset_a', 'sequential_preset_a', pre, 'logit'),
        ('sequential_preset_b', 'sequential_preset_b', pre, 'logit'),
        ('gradient', 'gradient', {}, 'logit'),
        ('gradient_x_input', 'gradient_x_input', {}, 'logit'),
        ('epsilon_eps0.25', 'epsilon', dict(base, epsilon=0.25), 'one'),
        ('epsilon_gamma_box_perchannel', 'epsilon_gamma_box', dict(gb, low=loc, high=hic), 'logit'),
        ('epsilon_plus_zerobias', 'epsilon_plus', dict(base, zeroBias=True), 'logit'),
        ('epsilon_gamma_box_zerobias', 'epsilon_gamma_box', dict(gb, zeroBias=True), 'logit'),
        ('gradient', 'gradient', {}, 'one'),
        ('gradient_x_input', 'gradient_x_input', {}, 'one'),
    ]
    return cases


def run_case(T, composite, p, seed):
    """Reference result (vjp engine). Returns (input relevance, layer sums per sample, rule labels)."""
    if composite in ('gradient', 'gradient_x_input'):
        g, layer_in = backward(T, seed, None, 'gradient')
        rel = g * T.values[T.input] if composite == 'gradient_x_input' else g
        return rel, layer_in, ['gradient'] * len(T.linear), None
    plan = make_plan(T, composite, p)
    rel, layer_in = backward(T, seed, plan, 'lrp')
    return rel, layer_in, [rule_label(r) for r in plan], plan


def make_seed(logits, targets, kind):
    seed = torch.zeros_like(logits)
    for s, t in enumerate(targets):
        seed[s, t] = logits[s, t] if kind == 'logit' else 1.0
    return seed


# ----------------------------------------------------------------------------------------------------------
# Self-checks
# ----------------------------------------------------------------------------------------------------------

def naive_rule(rule, W, M, b, x, r, lo, hi):
    """Nested loops, straight from the formulas."""
    name, p = rule
    J, K = W.shape
    b_own = list(b)
    if p.get('zeroBias'):
        b = [0.0] * K
    pos, neg = (lambda v: max(v, 0.0)), (lambda v: min(v, 0.0))
    sg = lambda z: 1.0 if z >= 0 else -1.0
    out = [0.0] * J
    for k in range(K):
        if name == 'epsilon':
            c = [x[j] * W[j, k] for j in range(J)]
            den = sum(c) + b[k]
            den += p['epsilon'] * sg(den)
            terms = [(c, den, 1.0)]
        elif name == 'alphaBeta':
            cp = [pos(x[j]) * pos(W[j, k]) + neg(x[j]) * neg(W[j, k]) for j in range(J)]
            cn = [pos(x[j]) * neg(W[j, k]) + neg(x[j]) * pos(W[j, k]) for j in range(J)]
            dp = sum(cp) + pos(b[k])
            dn = sum(cn) + neg(b[k])
            terms = [(cp, dp + p['stabilizer'] * sg(dp), p['alpha'])]
            if p['beta'] != 0:
                terms.append((cn, dn + p['stabilizer'] * sg(dn), -p['beta']))
        elif name == 'gamma':
            g = p['gamma']
            z = sum(x[j] * W[j, k] for j in range(J)) + b_own[k]
            if z > 0:
                c = [pos(x[j]) * (W[j, k] + g * pos(W[j, k])) + neg(x[j]) * (W[j, k] + g * neg(W[j, k]))
                     for j in range(J)]
                den = sum(c) + b[k] + g * pos(b[k])
            elif z < 0:
                c = [pos(x[j]) * (W[j, k] + g * neg(W[j, k])) + neg(x[j]) * (W[j, k] + g * pos(W[j, k]))
                     for j in range(J)]
                den = sum(c) + b[k] + g * neg(b[k])
            else:
                continue
            terms = [(c, den + p['stabilizer'] * sg(den), 1.0)]
        elif name == 'zBox':
            c = [x[j] * W[j, k] - lo[j] * pos(W[j, k]) - hi[j] * neg(W[j, k]) for j in range(J)]
            den = sum(c)
            terms = [(c, den + p['stabilizer'] * sg(den), 1.0)]
        elif name == 'flat':
            c = [M[j, k] for j in range(J)]
            den = sum(c)
            terms = [(c, den + p['stabilizer'] * sg(den), 1.0)]
        elif name == 'wSquare':
            c = [W[j, k] ** 2 for j in range(J)]
            den = sum(c) + b[k] ** 2
            terms = [(c, den + p['stabilizer'] * sg(den), 1.0)]
        for c, den, f in terms:
            for j in range(J):
                out[j] += f * c[j] / den * r[k]
    return np.array(out)


def check_rules_on_tiny_layers():
    g = torch.Generator().manual_seed(7)
    rules = [('epsilon', {'epsilon': 1e-6}), ('epsilon', {'epsilon': 0.3}),
             ('alphaBeta', {'alpha': 1.0, 'beta': 0.0, 'stabilizer': STAB}),
             ('alphaBeta', {'alpha': 2.0, 'beta': 1.0, 'stabilizer': STAB}),
             ('gamma', {'gamma': 0.25, 'stabilizer': STAB}),
             ('zBox', {'low': -2.0, 'high': 2.5, 'stabilizer': STAB}),
             ('zBox', {'low': [-2.0, -1.5], 'high': [2.5, 3.0], 'stabilizer': STAB}),
             ('flat', {'stabilizer': STAB}), ('wSquare', {'stabilizer': STAB}),
             ('epsilon', {'epsilon': 1e-6, 'zeroBias': True}),
             ('gamma', {'gamma': 0.25, 'stabilizer': STAB, 'zeroBias': True}),
             ('alphaBeta', {'alpha': 2.0, 'beta': 1.0, 'stabilizer': STAB, 'zeroBias': True})]
    layers = [
        (dict(kind='dense', stride=1, padding=0, groups=1), (2, 5), (4, 5)),
        (dict(kind='conv', stride=(2, 2), padding=(1, 1), groups=2), (2, 2, 5, 5), (4, 1, 3, 3)),
        (dict(kind='conv', stride=(1, 1), padding=(0, 0), groups=1), (2, 2, 4, 4), (3, 2, 2, 2)),
    ]
    worst = 0.0
    for node, xshape, wshape in layers:
        x = torch.randn(xshape, generator=g, dtype=torch.float64)
        node['w'] = torch.randn(wshape, generator=g, dtype=torch.float64)
        node['b'] = torch.randn(wshape[0], generator=g, dtype=torch.float64) * 0.5
        z = lin_fwd(node, x, node['w']) + bias_view(node, node['b'])
        r = torch.randn(z.shape, generator=g, dtype=torch.float64)
        W, M = dense_matrix(node, xshape[1:])
        for rule in rules:
            if rule[0] == 'zBox' and isinstance(rule[1]['low'], list) and node['kind'] != 'conv':
                continue
            ref = linear_rule(rule, node, x, r)
            for s in range(xshape[0]):
                xs = x[s].reshape(-1).numpy()
                lo = per_channel(rule[1].get('low', 0.0), x, node)[s].reshape(-1).numpy()
                hi = per_channel(rule[1].get('high', 0.0), x, node)[s].reshape(-1).numpy()
                bk = np.broadcast_to(node['b'].numpy().reshape((-1,) + (1,) * (len(z.shape) - 2)),
                                     z.shape[1:]).reshape(-1)
                rs = r[s].reshape(-1).numpy()
                a = naive_rule(rule, W, M, bk, xs, rs, lo, hi)
                d = np_rule(rule, W, M, bk, xs, rs, lo, hi)
                e = ref[s].reshape(-1).numpy()
                err = max(np.abs(a - e).max(), np.abs(a - d).max()) / max(1e-12, np.abs(a).max())
                worst = max(worst, err)
                assert err < 1e-9, (node['kind'], rule, err)
    print('tiny-layer rules: vjp engine == dense engine == nested loops (max rel err %.2e)' % worst)


# ----------------------------------------------------------------------------------------------------------
# ONNX export and a small evaluator of the exported graph (torch ops, float64)
# ----------------------------------------------------------------------------------------------------------

def export(model, x, path, opset, preserve):
    kw = dict(input_names=['input'], output_names=['logits'],
              dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=opset)
    if preserve:
        # the model is in eval mode: PRESERVE skips the eval-mode Conv+BN fusion, so BatchNormalization stays
        kw['training'] = torch.onnx.TrainingMode.PRESERVE
        kw['do_constant_folding'] = False
    torch.onnx.export(model, x, path, **kw)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def onnx_eval(m, x):
    env = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()).double() for i in m.graph.initializer}
    env['input'] = x.double()
    for n in m.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = [env[v] if v else None for v in n.input]
        if n.op_type == 'Conv':
            pads = a.get('pads', [0, 0, 0, 0])
            assert pads[:2] == pads[2:] and a.get('dilations', [1, 1]) == [1, 1]
            y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, a.get('strides', 1), pads[:2], 1, a.get('group', 1))
        elif n.op_type == 'BatchNormalization':
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get('epsilon', 1e-5))
        elif n.op_type == 'Relu':
            y = i[0].clamp(min=0)
        elif n.op_type == 'MaxPool':
            assert a.get('pads', [0, 0, 0, 0]) == [0, 0, 0, 0] and not a.get('ceil_mode', 0)
            y = F.max_pool2d(i[0], a['kernel_shape'], a['strides'])
        elif n.op_type == 'AveragePool':
            assert a.get('pads', [0, 0, 0, 0]) == [0, 0, 0, 0] and not a.get('ceil_mode', 0)
            y = F.avg_pool2d(i[0], a['kernel_shape'], a['strides'])
        elif n.op_type == 'GlobalAveragePool':
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif n.op_type == 'Flatten':
            y = i[0].reshape(int(np.prod(i[0].shape[:a.get('axis', 1)])), -1)
        elif n.op_type == 'Gemm':
            A = i[0].t() if a.get('transA', 0) else i[0]
            B = i[1].t() if a.get('transB', 0) else i[1]
            y = a.get('alpha', 1.0) * A @ B + (a.get('beta', 1.0) * i[2] if len(i) > 2 else 0)
        elif n.op_type == 'Add':
            y = i[0] + i[1]
        elif n.op_type == 'Constant':
            y = torch.from_numpy(numpy_helper.to_array(a['value']).copy())
        elif n.op_type == 'Pad':
            assert a.get('mode', b'constant') == b'constant'
            pads = [int(v) for v in i[1]]
            d = len(pads) // 2
            tp = []
            for ax in reversed(range(d)):
                tp += [pads[ax], pads[ax + d]]
            y = F.pad(i[0], tp, value=float(i[2]) if len(i) > 2 and i[2] is not None else 0.0)
        elif n.op_type in ('Identity', 'Dropout'):
            y = i[0]
        else:
            raise NotImplementedError(n.op_type)
        env[n.output[0]] = y
    return env['logits']


def onnx_summary(m):
    ops = [n.op_type for n in m.graph.node]
    shapes = {i.name: list(i.dims) for i in m.graph.initializer}
    linear = [(n.name, shapes[n.input[1]]) for n in m.graph.node if n.op_type in ('Conv', 'Gemm', 'MatMul')]
    return ops, linear


# ----------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------

def outward(v, step=0.5, up=False):
    return float(math.ceil(v / step) * step if up else math.floor(v / step) * step)


def pick_targets(logits):
    """Sample 0: its argmax. Sample 1: starting at (t0 + 3) mod C, the first class that is neither t0 nor the
    argmax of sample 1 and whose logit is not tiny (|logit| >= 0.1), so that the 'one' seed is well conditioned."""
    t0 = int(torch.argmax(logits[0]))
    order = [(t0 + 3 + i) % NUM_CLASSES for i in range(NUM_CLASSES)]
    cands = [c for c in order if c != t0 and c != int(torch.argmax(logits[1]))]
    good = [c for c in cands if abs(float(logits[1, c])) >= 0.1]
    return [t0, good[0] if good else max(cands, key=lambda c: abs(float(logits[1, c])))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=OUT_DIR)
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--no-dense-check', action='store_true', help='skip the dense-matrix cross-check')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    check_rules_on_tiny_layers()

    for name in args.models.split(','):
        model, shape, seed = build_model(name)
        rng = np.random.default_rng(seed)
        x32 = np.ascontiguousarray(rng.standard_normal((2,) + shape).astype(np.float32))
        np.save(os.path.join(args.out, name + '.input.npy'), x32)
        x = torch.from_numpy(x32)
        with torch.no_grad():
            logits32 = model(x)
            logits64_torch = model.double()(x.double())
        model.float()

        # ONNX exports
        files, bn_count, onnx_linear = [], {}, {}
        for opset in (13, 17):
            fn = '%s-op%d.onnx' % (name, opset)
            m = export(model, x, os.path.join(args.out, fn), opset, preserve=(opset == 13))
            ops, lin = onnx_summary(m)
            bn_count['op%d' % opset] = ops.count('BatchNormalization')
            onnx_linear['op%d' % opset] = lin
            diff = (onnx_eval(m, x) - logits64_torch).abs().max().item()
            assert diff < 1e-4, (fn, diff)
            print('%s: %d nodes %s; BatchNormalization nodes: %d; logits vs torch %.1e' % (
                fn, len(ops), sorted(set(ops)), bn_count['op%d' % opset], diff))
            files.append(fn)

        # tapes: float64 reference, float32 for a sensitivity estimate
        T = trace(model, x, torch.float64)
        T32 = trace(model, x, torch.float32)
        logits64 = T.values[T.output]
        assert (logits64 - logits64_torch).abs().max().item() < 1e-9
        for k, lin in onnx_linear.items():       # same linear layers, same order, as the ONNX graph
            assert [sh for _, sh in lin] == [list(n['w'].shape) for n in T.linear], (k, lin)
            onnx_linear[k] = [nm for nm, _ in lin]
        targets = pick_targets(logits64)

        flat_in = x32.reshape(2, shape[0], -1)
        bounds = {'low': outward(x32.min()), 'high': outward(x32.max(), up=True),
                  'lowPerChannel': [outward(v) for v in flat_in.min(axis=(0, 2))],
                  'highPerChannel': [outward(v, up=True) for v in flat_in.max(axis=(0, 2))]}

        def bounds_for(rule, in_shape):
            if rule[0] != 'zBox':
                return None, None
            xx = torch.zeros((1,) + in_shape, dtype=torch.float64)
            nd = {'kind': 'conv' if len(in_shape) == 3 else 'dense'}
            return (per_channel(rule[1]['low'], xx, nd).reshape(-1).numpy(),
                    per_channel(rule[1]['high'], xx, nd).reshape(-1).numpy())

        layers = [{'index': n['index'], 'kind': n['kind'], 'module': n['name'], 'mergedBatchNorm': n['merged_bn'],
                   'weightShape': list(n['w'].shape), 'onnxNodes': {k: v[n['index']] for k, v in onnx_linear.items()}}
                  for n in T.linear]
        for n in T.linear:
            if n['kind'] == 'conv':
                layers[n['index']].update(stride=list(n['stride']), padding=list(n['padding']), groups=n['groups'])

        cases = []
        for cid, composite, p, out_rel in case_list(bounds):
            seed64 = make_seed(logits64, targets, out_rel)
            rel, layer_in, labels, plan = run_case(T, composite, p, seed64)
            rel32, _, _, _ = run_case(T32, composite, p, make_seed(T32.values[T32.output], targets, out_rel))
            dev32 = ((rel32.double() - rel).abs().max() / rel.abs().max()).item()
            assert torch.isfinite(rel).all()
            input_sum = rel.sum(dim=tuple(range(1, rel.dim()))).tolist()
            layer_sums = [[float(li[s].sum()) for li in layer_in] for s in range(2)]

            if composite.startswith('gradient'):
                xg = x.double().clone().requires_grad_(True)
                with torch.enable_grad():
                    out = model.double()(xg)
                    (gt,) = torch.autograd.grad(out, xg, seed64)
                model.float()
                ref = gt * x.double() if composite == 'gradient_x_input' else gt
                err = ((ref - rel).abs().max() / rel.abs().max()).item()
                assert err < 1e-10, (name, cid, err)
            if not args.no_dense_check:
                mode = 'gradient' if composite.startswith('gradient') else 'lrp'
                for s in range(2):
                    lg, dr, ds = dense_engine(T, s, seed64[s].numpy(), plan, mode, bounds_for)
                    assert np.abs(lg - logits64[s].numpy()).max() < 1e-9
                    if composite == 'gradient_x_input':
                        dr = dr * x32[s].reshape(-1).astype(np.float64)
                    e = rel[s].reshape(-1).numpy()
                    err = np.abs(dr - e).max() / max(1e-30, np.abs(e).max())
                    serr = max(abs(a - b) for a, b in zip(ds, layer_sums[s])) / max(abs(v) for v in ds)
                    assert err < 1e-8 and serr < 1e-8, (name, cid, s, err, serr)

            fn = '%s.%s.%s.npy' % (name, cid, out_rel)
            np.save(os.path.join(args.out, fn), np.ascontiguousarray(rel.numpy().astype(np.float32)))
            outsum = [float(seed64[s].sum()) for s in range(2)]
            print('  %-30s %-5s rules=%s in=%s out=%s f32dev=%.1e' % (
                cid, out_rel, ','.join(labels), ['%.4g' % v for v in input_sum], ['%.4g' % v for v in outsum], dev32))
            cases.append({'id': '%s.%s' % (cid, out_rel), 'composite': composite, 'params': p,
                          'outputRelevance': out_rel, 'relevance': fn, 'rules': labels,
                          'outputSum': outsum, 'inputSum': input_sum, 'layerSums': layer_sums,
                          'float32Deviation': dev32})

        # conservation: on a copy of the model with all biases zero (BN shift too), epsilon / zPlus / flat lose
        # only the stabiliser share (alphaBeta(2,1) does not conserve where one of its two parts is empty)
        m0 = copy.deepcopy(model)
        with torch.no_grad():
            for mod in m0.modules():
                if isinstance(mod, (nn.Conv2d, nn.Linear)) and mod.bias is not None:
                    mod.bias.zero_()
                if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    mod.bias.zero_()
                    mod.running_mean.zero_()
        T0 = trace(m0, x, torch.float64)
        worst = 0.0
        residual = any(n['op'] == 'add' for n in T0.nodes)
        # (zPlus is not conserving in front of a residual Add: a branch unit with no positive contribution can
        # still receive relevance there, so only epsilon is checked on the resnet)
        for composite in ('epsilon',) if residual else ('epsilon', 'epsilon_plus', 'epsilon_plus_flat'):
            seed0 = make_seed(T0.values[T0.output], targets, 'logit')
            rel, layer_in, _, _ = run_case(T0, composite, {'epsilon': 1e-9, 'stabilizer': 1e-9}, seed0)
            for s in range(2):
                tot = float(seed0[s].sum())
                sums = [float(rel[s].sum())]
                if not residual:                                     # with a residual, layers see a share only
                    sums += [float(li[s].sum()) for li in layer_in]
                dev = max(abs(v - tot) for v in sums) / abs(tot)
                worst = max(worst, dev)
                assert dev < 1e-5, (name, composite, s, sums, tot)
        print('  conservation with zero biases: ok (max rel dev %.1e)' % worst)

        doc = {'model': name, 'files': files, 'input': name + '.input.npy', 'inputShape': [2] + list(shape),
               'targets': targets, 'logits': logits32.tolist(), 'bounds': bounds,
               'batchNormalizationNodes': bn_count, 'layers': layers, 'cases': cases,
               'notes': 'Reference LRP in float64 by scripts/golden/make_golden.py. layerSums[s][i]: sum of the '
                        'relevance the i-th linear layer (Conv/Gemm after BatchNorm merging, forward order; see '
                        'layers) returns to its input, for sample s. For the gradient composites layerSums hold '
                        'the gradient (not gradient x input) at each linear layer input. logits: PyTorch float32.'}
        with open(os.path.join(args.out, name + '.golden.json'), 'w') as f:
            json.dump(doc, f, indent=1)
            f.write('\n')
        print('%s: wrote %d cases' % (name, len(cases)))

    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print('total size of %s: %.1f kB' % (args.out, total / 1024))


if __name__ == '__main__':
    sys.exit(main())
