import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { detectUws, loadUws, nativeBinaryId, UwsFallbackError } from './loader.js';

test('detectUws: the real package on this machine loads the native binary', () => {
  const r = detectUws(createRequire(import.meta.url));
  assert.equal(r.native, true, r.reason);
  assert.equal(typeof r.uws.App, 'function');
});

test('detectUws: a binary that fails to load is reported as the fallback', () => {
  const fallback = { App: () => ({}) };
  const r = detectUws((id) => {
    if (id === 'uWebSockets.js') return fallback;
    throw new Error('invalid ELF header');
  });
  assert.equal(r.native, false);
  assert.match(r.reason ?? '', /invalid ELF header/);
});

test('detectUws: an export different from the binary is the fallback', () => {
  const r = detectUws((id) => (id === 'uWebSockets.js' ? { App: () => ({}) } : { App: () => ({}) }));
  assert.equal(r.native, false);
  assert.match(r.reason ?? '', /fallback/);
});

test('nativeBinaryId names the platform binary', () => {
  assert.equal(nativeBinaryId('linux', 'x64', '115'), 'uWebSockets.js/binaries/uws_linux_x64_115.node');
});

test('loadUws returns the native module and UwsFallbackError carries exit code 78', () => {
  assert.equal(loadUws(false).native, true);
  assert.equal(new UwsFallbackError('x').exitCode, 78);
});
