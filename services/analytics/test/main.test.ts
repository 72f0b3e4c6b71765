// The standalone ingester process: ready line on stdout, clean exit on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPrivateNats, testEnv } from '@turnpike/common/testing';
import { ClickHouseStore } from '../src/index.js';

test('main.ts prints {"event":"ready"} and exits 0 on SIGTERM', { timeout: 60_000 }, async () => {
  const nats = await startPrivateNats();
  const database = `tp_test_main_${Date.now().toString(36)}_${process.pid}`;
  try {
    const entry = fileURLToPath(new URL('../src/main.js', import.meta.url));
    const child = spawn(process.execPath, [entry], {
      env: { ...process.env, TP_NATS_URL: nats.url, TP_CLICKHOUSE_URL: testEnv().clickhouseUrl, TP_CLICKHOUSE_DATABASE: database },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ready line; stdout=${out} stderr=${err}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const ready = out.split('\n').some((l) => {
          try {
            return (JSON.parse(l) as { event?: string }).event === 'ready';
          } catch {
            return false;
          }
        });
        if (ready) {
          clearTimeout(t);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`exited early with ${code}: ${err}`)));
    });
    child.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, `exit ${String(code)} (signal ${String(child.signalCode)}); stderr: ${err}`);
  } finally {
    const s = await ClickHouseStore.open(testEnv().clickhouseUrl, database);
    await s.dropDatabase();
    await s.close();
    await nats.destroy();
  }
});

test('main.ts exits non-zero with a JSON error when TP_CLICKHOUSE_URL is missing', { timeout: 30_000 }, async () => {
  const entry = fileURLToPath(new URL('../src/main.js', import.meta.url));
  const env = { ...process.env };
  delete env.TP_CLICKHOUSE_URL;
  const child = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.equal(code, 1);
  assert.match(err, /"event":"fatal".*TP_CLICKHOUSE_URL/);
});

test('main.ts refuses a malformed retention setting before connecting anywhere', { timeout: 30_000 }, async () => {
  const entry = fileURLToPath(new URL('../src/main.js', import.meta.url));
  const env = { ...process.env, TP_CLICKHOUSE_URL: 'http://127.0.0.1:1', TP_ANALYTICS_RETENTION_DAYS: '30d' };
  const child = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.equal(code, 1);
  assert.match(err, /"event":"fatal".*TP_ANALYTICS_RETENTION_DAYS must be an integer/);
});
