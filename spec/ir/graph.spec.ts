/** The IR (lib/ir): a Graph checks its spec (unique names, every read resolves, no cycles) and orders its nodes
 * topologically, stable in file order. */
import { expect } from 'chai';
import { Graph, GraphError, GraphSpec, Node } from '../../lib/ir/graph';
import { float32 } from '../../lib/tensor';

const node = (name: string, opType: string, inputs: string[], outputs: string[], attrs: Node['attrs'] = {}): Node =>
  ({ name, opType, domain: '', inputs, outputs, attrs });

function spec(nodes: Node[], outputs = ['y']): GraphSpec {
  return {
    nodes, inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4] }], outputs: outputs.map((name) => ({ name, dtype: 'float32', dims: null })),
    constants: new Map([['w', float32([4, 4], new Float32Array(16))]]), opsets: { '': 17 },
  };
}

describe('ir/graph', () => {
  it('orders nodes topologically, keeping file order among independent nodes', () => {
    const g = new Graph(spec([
      node('c', 'Add', ['a', 'b'], ['y']),
      node('b', 'Relu', ['x'], ['b']),
      node('a', 'MatMul', ['x', 'w'], ['a']),
    ]));
    expect(g.nodes.map((n) => n.name)).to.deep.equal(['b', 'a', 'c']);
    expect(g.producer('a')?.name).to.equal('a');
    expect(g.consumers('x').map((n) => n.name)).to.deep.equal(['b', 'a']);
    expect(g.isConstant('w')).to.equal(true);
    expect(g.isOutput('y')).to.equal(true);
  });

  it('a constant listed as a graph input is not an input', () => {
    const s = spec([node('a', 'MatMul', ['x', 'w'], ['y'])]);
    s.inputs.push({ name: 'w', dtype: 'float32', dims: [4, 4] });
    expect(new Graph(s).inputs.map((i) => i.name)).to.deep.equal(['x']);
  });

  it('refuses a bad spec by name', () => {
    const bad: [Node[], RegExp][] = [
      [[node('a', 'Relu', ['x'], ['t']), node('a', 'Relu', ['t'], ['y'])], /two nodes are named 'a'/],
      [[node('a', 'Relu', ['x'], ['y']), node('b', 'Relu', ['x'], ['y'])], /value 'y' is produced twice \(node 'b' \(Relu\)\)/],
      [[node('a', 'Add', ['x', 'missing'], ['y'])], /node 'a' \(Add\) reads 'missing', which no node, input or initializer provides/],
      [[node('a', 'Relu', ['x'], ['t'])], /graph output 'y' is never produced/],
      [[node('a', 'Add', ['x', 'y'], ['y'])], /node 'a' \(Add\) reads its own output 'y'/],
      [[node('a', 'Add', ['x', 'u'], ['t']), node('b', 'Relu', ['t'], ['u']), node('c', 'Relu', ['u'], ['y'])], /the graph has a cycle through 'a' \(Add\), 'b' \(Relu\)/],
    ];
    for (const [nodes, message] of bad) {
      expect(() => new Graph(spec(nodes)), String(message)).to.throw(GraphError, message);
    }
  });

  it('toSpec gives a copy that builds the same graph', () => {
    const g = new Graph(spec([node('a', 'MatMul', ['x', 'w'], ['t']), node('b', 'Relu', ['t'], ['y'])]));
    const s = g.toSpec();
    s.nodes.pop();
    expect(g.nodes).to.have.lengthOf(2);
    expect(new Graph(g.toSpec()).nodes.map((n) => n.name)).to.deep.equal(['a', 'b']);
  });
});
