// The console's forms are driven by the JSON schemas of the admin API's OpenAPI document (`/v1/openapi.json`):
// the same create/update schemas the control plane validates with. This module resolves `$ref`s, classifies a
// property into the kind of input that edits it, and validates a body against a schema the way the API does
// (required, type, const/enum, min/max, lengths, pattern, items, additionalProperties, anyOf, allOf/if/then),
// reporting JSON pointers like the API's `error.fields[].path`.

export type Schema = {
  $ref?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  if?: Schema;
  then?: Schema;
  else?: Schema;
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
  format?: string;
  default?: unknown;
  description?: string;
  minProperties?: number;
  maxProperties?: number;
};

export interface OpenApiDoc {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: Schema }> }; parameters?: Array<{ name?: string; in?: string; $ref?: string; schema?: Schema; description?: string }> }>>;
  components: { schemas: Record<string, Schema> };
}

export interface FieldError {
  path: string;
  message: string;
}

export function resolve(doc: OpenApiDoc, s: Schema): Schema {
  let cur = s;
  for (let i = 0; cur.$ref && i < 16; i++) {
    const name = cur.$ref.replace('#/components/schemas/', '');
    cur = doc.components.schemas[name] ?? {};
  }
  return cur;
}

/** The request-body schema of an operation, e.g. requestSchema(doc, '/v1/routes', 'post'). */
export function requestSchema(doc: OpenApiDoc, path: string, method: string): Schema | null {
  const body = doc.paths[path]?.[method]?.requestBody?.content?.['application/json']?.schema;
  return body ? resolve(doc, body) : null;
}

/** The query filters a list operation accepts (besides limit and cursor). */
export function listFilters(doc: OpenApiDoc, path: string): string[] {
  const params = doc.paths[path]?.get?.parameters ?? [];
  return params.filter((p) => p.in === 'query' && p.name && p.name !== 'limit' && p.name !== 'cursor').map((p) => p.name as string);
}

/** The values of an enum written as `anyOf: [{const}, …]` (TypeBox's unions of literals) or `enum`. */
export function enumValues(s: Schema): string[] | null {
  if (Array.isArray(s.enum)) return s.enum.map(String);
  if (s.anyOf && s.anyOf.length > 0 && s.anyOf.every((b) => b.const !== undefined)) return s.anyOf.map((b) => String(b.const));
  return null;
}

/** Splits `anyOf: [X, {type:null}]` into X and whether null is allowed. */
export function nonNull(s: Schema): { schema: Schema; nullable: boolean } {
  if (s.anyOf) {
    const rest = s.anyOf.filter((b) => b.type !== 'null');
    if (rest.length < s.anyOf.length && rest.length === 1) return { schema: { ...rest[0], default: s.default ?? rest[0]!.default, description: s.description ?? rest[0]!.description }, nullable: true };
  }
  return { schema: s, nullable: false };
}

export type FieldKind =
  | { kind: 'string'; format?: string }
  | { kind: 'text' }
  | { kind: 'integer' }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: string[] }
  | { kind: 'list'; item: 'string' | 'integer' }
  | { kind: 'multi'; values: string[] }
  | { kind: 'json' };

/** Which input edits a property: plain values get real inputs, nested objects a JSON editor. */
export function fieldKind(name: string, s: Schema): FieldKind {
  const { schema } = nonNull(s);
  const values = enumValues(schema);
  if (values) return { kind: 'enum', values };
  if (schema.anyOf || schema.oneOf || schema.allOf) return { kind: 'json' };
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== 'null') : schema.type;
  if (t === 'string') {
    if ((schema.maxLength ?? 0) > 512 || /_pem$|description|note|openapi|template|content/.test(name)) return { kind: 'text' };
    return schema.format ? { kind: 'string', format: schema.format } : { kind: 'string' };
  }
  if (t === 'integer') return { kind: 'integer' };
  if (t === 'number') return { kind: 'number' };
  if (t === 'boolean') return { kind: 'boolean' };
  if (t === 'array' && schema.items) {
    const item = resolveLocal(schema.items);
    const iv = enumValues(item);
    if (iv) return { kind: 'multi', values: iv };
    if (item.type === 'string' && !item.anyOf) return { kind: 'list', item: 'string' };
    if (item.type === 'integer') return { kind: 'list', item: 'integer' };
  }
  return { kind: 'json' };
}

function resolveLocal(s: Schema): Schema {
  return s;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(t: string, v: unknown): boolean {
  const actual = typeOf(v);
  return t === actual || (t === 'number' && actual === 'integer');
}

const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

/** Validates `value` against `s`; returns every problem found, each with the JSON pointer of the value. */
export function validate(doc: OpenApiDoc, s0: Schema, value: unknown, path = ''): FieldError[] {
  const s = resolve(doc, s0);
  const errs: FieldError[] = [];
  const add = (message: string, p = path) => errs.push({ path: p, message });
  if (s.anyOf || s.oneOf) {
    const branches = (s.anyOf ?? s.oneOf)!;
    const results = branches.map((b) => validate(doc, b, value, path));
    if (!results.some((r) => r.length === 0)) {
      const consts = enumValues(s);
      if (consts) add(`must be one of ${consts.join(', ')}`);
      else {
        // The branch with the fewest problems is the one the user most likely meant.
        const best = results.reduce((a, b) => (b.length < a.length ? b : a));
        const typed = branches.filter((b) => b.type === undefined || typeMatches(String(resolve(doc, b).type), value));
        if (typed.length === 0) add(`must be ${branches.map((b) => resolve(doc, b).type ?? 'a valid value').join(' or ')}`);
        else errs.push(...best);
      }
    }
  }
  if (s.allOf) for (const b of s.allOf) errs.push(...validate(doc, b, value, path));
  if (s.if) {
    const ok = validate(doc, s.if, value, path).length === 0;
    const next = ok ? s.then : s.else;
    if (next) errs.push(...validate(doc, next, value, path));
  }
  if (s.const !== undefined && value !== s.const) add(`must be ${JSON.stringify(s.const)}`);
  if (s.enum && !s.enum.includes(value)) add(`must be one of ${s.enum.join(', ')}`);
  if (s.type) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeMatches(t, value))) {
      add(`must be ${types.join(' or ')}`);
      return errs;
    }
  }
  if (typeof value === 'string') {
    if (s.minLength !== undefined && value.length < s.minLength) add(s.minLength === 1 ? 'must not be empty' : `must have at least ${s.minLength} characters`);
    if (s.maxLength !== undefined && value.length > s.maxLength) add(`must have at most ${s.maxLength} characters`);
    if (s.pattern) {
      let re: RegExp | null = null;
      try {
        re = new RegExp(s.pattern, 'u');
      } catch {
        re = null;
      }
      if (re && !re.test(value)) add(`must match the pattern ${s.pattern}`);
    }
    if (s.format === 'uuid' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) add('must be a uuid');
    if (s.format === 'date-time' && Number.isNaN(Date.parse(value))) add('must be a date-time (ISO 8601)');
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) add(`must be >= ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) add(`must be <= ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) add(`must be > ${s.exclusiveMinimum}`);
    if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) add(`must be < ${s.exclusiveMaximum}`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) add(`must have at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
    if (s.maxItems !== undefined && value.length > s.maxItems) add(`must have at most ${s.maxItems} items`);
    if (s.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) add('must not contain duplicates');
    if (s.items) value.forEach((v, i) => errs.push(...validate(doc, s.items!, v, `${path}/${i}`)));
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const r of s.required ?? []) if (obj[r] === undefined) add('is required', `${path}/${esc(r)}`);
    for (const [k, v] of Object.entries(obj)) {
      const p = `${path}/${esc(k)}`;
      const prop = s.properties?.[k];
      if (prop) {
        errs.push(...validate(doc, prop, v, p));
        continue;
      }
      const pat = Object.entries(s.patternProperties ?? {}).find(([re]) => new RegExp(re, 'u').test(k));
      if (pat) errs.push(...validate(doc, pat[1], v, p));
      else if (s.additionalProperties === false) add('is not a known field', p);
      else if (typeof s.additionalProperties === 'object') errs.push(...validate(doc, s.additionalProperties, v, p));
    }
  }
  return errs;
}

/**
 * Fills missing properties that have a `default`, in place, like ajv's `useDefaults` (which the control plane
 * validates with): in `properties` and array `items`, not inside anyOf. A target without `weight` is valid
 * for the API because the default is filled before the `required` check; the client checks the same way.
 */
export function fillDefaults(doc: OpenApiDoc, s0: Schema, value: unknown): void {
  const s = resolve(doc, s0);
  if (Array.isArray(value)) {
    if (s.items) for (const v of value) fillDefaults(doc, s.items, v);
    return;
  }
  if (!value || typeof value !== 'object' || !s.properties) return;
  const obj = value as Record<string, unknown>;
  for (const [k, p0] of Object.entries(s.properties)) {
    const p = resolve(doc, p0);
    if (obj[k] === undefined && p.default !== undefined) obj[k] = structuredClone(p.default);
    if (obj[k] !== undefined) fillDefaults(doc, p, obj[k]);
  }
}

/** The top-level field a pointer belongs to: `/targets/0/port` → `targets`. */
export function topField(pointer: string): string {
  return (pointer.split('/')[1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~');
}
