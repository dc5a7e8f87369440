// The servers under test run in processes of their own, so the load generator (this process) and
// the server do not share an event loop, and the server's memory can be read on its own.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';

export interface Service {
  /** http://127.0.0.1:PORT */
  url: string;
  pid: number;
  /** Asks it to stop (SIGTERM), and kills it if it has not stopped after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  args: string[];
  env: NodeJS.ProcessEnv;
  /** A line on its stdout that says it listens; the first group is the port. */
  ready: RegExp;
  /** Where its stderr lines go (its logs). */
  log: (line: string) => void;
  name: string;
  startTimeoutMs?: number;
}

function waitForExit(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts `node ...args` and resolves once it prints its ready line. */
export async function spawnService(o: SpawnOptions): Promise<Service> {
  // BENCH_PROF=DIR: the app's processor profile (V8's, one file per thread) written into DIR as it stops.
  const profile = process.env.BENCH_PROF && o.name === 'app' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, ...o.args], { env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
  readline.createInterface({ input: child.stderr }).on('line', (line) => o.log(`[${o.name}] ${line}`));
  const lines = readline.createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    // One that does not start in time is killed: the run goes on to drop the database under it.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${o.name} did not start within ${o.startTimeoutMs ?? 60_000} ms`));
    }, o.startTimeoutMs ?? 60_000);
    lines.on('line', (line) => {
      const m = o.ready.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${o.name} exited before it was ready (${signal ?? `code ${code}`})`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = waitForExit(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Peak resident memory of a process in MiB (Linux: VmHWM in /proc/PID/status); NaN elsewhere. */
export function peakRssMb(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return kb ? Math.round((Number(kb[1]) / 1024) * 10) / 10 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
