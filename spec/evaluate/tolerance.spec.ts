/** One evaluation orchestrator: `onnx-lrp evaluate` (evaluateMethods) and `audit --evaluate` (evaluateInput)
 * measure maps with the same `measureMap` and the same settings; --tolerance reaches the pointing game. */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor, attribute, evaluateMethods, methodFor, evaluationSettings as auditSettings, localization, openModel, readNpy } from '../../lib';
import { evaluationSettings } from '../../lib/evaluate';
import { FIXTURES, ROOT } from '../helpers/paths';

const G = path.join(FIXTURES, 'golden');
const MODEL = path.join(G, 'gap-op17.onnx');
const INPUT = path.join(G, 'gap.input.npy');
const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const CORNER: [number, number, number, number] = [0, 0, 1, 1]; // one pixel: (0, 0)

describe('evaluation: one orchestrator, --tolerance', () => {
  it('evaluateMethods passes the tolerance to the pointing game (equal to localization on the same map)', async () => {
    const e = openModel(MODEL);
    try {
      const x = readNpy(INPUT) as Tensor & { data: Float32Array };
      const map = (await attribute(e, x, { method: 'gradient' })).relevance;
      const hits: number[][] = [];
      for (const tolerance of [0, 4, 30]) {
        const [row] = await evaluateMethods(e, x, { methods: [methodFor('gradient')], perturbation: { patch: 8 }, region: CORNER, tolerance });
        expect(row.localization!.pointingHits, `tolerance ${tolerance}`).to.deep.equal(localization(map, CORNER, { tolerance }).pointingHits);
        hits.push(row.localization!.pointingHits);
      }
      expect(hits[2]).to.deep.equal([1, 1]); // every pixel of a 16×16 input lies within 30 pixels of (0, 0)
      expect(hits[0]).to.not.deep.equal(hits[2]); // the gradient's maxima are not both at the corner
    } finally { await e.release(); }
  });

  it('both commands check and default their settings the same way', async () => {
    expect(auditSettings(true, {})).to.deep.equal(evaluationSettings());
    expect(auditSettings({ tolerance: 3, orders: ['lerf'] }, {})).to.deep.equal(evaluationSettings({ tolerance: 3, orders: ['lerf'] }));
    const e = openModel(MODEL);
    try {
      const x = readNpy(INPUT);
      for (const bad of [{ tolerance: -1 }, { perturbation: { patch: 0 } }]) {
        let err: Error | undefined;
        try { await evaluateMethods(e, x, { methods: [methodFor('random')], ...bad }); } catch (z) { err = z as Error; }
        expect(err?.message, JSON.stringify(bad)).to.match(/^evaluate: (tolerance|patch) must be an integer ≥ [01]/);
      }
    } finally { await e.release(); }
  });

  it('CLI: --tolerance changes the pointing game and is recorded in summary.json', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-tolerance-'));
    const pointing = (tolerance: string) => {
      const out = path.join(tmp, `t${tolerance}`);
      const r = spawnSync(process.execPath, [CLI, 'evaluate', MODEL, '--input', INPUT, '--methods', 'gradient', '--orders', 'morf', '--patch', '8',
        '--box', CORNER.join(','), '--tolerance', tolerance, '--out', out, '--quiet'], { encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      const s = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
      expect(s.tolerance).to.equal(Number(tolerance));
      return s.methods[0].localization.pointingAccuracy as number;
    };
    const alone = spawnSync(process.execPath, [CLI, 'evaluate', MODEL, '--input', INPUT, '--methods', 'random', '--tolerance', '2'], { encoding: 'utf8' });
    expect(alone.status).to.equal(2);
    expect(alone.stderr).to.match(/--tolerance is a pointing-game setting: add --mask or --box/);
    const far = pointing('30');
    expect(far).to.equal(1);
    expect(pointing('0')).to.be.below(far);
  });
});
