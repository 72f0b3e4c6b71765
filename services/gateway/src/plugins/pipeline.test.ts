import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anyOfAuth, deny, orderSteps, runSteps, type Identified, type Outcome, type PipelineSink, type Step } from './pipeline.js';

interface Ctx {
  gone: boolean;
  body?: boolean;
  bodyWaiter?: () => void;
  log: string[];
  headers: Record<string, string>;
}

function sink(): PipelineSink<Ctx> {
  return {
    gone: (c) => c.gone,
    identify: (c, who, step) => c.log.push(`identify:${step}:${who.consumerId}`),
    deny: (c, d, step) => c.log.push(`deny:${step}:${d.code}`),
    answer: (c, a, step) => c.log.push(`answer:${step}:${a.status}`),
    bodyReady: (c) => c.body === true,
    awaitBody: (c, resume) => {
      c.log.push('await-body');
      c.bodyWaiter = resume;
    },
    done: (c) => c.log.push('done'),
    failed: (c, e, step) => c.log.push(`failed:${step}:${(e as Error).message}`),
  };
}

const ctx = (headers: Record<string, string> = {}): Ctx => ({ gone: false, log: [], headers });
const who = (consumerId: string): Identified => ({ kind: 'identity', consumerId, credentialId: `cred-${consumerId}`, upstreamHeaders: null });

function step(name: string, out: Outcome | (() => Promise<Outcome>), extra: Partial<Step<Ctx>> = {}): Step<Ctx> {
  return {
    name,
    phase: 'access',
    needsBody: false,
    run: (c) => {
      c.log.push(`run:${name}`);
      return typeof out === 'function' ? out() : out;
    },
    ...extra,
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('synchronous steps run in order in one call; an identity is reported and the run goes on', () => {
  const c = ctx();
  const finished = runSteps([step('a', null), step('auth', who('c1')), step('b', null)], 0, c, sink());
  assert.equal(finished, true);
  assert.deepEqual(c.log, ['run:a', 'run:auth', 'identify:auth:c1', 'run:b', 'done']);
});

test('a denial stops the run: later steps never run', () => {
  const c = ctx();
  runSteps([step('ip', deny(403, 'TP_ERR_IP_FORBIDDEN', 'no')), step('never', null)], 0, c, sink());
  assert.deepEqual(c.log, ['run:ip', 'deny:ip:TP_ERR_IP_FORBIDDEN']);
});

test('a step that waits suspends the run; it resumes with the next step once its answer arrives', async () => {
  const c = ctx();
  let release!: (o: Outcome) => void;
  const finished = runSteps([step('jwt', () => new Promise<Outcome>((r) => (release = r))), step('acl', null)], 0, c, sink());
  assert.equal(finished, false);
  assert.deepEqual(c.log, ['run:jwt']);
  release(who('c2'));
  await tick();
  assert.deepEqual(c.log, ['run:jwt', 'identify:jwt:c2', 'run:acl', 'done']);
});

test('an asynchronous denial is reported; a client gone meanwhile hears nothing more', async () => {
  const c = ctx();
  runSteps([step('basic', () => Promise.resolve(deny(401, 'TP_ERR_AUTH_BASIC_INVALID', 'bad'))), step('never', null)], 0, c, sink());
  await tick();
  assert.deepEqual(c.log, ['run:basic', 'deny:basic:TP_ERR_AUTH_BASIC_INVALID']);

  const g = ctx();
  runSteps([step('slow', () => Promise.resolve(null)), step('never', null)], 0, g, sink());
  g.gone = true;
  await tick();
  assert.deepEqual(g.log, ['run:slow']);
});

test('a step whose Promise rejects is reported as failed, not as a denial or success', async () => {
  const c = ctx();
  runSteps([step('buggy', () => Promise.reject(new Error('boom'))), step('never', null)], 0, c, sink());
  await tick();
  assert.deepEqual(c.log, ['run:buggy', 'failed:buggy:boom']);
});

test('anyOfAuth: the first scheme whose credential is present decides alone; none present gets the combined challenge', () => {
  const present = (h: string) => (c: Ctx) => c.headers[h] !== undefined;
  const key = step('key-auth', deny(401, 'TP_ERR_AUTH_KEY_INVALID', 'bad key'), { phase: 'auth', present: present('apikey') });
  const jwt = step('jwt-auth', who('jwt-user'), { phase: 'auth', present: present('authorization') });
  const missing = deny(401, 'TP_ERR_AUTH_KEY_MISSING', 'credentials required', ['www-authenticate', 'Bearer', 'www-authenticate', 'ApiKey']);
  const auth = anyOfAuth([key, jwt], missing);

  const viaJwt = ctx({ authorization: 'Bearer x' });
  runSteps([auth], 0, viaJwt, sink());
  assert.deepEqual(viaJwt.log, ['run:jwt-auth', 'identify:key-auth|jwt-auth:jwt-user', 'done']);

  const badKey = ctx({ apikey: 'nope', authorization: 'Bearer x' });
  runSteps([auth], 0, badKey, sink());
  assert.deepEqual(badKey.log, ['run:key-auth', 'deny:key-auth|jwt-auth:TP_ERR_AUTH_KEY_INVALID'], 'a bad key is not retried as a JWT');

  const none = ctx();
  runSteps([auth], 0, none, sink());
  assert.deepEqual(none.log, ['deny:key-auth|jwt-auth:TP_ERR_AUTH_KEY_MISSING']);

  assert.equal(anyOfAuth([key], missing), key, 'one scheme is itself');
  assert.throws(() => anyOfAuth([key, step('acl', null)], missing), /not an auth step/);
});

test('orderSteps: phases pre-auth, auth, access, stable within a phase; needsBody if any step reads the body', () => {
  const steps = [
    step('acl', null),
    step('waf', null, { needsBody: true }),
    step('key-auth', null, { phase: 'auth' }),
    step('cors', null, { phase: 'pre-auth' }),
    step('ip', null, { phase: 'pre-auth' }),
  ];
  const o = orderSteps(steps);
  assert.deepEqual(o.steps.map((s) => s.name), ['cors', 'ip', 'key-auth', 'acl', 'waf']);
  assert.equal(o.needsBody, true);
  assert.equal(orderSteps([step('acl', null)]).needsBody, false);
});

test('a step that reads the body waits for it; steps before it run first; a gone client stops the resume', () => {
  const c = ctx();
  const finished = runSteps([step('ip', null), step('hmac', who('h1'), { needsBody: true }), step('acl', null)], 0, c, sink());
  assert.equal(finished, false);
  assert.deepEqual(c.log, ['run:ip', 'await-body']);
  c.body = true;
  c.bodyWaiter!();
  assert.deepEqual(c.log, ['run:ip', 'await-body', 'run:hmac', 'identify:hmac:h1', 'run:acl', 'done']);

  const g = ctx();
  runSteps([step('hmac', null, { needsBody: true }), step('never', null)], 0, g, sink());
  g.gone = true;
  g.body = true;
  g.bodyWaiter!();
  assert.deepEqual(g.log, ['await-body']);
});

test('an answer (a CORS preflight) ends the run like a denial', () => {
  const c = ctx();
  const finished = runSteps([step('cors', { kind: 'answer', status: 204, headers: ['access-control-allow-origin', '*'] }), step('never', null)], 0, c, sink());
  assert.equal(finished, true);
  assert.deepEqual(c.log, ['run:cors', 'answer:cors:204']);
});
