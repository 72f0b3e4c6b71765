#!/usr/bin/env node
// Bundles the console (/console) and the developer portal (/portal) into dist/<app>/: one minified ES module
// per app with a content hash in its name (served as immutable), its CSS, and index.html pointing at both.
// Every file is also written gzip- and brotli-compressed so the control plane serves the smallest one the
// browser accepts without compressing per request. dist/manifest.json lists the sizes (the first-load budget
// of issue 11 is < 300 KB compressed JS for the console).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { builtinModules } from 'node:module';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const root = new URL('.', import.meta.url).pathname;
const dist = join(root, 'dist');
const APPS = [
  { name: 'console', title: 'Turnpike console' },
  { name: 'portal', title: 'Turnpike developer portal' },
];

// The console's config page bundles the CLI's declarative-config modules (services/cli/src/declarative) into
// its lazily loaded chunk: `undici` (their HTTP client) becomes a fetch-based stand-in, `ajv` a schema
// interpreter (src/console/ajv-interpreter.ts), and Node built-ins become empty modules (the server-side code
// they are imported by is bundled along but never called on the config page's paths).
const builtins = new Set(builtinModules);
const browserShims = {
  name: 'browser-shims',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: join(root, 'src', 'console', 'undici-fetch.ts') }));
    // ajv generates code with new Function, which the console's CSP forbids: an interpreter stands in.
    b.onResolve({ filter: /^ajv(-formats|\/dist\/2020(\.js)?)?$/ }, () => ({ path: join(root, 'src', 'console', 'ajv-interpreter.ts') }));
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (a) => (builtins.has(a.path.replace(/^node:/, '')) ? { path: a.path, namespace: 'node-builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, () => ({ contents: 'module.exports = {}', loader: 'js' }));
  },
};

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
    // Pages loaded by dynamic import (the console's analytics and config pages) become their own chunks.
    splitting: true,
    chunkNames: 'chunk-[hash]',
    plugins: [browserShims],
    assetNames: '[name]-[hash]',
    outdir: out,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = result.metafile.outputs;
  const files = Object.keys(outputs).map((p) => p.split('/').pop());
  const entry = Object.keys(outputs).find((p) => p.endsWith('.js') && outputs[p].entryPoint);
  const js = entry.split('/').pop();
  const css = files.find((f) => f.endsWith('.css'));
  // First load: the entry and the chunks it imports statically (not those behind a dynamic import).
  const firstLoad = new Set();
  const visit = (p) => {
    if (firstLoad.has(p)) return;
    firstLoad.add(p);
    for (const i of outputs[p].imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
  };
  visit(entry);
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
  const firstLoadJs = [...firstLoad].map((p) => p.split('/').pop());
  const sum = (k) => firstLoadJs.reduce((a, f) => a + sizes[f][k], 0);
  manifest[app.name] = { js, css: css ?? null, firstLoad: { files: firstLoadJs, bytes: sum('bytes'), gzip: sum('gzip'), brotli: sum('brotli') }, files: sizes };
}
writeFileSync(join(dist, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
for (const [name, m] of Object.entries(manifest)) {
  const s = m.firstLoad;
  console.log(`${name}: first load ${s.files.join(' + ')} ${(s.bytes / 1024).toFixed(1)} KiB, ${(s.gzip / 1024).toFixed(1)} KiB gzip`);
}
