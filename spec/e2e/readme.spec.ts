/** The README's library example is examples/library.ts verbatim, and it runs. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../helpers/paths';

describe('README', () => {
  it('embeds examples/library.ts verbatim', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const example = fs.readFileSync(path.join(ROOT, 'examples/library.ts'), 'utf8').trim();
    expect(readme).to.contain(example);
  });

  it('library example runs and writes relevance.npy', async () => {
    const cwd = process.cwd();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-readme-'));
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { main } = require(path.join(ROOT, 'dist/examples/library.js'));
    process.chdir(dir);
    const log = console.log;
    try {
      console.log = () => undefined;
      const r = await main(path.join(ROOT, 'spec/fixtures/golden/cnn_bn-op17.onnx'), path.join(ROOT, 'spec/fixtures/golden/cnn_bn.input.npy'));
      expect(r.relevance.dims).to.deep.equal([2, 3, 16, 16]);
      expect(fs.existsSync(path.join(dir, 'relevance.npy'))).to.equal(true);
    } finally {
      console.log = log;
      process.chdir(cwd);
    }
  });
});
