import fs from 'node:fs';
import path from 'node:path';
import { Model, modelParts, type ModelMeta } from '../nlp/classifier/model.ts';
import { ModelSet, type ModelSetState } from '../nlp/classifier/model-set.ts';
import { sha256 } from '../platform/auth/tokens.ts';

/**
 * The story models and their set as they are in memory, kept in one binary file beside the other
 * built files (node_modules/.cache/carevoice) and read back by every process and thread that
 * loads them, instead of being built again from the model files.
 *
 * Why: building them (gunzip, JSON, base64, then the set's union of features) took 270-320 ms of
 * processor time in each thread that classifies: the server as it starts, and each analysis
 * thread of an import, which waited for it before its first comment. With the kept file, loading
 * them and reading a first text (`warmModels`) took 55-84 ms (six fresh processes). The file
 * is named by the hash of the model files it was made from, so a changed model is never read from
 * an old one; anything unexpected in it and it is built again.
 */
const FORMAT = 'carevoice-story-models-1';

type Typed = Int32Array | Uint8Array | Float64Array | Float32Array | Int16Array;
const TYPES = { Int32Array, Uint8Array, Float64Array, Float32Array, Int16Array } as const;
type TypeName = keyof typeof TYPES;

interface Header {
  format: typeof FORMAT;
  key: string;
  models: ModelMeta[];
  numbers: ModelSetState['numbers'];
  /** In the order they follow the header, each starting at a multiple of 8 bytes. */
  arrays: Array<{ name: string; type: TypeName; length: number }>;
}

const SET_ARRAYS = ['slots', 'isWord', 'idf', 'q', 'offsets', 'scales', 'countedBy', 'wordWeights', 'charWeights', 'ends'] as const;
const MODEL_ARRAYS = ['featureIds', 'idf', 'q'] as const;

/** The hash of the model files' contents (in order): it names their kept file. Read once per process (3.7 MB, about 10 ms). */
export function storyModelsKey(files: readonly string[]): string {
  return sha256(files.map((f) => sha256(fs.readFileSync(f))).join(':'));
}

const fileFor = (dir: string, key: string) => path.join(dir, `story-models-${key.slice(0, 16)}.bin`);
const padded = (n: number) => Math.ceil(n / 8) * 8;

/** The models and their set kept under `key` (see storyModelsKey); undefined when there is none that fits. */
export function readStoryModels(key: string, dir: string): { models: Model[]; set: ModelSet } | undefined {
  try {
    let data: Uint8Array = fs.readFileSync(fileFor(dir, key));
    // Typed arrays over it need their offsets aligned: a file this large has a buffer of its own.
    if (data.byteOffset % 8 !== 0) data = new Uint8Array(data);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const headerLength = view.getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(data.subarray(4, 4 + headerLength))) as Header;
    if (header.format !== FORMAT || header.key !== key) return undefined;
    const arrays = new Map<string, Typed>();
    let at = padded(4 + headerLength);
    for (const a of header.arrays) {
      const Type = TYPES[a.type];
      if (!Type || !Number.isInteger(a.length) || a.length < 0) return undefined;
      const bytes = a.length * Type.BYTES_PER_ELEMENT;
      if (at + bytes > data.byteLength) return undefined;
      arrays.set(a.name, new Type(data.buffer as ArrayBuffer, data.byteOffset + at, a.length));
      at = padded(at + bytes);
    }
    const get = <T extends Typed>(name: string, Type: new (...args: never[]) => T): T => {
      const a = arrays.get(name);
      if (!(a instanceof Type)) throw new Error(`the kept story models lack ${name}`);
      return a;
    };
    const models = header.models.map((meta, j) =>
      Model.fromArrays(meta, { featureIds: get(`${j}.featureIds`, Int32Array), idf: get(`${j}.idf`, Float32Array), q: get(`${j}.q`, Int16Array) }),
    );
    const state: ModelSetState = {
      numbers: header.numbers,
      slots: get('slots', Int32Array),
      isWord: get('isWord', Uint8Array),
      idf: get('idf', Float64Array),
      q: get('q', Int16Array),
      offsets: get('offsets', Int32Array),
      scales: get('scales', Float64Array),
      countedBy: get('countedBy', Int32Array),
      wordWeights: get('wordWeights', Float64Array),
      charWeights: get('charWeights', Float64Array),
      ends: get('ends', Int32Array),
    };
    return { models, set: new ModelSet(models, state) };
  } catch {
    // None kept yet, or not one this code can read: the caller builds them.
    return undefined;
  }
}

/**
 * Keeps the set built from the model files `key` names for the next process. Best effort: a
 * directory that cannot be written (a read-only install) only means the next process builds them too.
 */
export function keepStoryModels(key: string, dir: string, set: ModelSet): void {
  try {
    const models = set.models.map(modelParts);
    const named: Array<[string, Typed]> = [];
    models.forEach(({ arrays }, j) => {
      for (const name of MODEL_ARRAYS) named.push([`${j}.${name}`, arrays[name]]);
    });
    const state = set.state;
    for (const name of SET_ARRAYS) named.push([name, state[name]]);
    const header: Header = {
      format: FORMAT,
      key,
      models: models.map((p) => p.meta),
      numbers: state.numbers,
      arrays: named.map(([name, a]) => ({ name, type: a.constructor.name as TypeName, length: a.length })),
    };
    const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
    const parts: Uint8Array[] = [];
    const lengthBytes = Buffer.alloc(4);
    lengthBytes.writeUInt32LE(headerBytes.length, 0);
    parts.push(lengthBytes, headerBytes);
    let at = 4 + headerBytes.length;
    for (const [, a] of named) {
      parts.push(Buffer.alloc(padded(at) - at));
      at = padded(at);
      parts.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      at += a.byteLength;
    }
    fs.mkdirSync(dir, { recursive: true });
    const file = fileFor(dir, key);
    // Written under another name, then renamed: a process starting at the same moment never reads half a file.
    const partial = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    fs.writeFileSync(partial, Buffer.concat(parts));
    fs.renameSync(partial, file);
    // Those made from earlier model files are of no more use.
    for (const old of fs.readdirSync(dir)) if (/^story-models-[0-9a-f]{16}\.bin$/.test(old) && path.join(dir, old) !== file) fs.rmSync(path.join(dir, old), { force: true });
  } catch {
    // Not kept: built again next time.
  }
}
