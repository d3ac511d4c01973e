/** Loader hardening found by the libonnx-testdata check and the fuzz test: sizes checked before allocating,
 * clear errors for what the IR cannot hold, internal errors never passing for a property of the file. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import { loadModelFile } from '../../lib/node-io';
import { ModelLoadError, loadModel } from '../../lib/onnx/load';
import { onnx } from '../../lib/onnx/proto';
import { saveModel } from '../../lib/onnx/save';
import { canonize } from '../../lib/canonize';
import { crashReason, isClearError } from '../../scripts/robustness';
import { encodeModel, f32of, runGraph, valueInfoProto } from '../helpers/onnx';
import { float32 } from '../../lib/tensor';

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

function withInit(init: onnx.ITensorProto, extra: Partial<onnx.IGraphProto> = {}): Uint8Array {
  return encodeModel({
    graph: {
      name: 'g', initializer: [init],
      node: [{ name: 'id', opType: 'Identity', input: [init.name!], output: ['o'] }],
      output: [valueInfoProto('o', 1)], ...extra,
    },
  });
}

function loadError(bytes: Uint8Array, re: RegExp, source = 'm.onnx'): Error {
  let err: unknown;
  try {
    loadModel(bytes, { source });
  } catch (e) {
    err = e;
  }
  expect(err, 'loadModel should throw').to.be.instanceOf(ModelLoadError);
  expect((err as Error).message).to.match(re);
  expect((err as Error).message.startsWith(`${source}: `)).to.equal(true);
  expect(crashReason(err), 'not an internal error').to.equal(null);
  return err as Error;
}

describe('robustness: loader hardening', () => {
  describe('sizes are checked before anything is allocated', () => {
    it('bfloat16 with a huge declared shape and no data (used to allocate first)', () => {
      loadError(withInit({ name: 'w', dataType: T.BFLOAT16, dims: [1e9, 1e9] }), /tensor 'w': shape \[1000000000,1000000000\] declares 1000000000000000000 elements, more than/);
      loadError(withInit({ name: 'w', dataType: T.BFLOAT16, dims: [1e9], rawData: new Uint8Array(4) }), /tensor 'w': raw_data holds 4 bytes, the shape \[1000000000\] needs 2000000000/);
      loadError(withInit({ name: 'w', dataType: T.BFLOAT16, dims: [3], int32Data: [1] }), /tensor 'w': holds 1 values, the shape \[3\] needs 3/);
    });

    it('float32 with dims near 2^31 and 2^63, negative dims, a raw_data length mismatch', () => {
      loadError(withInit({ name: 'w', dataType: T.FLOAT, dims: [2 ** 30], rawData: new Uint8Array(8) }), /raw_data holds 8 bytes, the shape needs 4294967296/);
      loadError(withInit({ name: 'w', dataType: T.FLOAT, dims: ['9223372036854775807' as unknown as number] }), /tensor 'w': invalid dimensions|declares/);
      loadError(withInit({ name: 'w', dataType: T.FLOAT, dims: [-1, 4] }), /tensor 'w': invalid dimensions \[-1,4\]/);
    });

    it('strings: a count mismatch and strings in raw_data', () => {
      loadError(withInit({ name: 's', dataType: T.STRING, dims: [3], stringData: [new Uint8Array([97])] }), /tensor 's': holds 1 strings, the shape \[3\] needs 3/);
      loadError(withInit({ name: 's', dataType: T.STRING, dims: [1], rawData: new Uint8Array([97]) }), /tensor 's': a string tensor with raw_data/);
    });

    it('a data type of 0 (UNDEFINED) or one the library does not know', () => {
      loadError(withInit({ name: 'w', dims: [1], floatData: [1] }), /tensor 'w': no data type/);
      loadError(withInit({ name: 'w', dataType: 99, dims: [1], floatData: [1] }), /tensor 'w': unknown data type 99/);
    });
  });

  describe('external data', () => {
    let dir: string;
    before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-lrp-robust-')); });
    after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

    function ext(entries: Record<string, string>, dims = [3]): Uint8Array {
      return withInit({
        name: 'w', dataType: T.FLOAT, dims, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
      });
    }
    function fileError(bytes: Uint8Array, re: RegExp): void {
      const f = path.join(dir, 'model.onnx');
      fs.writeFileSync(f, bytes);
      let err: unknown;
      try { loadModelFile(f); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(ModelLoadError);
      expect((err as Error).message).to.match(re);
      expect((err as Error).message.startsWith(`${f}: `)).to.equal(true);
      expect((err as Error).message.indexOf(f, 1), 'the file is named once').to.equal(-1);
      expect(crashReason(err)).to.equal(null);
    }

    it('offsets and lengths that are not byte counts, a length the shape does not need', () => {
      fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.alloc(12));
      fileError(ext({ location: 'w.bin', offset: 'abc' }), /external data offset 'abc' is not a byte count/);
      fileError(ext({ location: 'w.bin', offset: '-4' }), /external data offset '-4' is not a byte count/);
      fileError(ext({ location: 'w.bin', length: '1e20' }), /external data length '1e20' is not a byte count/);
      fileError(ext({ location: 'w.bin', length: '8' }), /external data length 8 bytes, the shape \[3\] needs 12/);
      fileError(ext({ location: 'w.bin', offset: '99999999999' }), /is shorter than offset 99999999999/);
    });

    it('a file holding fewer or more bytes than the tensor needs is refused before it is read', () => {
      fs.writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(4096));
      fileError(ext({ location: 'big.bin' }), /external data 'big.bin' holds 4096 bytes from offset 0, the tensor needs 12/);
      fileError(ext({ location: 'big.bin' }, [1e6]), /holds 4096 bytes from offset 0, the tensor needs 4000000/);
    });

    it("a directory, a NUL byte, '..' and an absolute path", () => {
      fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
      fileError(ext({ location: 'sub' }), /external data 'sub' is not a regular file/);
      fileError(ext({ location: 'w\u0000.bin' }), /external data file 'w\u0000.bin' cannot be read/);
      fileError(ext({ location: '..' }), /leaves the model's folder; refused/);
      fileError(ext({ location: '/etc/passwd' }), /leaves the model's folder; refused/);
    });

    it("a file whose name starts with '..' inside the folder is not taken for a parent", () => {
      fs.writeFileSync(path.join(dir, '..w.bin'), Buffer.from(Float32Array.of(1, 2, 3).buffer));
      const f = path.join(dir, 'model.onnx');
      fs.writeFileSync(f, ext({ location: '..w.bin' }));
      expect(Array.from(loadModelFile(f).graph.constant('w')!.data as Float32Array)).to.deep.equal([1, 2, 3]);
    });
  });

  describe('what the IR cannot hold is refused by name', () => {
    it('sequence, optional and map graph inputs and outputs', () => {
      const seq: onnx.IValueInfoProto = { name: 's', type: { sequenceType: { elemType: { tensorType: { elemType: 1 } } } } };
      loadError(encodeModel({ graph: { name: 'g', node: [{ opType: 'Identity', input: ['s'], output: ['o'] }], input: [seq], output: [valueInfoProto('o', 1)] } }), /graph input 's' is a sequence, not a dense tensor/);
      const opt: onnx.IValueInfoProto = { name: 'o', type: { optionalType: { elemType: { tensorType: { elemType: 1 } } } } };
      loadError(encodeModel({ graph: { name: 'g', node: [{ opType: 'Identity', input: ['x'], output: ['o'] }], input: [valueInfoProto('x', 1, [1])], output: [opt] } }), /graph output 'o' is an optional, not a dense tensor/);
      loadError(encodeModel({ graph: { name: 'g', node: [{ opType: 'Identity', input: ['x'], output: ['o'] }], input: [valueInfoProto('x', 77, [1])], output: [valueInfoProto('o', 1)] } }), /graph input 'x' has element type 77/);
    });

    it('sparse, tensor-list, type and unknown attribute types name the node, op and attribute', () => {
      const m = (a: onnx.IAttributeProto) => encodeModel({ graph: { name: 'g', node: [{ name: 'c', opType: 'Constant', output: ['o'], attribute: [a] }], output: [valueInfoProto('o', 1)] } });
      loadError(m({ name: 'sparse_value', type: A.SPARSE_TENSOR, sparseTensor: {} }), /node 'c' \(Constant\): attribute 'sparse_value' is a sparse tensor: not supported/);
      loadError(m({ name: 'v', type: A.TENSORS, tensors: [{}] }), /attribute 'v' is a list of tensors/);
      loadError(m({ name: 'v', type: A.TYPE_PROTO, tp: {} }), /attribute 'v' is a type/);
      loadError(m({ name: 'v', type: 42 as onnx.AttributeProto.AttributeType }), /attribute 'v' has type 42/);
      loadError(m({ name: 'value', type: A.TENSOR }), /attribute 'value' is a tensor attribute without a tensor/);
      loadError(m({ name: 'value', type: A.TENSOR, t: { dataType: T.FLOAT, dims: [2], floatData: [1] } }), /node 'c' \(Constant\): attribute 'value': tensor '': holds 1 values, the shape \[2\] needs 2/);
    });

    it('a node without an op type, an initializer declared twice', () => {
      loadError(encodeModel({ graph: { name: 'g', node: [{ name: 'n', input: ['x'], output: ['o'] }], input: [valueInfoProto('x', 1, [1])], output: [valueInfoProto('o', 1)] } }), /node 0 'n' has no op type/);
      const w = { name: 'w', dataType: T.FLOAT, dims: [1], floatData: [1] };
      loadError(withInit(w, { initializer: [w, w] }), /initializer 'w' is declared twice/);
    });
  });

  describe('node arity and graph shape', () => {
    const m = (node: onnx.INodeProto, inputs = ['x']) => encodeModel({
      graph: { name: 'g', node: [node], input: inputs.map((i) => valueInfoProto(i, 1, [1, 3, 4, 4])), output: [valueInfoProto('y', 1)] },
    });
    it('a node with too few or too many inputs or outputs for its op is refused naming node, op and opset', () => {
      loadError(m({ name: 'bn', opType: 'BatchNormalization', input: ['x'], output: ['y'] }), /node 'bn' \(BatchNormalization, opset 13\) has 1 input; the op takes 5/);
      loadError(m({ name: 'r', opType: 'Relu', input: ['x', 'x'], output: ['y'] }), /node 'r' \(Relu, opset 13\) has 2 inputs; the op takes 1/);
      loadError(m({ name: 'c', opType: 'Conv', input: ['x', ''], output: ['y'] }), /node 'c' \(Conv, opset 13\) has 1 input; the op takes 2 to 3/);
      loadError(m({ name: 'c', opType: 'Conv', input: ['', 'x'], output: ['y'] }), /node 'c' \(Conv, opset 13\): required input 0 is empty/);
      loadError(m({ name: 'mp', opType: 'MaxPool', input: ['x'], output: ['y', 'i', 'z'] }), /has 3 outputs; the op gives 1 to 2/);
    });
    it('optional inputs and outputs, given or omitted, pass (Clip, Dropout, Pad)', () => {
      loadModel(m({ name: 'c', opType: 'Clip', input: ['x', '', 'x'], output: ['y'] }));
      loadModel(m({ name: 'd', opType: 'Dropout', input: ['x'], output: ['y', ''] }));
      loadModel(m({ name: 'd', opType: 'Dropout', input: ['x'], output: ['y', 'mask'] }));
    });
    it('a graph without outputs', () => {
      loadError(encodeModel({ graph: { name: 'g', node: [{ opType: 'Relu', input: ['x'], output: ['y'] }], input: [valueInfoProto('x', 1, [1])] } }), /the graph declares no outputs/);
    });
    // no timed assert (machines differ); a quadratic sort would take minutes here and hit mocha's timeout
    it('20,000 parallel nodes sort; a cycle through a 20,000-node chain is reported', () => {
      const wide: onnx.INodeProto[] = Array.from({ length: 20000 }, (_, i) => ({ name: `r${i}`, opType: 'Relu', input: ['x'], output: [`r${i}`] }));
      wide.push({ name: 'sum', opType: 'Sum', input: wide.map((n) => n.output![0]), output: ['y'] });
      expect(loadModel(encodeModel({ graph: { name: 'g', node: wide.reverse(), input: [valueInfoProto('x', 1, [1])], output: [valueInfoProto('y', 1)] } })).graph.nodes.length).to.equal(20001);
      const chain: onnx.INodeProto[] = Array.from({ length: 20000 }, (_, i) => ({ name: `r${i}`, opType: 'Relu', input: [i ? `r${i - 1}` : `r${19999}`], output: [`r${i}`] }));
      chain.push({ name: 'last', opType: 'Relu', input: ['r19999'], output: ['y'] });
      loadError(encodeModel({ graph: { name: 'g', node: chain, input: [valueInfoProto('x', 1, [1])], output: [valueInfoProto('y', 1)] } }), /the graph has a cycle through 'r0' \(Relu\)/);
    });
  });

  describe('float16 and bfloat16 models load as their float32 twins', () => {
    it('Cast to float16 becomes a cast to float32, so the re-saved model runs', async () => {
      const bytes = encodeModel({
        graph: {
          name: 'g', node: [{ name: 'cast', opType: 'Cast', input: ['x'], output: ['y'], attribute: [{ name: 'to', type: A.INT, i: T.FLOAT16 }] }],
          input: [valueInfoProto('x', T.FLOAT, [2])], output: [valueInfoProto('y', T.FLOAT16, [2])],
        },
      });
      const g = loadModel(bytes).graph;
      expect(g.node('cast')!.attrs.to).to.equal(1);
      expect(g.outputs[0].dtype).to.equal('float32');
      const [y] = await runGraph(loadModel(saveModel(g)).graph, { x: float32([2], [0.5, -2]) });
      expect(Array.from(f32of(y))).to.deep.equal([0.5, -2]);
    });
  });

  it('an integer residual Add stays an Add (onnxruntime has no integer Sum)', () => {
    const bytes = encodeModel({
      graph: {
        name: 'g', node: [{ name: 'add', opType: 'Add', input: ['a', 'b'], output: ['c'] }],
        input: [valueInfoProto('a', T.UINT8, [2]), valueInfoProto('b', T.UINT8, [2])], output: [valueInfoProto('c', T.UINT8, [2])],
      },
    });
    const g = canonize(loadModel(bytes).graph).graph;
    expect(g.node('add')!.opType).to.equal('Add');
  });

  describe('what counts as a clear error', () => {
    it('a TypeError anywhere in the cause chain is a crash, even wrapped in a named error', () => {
      const inner = new TypeError("Cannot read properties of undefined (reading 'dims')");
      const wrapped = new ModelLoadError('m.onnx: internal error', { cause: inner });
      expect(crashReason(wrapped)).to.match(/TypeError: Cannot read/);
      expect(isClearError(wrapped)).to.equal(false);
      expect(crashReason(new Error("x: Cannot read properties of null (reading 'a')"))).to.match(/Cannot read/);
      expect(crashReason('a string')).to.match(/non-Error/);
      expect(isClearError(new ModelLoadError('m.onnx: truncated'))).to.equal(true);
      expect(isClearError(new Error("node 'conv' (Conv): bad kernel"))).to.equal(true);
      expect(isClearError(new Error('something went wrong'))).to.equal(false);
    });
  });
});
