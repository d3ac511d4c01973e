/** An audit's summary object from its rows: one builder for `audit` and `merge`, so a merged summary has the
 * same fields, counts and means as a single run's. */
import type { EvaluationSettings } from './evaluate-input';
import { AuditRow, AuditSummary, evaluationMeans } from './report';

/** What `audit` and `merge` know before the rows: the summary's settings fields (as AuditSummary declares them)
 * and the evaluation settings its means are taken with. */
export interface SummaryHeader extends Pick<AuditSummary, 'model' | 'folder' | 'methods' | 'options' | 'compositeReason' | 'outputRelevance' | 'dual' | 'clip' | 'contrast' | 'target'> {
  evaluation?: EvaluationSettings;
}

/** `rowsByInput`: each input's rows (one per sample), in audit order. */
export function summaryOf(h: SummaryHeader, rowsByInput: AuditRow[][], times: { started: string; finished: string }, complete: boolean): AuditSummary {
  const inputs = rowsByInput.flat();
  return {
    version: 1, model: h.model, folder: h.folder, methods: h.methods, options: h.options, ...(h.compositeReason ? { compositeReason: h.compositeReason } : {}),
    outputRelevance: h.outputRelevance, ...(h.dual !== undefined ? { dual: h.dual } : {}), ...(h.clip !== undefined ? { clip: h.clip } : {}),
    ...(h.contrast?.length ? { contrast: h.contrast } : {}), target: h.target, started: times.started, finished: times.finished, complete,
    counts: { inputs: rowsByInput.length, rows: inputs.length, ok: inputs.filter((r) => r.status === 'ok').length, failed: inputs.filter((r) => r.status !== 'ok').length, resumed: inputs.filter((r) => r.resumed).length },
    evaluation: h.evaluation ? { settings: h.evaluation, methods: evaluationMeans(inputs, h.methods, h.evaluation.orders) } : undefined,
    inputs,
  };
}
