// reservedTestPort (test-ports.ts): ports for test servers, reserved across processes, below the ephemeral range.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PORT_RESERVATIONS_DIR, pruneTestPortReservations, reservedTestPort } from './test-ports.js';

const MODULE = new URL('./test-ports.js', import.meta.url).href;
const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

test('four live processes taking 50 ports each at once get 200 different ports, below the ephemeral range; freed when they are gone', { timeout: 60_000 }, async () => {
  // Each child keeps its reservations while it lives: it prints its ports, then waits for its stdin to close.
  const script = `import(${JSON.stringify(MODULE)}).then(async (m) => { const out = []; for (let i = 0; i < 50; i++) out.push(await m.reservedTestPort()); console.log(JSON.stringify(out)); process.stdin.resume(); process.stdin.on('end', () => process.exit(0)); })`;
  const children = Array.from({ length: 4 }, () => spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
  try {
    const lists = await Promise.all(
      children.map(
        (p) =>
          new Promise<number[]>((resolve, reject) => {
            let out = '';
            p.stdout!.on('data', (c: Buffer) => {
              out += c.toString();
              if (out.endsWith('\n')) resolve(JSON.parse(out) as number[]);
            });
            p.once('exit', (code) => reject(new Error(`child exited (${code}) before printing its ports: ${out}`)));
          }),
      ),
    );
    const all = lists.flat();
    assert.equal(all.length, 200);
    const dups = all.filter((p, i) => all.indexOf(p) !== i);
    assert.deepEqual(dups, [], 'ports handed to two live processes');
    for (const port of all) assert.ok(port >= 20_000 && port < ephemeralLow, `port ${port} outside [20000, ${ephemeralLow})`);
    for (const port of all.slice(0, 20)) assert.ok(readFileSync(join(PORT_RESERVATIONS_DIR, String(port)), 'utf8').length > 0);
    // Once the processes are gone, pruning frees their reservations.
    await Promise.all(children.map((p) => new Promise((r) => { p.once('exit', r); p.stdin!.end(); })));
    pruneTestPortReservations();
    for (const port of all) assert.throws(() => readFileSync(join(PORT_RESERVATIONS_DIR, String(port))), /ENOENT/);
  } finally {
    for (const p of children) p.kill();
  }
});

test('a reservation names its process and is pruned once that process is gone; every port handed out binds', async () => {
  const port = await reservedTestPort();
  assert.ok(port !== null);
  const file = join(PORT_RESERVATIONS_DIR, String(port));
  assert.equal(readFileSync(file, 'utf8'), String(process.pid));
  pruneTestPortReservations();
  assert.equal(readFileSync(file, 'utf8'), String(process.pid), 'a live process keeps its reservation');
  writeFileSync(file, '2147483646');
  pruneTestPortReservations();
  assert.throws(() => readFileSync(file), /ENOENT/);
  for (let i = 0; i < 20; i++) {
    const p = await reservedTestPort();
    assert.ok(p !== null);
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(p, '127.0.0.1', () => probe.close(() => resolve()));
    });
  }
});
