import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { sha256 } from '../platform/auth/tokens.ts';
import { BUILD_CACHE_DIR } from '../platform/paths.ts';
import { analyseBatch, type Analysis, type AnalysisInput } from './analyse.ts';

/**
 * Analyses many comments on every core (piscina's worker-thread pool): an import of thousands of
 * Friends and Family Test comments is bound by the language models, not by the database, and one
 * thread would use half of a two-core machine. Small jobs stay on this thread, where a worker's
 * start-up (loading the models) would cost more than it saves.
 */
const BATCH = 250;
const SMALL = 1000;

let pool: Promise<Piscina> | undefined;
/** The private directory holding this process's bundle when the cache could not be written; removed with the pool. */
let temporaryBundleDir: string | undefined;
function thePool(): Promise<Piscina> {
  const threads = Math.max(1, Math.min(4, os.availableParallelism()));
  // Every thread starts at once and loads the models as it starts (analyse-worker.ts), about a third
  // of a second each: started before the work is ready (see startAnalysisPool), that is done by then.
  // With the bundle cached, the threads start at once.
  pool ??= (async () => {
    const { file } = await workerBundle(WORKER_ENTRY, BUNDLE_CACHE);
    if (path.dirname(file) !== BUNDLE_CACHE) temporaryBundleDir = path.dirname(file);
    return new Piscina({
      filename: file,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 30_000,
      // Two batches at a time per thread: the one it works on and the next, waiting in its own
      // queue. The importer's thread writes with synchronous SQLite calls (a commit holds it for
      // its fsync), and a thread that finished while the event loop was held would otherwise sit
      // idle until the loop turned to hand it more.
      concurrentTasksPerWorker: 2,
      // No Node options: the bundle needs none, V8's flags are the whole process's already, and
      // those that load TypeScript (from `npx tsx`) would start tsx in each thread for nothing.
      // Some (--perf-basic-prof, --inspect) a worker refuses outright.
      execArgv: [],
    });
  })().catch((err: unknown) => {
    pool = undefined;
    throw err;
  });
  return pool;
}

const WORKER_ENTRY = fileURLToPath(new URL('./analyse-worker.ts', import.meta.url));
/** Where built bundles are kept: the project's own (not a shared temporary directory, where another user could leave a file by that name). */
const BUNDLE_CACHE = BUILD_CACHE_DIR;

/** What a cached bundle was built from: every input file's hash, and the esbuild that built it. */
interface BundleManifest {
  esbuild: string;
  inputs: Record<string, string>;
  bundle: string;
}

/**
 * The worker's code as one plain JavaScript file, built by esbuild (already here for the live wall's
 * script), or the one built before if none of its input files has changed since.
 *
 * Decision: a worker that loaded the TypeScript sources itself would start tsx in its own thread
 * (`register()`, a loader thread of its own, every module through it): 0.5-0.7 s of processor time
 * per worker on the 2-core machine. Bundling takes about 150 ms, outside this process, and is
 * needed once per change of the code: the cache is checked by hashing the inputs the last build
 * listed (2-4 ms), so the threads start at once. Where the cache cannot be written (a read-only
 * install) the bundle goes to a private temporary directory, built each time and removed with the
 * pool.
 *
 * Each module's `import.meta.url` is replaced by its source file's URL, so the paths the code finds
 * from it (the models, the redaction word lists) are the same as when it runs unbundled.
 *
 * The bundle is CommonJS: piscina loads a worker's file with `require()` first. On an ES module
 * that is Node's require(esm), and with two tasks arriving as a thread started, it once ended an
 * import with a fatal V8 error in CI (`v8::Module::IsGraphAsync must be used on an instantiated
 * module`, from piscina's worker.js). A CommonJS file never goes through the ES module loader.
 */
export async function workerBundle(entry: string, cacheDir: string): Promise<{ file: string; built: boolean }> {
  const manifestFile = path.join(cacheDir, `${path.basename(entry, '.ts')}.json`);
  const esbuildVersion = installedEsbuildVersion();
  const cached = cachedBundle(manifestFile, esbuildVersion);
  if (cached) return { file: cached, built: false };

  const esbuild = await import('esbuild');
  // The hash of each source as it was bundled (read once, here), not as it may be a moment later.
  const bundled = new Map<string, string>();
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    absWorkingDir: path.dirname(entry),
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    legalComments: 'none',
    // Its errors reach the caller in the rejection; printed too, they would be printed twice.
    logLevel: 'silent',
    plugins: [
      {
        name: 'source-urls',
        setup(build) {
          build.onLoad({ filter: /\.ts$/ }, async (args) => {
            const source = await fs.promises.readFile(args.path, 'utf8');
            bundled.set(args.path, sha256(source));
            return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' as const };
          });
        },
      },
    ],
  });
  const code = result.outputFiles[0]!.contents;
  const inputs: Record<string, string> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const file = path.resolve(path.dirname(entry), input);
    // The JavaScript ones (from node_modules) esbuild read itself.
    inputs[file] = bundled.get(file) ?? sha256(await fs.promises.readFile(file));
  }
  const dir = writableDir(cacheDir);
  const bundle = `${path.basename(entry, '.ts')}-${sha256(code).slice(0, 16)}.cjs`;
  await writeWhole(path.join(dir, bundle), code);
  if (dir === cacheDir) await writeWhole(manifestFile, JSON.stringify({ esbuild: esbuildVersion, inputs, bundle } satisfies BundleManifest));
  return { file: path.join(dir, bundle), built: true };
}

/** The bundle the manifest names, if it exists and every input it lists is as it was. */
function cachedBundle(manifestFile: string, esbuildVersion: string): string | undefined {
  try {
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as BundleManifest;
    if (manifest.esbuild !== esbuildVersion || typeof manifest.bundle !== 'string' || !manifest.inputs) return undefined;
    for (const [file, hash] of Object.entries(manifest.inputs)) if (sha256(fs.readFileSync(file)) !== hash) return undefined;
    const bundle = path.join(path.dirname(manifestFile), path.basename(manifest.bundle));
    return fs.existsSync(bundle) ? bundle : undefined;
  } catch {
    // No manifest yet, or an input gone: build.
    return undefined;
  }
}

function installedEsbuildVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('esbuild/package.json') as { version: string }).version;
}

/** The cache directory, made if need be; a private temporary one if it cannot be written. */
function writableDir(dir: string): string {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    return dir;
  } catch {
    return fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-'));
  }
}

/** Written under another name, then renamed: a process starting at the same moment never reads half a file. */
async function writeWhole(file: string, data: string | Uint8Array): Promise<void> {
  const partial = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(partial, data);
  await fs.promises.rename(partial, file);
}

/**
 * Starts the threads for work about to come (an import reading its file, say), so that loading
 * the models overlaps with what the caller does first.
 */
export function startAnalysisPool(): void {
  void thePool().catch(() => {
    // Reported to whoever asks for an analysis.
  });
}

/** Consecutive inputs from `start`, and their analyses once done. */
export interface AnalysisBatch {
  start: number;
  analyses: Promise<Analysis[]>;
}

/**
 * Every input, in batches dispatched at once, so the caller can write one batch while later ones
 * run. Batches may finish in any order (the pool hands them to whichever thread is free), so a
 * caller that writes them should take each as it finishes.
 */
export function analyseAll(inputs: AnalysisInput[]): AnalysisBatch[] {
  if (inputs.length < SMALL) return [{ start: 0, analyses: Promise.resolve(analyseBatch(inputs)) }];
  const ready = thePool();
  const out: AnalysisBatch[] = [];
  for (let i = 0; i < inputs.length; i += BATCH) {
    const batch = inputs.slice(i, i + BATCH);
    out.push({ start: i, analyses: ready.then((p) => p.run(batch) as Promise<Analysis[]>) });
  }
  return out;
}

/**
 * The batches' analyses as they finish: each turn yields the batches finished since the last one
 * (at least one, at most `most`), so the caller writes them together. The first failure is thrown.
 */
export async function* asFinished(batches: readonly AnalysisBatch[], most = 8): AsyncGenerator<Array<{ start: number; analyses: Analysis[] }>> {
  const done: Array<{ start: number; analyses: Analysis[] }> = [];
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  let outstanding = batches.length;
  for (const b of batches) {
    void b.analyses.then(
      (analyses) => done.push({ start: b.start, analyses }),
      (error: unknown) => (failure ??= { error }),
    ).finally(() => {
      outstanding--;
      wake?.();
    });
  }
  while (outstanding > 0 || done.length > 0) {
    if (failure) throw failure.error;
    if (done.length === 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    yield done.splice(0, most);
  }
  if (failure) throw failure.error;
}

export async function closeAnalysisPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await (await p?.catch(() => undefined))?.destroy();
  if (temporaryBundleDir) fs.rmSync(temporaryBundleDir, { recursive: true, force: true });
  temporaryBundleDir = undefined;
}
