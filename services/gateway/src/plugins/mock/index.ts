// mock: answers matching requests itself with one static response, made once per config (an Answer outcome
// shared by every request: the handler only reads it), so the upstream is never called for them.
import type { MockConfig } from '@turnpike/common';
import type { Answer, Step } from '../pipeline.js';
import type { RequestContext } from '../request-context.js';

export interface MockPolicy {
  readonly answer: Answer;
  /** Upper-case methods answered; null: every method. */
  readonly methods: ReadonlySet<string> | null;
  /** Paths answered (any one matching); null: every path. */
  readonly paths: readonly RegExp[] | null;
}

export function compileMock(cfg: MockConfig): MockPolicy {
  const headers: string[] = [];
  let body: Buffer | null = null;
  let contentType: string | null = null;
  if (cfg.json !== undefined) {
    body = Buffer.from(JSON.stringify(cfg.json), 'utf8');
    contentType = 'application/json';
  } else if (cfg.text !== undefined) {
    body = Buffer.from(cfg.text, 'utf8');
    contentType = 'text/plain; charset=utf-8';
  }
  for (const [name, value] of Object.entries(cfg.headers)) headers.push(name.toLowerCase(), value);
  // The body's kind names its type unless the config names one.
  if (contentType !== null && !Object.keys(cfg.headers).some((n) => n.toLowerCase() === 'content-type')) headers.push('content-type', contentType);
  const answer: Answer = Object.freeze({ kind: 'answer', status: cfg.status, headers: Object.freeze(headers), body });
  return {
    answer,
    methods: cfg.methods.length === 0 ? null : new Set(cfg.methods),
    paths: cfg.paths.length === 0 ? null : cfg.paths.map((p) => new RegExp(p)),
  };
}

export function mockMatches(policy: MockPolicy, method: string, path: string): boolean {
  if (policy.methods !== null && !policy.methods.has(method)) return false;
  if (policy.paths === null) return true;
  for (const re of policy.paths) if (re.test(path)) return true;
  return false;
}

export function mockStep(policy: MockPolicy): Step<RequestContext> {
  return {
    name: 'mock',
    phase: 'access',
    needsBody: false,
    run: (ctx) => (mockMatches(policy, ctx.method, ctx.path) ? policy.answer : null),
  };
}
