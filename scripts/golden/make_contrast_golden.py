#!/usr/bin/python3
"""Float64 references for the class-discriminative output relevance modes (issue 15) on the golden models.

Uses the independent PyTorch LRP reference of make_golden.py (its models, tapes, rule plans and backward pass;
nothing of onnx-lrp) and writes spec/fixtures/golden-contrast/: per model a JSON of cases and float32 .npy maps.
The golden models and inputs themselves stay in spec/fixtures/golden/ (read, not rewritten).

    /usr/bin/python3 scripts/golden/make_contrast_golden.py

Modes, as lib/explain/contrast.ts defines them (S_t: the target logit for LRP, 1 for the gradient):
  contrastive, dual 'others'  (CLRP1): R(S_t e_t) - R(S_t/(C-1) sum_{i != t} e_i), clipped at 0 (and unclipped)
  contrastive, dual 'negated' (CLRP2): R(S_t e_t) - R'(S_t e_t), R' on the model with the output layer negated
  softmax (SGLRP): R(g), g_i = dp_t/dz_i = p_t (delta_it - p_i)
  contrast K: R(S_t e_t - S_K e_K)
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402

GOLDEN = os.path.join(mg.REPO, 'spec', 'fixtures', 'golden')
OUT = os.path.join(mg.REPO, 'spec', 'fixtures', 'golden-contrast')
MODELS = ['mlp', 'vgg', 'resnet']
BASE = {'epsilon': 1e-6, 'stabilizer': mg.STAB, 'zeroBias': False}
COMPOSITES = [('epsilon_plus', BASE), ('epsilon_alpha2_beta1', BASE), ('excitation_backprop', BASE), ('gradient', {})]


def relevance(T, composite, p, seed):
    if composite == 'excitation_backprop':   # zPlus = alphaBeta(1, 0) on every linear layer (make_golden has no such plan)
        plan = [('alphaBeta', {'alpha': 1.0, 'beta': 0.0, 'stabilizer': mg.STAB, 'zeroBias': False}) for _ in T.linear]
        return mg.backward(T, seed, plan, 'lrp')[0]
    rel, _, _, _ = mg.run_case(T, composite, p, seed)
    return rel


def negated_model(model):
    """A copy whose last nn.Linear has its weight and bias negated (the dual neurons of CLRP2)."""
    import copy
    m = copy.deepcopy(model)
    last = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.neg_()
        if last.bias is not None:
            last.bias.neg_()
    return m


def cases_for(name):
    g = json.load(open(os.path.join(GOLDEN, name + '.golden.json')))
    model, _, _ = mg.build_model(name)
    model.eval()
    x = torch.from_numpy(np.load(os.path.join(GOLDEN, g['input'])))
    T = mg.trace(model, x, torch.float64)
    Tn = mg.trace(negated_model(model), x, torch.float64)
    z = T.values[T.output]
    assert np.abs(z.numpy() - np.array(g['logits'])).max() < 1e-4, name
    targets = g['targets']
    C = z.shape[1]
    contrast = next(k for k in range(C) if k not in targets)
    cases = []
    for composite, p in COMPOSITES:
        scale = [1.0 if composite == 'gradient' else float(z[s, t]) for s, t in enumerate(targets)]
        seed_t = torch.zeros_like(z)
        seed_others = torch.zeros_like(z)
        seed_k = torch.zeros_like(z)
        seed_sm = torch.zeros_like(z)
        for s, t in enumerate(targets):
            seed_t[s, t] = scale[s]
            seed_others[s] = scale[s] / (C - 1)
            seed_others[s, t] = 0
            sk = 1.0 if composite == 'gradient' else float(z[s, contrast])
            seed_k[s, t] = scale[s]
            seed_k[s, contrast] = -sk
            pr = torch.softmax(z[s], 0)
            seed_sm[s] = -pr[t] * pr
            seed_sm[s, t] = pr[t] * (1 - pr[t])
        r_t = relevance(T, composite, p, seed_t)
        diff_others = r_t - relevance(T, composite, p, seed_others)
        diff_negated = r_t - relevance(Tn, composite, p, seed_t)
        maps = [
            ('contrastive.others', {'outputRelevance': 'contrastive', 'dual': 'others'}, diff_others.clamp(min=0)),
            ('contrastive.others.unclipped', {'outputRelevance': 'contrastive', 'dual': 'others', 'clip': False}, diff_others),
            ('contrastive.negated.unclipped', {'outputRelevance': 'contrastive', 'dual': 'negated', 'clip': False}, diff_negated),
            ('softmax', {'outputRelevance': 'softmax'}, relevance(T, composite, p, seed_sm)),
            ('contrast', {'contrast': contrast}, relevance(T, composite, p, seed_k)),
        ]
        for cid, opts, rel in maps:
            fn = '%s.%s.%s.npy' % (name, composite, cid)
            np.save(os.path.join(OUT, fn), np.ascontiguousarray(rel.numpy().astype(np.float32)))
            scale_ = float(rel.abs().max())
            cases.append({'id': '%s.%s' % (composite, cid), 'composite': composite, 'params': p, 'options': opts,
                          'relevance': fn, 'maxAbs': scale_})
            print('  %-45s max |R| %.3g' % (composite + '.' + cid, scale_))
    return {'model': name, 'file': g['files'][-1], 'input': g['input'], 'targets': targets, 'cases': cases,
            'notes': 'float64 references by scripts/golden/make_contrast_golden.py from make_golden.py\'s LRP; '
                     'model and input in spec/fixtures/golden/'}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in MODELS:
        print(name)
        doc = cases_for(name)
        with open(os.path.join(OUT, name + '.contrast.json'), 'w') as f:
            json.dump(doc, f, indent=1)
            f.write('\n')


if __name__ == '__main__':
    main()
