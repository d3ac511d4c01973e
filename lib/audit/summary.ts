/** An audit's summary object from its rows: one builder for `audit` and `merge`, so a merged summary has the
 * same fields, counts and means as a single run's. */
import type { EvaluationSettings } from './evaluate-input';
import { AuditRow, AuditSummary, evaluationMeans } from './report';

export interface SummaryHeader {
  model: string;
  folder: string;
  methods: string[];
  options: Record<string, unknown>;
  outputRelevance: string;
  target: number | null;
  evaluation?: EvaluationSettings;
}

/** `rowsByInput`: each input's rows (one per sample), in audit order. */
export function summaryOf(h: SummaryHeader, rowsByInput: AuditRow[][], times: { started: string; finished: string }, complete: boolean): AuditSummary {
  const inputs = rowsByInput.flat();
  return {
    version: 1, model: h.model, folder: h.folder, methods: h.methods, options: h.options,
    outputRelevance: h.outputRelevance, target: h.target, started: times.started, finished: times.finished, complete,
    counts: { inputs: rowsByInput.length, rows: inputs.length, ok: inputs.filter((r) => r.status === 'ok').length, failed: inputs.filter((r) => r.status !== 'ok').length, resumed: inputs.filter((r) => r.resumed).length },
    evaluation: h.evaluation ? { settings: h.evaluation, methods: evaluationMeans(inputs, h.methods, h.evaluation.orders) } : undefined,
    inputs,
  };
}
