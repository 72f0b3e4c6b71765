// copyDirOnce (src/copy-once.ts): several processes copying the same directory to the same place at once
// — what two `turnpike up` do on a fresh machine as root from a directory the postgres user cannot reach.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { COPY_COMPLETE, copied, copyDirOnce } from '../src/copy-once.js';

const root = mkdtempSync(join(tmpdir(), 'tp-copy-once-'));
after(() => rmSync(root, { recursive: true, force: true }));

const MODULE = new URL('../src/copy-once.js', import.meta.url).href;

/** A source tree of `dirs` × `files` files of 4 KiB, each with its own content. */
function sourceTree(name: string, dirs: number, files: number): string {
  const src = join(root, name);
  for (let d = 0; d < dirs; d++) {
    mkdirSync(join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < files; f++) writeFileSync(join(src, `d${d}`, `f${f}`), `${d}/${f}\n`.repeat(512));
  }
  return src;
}

/** Relative path → content of every file under `dir`, the completion mark left out. */
function contents(dir: string, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    if (name === COPY_COMPLETE) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) for (const [k, v] of contents(p, `${prefix}${name}/`)) out.set(k, v);
    else out.set(prefix + name, readFileSync(p, 'utf8'));
  }
  return out;
}

function copyInChild(src: string, dst: string): Promise<{ code: number | null; out: string }> {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => console.log(m.copyDirOnce(${JSON.stringify(src)}, ${JSON.stringify(dst)}) ? 'made' : 'found'))`;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.once('exit', (code) => resolve({ code, out: out.trim() }));
  });
}

test('six processes copying the same tree at once: all succeed, one copy is made, it is complete, nothing is left beside it', { timeout: 60_000 }, async () => {
  const src = sourceTree('src-race', 20, 40);
  const dst = join(root, 'shared', 'copy');
  mkdirSync(join(root, 'shared'));
  const results = await Promise.all(Array.from({ length: 6 }, () => copyInChild(src, dst)));
  for (const r of results) assert.equal(r.code, 0, r.out);
  assert.equal(results.filter((r) => r.out === 'made').length, 1, results.map((r) => r.out).join(', '));
  assert.ok(copied(dst));
  assert.deepEqual(contents(dst), contents(src));
  // No staging or set-aside directories remain.
  assert.deepEqual(readdirSync(join(root, 'shared')), ['copy']);
});

test('a copy cut short (no completion mark) is replaced by a complete one; a complete copy is left alone', () => {
  const src = sourceTree('src-partial', 3, 5);
  const dst = join(root, 'partial');
  // What the earlier code could leave behind: some of the files, no mark.
  mkdirSync(join(dst, 'd0'), { recursive: true });
  writeFileSync(join(dst, 'd0', 'f0'), 'half');
  assert.equal(copied(dst), false);
  assert.equal(copyDirOnce(src, dst), true);
  assert.deepEqual(contents(dst), contents(src));
  const marked = statSync(join(dst, COPY_COMPLETE)).mtimeMs;
  assert.equal(copyDirOnce(src, dst), false);
  assert.equal(statSync(join(dst, COPY_COMPLETE)).mtimeMs, marked);
  assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('partial')), ['partial']);
});
