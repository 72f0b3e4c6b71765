#!/usr/bin/env node
// Checks ajv-interpreter.ts against ajv's own behaviour where it matters: bundles the CLI's declarative-config
// tests and the control plane's validator tests with `ajv` replaced by the interpreter (as build.mjs does for
// the browser) and runs them with node --test. Exit code: node --test's (0 when all pass).
// Needs `pnpm build` first (it reads the compiled tests under dist/). Run by test/console.test.ts.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const repo = join(here, '..', '..', '..', '..');
const TESTS = [
  'services/cli/dist/src/declarative/file-format.test.js',
  'services/cli/dist/src/declarative/resource-config.test.js',
  'services/cli/dist/src/declarative/plan.test.js',
  'services/cli/dist/src/declarative/certificates.test.js',
  'services/control-plane/dist/src/validation/validator.test.js',
];
const out = mkdtempSync(join(tmpdir(), 'tp-ajv-interp-'));
try {
  const files = [];
  for (const t of TESTS) {
    const outfile = join(out, `${t.split('/').pop().replace('.test.js', '')}.test.mjs`);
    await build({
      entryPoints: [join(repo, t)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile,
      logLevel: 'error',
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      plugins: [{ name: 'ajv-interpreter', setup(b) { b.onResolve({ filter: /^ajv(-formats|\/dist\/2020(\.js)?)?$/ }, () => ({ path: join(here, 'ajv-interpreter.ts') })); } }],
    });
    files.push(outfile);
  }
  // Run from inside a node:test file, the inherited NODE_TEST_CONTEXT would make this run report in the
  // runner's binary protocol instead of TAP.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...files], { cwd: repo, encoding: 'utf8', env });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
