// Turns untrusted input into typed values with the @turnpike/common schemas (ajv), and ajv's errors into
// TP_ERR_VALIDATION field errors with JSON-pointer paths (`/targets/0/port`).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import { TurnpikeError, type FieldError } from '@turnpike/common';

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = addFormatsImport as unknown as typeof addFormatsImport.default;

function makeAjv(useDefaults: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults, removeAdditional: false, strict: false, coerceTypes: false });
  addFormats(ajv);
  return ajv;
}

// Creates fill in defaults; partial updates must not (a PATCH of `name` must not reset `tags` to []).
const withDefaults = makeAjv(true);
const withoutDefaults = makeAjv(false);
const cache = new WeakMap<TSchema, { defaults: ValidateFunction; plain: ValidateFunction }>();

function compiled(schema: TSchema): { defaults: ValidateFunction; plain: ValidateFunction } {
  let c = cache.get(schema);
  if (!c) {
    c = { defaults: withDefaults.compile(schema), plain: withoutDefaults.compile(schema) };
    cache.set(schema, c);
  }
  return c;
}

export interface ParseOptions {
  /** Fill in schema defaults (creates and full replacements). */
  defaults: boolean;
}

/** Validates `input` against `schema` (on a deep copy) and returns it typed, or throws TP_ERR_VALIDATION. */
export function parse<S extends TSchema>(schema: S, input: unknown, opts: ParseOptions): Static<S> {
  // No schema nests deeper than a few levels; hostile nesting must not reach structuredClone, which
  // recurses and would overflow the stack (a 500 for an 800 KB body of `[[[[...`).
  if (nestingExceeds(input, MAX_JSON_DEPTH)) {
    const fields: FieldError[] = [{ path: '', message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` }];
    throw new TurnpikeError('TP_ERR_VALIDATION', describe(fields), fields);
  }
  // PostgreSQL cannot store U+0000 (text or jsonb) nor a lone surrogate (jsonb): refuse them here, with
  // their field, rather than fail in the INSERT.
  const bad = unstorableTextPath(input);
  if (bad !== null) {
    const fields: FieldError[] = [{ path: bad, message: 'must not contain NUL (\\u0000) or unpaired surrogate characters' }];
    throw new TurnpikeError('TP_ERR_VALIDATION', describe(fields), fields);
  }
  const value: unknown = input === undefined ? undefined : structuredClone(input);
  const c = compiled(schema);
  const validate = opts.defaults ? c.defaults : c.plain;
  if (validate(value)) return value as Static<S>;
  const fields = fieldErrors(validate.errors ?? []);
  throw new TurnpikeError('TP_ERR_VALIDATION', describe(fields), fields);
}

/** Deeper than any schema of the API nests; input beyond it is refused before it is copied or walked. */
export const MAX_JSON_DEPTH = 32;

/** Whether objects/arrays in `value` nest deeper than `max` (iterative: safe on any depth). */
export function nestingExceeds(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** JSON pointer of the first string value PostgreSQL cannot store, or null (iterative; depth already bounded). */
export function unstorableTextPath(value: unknown): string | null {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return path;
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) stack.push([child, `${path}/${escapePointer(k)}`]);
    }
  }
  return null;
}

function describe(fields: FieldError[]): string {
  const first = fields[0];
  if (!first) return 'invalid request body';
  const more = fields.length > 1 ? ` (and ${fields.length - 1} more)` : '';
  return `${first.path || 'body'} ${first.message}${more}`;
}

/** Maps ajv errors to field errors: one entry per path and message, union-of-literals collapsed. */
export function fieldErrors(errors: ErrorObject[]): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  const push = (path: string, message: string): void => {
    const k = `${path}\u0000${message}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ path, message });
  };
  // `anyOf` of literals (e.g. HTTP methods) yields one `const` error per literal plus the `anyOf`:
  // report it once as "must be one of ...".
  const consts = new Map<string, unknown[]>();
  for (const e of errors) {
    if (e.keyword === 'const') {
      const list = consts.get(e.instancePath) ?? [];
      list.push((e.params as { allowedValue: unknown }).allowedValue);
      consts.set(e.instancePath, list);
    }
  }
  for (const e of errors) {
    const path = e.instancePath;
    switch (e.keyword) {
      case 'required':
        push(`${path}/${escapePointer((e.params as { missingProperty: string }).missingProperty)}`, 'is required');
        break;
      case 'additionalProperties':
        push(`${path}/${escapePointer((e.params as { additionalProperty: string }).additionalProperty)}`, 'is not allowed');
        break;
      case 'const':
        break;
      case 'anyOf': {
        const allowed = consts.get(path);
        if (allowed && allowed.length > 0) push(path, `must be one of: ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
        else push(path, e.message ?? 'is invalid');
        break;
      }
      default:
        push(path, e.message ?? 'is invalid');
    }
  }
  return out;
}

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}
