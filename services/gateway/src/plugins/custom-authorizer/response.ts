// An authorizer's answer, parsed once (then cached): an IAM policy `{principalId, policyDocument, context}` or,
// with simple responses, `{isAuthorized, context}`. A policy is evaluated per request against that request's
// method ARN, as API Gateway does with a cached policy: an explicit Deny wins, else an Allow is needed.
import { headerSafe } from '../jwt-auth/index.js';

export interface Statement {
  readonly allow: boolean;
  /** Action patterns (lower-case: IAM matches actions case-insensitively), negated for NotAction. */
  readonly actions: readonly string[];
  readonly notAction: boolean;
  readonly resources: readonly string[];
  readonly notResource: boolean;
}

/** What the authorizer said about an identity (cached per identity). */
export interface Decision {
  /** null: a simple response (isAuthorized below); else the policy's statements. */
  readonly statements: readonly Statement[] | null;
  readonly isAuthorized: boolean;
  readonly principalId: string;
  /** context.consumer when a string, else principalId: the consumer username to look up. */
  readonly consumerName: string;
  /** The context as upstream headers, flat [name, value, …]; null when none. */
  readonly headers: readonly string[] | null;
}

const MAX_STATEMENTS = 64;
const MAX_PATTERNS = 256;
const MAX_CONTEXT_KEYS = 64;
const MAX_CONTEXT_VALUE = 4096;
const INVOKE = 'execute-api:invoke';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown): string[] | null {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

function parseStatement(s: unknown): Statement | string {
  if (!isObject(s)) return 'a Statement is not an object';
  const effect = typeof s.Effect === 'string' ? s.Effect.toLowerCase() : '';
  if (effect !== 'allow' && effect !== 'deny') return 'a Statement has no Effect Allow or Deny';
  const notAction = s.Action === undefined && s.NotAction !== undefined;
  const actions = stringList(notAction ? s.NotAction : s.Action);
  const notResource = s.Resource === undefined && s.NotResource !== undefined;
  const resources = stringList(notResource ? s.NotResource : s.Resource);
  if (actions === null) return 'a Statement has no Action';
  if (resources === null) return 'a Statement has no Resource';
  if (actions.length + resources.length > MAX_PATTERNS) return 'a Statement has too many actions or resources';
  return { allow: effect === 'allow', actions: actions.map((a) => a.toLowerCase()), notAction, resources, notResource };
}

/** Header name characters (RFC 9110 tchar); anything else in a context key becomes '-'. */
const NOT_TCHAR = /[^!#$%&'*+.^_`|~0-9a-z-]/g;

/**
 * The context as headers: string, number and boolean values only (API Gateway's rule; objects and arrays are
 * left out), names `<prefix><key>` lower-cased, values header-safe (no CR/LF, non-ASCII percent-encoded).
 */
export function contextHeaders(context: unknown, prefix: string): readonly string[] | null {
  if (!isObject(context)) return null;
  const out: string[] = [];
  let n = 0;
  for (const [key, v] of Object.entries(context)) {
    if (n >= MAX_CONTEXT_KEYS) break;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
    const name = key.toLowerCase().replace(NOT_TCHAR, '-');
    if (name === '') continue;
    const value = headerSafe(String(v).slice(0, MAX_CONTEXT_VALUE));
    out.push(prefix + name, value);
    n++;
  }
  return out.length > 0 ? out : null;
}

/** Parses a response body (already JSON-decoded); a string says why it is not a valid answer. */
export function parseDecision(body: unknown, simple: boolean, prefix: string): Decision | string {
  if (!isObject(body)) return 'the authorizer response is not a JSON object';
  const context = body.context;
  if (context !== undefined && context !== null && !isObject(context)) return 'the authorizer response context is not an object';
  const consumer = isObject(context) && typeof context.consumer === 'string' ? context.consumer : null;
  const headers = contextHeaders(context, prefix);
  if (simple) {
    if (typeof body.isAuthorized !== 'boolean') return 'the simple response has no boolean isAuthorized';
    return { statements: null, isAuthorized: body.isAuthorized, principalId: '', consumerName: consumer ?? '', headers };
  }
  const principalId = body.principalId;
  if (typeof principalId !== 'string') return 'the policy response has no principalId string';
  const doc = body.policyDocument;
  if (!isObject(doc)) return 'the policy response has no policyDocument';
  const raw = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement !== undefined ? [doc.Statement] : null;
  if (raw === null || raw.length === 0) return 'the policyDocument has no Statement';
  if (raw.length > MAX_STATEMENTS) return `the policyDocument has more than ${MAX_STATEMENTS} statements`;
  const statements: Statement[] = [];
  for (const s of raw) {
    const st = parseStatement(s);
    if (typeof st === 'string') return st;
    statements.push(st);
  }
  return { statements, isAuthorized: false, principalId, consumerName: consumer ?? principalId, headers };
}

/**
 * IAM wildcard match (`*` any run, `?` one character) in O(pattern × text) at worst: the classic two-pointer
 * walk that retries only from the last `*`, never a backtracking regular expression (patterns come from
 * the authorizer).
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    const pc = pattern.charCodeAt(p);
    if (p < pattern.length && (pc === 63 /* ? */ || pc === text.charCodeAt(t))) {
      p++;
      t++;
    } else if (p < pattern.length && pc === 42 /* * */) {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else return false;
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 42) p++;
  return p === pattern.length;
}

function applies(s: Statement, methodArn: string): boolean {
  let action = false;
  for (const a of s.actions) if (globMatch(a, INVOKE)) action = true;
  if (action === s.notAction) return false;
  let resource = false;
  for (const r of s.resources) if (globMatch(r, methodArn)) resource = true;
  return resource !== s.notResource;
}

/** Whether the decision lets this request (its method ARN) through. */
export function allows(d: Decision, methodArn: string): boolean {
  if (d.statements === null) return d.isAuthorized;
  let allowed = false;
  for (const s of d.statements) {
    if (!applies(s, methodArn)) continue;
    if (!s.allow) return false;
    allowed = true;
  }
  return allowed;
}
