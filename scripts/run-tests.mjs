#!/usr/bin/env node
// `npm test`: every suite in turn (type-check, lint, unit, integration on SQLite and on PostgreSQL,
// browser). A failing suite does not stop the others, so one run shows everything that is wrong.
// Each vitest suite writes a JSON report to test-results/; the sum is written to
// test-results/summary.json (read by .ci/run) and printed as the last line.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const out = path.resolve('test-results');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

const only = process.argv.slice(2);
const suites = [
  { name: 'typecheck', cmd: ['npx', 'tsc', '-p', 'tsconfig.json', '--noEmit'] },
  { name: 'lint', cmd: ['npx', 'eslint', '.'] },
  { name: 'unit', vitest: ['--project', 'unit'] },
  { name: 'integration-sqlite', vitest: ['--project', 'integration'], env: { TEST_DB: 'sqlite' } },
  { name: 'integration-postgres', vitest: ['--project', 'integration'], env: { TEST_DB: 'postgres' } },
  { name: 'browser', vitest: ['--project', 'e2e'] },
].filter((s) => only.length === 0 || only.includes(s.name));

let passed = 0;
let failed = 0;
const rows = [];
for (const s of suites) {
  const started = Date.now();
  const report = path.join(out, `${s.name}.json`);
  const cmd = s.vitest ? ['npx', 'vitest', 'run', ...s.vitest, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`] : s.cmd;
  console.log(`\n=== ${s.name}: ${cmd.join(' ')}`);
  const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit', env: { ...process.env, ...s.env } });
  let p = 0;
  let f = 0;
  if (s.vitest) {
    try {
      const j = JSON.parse(fs.readFileSync(report, 'utf8'));
      p = j.numPassedTests;
      f = j.numFailedTests + (j.numTotalTestSuites > 0 && j.testResults.some((t) => t.status === 'failed' && t.assertionResults.length === 0) ? 1 : 0);
      if (r.status !== 0 && f === 0) f = 1;
    } catch {
      f = 1; // the runner died before it could report
    }
  } else if (r.status === 0) p = 1;
  else f = 1;
  passed += p;
  failed += f;
  rows.push({ suite: s.name, passed: p, failed: f, seconds: Math.round((Date.now() - started) / 100) / 10 });
}

fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify({ passed, failed, suites: rows }, null, 2));
console.log('\nsuite                   passed  failed  seconds');
for (const r of rows) console.log(`${r.suite.padEnd(24)}${String(r.passed).padStart(6)}${String(r.failed).padStart(8)}${String(r.seconds).padStart(9)}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
