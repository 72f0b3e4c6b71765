// Compiled header/query operations of the transformers, in Kong's order: remove, rename, replace (only when
// present), add (only when absent). A value that renders empty removes (replace) or skips (add) the field.
import { compileTextTemplate, valueTemplateOptions, type HeaderOps, type QueryOps, type TextTemplate, type TransformInput, type TransformTemplateOptions } from '@turnpike/common';
import type { RequestContext } from '../request-context.js';
import { headerSafe } from './request-input.js';
import { encodedParam, type QueryParam } from './query-string.js';

export interface CompiledOps {
  readonly remove: readonly string[];
  readonly rename: readonly (readonly [string, string])[];
  readonly replace: readonly (readonly [string, TextTemplate])[];
  readonly add: readonly (readonly [string, TextTemplate])[];
  /** No operation at all: the step skips this part. */
  readonly empty: boolean;
}

/** Header names are lower-cased; query names kept as written. Throws TurnpikeError for a bad template. */
export function compileOps(ops: HeaderOps | QueryOps, templateOpts: TransformTemplateOptions, base: string, lowerCase: boolean): CompiledOps {
  const opts = valueTemplateOptions(templateOpts);
  const n = (s: string) => (lowerCase ? s.toLowerCase() : s);
  const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
  const remove = ops.remove.map(n);
  const rename = Object.entries(ops.rename).map(([from, to]) => [n(from), n(to)] as const);
  const replace = Object.entries(ops.replace).map(([k, v]) => [n(k), compileTextTemplate(v, opts, `${base}/replace/${esc(k)}`)] as const);
  const add = Object.entries(ops.add).map(([k, v]) => [n(k), compileTextTemplate(v, opts, `${base}/add/${esc(k)}`)] as const);
  return { remove, rename, replace, add, empty: remove.length + rename.length + replace.length + add.length === 0 };
}

// ---- request headers --------------------------------------------------------------------------------------

/**
 * The request headers the upstream will get, as far as the transformer changed them: name → value ('' when
 * removed). Reads fall through to the headers as received.
 */
export class PendingHeaders {
  readonly changes = new Map<string, string>();
  constructor(private readonly ctx: RequestContext) {}

  /** Every value of `name` (joined with ", " when repeated), or ''. */
  get(name: string): string {
    const changed = this.changes.get(name);
    if (changed !== undefined) return changed;
    const r = this.ctx.received;
    let out = '';
    for (let i = 0; i < r.length; i += 2) {
      if (r[i] === name) out = out === '' ? r[i + 1]! : `${out}, ${r[i + 1]!}`;
    }
    return out;
  }

  set(name: string, value: string): void {
    this.changes.set(name, value);
  }

  /** Hands the changes to the request. */
  flush(): void {
    for (const [name, value] of this.changes) this.ctx.setRequestHeader(name, value);
  }
}

export function applyRequestHeaderOps(ops: CompiledOps, h: PendingHeaders, input: TransformInput): void {
  for (const name of ops.remove) h.set(name, '');
  for (const [from, to] of ops.rename) {
    const v = h.get(from);
    if (v === '') continue;
    h.set(from, '');
    h.set(to, v);
  }
  for (const [name, t] of ops.replace) if (h.get(name) !== '') h.set(name, headerSafe(t.render(input)));
  for (const [name, t] of ops.add) {
    if (h.get(name) !== '') continue;
    const v = headerSafe(t.render(input));
    if (v !== '') h.set(name, v);
  }
}

// ---- response headers (flat [name, value, …], names lower-case) --------------------------------------------

function has(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

function without(headers: string[], name: string): string[] {
  if (!has(headers, name)) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== name) out.push(headers[i]!, headers[i + 1]!);
  return out;
}

/** Returns the changed list (a new array when anything was dropped). */
export function applyResponseHeaderOps(ops: CompiledOps, headers: string[], input: TransformInput): string[] {
  let h = headers;
  for (const name of ops.remove) h = without(h, name);
  for (const [from, to] of ops.rename) {
    if (!has(h, from)) continue;
    h = without(h, to);
    for (let i = 0; i < h.length; i += 2) if (h[i] === from) h[i] = to;
  }
  for (const [name, t] of ops.replace) {
    if (!has(h, name)) continue;
    const v = headerSafe(t.render(input));
    h = without(h, name);
    if (v !== '') h.push(name, v);
  }
  for (const [name, t] of ops.add) {
    if (has(h, name)) continue;
    const v = headerSafe(t.render(input));
    if (v !== '') h.push(name, v);
  }
  return h;
}

// ---- query parameters ------------------------------------------------------------------------------------

/** Returns null when nothing changed (the raw query is then forwarded byte for byte). */
export function applyQueryOps(ops: CompiledOps, params: readonly QueryParam[], input: TransformInput): QueryParam[] | null {
  let p = params as QueryParam[];
  let changed = false;
  const present = (name: string) => p.some((q) => q.name === name);
  for (const name of ops.remove) {
    if (!present(name)) continue;
    p = p.filter((q) => q.name !== name);
    changed = true;
  }
  for (const [from, to] of ops.rename) {
    if (!present(from)) continue;
    const renamed = encodedParam(to, '').rawName;
    p = p.filter((q) => q.name !== to).map((q) => (q.name === from ? { rawName: renamed, rawValue: q.rawValue, name: to } : q));
    changed = true;
  }
  for (const [name, t] of ops.replace) {
    const i = p.findIndex((q) => q.name === name);
    if (i < 0) continue;
    const v = t.render(input);
    // One value in the first one's place; a value rendering empty removes the parameter.
    const rest = p.filter((q, j) => j !== i && q.name !== name);
    if (v === '') p = rest;
    else p = [...rest.slice(0, i), encodedParam(name, v), ...rest.slice(i)];
    changed = true;
  }
  for (const [name, t] of ops.add) {
    if (present(name)) continue;
    const v = t.render(input);
    if (v === '') continue;
    p = [...p, encodedParam(name, v)];
    changed = true;
  }
  return changed ? p : null;
}
