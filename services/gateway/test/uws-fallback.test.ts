// The real process refuses uWebSockets.js's pure-JS fallback (forced here with the package's own
// UWS_USE_FALLBACK switch) with exit code 78, unless TP_ALLOW_UWS_FALLBACK=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@turnpike/common/testing';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

function run(env: Record<string, string>, untilReady: boolean): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (untilReady && out.includes('"event":"ready"')) p.kill('SIGTERM');
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.once('exit', (code) => resolve({ code, out }));
  });
}

test('gateway exits 78 on the uWS fallback, starts on it only when allowed', { timeout: 30_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-fb-'));
  try {
    const base = {
      UWS_USE_FALLBACK: '1',
      TP_NATS_URL: `nats://127.0.0.1:${await freePort()}`,
      TP_PROXY_HOST: '127.0.0.1',
      TP_PROXY_PORT: String(await freePort()),
      TP_STATUS_PORT: String(await freePort()),
      TP_DATA_DIR: dataDir,
    };
    const refused = await run(base, false);
    assert.equal(refused.code, 78, refused.out);
    assert.match(refused.out, /fallback.*refusing to start/);
    const allowed = await run({ ...base, TP_ALLOW_UWS_FALLBACK: '1' }, true);
    assert.match(allowed.out, /"event":"ready"/);
    assert.equal(allowed.code, 0, allowed.out);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
