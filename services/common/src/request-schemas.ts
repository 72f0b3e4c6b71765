// JSON Schemas of HTTP requests, shared by the control plane (refuses unusable schemas at write time) and the
// gateway (compiles them once per config and validates requests): the one ajv set-up both compile with, and the
// extraction of each OpenAPI 3.0 / 3.1 operation's parameters and request body as JSON Schema 2020-12.
//
// OpenAPI 3.0 schemas are a dialect of draft 04; they are translated here rather than by a converter package
// (@openapi-contrib/openapi-schema-to-json-schema targets draft 04, which ajv 8 only reads through a second
// class): `nullable` becomes a `null` type (or enum member, or an anyOf branch), boolean `exclusiveMinimum` /
// `exclusiveMaximum` become numbers, siblings of `$ref` are dropped, OpenAPI-only keywords are ignored. In both
// versions a `readOnly` property is not required in a request (OAS 3: "required takes effect on the response
// only"), and `#/components/schemas/...` references point into one shared components schema.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import type { FieldError } from './errors.js';

// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = addFormatsImport as unknown as typeof addFormatsImport.default;

export type { ErrorObject as SchemaError, ValidateFunction as SchemaValidator };
export type JsonSchema = Record<string, unknown>;

/** The `$id` the translated `components.schemas` are registered under. */
export const COMPONENTS_ID = 'urn:turnpike:openapi-components';

/**
 * What a validator is for: `params` (path, query and header values: strings coerced to the schema's types and
 * scalars to one-element arrays, every error listed), `body` (JSON bodies: no coercion, stops at the first
 * error: the hot-path check) and `explain` (JSON bodies, every error: run only on a body that failed `body`).
 */
export type SchemaUse = 'params' | 'body' | 'explain';

const INT32 = { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 } as const;
const INT64 = { type: 'number', validate: (n: number) => Number.isInteger(n) } as const;
const ANY_NUMBER = { type: 'number', validate: () => true } as const;
const ANY_STRING = { type: 'string', validate: () => true } as const;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * An ajv instance for one compiled config, with ajv-formats, the OpenAPI formats (int32, int64, float, double,
 * byte, binary, password) and, when given, the translated components. Unknown keywords and formats are
 * ignored (OpenAPI leaves formats open); schemas are still checked against the 2020-12 meta-schema.
 */
export function createSchemaAjv(use: SchemaUse, components: Record<string, JsonSchema> | null = null): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: use !== 'body',
    coerceTypes: use === 'params' ? 'array' : false,
    strict: false,
    logger: false,
    messages: true,
    // Compiled validators are kept only by the policy that owns this instance.
    addUsedSchema: false,
    // Checking a schema against the meta-schema compiles the meta-schema, ~60 ms per instance: done once per
    // process instead, by jsonSchemaShapeProblems.
    validateSchema: false,
  });
  addFormats(ajv);
  ajv.addFormat('int32', INT32).addFormat('int64', INT64).addFormat('float', ANY_NUMBER).addFormat('double', ANY_NUMBER);
  ajv.addFormat('byte', BASE64).addFormat('binary', ANY_STRING).addFormat('password', ANY_STRING);
  if (components !== null) ajv.addSchema({ $id: COMPONENTS_ID, $defs: components });
  return ajv;
}

let metaAjv: Ajv2020 | null = null;

/** Field errors (paths under `path`) for a value that is not a JSON Schema 2020-12 (checked against the meta-schema). */
export function jsonSchemaShapeProblems(schema: unknown, path: string): FieldError[] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return [{ path, message: 'must be a JSON Schema object' }];
  metaAjv ??= new Ajv2020({ strict: false, logger: false, allErrors: true });
  if (metaAjv.validateSchema(schema)) return [];
  return (metaAjv.errors ?? []).slice(0, 20).map((e) => ({ path: path + e.instancePath, message: e.message ?? 'is not a valid JSON Schema' }));
}

/** Field errors (paths under `path`) for a JSON Schema that is malformed or does not compile; [] when it does. */
export function jsonSchemaProblems(schema: unknown, path: string, use: SchemaUse = 'body', ajv: Ajv2020 = createSchemaAjv(use)): FieldError[] {
  const shape = jsonSchemaShapeProblems(schema, path);
  if (shape.length > 0) return shape;
  try {
    ajv.compile(schema as JsonSchema);
    return [];
  } catch (err) {
    return [{ path, message: `does not compile: ${(err as Error).message}` }];
  }
}

// ---- OpenAPI ---------------------------------------------------------------------------------------------

export type ParamIn = 'path' | 'query' | 'header';

export interface ParamSpec {
  name: string;
  in: ParamIn;
  required: boolean;
  /** null: the value is not checked (a style this release does not parse: label, matrix, form objects). */
  schema: JsonSchema | null;
  /** How an array value is written: repeated keys (`explode`) or joined by this delimiter. */
  explode: boolean;
  delimiter: string;
  isArray: boolean;
  /** `deepObject` query parameter: `name[prop]=v`. */
  deepObject: boolean;
  /** Declared with `content` (a JSON value in the parameter) rather than `schema`. */
  json: boolean;
}

export interface MediaSpec {
  /** Lower-case media range: `application/json`, `application/*`, `*\/*`. */
  type: string;
  /** null: not validated (no schema, or not a JSON media type). */
  schema: JsonSchema | null;
}

export interface OperationSpec {
  /** Upper-case. */
  method: string;
  /** The path template as written in `paths`. */
  path: string;
  /** JSON pointer of the operation in the document (field paths of its problems start here). */
  pointer: string;
  params: ParamSpec[];
  body: { required: boolean; media: MediaSpec[] } | null;
}

export interface OpenApiRequestSpecs {
  version: '3.0' | '3.1';
  /** Translated `components.schemas`, registered under COMPONENTS_ID. */
  components: Record<string, JsonSchema>;
  operations: OperationSpec[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** OAS: header parameters of these names are ignored. */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
const MAX_OPERATIONS = 2000;

export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json') || type === '*/*' || type === 'application/*';
}

/** Decodes one JSON pointer token. */
function unescapeToken(t: string): string {
  return t.replace(/~1/g, '/').replace(/~0/g, '~');
}

export function escapePointerToken(t: string): string {
  return t.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follows a local `$ref` chain (parameters, request bodies, path items): the target, or a problem. */
function resolve(doc: Record<string, unknown>, node: unknown, at: string, problems: FieldError[]): Record<string, unknown> | null {
  let cur = node;
  for (let hops = 0; hops < 16; hops++) {
    if (!isObject(cur)) {
      problems.push({ path: at, message: 'must be an object' });
      return null;
    }
    const ref = cur.$ref;
    if (typeof ref !== 'string') return cur;
    if (!ref.startsWith('#/')) {
      problems.push({ path: `${at}/$ref`, message: `${JSON.stringify(ref)} is not a local reference (bundle the document first)` });
      return null;
    }
    let target: unknown = doc;
    for (const tok of ref.slice(2).split('/')) target = isObject(target) ? target[unescapeToken(tok)] : undefined;
    if (target === undefined) {
      problems.push({ path: `${at}/$ref`, message: `${JSON.stringify(ref)} does not resolve` });
      return null;
    }
    cur = target;
  }
  problems.push({ path: `${at}/$ref`, message: 'reference chain is too long or circular' });
  return null;
}

const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SCHEMA_ONES = ['additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'additionalItems'];
const OAS30_ONLY = ['nullable', 'discriminator', 'xml', 'externalDocs', 'example'];

/**
 * A request-side JSON Schema 2020-12 copy of an OpenAPI schema object: component references redirected,
 * readOnly properties not required, and (3.0) the dialect translated. Does not modify `s`.
 */
export function translateSchema(s: unknown, version: '3.0' | '3.1', depth = 0): unknown {
  if (typeof s === 'boolean') return s;
  if (!isObject(s) || depth > 64) return s;
  if (typeof s.$ref === 'string') {
    const ref = s.$ref.startsWith('#/components/schemas/') ? `${COMPONENTS_ID}#/$defs/${s.$ref.slice('#/components/schemas/'.length)}` : s.$ref;
    // 3.0: siblings of $ref are ignored. 3.1: they apply alongside it.
    if (version === '3.0') return { $ref: ref };
    const rest = translateSchema({ ...s, $ref: undefined }, version, depth) as Record<string, unknown>;
    delete rest.$ref;
    return { ...rest, $ref: ref };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (v === undefined || k.startsWith('x-')) continue;
    if (version === '3.0' && OAS30_ONLY.includes(k)) continue;
    if (SCHEMA_MAPS.includes(k) && isObject(v)) {
      const m: Record<string, unknown> = {};
      for (const [name, sub] of Object.entries(v)) m[name] = translateSchema(sub, version, depth + 1);
      out[k] = m;
    } else if (SCHEMA_LISTS.includes(k) && Array.isArray(v)) out[k] = v.map((sub) => translateSchema(sub, version, depth + 1));
    else if (k === 'items') out[k] = Array.isArray(v) ? v.map((sub) => translateSchema(sub, version, depth + 1)) : translateSchema(v, version, depth + 1);
    else if (SCHEMA_ONES.includes(k)) out[k] = translateSchema(v, version, depth + 1);
    else out[k] = v;
  }
  // readOnly properties are not sent in requests: never required there.
  if (Array.isArray(out.required) && isObject(out.properties)) {
    const props = out.properties;
    out.required = (out.required as unknown[]).filter((n) => !(typeof n === 'string' && isObject(props[n]) && props[n].readOnly === true));
  }
  if (version === '3.0') {
    for (const [bound, flag] of [['minimum', 'exclusiveMinimum'], ['maximum', 'exclusiveMaximum']] as const) {
      if (out[flag] === true && typeof out[bound] === 'number') {
        out[flag] = out[bound];
        delete out[bound];
      } else if (typeof out[flag] === 'boolean') delete out[flag];
    }
    if (s.nullable === true) {
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      if (typeof out.type === 'string') out.type = [out.type, 'null'];
      else if (out.type === undefined && out.enum === undefined) return { anyOf: [out, { type: 'null' }] };
    }
  }
  return out;
}

function versionOf(doc: Record<string, unknown>, problems: FieldError[]): '3.0' | '3.1' | null {
  const v = doc.openapi;
  if (typeof v === 'string' && /^3\.0\.\d+/.test(v)) return '3.0';
  if (typeof v === 'string' && /^3\.1\.\d+/.test(v)) return '3.1';
  problems.push({ path: '/openapi', message: `must be an OpenAPI 3.0.x or 3.1.x version (got ${JSON.stringify(v ?? null)}; Swagger 2.0 is not read)` });
  return null;
}

function paramSpec(p: Record<string, unknown>, at: string, version: '3.0' | '3.1', problems: FieldError[]): ParamSpec | null {
  const where = p.in;
  const name = p.name;
  if (typeof name !== 'string' || name === '') {
    problems.push({ path: `${at}/name`, message: 'is required' });
    return null;
  }
  if (where === 'cookie') return null;
  if (where !== 'path' && where !== 'query' && where !== 'header') {
    problems.push({ path: `${at}/in`, message: 'must be path, query, header or cookie' });
    return null;
  }
  if (where === 'header' && IGNORED_HEADERS.has(name.toLowerCase())) return null;
  let raw: unknown = p.schema;
  let json = false;
  if (raw === undefined && isObject(p.content)) {
    const first = Object.entries(p.content)[0];
    if (first && isJsonMediaType(first[0].toLowerCase()) && isObject(first[1])) {
      raw = first[1].schema;
      json = true;
    }
  }
  const style = typeof p.style === 'string' ? p.style : where === 'query' ? 'form' : 'simple';
  const explode = typeof p.explode === 'boolean' ? p.explode : style === 'form';
  let schema = raw === undefined ? null : (translateSchema(raw, version) as JsonSchema);
  const type = isObject(raw) ? raw.type : undefined;
  const isArray = type === 'array' || (Array.isArray(type) && type.includes('array'));
  const isObj = type === 'object' || (Array.isArray(type) && type.includes('object'));
  const deepObject = style === 'deepObject';
  const supported = json || deepObject ? true : style === 'form' || style === 'simple' || style === 'spaceDelimited' || style === 'pipeDelimited';
  if (!supported || (isObj && !json && !deepObject)) schema = null;
  const delimiter = style === 'spaceDelimited' ? ' ' : style === 'pipeDelimited' ? '|' : ',';
  return {
    name: where === 'header' ? name.toLowerCase() : name,
    in: where,
    required: where === 'path' ? true : p.required === true,
    schema,
    explode,
    delimiter,
    isArray,
    deepObject,
    json,
  };
}

function bodySpec(doc: Record<string, unknown>, node: unknown, at: string, version: '3.0' | '3.1', problems: FieldError[]): OperationSpec['body'] {
  const rb = resolve(doc, node, at, problems);
  if (rb === null) return null;
  if (!isObject(rb.content)) {
    problems.push({ path: `${at}/content`, message: 'is required' });
    return null;
  }
  const media: MediaSpec[] = [];
  for (const [type, m] of Object.entries(rb.content)) {
    const t = type.split(';')[0]!.trim().toLowerCase();
    const schema = isObject(m) && m.schema !== undefined && isJsonMediaType(t) ? (translateSchema(m.schema, version) as JsonSchema) : null;
    media.push({ type: t, schema });
  }
  return { required: rb.required === true, media };
}

/**
 * Every operation's parameters and request body as JSON Schema, with problems (field paths into the document)
 * for what cannot be read. Schemas are not compiled here: see openApiRequestProblems.
 */
export function openApiRequestSpecs(doc: unknown): { specs: OpenApiRequestSpecs | null; problems: FieldError[] } {
  const problems: FieldError[] = [];
  if (!isObject(doc)) return { specs: null, problems: [{ path: '', message: 'must be an OpenAPI document (a JSON object)' }] };
  const version = versionOf(doc, problems);
  if (version === null) return { specs: null, problems };
  const components: Record<string, JsonSchema> = {};
  const compSchemas = isObject(doc.components) && isObject(doc.components.schemas) ? doc.components.schemas : {};
  for (const [name, s] of Object.entries(compSchemas)) components[name] = translateSchema(s, version) as JsonSchema;

  const operations: OperationSpec[] = [];
  const paths = isObject(doc.paths) ? doc.paths : {};
  for (const [template, rawItem] of Object.entries(paths)) {
    const itemAt = `/paths/${escapePointerToken(template)}`;
    if (!template.startsWith('/')) {
      problems.push({ path: itemAt, message: 'a path must start with /' });
      continue;
    }
    const item = resolve(doc, rawItem, itemAt, problems);
    if (item === null) continue;
    const shared = Array.isArray(item.parameters) ? item.parameters : [];
    for (const m of METHODS) {
      const op = item[m];
      if (op === undefined) continue;
      const opAt = `${itemAt}/${m}`;
      if (!isObject(op)) {
        problems.push({ path: opAt, message: 'must be an object' });
        continue;
      }
      if (operations.length >= MAX_OPERATIONS) {
        problems.push({ path: '/paths', message: `more than ${MAX_OPERATIONS} operations` });
        return { specs: null, problems };
      }
      // Operation-level parameters override path-level ones of the same name and location.
      const byKey = new Map<string, ParamSpec>();
      const own = Array.isArray(op.parameters) ? op.parameters : [];
      const lists: [unknown[], string][] = [
        [shared, `${itemAt}/parameters`],
        [own, `${opAt}/parameters`],
      ];
      for (const [list, listAt] of lists) {
        list.forEach((raw, i) => {
          const p = resolve(doc, raw, `${listAt}/${i}`, problems);
          const spec = p === null ? null : paramSpec(p, `${listAt}/${i}`, version, problems);
          if (spec !== null) byKey.set(`${spec.in}:${spec.name}`, spec);
        });
      }
      const params = [...byKey.values()];
      for (const name of template.match(/\{[^}/]+\}/g) ?? []) {
        const n = name.slice(1, -1);
        if (!byKey.has(`path:${n}`)) params.push({ name: n, in: 'path', required: true, schema: null, explode: false, delimiter: ',', isArray: false, deepObject: false, json: false });
      }
      const body = op.requestBody === undefined ? null : bodySpec(doc, op.requestBody, `${opAt}/requestBody`, version, problems);
      operations.push({ method: m.toUpperCase(), path: template, pointer: opAt, params, body });
    }
  }
  return { specs: { version, components, operations }, problems };
}

/**
 * Why `doc` cannot drive request validation (field paths into the document); [] when every operation's
 * parameters and JSON body schemas compile. The control plane runs this when a document is attached to a
 * service that has a request-validation plugin reading it, and when such a plugin is attached.
 */
export function openApiRequestProblems(doc: unknown): FieldError[] {
  const { specs, problems } = openApiRequestSpecs(doc);
  if (specs === null) return problems;
  for (const [name, c] of Object.entries(specs.components)) {
    if (problems.length < 50) problems.push(...jsonSchemaShapeProblems(c, `/components/schemas/${escapePointerToken(name)}`));
  }
  if (problems.length > 0) return problems;
  let ajv: Ajv2020;
  try {
    ajv = createSchemaAjv('params', specs.components);
  } catch (err) {
    return [...problems, { path: '/components/schemas', message: `do not compile: ${(err as Error).message}` }];
  }
  for (const op of specs.operations) {
    for (const p of op.params) {
      if (p.schema !== null && problems.length < 50) problems.push(...jsonSchemaProblems(p.schema, `${op.pointer}/parameters(${p.in}:${p.name})/schema`, 'params', ajv));
    }
    for (const m of op.body?.media ?? []) {
      if (m.schema !== null && problems.length < 50)
        problems.push(...jsonSchemaProblems(m.schema, `${op.pointer}/requestBody/content/${escapePointerToken(m.type)}/schema`, 'params', ajv));
    }
  }
  return problems;
}
