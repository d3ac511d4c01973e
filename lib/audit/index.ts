/** Node-only (uses fs): explaining files, writing heatmaps and records, audits over folders. */
export { AUDIT_MARKER, IMAGE_EXTENSIONS, INPUT_EXTENSIONS, FileWriteError, isImageFile, listInputs, readLabels, removeStaleTemporaries, writeFileAtomic } from './files';
export { IMAGENET_PREPROCESSING, assumesImageNet, explainImage, imageOptionsFor, loadInput, sampleRelevance, tokenInput } from './input';
export type { ExplainImageOptions, ImageExplanation, InputExplanation, InputView, LoadedInput } from './input';
export { GRID_CELL, comparisonRows, resultRecord, slug, writeInputFiles } from './record';
export type { ConservationRecord, ExplanationRecord, MethodRecord, ResultRecord, SampleRecord, WriteOptions } from './record';
export { evaluationMeans, href, indexHtml, summaryCsv } from './report';
export type { AuditEvaluation, AuditMethodResult, AuditRow, AuditSummary, EvaluationMeans } from './report';
export { EvaluationError, batchedExplainer, blackReplacement, evaluateInput, evaluationSettings, readGroundTruth, sidecarsOf, withoutSidecars } from './evaluate-input';
export type { AuditEvaluationOptions, EvaluationSettings, MethodEvaluation } from './evaluate-input';
export { AuditError, audit, outputStems } from './audit';
export type { AuditOptions, AuditProgress, AuditResult } from './audit';
export { SHARD_ENV, ShardError, checkShard, parseShard, shardOf } from './shard';
export type { Shard, ShardSummary } from './shard';
export { MergeError, mergeShards } from './merge';
export type { MergeOptions, MergeResult } from './merge';
export { auditWorkers } from './workers';
export type { WorkersOptions } from './workers';
