import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRouteSelector } from './selection.js';

test('$request.body.<path> reads a JSON object field, dotted paths included; scalars become the key', () => {
  const action = compileRouteSelector('$request.body.action')!;
  assert.equal(action('{"action":"send","x":1}'), 'send');
  assert.equal(action('{"action":7}'), '7');
  assert.equal(action('{"action":true}'), 'true');
  const nested = compileRouteSelector('$request.body.meta.kind')!;
  assert.equal(nested('{"meta":{"kind":"join"}}'), 'join');
  assert.equal(nested('{"meta":{"other":"join"}}'), null);
  assert.equal(nested('{"meta":"kind"}'), null);
});

test('no key (then $default): not JSON, not an object, binary, missing field, object or null value, inherited names', () => {
  const action = compileRouteSelector('$request.body.action')!;
  for (const text of ['not json', '[1,2]', '"action"', '{"action":', '{"other":1}', '{"action":{"a":1}}', '{"action":null}', '{}', '']) assert.equal(action(text), null, text);
  assert.equal(action(null), null);
  assert.equal(compileRouteSelector('$request.body.constructor')!('{}'), null);
  assert.equal(compileRouteSelector('$request.body.__proto__')!('{"__proto__":"x"}'), 'x');
});

test('$default selects nothing; other expressions are not compiled', () => {
  assert.equal(compileRouteSelector('$default')!('{"action":"x"}'), null);
  for (const e of ['$request.header.x', '$request.body', '$request.body.', 'action', '${request.body.action}', '$request.body.a..b']) assert.equal(compileRouteSelector(e), null, e);
});
