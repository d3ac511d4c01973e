/** The audit's index.html opened from disk (file://, no server) in headless Chromium (Debian's `chromium`,
 * driven by playwright-core): every thumbnail loads. Skips with a message where Chromium is absent. Also the
 * report's text: relative, percent-encoded links; failures listed with their reason; CSV quoting. */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { AuditSummary, audit, indexHtml, readNpy, summaryCsv, tensorToImage, writePng } from '../../lib';
import { ROOT } from '../helpers/paths';

const G = path.join(ROOT, 'spec/fixtures/golden');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('audit report (index.html)', () => {
  let tmp: string, out: string, summary: AuditSummary;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-report-'));
    const inDir = path.join(tmp, 'in put');
    out = path.join(tmp, 'report out');
    const x = readNpy(path.join(G, 'cnn_bn.input.npy'));
    fs.mkdirSync(path.join(inDir, 'class #1'), { recursive: true });
    await writePng(path.join(inDir, 'a.png'), tensorToImage(x, { valueRange: [-3, 3], index: 0 }));
    await writePng(path.join(inDir, 'class #1', 'b&c?.png'), tensorToImage(x, { valueRange: [-3, 3], index: 1 }));
    fs.writeFileSync(path.join(inDir, 'broken.png'), 'not a png');
    summary = await audit({ model: path.join(G, 'cnn_bn-op17.onnx'), folder: inDir, out, composites: ['epsilon_plus_flat', 'epsilon_gamma_box'], options: { low: -3, high: 3 } });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('links every file by a relative, percent-encoded path that exists; failures show their reason', () => {
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    const srcs = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]);
    expect(srcs).to.have.length(2 * 3); // 2 explained inputs × (input + 2 composites)
    for (const s of srcs) {
      expect(s).not.to.match(/^(\/|[a-z]+:)/i);
      expect(fs.existsSync(path.join(out, decodeURIComponent(s.replace(/&amp;/g, '&')))), s).to.equal(true);
    }
    expect(html).to.contain('class%20%231/b%26c%3F.input.png');
    expect(html).to.match(/broken\.png.*\n?.*cannot decode the image/);
    expect(indexHtml({ ...summary, model: '<script>' })).to.contain('&lt;script&gt;').and.not.to.contain('<script>');
    const csv = summaryCsv({ ...summary, inputs: [{ input: 'a,"b"', status: 'error', error: 'line\nbreak', files: {}, methods: {} }] });
    expect(csv.split('\n')[1]).to.equal('"a,""b""",,error,"line');
  });

  it('renders in headless Chromium from disk with every thumbnail loaded', async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`      (skipped: ${CHROMIUM} not found; .ci/run installs Debian's chromium with apt-get where it can)`);
      this.skip();
    }
    let playwright: typeof import('playwright-core');
    try {
      playwright = require('playwright-core');
    } catch {
      console.log('      (skipped: the playwright-core dev dependency is not installed)');
      this.skip();
    }
    const browser = await playwright!.chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
      const failed: string[] = [];
      page.on('requestfailed', (r) => failed.push(r.url()));
      await page.goto(pathToFileURL(path.join(out, 'index.html')).href, { waitUntil: 'load' });
      const imgs = await page.$$eval('img', (els) => els.map((e) => {
        const i = e as unknown as { complete: boolean; naturalWidth: number; naturalHeight: number; getAttribute(n: string): string | null };
        return { src: i.getAttribute('src'), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight };
      }));
      expect(imgs).to.have.length(6);
      for (const i of imgs) expect(i.complete && i.w > 0 && i.h > 0, `${i.src} did not load`).to.equal(true);
      expect(failed).to.deep.equal([]);
      expect(await page.title()).to.contain('onnx-lrp audit');
      expect(await page.locator('tr.error').count()).to.equal(1);
    } finally {
      await browser.close();
    }
  });
});
