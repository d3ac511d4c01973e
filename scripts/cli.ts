#!/usr/bin/env node
/** onnx-lrp command line: explain, inspect, audit, merge, evaluate. */
import { explainCommand } from './commands/explain';
import { inspectCommand } from './commands/inspect';
import { auditCommand } from './commands/audit';
import { evaluateCommand } from './commands/evaluate';
import { mergeCommand } from './commands/merge';
import { UsageError, closest, runMain, setCommand } from './commands/common';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; summary: string }> = {
  explain: { run: explainCommand, summary: 'explain a model\'s prediction for an input with LRP (or a gradient method)' },
  inspect: { run: inspectCommand, summary: 'show a model\'s IR, unsupported ops, canonizer actions and rule plan' },
  audit: { run: auditCommand, summary: 'explain every input in a folder: heatmaps, summary.csv/json, index.html' },
  merge: { run: mergeCommand, summary: 'merge the shards of an audit run with --shard I/N into one report' },
  evaluate: { run: evaluateCommand, summary: 'faithfulness of maps: perturbation curves and AOPC, localisation, randomisation check' },
};

function help(): string {
  return [
    'usage: onnx-lrp <command> [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(10)} ${v.summary}`),
    '',
    'Run `onnx-lrp <command> --help` for a command\'s options.',
    'Exit codes: 0 success, 1 the model, an input or the run failed, 2 usage error.',
  ].join('\n');
}

runMain(async () => {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(help());
    return;
  }
  if (cmd === '--version') {
    console.log(require('../../package.json').version);
    return;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    const near = closest(cmd, Object.keys(COMMANDS));
    throw new UsageError(`unknown command '${cmd}'${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  }
  setCommand(cmd);
  await c.run(rest);
});
