/** The generated tables (scripts/ops-table.ts) — the op table in docs/ops.md, the verified architectures in
 * docs/architectures.md and their summary in README.md — must match the registry, the composites and
 * docs/architectures.json. */
import { expect } from 'chai';
import * as fs from 'fs';
import { supportedOps } from '../../lib/ops/registry';
import { COMPOSITE_NAMES } from '../../lib/plan/composites';
import { RESULTS_FILE, Result } from '../../scripts/architectures';
import { PAGES, README, architecturesSummary, opTable } from '../../scripts/ops-table';

describe('docs: generated op table and verified architectures', () => {
  it('every generated page is up to date (otherwise: npm run ops-table)', () => {
    expect(PAGES.map((p) => p.file)).to.include(README);
    for (const { file, render } of PAGES) {
      const text = fs.readFileSync(file, 'utf8');
      expect(render(text) === text, `${file} is out of date: run npm run ops-table`).to.equal(true);
    }
  });

  it('lists every op of the registry once, with its category and a rule for it', () => {
    const table = opTable().split('\n').slice(2);
    const ops = supportedOps();
    expect(table).to.have.length(ops.length);
    for (const o of ops) {
      const name = o.domain ? `${o.domain}::${o.type}` : o.type;
      const row = table.find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, name).to.be.a('string');
      const cells = row!.split(' | ');
      expect(cells[2], `${name}: category`).to.not.equal('');
      expect(cells[3], `${name}: rule`).to.not.equal('');
      for (const c of o.categories) expect(cells[2], `${name}: category ${c.category}`).to.contain(c.category);
    }
  });

  it('records both CNN composites for every verified CNN, attnlrp for a transformer (layer norms in its graph)', () => {
    const { results } = JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8')) as { results: Result[] };
    const models = new Set(results.map((r) => `${r.family}/${r.model}`));
    expect(models.size).to.be.at.least(9);
    for (const m of models) {
      const rows = results.filter((r) => `${r.family}/${r.model}` === m);
      const composites = rows.map((r) => r.composite).sort();
      expect(composites, m).to.deep.equal(rows[0].ops.LayerNormalization ? ['attnlrp'] : ['epsilon_gamma_box', 'epsilon_plus_flat']);
      expect(COMPOSITE_NAMES).to.include.members(composites);
    }
  });

  it("the README's summary names every verified architecture once, in its source's row", () => {
    const { results } = JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8')) as { results: Result[] };
    const rows = architecturesSummary(results).split('\n').slice(2);
    const families = [...new Set(results.map((r) => r.family))];
    expect(rows).to.have.length(families.length);
    for (const f of families) {
      const row = rows.find((l) => l.startsWith(`| ${f} |`));
      expect(row, f).to.be.a('string');
      const listed = row!.split(' | ')[1].split(', ');
      expect(listed, f).to.deep.equal([...new Set(results.filter((r) => r.family === f).map((r) => r.model))]);
    }
    const torchvision = rows.find((l) => l.startsWith('| torchvision |'));
    if (torchvision) expect(torchvision).to.match(/logits equal PyTorch's \(max Δ \d\.\de-\d+\)/);
  });
});
