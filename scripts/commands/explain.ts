/** `onnx-lrp explain MODEL --input X.npy --composite NAME …` */
import * as fs from 'fs';
import { COMPOSITE_NAMES, CompositeOptions, boundsOf, openModel, parseRuleMap, readMetadata, readNpy, writeNpy } from '../../lib';
import { UsageError, integerList, number, numbers, parse } from './common';

const USAGE = `usage: onnx-lrp explain MODEL --input X.npy [options]

Explains the model's output for the input with Layer-wise Relevance Propagation.

options:
  --input FILE           input tensor as .npy (float32, C order, batch first); or give it as a positional
  --composite NAME       ${COMPOSITE_NAMES.join(', ')}
                         (default epsilon_plus_flat)
  --epsilon E            epsilon of the epsilon rule (dense layers, or all layers for 'epsilon')
  --gamma G              gamma of the gamma rule
  --low L --high H       zBox bounds of the normalised input: a number or one per channel (comma-separated);
                         default: from the model's metadata JSON
  --zero-bias            drop biases in every parametric rule
  --rule-map FILE.json   a user rule map (see README)
  --target K             class to explain (one, or one per sample comma-separated); default: the prediction
  --output-relevance M   logit (default: the target logit times a one-hot) or one (the one-hot)
  --metadata FILE        model metadata JSON (default: MODEL with .json)
  --save-npy OUT.npy     write the input relevance (float32, same shape as the input)
  --json OUT.json        write a JSON record (prediction, target, score, plan, conservation)
  --quiet                print nothing but errors`;

export async function explainCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, {
    input: { type: 'string' }, composite: { type: 'string' }, epsilon: { type: 'string' }, gamma: { type: 'string' },
    low: { type: 'string' }, high: { type: 'string' }, 'zero-bias': { type: 'boolean' }, 'rule-map': { type: 'string' },
    target: { type: 'string' }, 'output-relevance': { type: 'string' }, metadata: { type: 'string' },
    'save-npy': { type: 'string' }, json: { type: 'string' }, quiet: { type: 'boolean' },
  }, USAGE);
  const [modelFile, ...rest] = positionals;
  if (!modelFile) throw new UsageError(`missing MODEL\n\n${USAGE}`);
  const inputFile = (v.input as string | undefined) ?? rest[0];
  if (!inputFile) throw new UsageError(`missing --input X.npy\n\n${USAGE}`);
  if (rest.length > (v.input ? 0 : 1)) throw new UsageError(`unexpected arguments: ${rest.slice(v.input ? 0 : 1).join(' ')}`);
  const composite = (v.composite as string | undefined) ?? 'epsilon_plus_flat';
  if (!COMPOSITE_NAMES.includes(composite)) throw new UsageError(`unknown composite '${composite}'; known composites: ${COMPOSITE_NAMES.join(', ')}`);
  const mode = (v['output-relevance'] as string | undefined) ?? 'logit';
  if (mode !== 'logit' && mode !== 'one') throw new UsageError(`--output-relevance must be 'logit' or 'one', got '${mode}'`);
  const meta = readMetadata(modelFile, v.metadata as string | undefined);
  const bounds = boundsOf(meta);
  const options: CompositeOptions = {
    epsilon: number(v.epsilon as string | undefined, '--epsilon'),
    gamma: number(v.gamma as string | undefined, '--gamma'),
    low: numbers(v.low as string | undefined, '--low') ?? bounds?.low,
    high: numbers(v.high as string | undefined, '--high') ?? bounds?.high,
    zeroBias: v['zero-bias'] ? true : undefined,
  };
  let ruleMap;
  if (v['rule-map']) {
    const f = v['rule-map'] as string;
    let text: string;
    try { text = fs.readFileSync(f, 'utf8'); } catch { throw new Error(`${f}: cannot read the rule map`); }
    let json: unknown;
    try { json = JSON.parse(text); } catch (e) { throw new Error(`${f}: not valid JSON (${(e as Error).message})`); }
    ruleMap = parseRuleMap(json, f);
  }
  const target = integerList(v.target as string | undefined, '--target');
  const input = readNpy(inputFile);
  const explainer = openModel(modelFile);
  try {
    const r = await explainer.explain(input, { composite: ruleMap ? undefined : composite, options, ruleMap, target, outputRelevance: mode });
    if (v['save-npy']) writeNpy(v['save-npy'] as string, r.relevance);
    const record = {
      model: modelFile, input: inputFile, composite: r.plan.composite, options: r.plan.options, outputRelevance: r.outputRelevance,
      samples: r.targets.map((t, s) => ({
        prediction: r.predictions[s], predictionLabel: meta?.labels?.[r.predictions[s]],
        target: t, targetLabel: meta?.labels?.[t], score: r.scores[s],
        relevanceIn: r.conservation.outputRelevance[s], relevanceAtInput: r.conservation.inputRelevance[s], absorbed: r.conservation.absorbed[s],
      })),
      relevanceFile: v['save-npy'] ?? null,
      plan: r.plan.entries,
      conservation: r.conservation.nodes,
    };
    if (v.json) fs.writeFileSync(v.json as string, JSON.stringify(record, null, 2));
    if (!v.quiet) {
      for (const [s, x] of record.samples.entries()) {
        const lbl = (k: number, l?: string) => (l ? `${k} (${l})` : `${k}`);
        console.log(`sample ${s}: predicted ${lbl(x.prediction, x.predictionLabel)}, explaining ${lbl(x.target, x.targetLabel)}, logit ${x.score.toPrecision(5)}`);
        console.log(`  relevance: ${x.relevanceIn.toPrecision(6)} at the output → ${x.relevanceAtInput.toPrecision(6)} at the input (${(100 * x.absorbed).toFixed(2)}% absorbed by biases and stabilisers)`);
      }
      if (v['save-npy']) console.log(`wrote ${v['save-npy']} [${r.relevance.dims.join('x')}] float32`);
      if (v.json) console.log(`wrote ${v.json}`);
    }
  } finally {
    await explainer.release();
  }
}
