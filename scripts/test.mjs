#!/usr/bin/env node
// The whole suite: start the real servers (infra/local), build, run every compiled test file with node:test,
// and end with `N passed, N failed`. Usage: pnpm test [path-filter ...]
import { spawnSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { summaryText } from './summary-reporter.mjs';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

run('bash', ['infra/local/up.sh']);
run('pnpm', ['run', '--silent', 'build']);
// The k6 scripts and the benchmark harness are not run here, but they must keep type-checking.
run('pnpm', ['run', '--silent', 'typecheck']);

const env = { ...process.env };
for (const line of readFileSync(join(root, '.work/local/env'), 'utf8').split('\n')) {
  const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
  if (m) env[m[1]] = m[2];
}

function findTests(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const dirs = [...readdirSync(join(root, 'services')).map((s) => join(root, 'services', s, 'dist')), join(root, 'test', 'dist')];
let files = dirs.flatMap((d) => findTests(d, [])).map((f) => relative(root, f)).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const concurrency = process.env.TP_TEST_CONCURRENCY ?? '3';
// The summary reporter keeps its counts here; the closing line is printed below, once the runner has exited.
const summaryFile = join(root, '.work/test-summary.json');
rmSync(summaryFile, { force: true });
env.TP_TEST_SUMMARY_FILE = summaryFile;
// Verdicts must reach the runner before a test file's process force-exits (scripts/test-file-preload.mjs).
env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import="${join(root, 'scripts/test-file-preload.mjs')}"`.trim();
const child = spawn(
  process.execPath,
  [
    '--test',
    // A test file whose tests have all finished exits even if it leaked a handle (a server a failed test
    // never closed): without it that file's process, and so the suite, waited forever.
    '--test-force-exit',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts/summary-reporter.mjs')}`,
    '--test-reporter-destination=stdout',
    ...files,
  ],
  { cwd: root, env, stdio: 'inherit' },
);
child.on('exit', (code, signal) => {
  let s = null;
  try {
    s = JSON.parse(readFileSync(summaryFile, 'utf8'));
  } catch {
    // no result at all: the runner failed before any test
  }
  if (s === null) {
    console.log(`\nthe test runner ended (${signal ?? `exit ${code}`}) without a result`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  process.stdout.write(summaryText(s));
  process.exit(s.failed > 0 ? 1 : code ?? (signal ? 1 : 0));
});
