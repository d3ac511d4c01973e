/** The Fashion-MNIST models shipped in models/: they load in onnxruntime-node, their metadata is complete,
 * and they classify the sample images as samples.json says. */

import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { Jimp } from 'jimp';
import { onnx } from 'onnx-proto';
import { ROOT } from '../helpers/paths';
import type { Sample } from '../../scripts/accuracy';

const MODELS_DIR = path.join(ROOT, 'models');
const SAMPLES_DIR = path.join(MODELS_DIR, 'samples');

const LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const MEAN = 0.286;
const STD = 0.353;

/** Test accuracy each model must reach (issue 3), and the exact set of ops in its graph. */
const MODELS: Record<string, { threshold: number; ops: string[] }> = {
  'fashion-mlp': { threshold: 0.87, ops: ['Flatten', 'Gemm', 'Relu'] },
  'fashion-vgg': { threshold: 0.91, ops: ['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Flatten', 'Gemm'] },
  'fashion-resnet': { threshold: 0.91, ops: ['Conv', 'BatchNormalization', 'Relu', 'Add', 'GlobalAveragePool', 'Flatten', 'Gemm'] },
  'fashion-mobilenet': { threshold: 0.89, ops: ['Conv', 'BatchNormalization', 'Clip', 'Constant', 'Add', 'GlobalAveragePool', 'Flatten', 'Gemm'] },
};

function readJson<T = any>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

function argmaxRows(data: Float32Array, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (data[r * cols + c] > data[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}

/** The sample PNGs as one normalised N x 1 x 28 x 28 batch (the red channel of Jimp's RGBA bitmap). */
async function sampleBatch(samples: Sample[]): Promise<Float32Array> {
  const x = new Float32Array(samples.length * 784);
  for (let s = 0; s < samples.length; s++) {
    const image = await Jimp.read(path.join(SAMPLES_DIR, samples[s].file));
    expect([image.bitmap.width, image.bitmap.height], samples[s].file).to.deep.equal([28, 28]);
    const rgba = image.bitmap.data;
    for (let i = 0; i < 784; i++) x[s * 784 + i] = (rgba[4 * i] / 255 - MEAN) / STD;
  }
  return x;
}

describe('shipped Fashion-MNIST models', () => {
  const samples = readJson<Sample[]>(path.join(SAMPLES_DIR, 'samples.json'));
  let sampleInput: Float32Array;

  before(async () => {
    sampleInput = await sampleBatch(samples);
  });

  describe('models/samples', () => {
    it('has one grayscale PNG per class, taken from the test set', () => {
      expect(samples.map((s) => s.label)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      for (const s of samples) {
        expect(s.labelName).to.equal(LABELS[s.label]);
        expect(s.file).to.match(new RegExp(`^${s.label}-[a-z-]+\\.png$`));
        expect(fs.existsSync(path.join(SAMPLES_DIR, s.file)), s.file).to.equal(true);
        expect(s.testIndex).to.be.a('number').within(0, 9999);
        expect(Object.keys(s.correct).sort()).to.deep.equal(Object.keys(MODELS).sort());
      }
    });

    it('holds gray pixels (R = G = B, opaque)', async () => {
      const image = await Jimp.read(path.join(SAMPLES_DIR, samples[0].file));
      const d = image.bitmap.data;
      for (let i = 0; i < d.length; i += 4) {
        expect(d[i + 1]).to.equal(d[i]);
        expect(d[i + 2]).to.equal(d[i]);
        expect(d[i + 3]).to.equal(255);
      }
    });
  });

  for (const [name, expected] of Object.entries(MODELS)) {
    describe(name, () => {
      const metaPath = path.join(MODELS_DIR, `${name}.json`);
      const meta = readJson(metaPath);
      const modelPath = path.join(MODELS_DIR, `${name}.onnx`);
      let session: ort.InferenceSession;

      before(async () => {
        session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
      });
      after(async () => {
        await session?.release();
      });

      it('has complete metadata', () => {
        expect(meta).to.have.all.keys('name', 'file', 'description', 'dataset', 'labels', 'input', 'output',
          'bounds', 'accuracy', 'training', 'opset');
        expect(meta.name).to.equal(name);
        expect(meta.file).to.equal(`${name}.onnx`);
        expect(meta.description).to.be.a('string').and.match(/^[^\n]{10,}$/);
        expect(meta.dataset).to.equal('Fashion-MNIST');
        expect(meta.labels).to.deep.equal(LABELS);
        expect(meta.input).to.deep.equal({
          name: 'input', shape: [null, 1, 28, 28], layout: 'NCHW', channels: 'grayscale',
          valueRange: [0, 1], mean: [MEAN], std: [STD],
        });
        expect(meta.output).to.deep.equal({ name: 'logits' });
        expect(meta.bounds).to.have.all.keys('low', 'high');
        expect(meta.bounds.low).to.have.lengthOf(1);
        expect(meta.bounds.high).to.have.lengthOf(1);
        expect(meta.bounds.low[0]).to.be.closeTo((0 - MEAN) / STD, 1e-9);
        expect(meta.bounds.high[0]).to.be.closeTo((1 - MEAN) / STD, 1e-9);
        expect(meta.accuracy).to.deep.equal({
          test: meta.accuracy.test, split: 'Fashion-MNIST test set (10,000 images)', measuredBy: 'npm run accuracy',
        });
        expect(meta.accuracy.test).to.be.a('number').within(expected.threshold, 1);
        expect(Math.round(meta.accuracy.test * 10000) / 10000).to.equal(meta.accuracy.test);
        expect(meta.training).to.have.all.keys('command', 'seed', 'epochs', 'torch', 'parameters');
        expect(meta.training.command).to.equal(`/usr/bin/python3 scripts/train_fashion.py --model ${name.replace('fashion-', '')}`);
        expect(meta.training.seed).to.be.a('number');
        expect(Number.isInteger(meta.training.epochs) && meta.training.epochs > 0).to.equal(true);
        expect(meta.training.torch).to.match(/^\d+\.\d+\.\d+$/);
        expect(Number.isInteger(meta.training.parameters) && meta.training.parameters > 0).to.equal(true);
        expect(meta.opset).to.equal(17);
      });

      it('is a small opset-17 graph with the promised ops', () => {
        const bytes = fs.readFileSync(modelPath);
        expect(bytes.length).to.be.below(5 * 1024 * 1024);
        const model = onnx.ModelProto.decode(bytes);
        const opset = model.opsetImport.find((o) => !o.domain);
        expect(Number(opset?.version)).to.equal(17);
        const graph = model.graph as onnx.GraphProto;
        const nodes = graph.node as onnx.NodeProto[];
        const ops = new Set(nodes.map((n) => n.opType));
        expect([...ops].sort()).to.deep.equal([...expected.ops].sort());
        expect(graph.input.map((v) => v.name).filter((n) => !graph.initializer.some((t) => t.name === n))).to.deep.equal(['input']);
        expect(graph.output.map((v) => v.name)).to.deep.equal(['logits']);
        // the batch axis is symbolic
        const dims = graph.input.find((v) => v.name === 'input')!.type!.tensorType!.shape!.dim ?? [];
        expect(dims[0].dimParam).to.be.a('string').and.not.equal('');
        expect(dims.slice(1).map((d) => Number(d.dimValue))).to.deep.equal([1, 28, 28]);
        let params = 0;
        for (const t of graph.initializer) {
          if (t.dataType === onnx.TensorProto.DataType.FLOAT) params += (t.dims ?? []).reduce((a, d) => a * Number(d), 1);
        }
        // BatchNormalization's running mean and variance are stored but are not parameters
        expect(params).to.be.at.least(meta.training.parameters);
        if (name === 'fashion-mobilenet') {
          const grouped = nodes.filter((n) => n.opType === 'Conv' && n.attribute.some((a) => a.name === 'group' && Number(a.i) > 1));
          expect(grouped.length, 'depthwise convolutions').to.be.at.least(3);
        }
      });

      it('loads in onnxruntime-node and returns [N,10] logits', async () => {
        expect(session.inputNames).to.deep.equal(['input']);
        expect(session.outputNames).to.deep.equal(['logits']);
        for (const n of [1, 3]) {
          const x = new Float32Array(n * 784);
          for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 256 / 255 - MEAN) / STD;
          const out = await session.run({ input: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
          expect(out.logits.dims).to.deep.equal([n, 10]);
          for (const v of out.logits.data as Float32Array) expect(Number.isFinite(v)).to.equal(true);
        }
      });

      it('predicts the label of every sample marked correct for it (and not of those marked wrong)', async () => {
        const out = await session.run({ input: new ort.Tensor('float32', sampleInput, [samples.length, 1, 28, 28]) });
        const predicted = argmaxRows(out.logits.data as Float32Array, samples.length, 10);
        samples.forEach((s, i) => {
          expect(predicted[i] === s.label, `${name} on ${s.file}: predicted ${LABELS[predicted[i]]}`).to.equal(s.correct[name]);
        });
      });
    });
  }
});
