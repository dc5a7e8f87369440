// Offline text classifier: hashed word + char n-gram TF-IDF and one-vs-rest linear models.
// No imports from the rest of the app.

export {
  trainFromCsv,
  classifyFile,
  benchmarkClassify,
  holdoutEvaluate,
  readCsvDocs,
  criticalityToScale,
  sentimentBand,
  type TrainCsvOptions,
  type TrainReport,
  type CsvSource,
  type CsvDocs,
  type HoldoutResult,
} from './api.ts';
export { ModelSet } from './model-set.ts';
export { loadModel, saveModel, Model, type ModelKind, type ModelFile, type Prediction } from './model.ts';
export {
  fitModel,
  stratifiedFolds,
  tuneThreshold,
  resolveOptions,
  describeMembers,
  DEFAULT_MEMBERS,
  KIND_DEFAULTS,
  type Doc,
  type Member,
  type TrainOptions,
  type ResolvedOptions,
  type ClassWeight,
  type FittedModel,
} from './train.ts';
export {
  accuracy,
  classBalanceAccuracy,
  macroF1,
  microF1Multi,
  macroF1Multi,
  evaluateSingle,
  evaluateMulti,
  type SingleLabelMetrics,
  type MultiLabelMetrics,
} from './metrics.ts';
export { tokenize, DEFAULT_FEATURES, type FeatureConfig } from './tokenize.ts';
export { mulberry32 } from './linear.ts';
export type { Loss } from './linear.ts';
