/** Faithfulness evaluation: region perturbation (AOPC), localisation (relevance mass accuracy, pointing game),
 * conservation, model randomisation; plus the line plot of the curves. Browser-safe. */
export { perturbationCurve, regionGrid, regionOrder, replacementFor, gaussianBlur, curvesToCsv, ORDERS } from './perturbation';
export type { Order, Replacement, PerturbationOptions, PerturbationCurve } from './perturbation';
export { localization, masksFor } from './localization';
export { classSensitivity, explainClasses } from './class-sensitivity';
export type { ClassSensitivity } from './class-sensitivity';
export type { Box, Region, LocalizationResult } from './localization';
export { conservationReport, formatConservation } from './conservation';
export type { ConservationReport, ConservationRow } from './conservation';
export { modelRandomization, randomizeLayers, parametricLayers, spearman } from './randomization';
export type { RandomizationResult, RandomizationStep } from './randomization';
export { evaluationSettings, measureMap, EvaluationError } from './measure';
export type { EvaluationOptions, EvaluationSettings, MapMeasurement, TokenTruth } from './measure';
export { tokenLocalization } from './tokens';
export type { TokenLocalization } from './tokens';
export { evaluateMethods, mergeCurves, suiteSettings } from './suite';
export type { SuiteOptions, SuiteRow } from './suite';
export { linePlot, PALETTE } from './plot';
export type { Series, PlotOptions, RGB } from './plot';
export { dynamicBatch, checkDynamicBatch, batchable } from '../methods/dynamic-batch';
