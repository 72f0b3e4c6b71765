import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureBody, capturedHeaders, compileJsonRedaction, headerRedactor, redactJson, REDACTED } from './redact.js';

test('header names are redacted case-insensitively; built-in names always, configured ones too; repeats joined', () => {
  const r = headerRedactor(['X-Secret-Token']);
  const got = capturedHeaders(['Authorization', 'Bearer abc', 'x-secret-token', 's3', 'COOKIE', 'a=1', 'accept', 'a/b', 'Accept', 'c/d', 'X-Api-Key', 'k'], r);
  assert.deepEqual({ ...got }, { authorization: REDACTED, 'x-secret-token': REDACTED, cookie: REDACTED, accept: 'a/b, c/d', 'x-api-key': REDACTED });
});

test('a bare field name is redacted at any depth, inside arrays too', () => {
  const r = compileJsonRedaction(['password']);
  const v = { user: { name: 'a', password: 'p1' }, list: [{ password: 'p2', keep: 1 }, [{ password: 'p3' }]], password: 'p0' };
  assert.deepEqual(redactJson(v, r), { user: { name: 'a', password: REDACTED }, list: [{ password: REDACTED, keep: 1 }, [{ password: REDACTED }]], password: REDACTED });
  // The input is left as it was.
  assert.equal(v.user.password, 'p1');
});

test('a path matches from the root only; * stands for any key or array index; a whole subtree can be redacted', () => {
  const r = compileJsonRedaction(['/user/token', '/items/*/secret', '/card']);
  const v = { token: 'top', user: { token: 't', other: { token: 'deep' } }, items: [{ secret: 1, id: 'a' }, { secret: { x: 1 } }], card: { number: '4111', cvc: '1' } };
  assert.deepEqual(redactJson(v, r), {
    token: 'top',
    user: { token: REDACTED, other: { token: 'deep' } },
    items: [{ secret: REDACTED, id: 'a' }, { secret: REDACTED }],
    card: REDACTED,
  });
  // An array index as a path segment; JSON Pointer escapes.
  assert.deepEqual(redactJson({ a: ['x', 'y'], 'b/c': 1 }, compileJsonRedaction(['/a/1', '/b~1c'])), { a: ['x', REDACTED], 'b/c': REDACTED });
});

test('JSON bodies are redacted and re-serialized; non-JSON bodies are kept as text', () => {
  const r = compileJsonRedaction(['password']);
  const json = Buffer.from('{"user":"u","password":"hunter2"}');
  assert.deepEqual(captureBody(json, json.length, 4096, 'application/json; charset=utf-8', r), { body: '{"user":"u","password":"[REDACTED]"}', truncated: false, bytes: json.length });
  // No content type, but it looks like JSON: treated as JSON.
  assert.equal(captureBody(json, json.length, 4096, '', r).body, '{"user":"u","password":"[REDACTED]"}');
  const form = Buffer.from('user=u&password=hunter2');
  assert.deepEqual(captureBody(form, form.length, 4096, 'application/x-www-form-urlencoded', r), { body: 'user=u&password=hunter2', truncated: false, bytes: form.length });
});

test('the size cap: text is cut; a JSON body over the cap, or unparseable, is not kept when fields are to be redacted', () => {
  const r = compileJsonRedaction(['password']);
  const text = Buffer.from('abcdefghij');
  assert.deepEqual(captureBody(text.subarray(0, 4), text.length, 4, 'text/plain', r), { body: 'abcd', truncated: true, bytes: 10 });
  const json = Buffer.from('{"password":"hunter2","pad":"xxxxxxxx"}');
  const cut = captureBody(json.subarray(0, 16), json.length, 16, 'application/json', r);
  assert.equal(cut.truncated, true);
  assert.ok(!cut.body.includes('hunter2'), cut.body);
  const bad = Buffer.from('{"password":"hunter2",');
  assert.ok(!captureBody(bad, bad.length, 4096, 'application/json', r).body.includes('hunter2'));
  // Without fields to redact a JSON body is kept as sent, cut to the cap.
  assert.equal(captureBody(json.subarray(0, 16), json.length, 16, 'application/json', compileJsonRedaction([])).body, '{"password":"hun');
});
