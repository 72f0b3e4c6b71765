#!/usr/bin/env node
// Bundles the console (/console) and the developer portal (/portal) into dist/<app>/: one minified ES module
// per app with a content hash in its name (served as immutable), its CSS, and index.html pointing at both.
// Every file is also written gzip- and brotli-compressed so the control plane serves the smallest one the
// browser accepts without compressing per request. dist/manifest.json lists the sizes (the first-load budget
// of issue 11 is < 300 KB compressed JS for the console).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const root = new URL('.', import.meta.url).pathname;
const dist = join(root, 'dist');
const APPS = [
  { name: 'console', title: 'Turnpike console' },
  { name: 'portal', title: 'Turnpike developer portal' },
];

rmSync(dist, { recursive: true, force: true });
const manifest = {};
for (const app of APPS) {
  const out = join(dist, app.name);
  mkdirSync(out, { recursive: true });
  const result = await build({
    entryPoints: { app: join(root, 'src', app.name, 'main.tsx') },
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    outdir: out,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const files = Object.keys(result.metafile.outputs).map((p) => p.split('/').pop());
  const js = files.find((f) => f.endsWith('.js'));
  const css = files.find((f) => f.endsWith('.css'));
  const html = readFileSync(join(root, 'src', 'index.html'), 'utf8')
    .replaceAll('%TITLE%', app.title)
    .replaceAll('%BASE%', `/${app.name}/`)
    .replace('%CSS%', css ? `<link rel="stylesheet" href="/${app.name}/${css}">` : '')
    .replace('%JS%', `<script type="module" src="/${app.name}/${js}"></script>`);
  writeFileSync(join(out, 'index.html'), html);
  const sizes = {};
  for (const f of readdirSync(out)) {
    const body = readFileSync(join(out, f));
    const gz = gzipSync(body, { level: 9 });
    const br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
    writeFileSync(join(out, `${f}.gz`), gz);
    writeFileSync(join(out, `${f}.br`), br);
    sizes[f] = { bytes: body.length, gzip: gz.length, brotli: br.length };
  }
  manifest[app.name] = { js, css: css ?? null, files: sizes };
}
writeFileSync(join(dist, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
for (const [name, m] of Object.entries(manifest)) {
  const s = m.files[m.js];
  console.log(`${name}: ${m.js} ${(s.bytes / 1024).toFixed(1)} KiB, ${(s.gzip / 1024).toFixed(1)} KiB gzip`);
}
