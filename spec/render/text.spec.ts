import { expect } from 'chai';
import { bwr, coldnhot } from '../../lib/render/colormap';
import { textHeatmapPng } from '../../lib/render/jimp';
import { colorTokens, textHeatmapHtml, wrapBoxes } from '../../lib/render/text';

describe('text heatmaps (lib/render/text.ts, jimp.ts)', () => {
  const tokens = ['[CLS]', 'un', '##aff', 'cat', '<b>', '[PAD]'];
  const rel = [0, 2, -2, 1, 0, 0];

  it('colours tokens with the image colormaps, signed: + red, − blue, 0 the centre colour', () => {
    const { tokens: cs, scale } = colorTokens(tokens, rel, { percentile: 100, hide: ['[PAD]'] });
    expect(scale).to.equal(2);
    expect(cs.map((c) => c.token)).to.deep.equal(['[CLS]', 'un', '##aff', 'cat', '<b>']);
    expect(cs[1].background).to.deep.equal(bwr(1));
    expect(cs[2].background).to.deep.equal(bwr(0));
    expect(cs[3].background).to.deep.equal(bwr(0.75));
    expect(cs[0].background).to.deep.equal([255, 255, 255]);
    expect(cs[2]).to.include({ text: 'aff', joined: true });
    expect(cs[2].foreground).to.deep.equal([255, 255, 255]); // pure blue: white text
    const dark = colorTokens(tokens, rel, { percentile: 100, colormap: 'coldnhot' }).tokens;
    expect(dark[0].background).to.deep.equal(coldnhot(0.5));
    expect(dark[0].foreground).to.deep.equal([255, 255, 255]); // coldnhot's zero is black
    expect(() => colorTokens(['a'], [1, 2])).to.throw(/1 tokens but 2 relevance values/);
  });

  it('HTML: one span per token, escaped, relevance in the title, continuations joined', () => {
    const html = textHeatmapHtml(tokens, rel, { percentile: 100, hide: ['[PAD]'] });
    expect(html).to.not.include('<b>');
    expect(html).to.include('&#60;b&#62;');
    expect(html).to.include('title="##aff: -2.000"');
    expect(html).to.match(/>un<\/span><span[^>]*>aff</); // no space before a continuation
    expect(html.match(/<span title=/g)).to.have.length(5);
  });

  it('wraps boxes greedily into lines, keeping continuations on their word\'s line', () => {
    const w = wrapBoxes([30, 30, 30, 10], [false, false, false, true], 70, 5);
    expect(w.line).to.deep.equal([0, 0, 1, 1]);
    expect(w.x).to.deep.equal([0, 35, 0, 30]);
    expect(w.lines).to.equal(2);
  });

  it('PNG: token boxes painted in their colours, lines wrapped to the width', async () => {
    const img = await textHeatmapPng(['good', 'bad'], [1, -1], { percentile: 100, width: 400 });
    const at = (x: number, y: number) => Array.from(img.rgba.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3));
    expect(at(4, 4)).to.deep.equal([255, 0, 0]); // inside the first box, left of its text
    const row = [...Array(img.width).keys()].map((x) => at(x, 4).join(','));
    expect(row).to.include('0,0,255');
    const narrow = await textHeatmapPng(['good', 'bad', 'tokens', 'here'], [1, -1, 0.5, 0], { width: 60 });
    expect(narrow.height).to.be.greaterThan(3 * img.height);
    expect(narrow.width).to.be.at.most(60);
  });
});
