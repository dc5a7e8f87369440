// The model file (JSON, gzipped when the name ends in .gz) and prediction.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Loss } from './linear.ts';
import type { FeatureConfig } from './tokenize.ts';
import { Vectorizer } from './vectorizer.ts';

export type ModelKind = 'single' | 'multi';

export const MODEL_FORMAT = 'carevoice-text-classifier';

export interface ModelFile {
  format: typeof MODEL_FORMAT;
  version: 1;
  kind: ModelKind;
  labels: string[];
  loss: Loss;
  features: FeatureConfig;
  /** base64 little-endian Int32: hashed bucket id of each kept feature */
  featureIds: string;
  /** base64 little-endian Float32: idf of each kept feature */
  idf: string;
  /** int16-quantised weights, feature-major (w[f * labels.length + k] = data * scales[k]) */
  weights: { encoding: 'int16'; scales: number[]; data: string };
  biases: number[];
  /** probabilities are sigmoid(scoreScale * decision value) */
  scoreScale: number;
  /** multi-label: per-label probability thresholds */
  thresholds?: number[];
  /** multi-label: when nothing passes, the best label is kept if score/threshold >= this */
  fallbackRatio?: number;
  /** multi-label: when fewer labels pass, the top-scoring ones are added while their score >= minScore */
  minLabels?: number;
  minScore?: number;
  info?: Record<string, unknown>;
}

/** A model file's fields but its three arrays. */
export type ModelMeta = Omit<ModelFile, 'format' | 'version' | 'featureIds' | 'idf' | 'weights'> & { weights: { scales: number[] } };

/** A model file's three arrays, decoded. */
export interface ModelArrays {
  featureIds: Int32Array;
  idf: Float32Array;
  q: Int16Array;
}

/** A model as `fromArrays` takes it back: its file's small fields and its arrays (weights quantised). */
export function modelParts(model: Model): { meta: ModelMeta; arrays: ModelArrays } {
  const parts = model.parts;
  const { q, scales } = quantise(parts.weights, parts.labels.length);
  const meta: ModelMeta = {
    kind: parts.kind,
    labels: [...parts.labels],
    loss: parts.loss,
    features: parts.vectorizer.config,
    weights: { scales: Array.from(scales) },
    biases: Array.from(parts.biases),
    scoreScale: parts.scoreScale,
  };
  if (parts.thresholds) meta.thresholds = Array.from(parts.thresholds);
  if (parts.fallbackRatio !== undefined && Number.isFinite(parts.fallbackRatio)) meta.fallbackRatio = parts.fallbackRatio;
  if (parts.minLabels) {
    meta.minLabels = parts.minLabels;
    meta.minScore = parts.minScore ?? 0;
  }
  if (parts.info) meta.info = parts.info;
  return { meta, arrays: { featureIds: parts.vectorizer.featureIds, idf: parts.vectorizer.idf, q } };
}

export interface Prediction {
  labels: string[];
  scores: Record<string, number>;
}

/**
 * Weights as the model file keeps them: w[f * K + k] = q[f * K + k] * scales[k]. A loaded model
 * keeps them so and multiplies each label's sum by its scale once: half the memory of float weights
 * (the themes model's are 2 MB instead of 4, in every thread that loads it).
 */
export interface QuantisedWeights {
  q: Int16Array;
  scales: Float64Array;
}

export interface LinearParts {
  kind: ModelKind;
  labels: string[];
  loss: Loss;
  vectorizer: Vectorizer;
  /** feature-major weights: floats from training, or a loaded file's int16 values */
  weights: Float32Array | QuantisedWeights;
  biases: Float64Array;
  scoreScale: number;
  thresholds?: Float64Array;
  fallbackRatio?: number;
  minLabels?: number;
  minScore?: number;
  info?: Record<string, unknown>;
}

function toBase64(a: Int32Array | Float32Array | Int16Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function fromBase64(s: string): ArrayBuffer {
  const buf = Buffer.from(s, 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

export class Model {
  readonly kind: ModelKind;
  readonly labels: readonly string[];
  readonly parts: LinearParts;
  private readonly z: Float64Array;

  constructor(parts: LinearParts) {
    this.parts = parts;
    this.kind = parts.kind;
    this.labels = parts.labels;
    this.z = new Float64Array(parts.labels.length);
  }

  /** Raw decision values (reused buffer: copy it if you keep it). */
  decision(text: string): Float64Array {
    const { vectorizer, weights, biases } = this.parts;
    const K = this.labels.length;
    const z = this.z;
    const nnz = vectorizer.vectorize(text);
    const vIdx = vectorizer.vIdx;
    const vVal = vectorizer.vVal;
    if (weights instanceof Float32Array) {
      z.set(biases);
      for (let i = 0; i < nnz; i++) {
        const base = (vIdx[i] as number) * K;
        const v = vVal[i] as number;
        for (let k = 0; k < K; k++) z[k] = (z[k] as number) + (weights[base + k] as number) * v;
      }
      return z;
    }
    const { q, scales } = weights;
    z.fill(0);
    for (let i = 0; i < nnz; i++) {
      const base = (vIdx[i] as number) * K;
      const v = vVal[i] as number;
      for (let k = 0; k < K; k++) z[k] = (z[k] as number) + (q[base + k] as number) * v;
    }
    for (let k = 0; k < K; k++) z[k] = (biases[k] as number) + (z[k] as number) * (scales[k] as number);
    return z;
  }

  /** Per-label probabilities (independent sigmoids; for single-label they are normalised to sum 1). */
  probabilities(text: string): Float64Array {
    return this.probabilitiesOf(this.decision(text));
  }

  /** Probabilities from decision values (this model's, computed here or by a `ModelSet`). */
  probabilitiesOf(z: Float64Array): Float64Array {
    const K = z.length;
    const s = this.parts.scoreScale;
    const p = new Float64Array(K);
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const v = 1 / (1 + Math.exp(-s * (z[k] as number)));
      p[k] = v;
      sum += v;
    }
    if (this.kind === 'single' && sum > 0) for (let k = 0; k < K; k++) p[k] = (p[k] as number) / sum;
    return p;
  }

  /** Indices of the predicted labels for given probabilities. */
  chooseLabels(p: Float64Array): number[] {
    const K = p.length;
    if (this.kind === 'single') {
      let best = 0;
      for (let k = 1; k < K; k++) if ((p[k] as number) > (p[best] as number)) best = k;
      return K > 0 ? [best] : [];
    }
    const thr = this.parts.thresholds;
    const chosen: number[] = [];
    let best = -1;
    let bestRatio = -Infinity;
    for (let k = 0; k < K; k++) {
      const t = thr ? (thr[k] as number) : 0.5;
      const ratio = (p[k] as number) / t;
      if (ratio >= 1) chosen.push(k);
      if (ratio > bestRatio) {
        bestRatio = ratio;
        best = k;
      }
    }
    if (chosen.length === 0 && best >= 0 && bestRatio >= (this.parts.fallbackRatio ?? Infinity)) chosen.push(best);
    const minLabels = this.parts.minLabels ?? 0;
    if (chosen.length < minLabels) {
      const floor = this.parts.minScore ?? 0;
      const rest: number[] = [];
      for (let k = 0; k < K; k++) if (!chosen.includes(k) && (p[k] as number) >= floor) rest.push(k);
      rest.sort((a, b) => (p[b] as number) - (p[a] as number));
      for (const k of rest) {
        if (chosen.length >= minLabels) break;
        chosen.push(k);
      }
    }
    chosen.sort((a, b) => (p[b] as number) - (p[a] as number));
    return chosen;
  }

  predict(text: string): Prediction {
    return this.predictionOf(this.decision(text));
  }

  /** The prediction for decision values (this model's, computed here or by a `ModelSet`). */
  predictionOf(z: Float64Array): Prediction {
    const p = this.probabilitiesOf(z);
    const scores: Record<string, number> = {};
    this.labels.forEach((l, k) => {
      scores[l] = p[k] as number;
    });
    return { labels: this.chooseLabels(p).map((k) => this.labels[k] as string), scores };
  }

  toFile(): ModelFile {
    const { meta, arrays } = modelParts(this);
    const { kind, labels, loss, features, weights, biases, scoreScale, ...optional } = meta;
    return {
      format: MODEL_FORMAT,
      version: 1,
      kind,
      labels,
      loss,
      features,
      featureIds: toBase64(arrays.featureIds),
      idf: toBase64(arrays.idf),
      weights: { encoding: 'int16', scales: weights.scales, data: toBase64(arrays.q) },
      biases,
      scoreScale,
      ...optional,
    };
  }

  static fromFile(file: ModelFile): Model {
    if (!file || file.format !== MODEL_FORMAT || file.version !== 1) throw new Error('not a Carevoice text classifier model file');
    return Model.fromArrays(file, { featureIds: new Int32Array(fromBase64(file.featureIds)), idf: new Float32Array(fromBase64(file.idf)), q: new Int16Array(fromBase64(file.weights.data)) });
  }

  /** A model from a file's small fields and its three arrays as they are (not base64). */
  static fromArrays(file: ModelMeta, arrays: ModelArrays): Model {
    const { featureIds: ids, idf, q } = arrays;
    const vectorizer = new Vectorizer(file.features, ids, idf);
    const K = file.labels.length;
    if (q.length !== ids.length * K || file.biases.length !== K) throw new Error('model file weights do not match its features and labels');
    if (file.weights.scales.length !== K) throw new Error('model file weights do not match its features and labels');
    const parts: LinearParts = {
      kind: file.kind,
      labels: file.labels,
      loss: file.loss,
      vectorizer,
      weights: { q, scales: Float64Array.from(file.weights.scales) },
      biases: Float64Array.from(file.biases),
      scoreScale: file.scoreScale,
    };
    if (file.thresholds) parts.thresholds = Float64Array.from(file.thresholds);
    if (file.fallbackRatio !== undefined) parts.fallbackRatio = file.fallbackRatio;
    if (file.minLabels !== undefined) parts.minLabels = file.minLabels;
    if (file.minScore !== undefined) parts.minScore = file.minScore;
    if (file.info) parts.info = file.info;
    return new Model(parts);
  }
}

/** Each label's weights as int16 steps of its largest weight (a loaded model's weights stay as they are). */
export function quantise(weights: Float32Array | QuantisedWeights, K: number): QuantisedWeights {
  if (!(weights instanceof Float32Array)) return weights;
  const F = weights.length / K;
  const scales = new Float64Array(K);
  const q = new Int16Array(F * K);
  for (let k = 0; k < K; k++) {
    let m = 0;
    for (let f = 0; f < F; f++) m = Math.max(m, Math.abs(weights[f * K + k] as number));
    const scale = m > 0 ? m / 32767 : 1;
    scales[k] = scale;
    for (let f = 0; f < F; f++) q[f * K + k] = Math.round((weights[f * K + k] as number) / scale);
  }
  return { q, scales };
}

export function saveModel(model: Model, path: string): number {
  const json = JSON.stringify(model.toFile());
  const data = path.endsWith('.gz') ? gzipSync(json, { level: 9 }) : Buffer.from(json);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  return data.length;
}

export function loadModel(path: string): Model {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    throw new Error(`cannot read model file ${path}`);
  }
  let json: string;
  try {
    json = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  } catch {
    throw new Error(`model file ${path} is not valid gzip`);
  }
  let file: ModelFile;
  try {
    file = JSON.parse(json) as ModelFile;
  } catch {
    throw new Error(`model file ${path} is not valid JSON`);
  }
  return Model.fromFile(file);
}
