// request-validation: the operations of an OpenAPI 3.0/3.1 document (or the config's JSON Schemas) compiled
// once per config into a path matcher (the gateway's router) and ajv validators; per request, the operation is
// matched and its path parameters, query, declared headers and JSON body checked.
//
// Decisions (docs/configuration.md, "request-validation"):
//  - Every failure is 400 TP_ERR_REQUEST_INVALID with `problems` [{in, path, message}] (20 at most); the
//    pipeline writes them as `error.fields` [{path: `/<in><path>`, message}]. Values are never echoed (a header may hold a secret).
//  - A body whose Content-Type the operation does not list (or, with `body_schema`, is not JSON) is 415
//    TP_ERR_UNSUPPORTED_MEDIA_TYPE: the client sent the wrong kind of body, not a wrong body. A body declared
//    JSON that does not parse is 400 with the parse failure as its one problem.
//  - Only JSON bodies (application/json, *+json) are checked against a schema; other listed types pass.
//  - The body is needed whole: the pipeline buffers it (up to the route's body limit: a larger one is 413
//    before validation) when `inspectsBody` is set. The first failing body is re-checked with every error
//    listed only when it is at most EXPLAIN_MAX_BODY bytes; a larger one reports the first error.
//  - Query and header values are strings coerced to the schema's types (`?limit=5` is the integer 5); an
//    empty value (`?limit=`) is not coerced to 0 or false: it fails a non-string schema.
//  - HEAD falls back to the GET operation; an OPTIONS request no operation describes always passes (CORS
//    preflights). Other unmatched requests follow `unmatched`.
import {
  TurnpikeError,
  createSchemaAjv,
  escapePointerToken,
  jsonSchemaShapeProblems,
  openApiRequestSpecs,
  requestValidationProblems,
  type FieldError,
  type JsonSchema,
  type OperationSpec,
  type ParamSpec,
  type RequestValidationConfig,
  type SchemaError,
  type SchemaValidator,
} from '@turnpike/common';
import { Router } from '../../router/index.js';

export interface RequestProblem {
  in: 'body' | 'query' | 'path' | 'header';
  /** JSON pointer into the part: `/limit` (a parameter), `/owner/name` (a body field), '' (the whole part). */
  path: string;
  message: string;
}

export interface RequestValidationDenial {
  code: 'TP_ERR_REQUEST_INVALID' | 'TP_ERR_UNSUPPORTED_MEDIA_TYPE';
  status: 400 | 415;
  message: string;
  problems: readonly RequestProblem[];
}

export interface RequestInput {
  /** Upper-case. */
  method: string;
  /** The request path, percent-encoded as received, without the query. */
  path: string;
  /** The raw query string without `?` ('' for none). */
  query: string;
  /** A request header's value by lower-case name; undefined when absent. */
  header(name: string): string | undefined;
  /** The whole body; null or empty when there is none. */
  body: Buffer | null;
}

export const MAX_PROBLEMS = 20;
/** Bodies up to this size that fail are re-validated to list every error; larger ones report the first. */
export const EXPLAIN_MAX_BODY = 64 * 1024;

interface ParamsCheck {
  params: readonly ParamSpec[];
  validate: SchemaValidator;
}

interface MediaCheck {
  type: string;
  /** null: this media type passes unchecked. */
  check: SchemaValidator | null;
  explain: SchemaValidator | null;
}

interface CompiledOperation {
  /** Names of the template's `{params}` in order, for regex-matched templates (else the router's names). */
  regexNames: readonly string[] | null;
  path: ParamsCheck | null;
  query: ParamsCheck | null;
  header: ParamsCheck | null;
  bodyRequired: boolean;
  /** null: the body is not looked at (no requestBody, or `body` not in parts). */
  media: readonly MediaCheck[] | null;
  /** `schemas` source: every JSON media type. */
  anyJson: boolean;
}

export interface RequestValidationPolicy {
  /** `openapi` source: method + path → operation. null for `schemas`. */
  readonly router: Router<CompiledOperation> | null;
  /** `schemas` source: the one operation every request gets. */
  readonly fixed: CompiledOperation | null;
  readonly basePath: string;
  readonly rejectUnmatched: boolean;
  /** Whether any operation looks at the body: the pipeline buffers bodies only then. */
  readonly inspectsBody: boolean;
  /** How many operations were compiled. */
  readonly operations: number;
}

function invalid(cfgPath: string, fields: FieldError[]): never {
  throw new TurnpikeError('TP_ERR_VALIDATION', `${fields[0]!.path} ${fields[0]!.message}`, fields.map((f) => ({ path: cfgPath + f.path, message: f.message })));
}

function paramsObjectSchema(params: readonly ParamSpec[]): JsonSchema {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const p of params) {
    properties[p.name] = p.schema ?? {};
    if (p.required) required.push(p.name);
  }
  return { type: 'object', properties, required };
}

function paramsCheck(ajv: SchemaAjv, params: readonly ParamSpec[], at: string): ParamsCheck | null {
  const checked = params.filter((p) => p.schema !== null || p.required);
  if (checked.length === 0) return null;
  for (const p of checked) {
    const shape = p.schema === null ? [] : jsonSchemaShapeProblems(p.schema, `${at}(${p.in}:${p.name})/schema`);
    if (shape.length > 0) invalid('', shape);
  }
  try {
    return { params: checked, validate: compileOnce(ajv, paramsObjectSchema(checked)) };
  } catch (err) {
    invalid('', [{ path: at, message: `does not compile: ${(err as Error).message}` }]);
  }
}

type SchemaAjv = ReturnType<typeof createSchemaAjv>;

/**
 * Validators already compiled by an ajv instance, by schema text: documents repeat schemas (an `{id}`
 * parameter, paging parameters, a shared body) and each ajv compile costs about a millisecond.
 */
const compiledByText = new WeakMap<SchemaAjv, Map<string, SchemaValidator>>();

function compileOnce(ajv: SchemaAjv, schema: JsonSchema): SchemaValidator {
  let cache = compiledByText.get(ajv);
  if (cache === undefined) compiledByText.set(ajv, (cache = new Map()));
  const key = JSON.stringify(schema);
  let v = cache.get(key);
  if (v === undefined) cache.set(key, (v = ajv.compile(schema)));
  return v;
}

function compileSchema(ajv: SchemaAjv, schema: JsonSchema, at: string): SchemaValidator {
  const shape = jsonSchemaShapeProblems(schema, at);
  if (shape.length > 0) invalid('', shape);
  try {
    return compileOnce(ajv, schema);
  } catch (err) {
    invalid('', [{ path: at, message: `does not compile: ${(err as Error).message}` }]);
  }
}

/** `/files/{name}.json`-style templates (a parameter sharing a segment) become an anchored regex route. */
function templateRoute(template: string): { pattern: string; regexNames: string[] | null } {
  const whole = template.split('/').every((seg) => !seg.includes('{') || /^\{[^{}]+\}$/.test(seg));
  const names = [...template.matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]!);
  if (whole && names.every((n) => !n.endsWith('*'))) return { pattern: template, regexNames: null };
  let i = 0;
  const re = template.replace(/\{[^{}/]+\}|[^{}]+/g, (part) => (part.startsWith('{') ? `(?<p${i++}>[^/]+)` : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return { pattern: `~^${re}/?$`, regexNames: names };
}

/**
 * Compiles a config (already checked against RequestValidationConfig, defaults filled) with the service's
 * OpenAPI document (null when it has none). Throws TP_ERR_VALIDATION with field paths: into the config for
 * bad schemas, into the document (`/paths/~1pets/get/...`) for an unusable document.
 */
export function compileRequestValidation(cfg: RequestValidationConfig, openapiDoc: unknown): RequestValidationPolicy {
  const problems = requestValidationProblems(cfg);
  if (problems.length > 0) invalid('', problems);
  const parts = new Set(cfg.parts);

  if (cfg.source === 'schemas') {
    const params = createSchemaAjv('params');
    const q = cfg.query_schema;
    const h = cfg.header_schema;
    const headerNames = h === null ? [] : Object.keys(h.properties as Record<string, unknown>);
    const op: CompiledOperation = {
      regexNames: null,
      path: null,
      query: q === null || !parts.has('query') ? null : { params: [], validate: compileSchema(params, q, '/query_schema') },
      header:
        h === null || !parts.has('header')
          ? null
          : {
              params: headerNames.map((name) => ({ name: name.toLowerCase(), in: 'header', required: false, schema: null, explode: false, delimiter: ',', isArray: false, deepObject: false, json: false })),
              validate: compileSchema(params, lowerCaseHeaderSchema(h), '/header_schema'),
            },
      bodyRequired: cfg.body_required,
      media:
        cfg.body_schema === null || !parts.has('body')
          ? null
          : [{ type: '*/*', check: compileSchema(createSchemaAjv('body'), cfg.body_schema, '/body_schema'), explain: compileSchema(createSchemaAjv('explain'), cfg.body_schema, '/body_schema') }],
      anyJson: true,
    };
    return { router: null, fixed: op, basePath: '', rejectUnmatched: false, inspectsBody: op.media !== null, operations: 1 };
  }

  if (openapiDoc === null || openapiDoc === undefined) invalid('', [{ path: '/source', message: 'is "openapi" but the service has no OpenAPI document' }]);
  const { specs, problems: docProblems } = openApiRequestSpecs(openapiDoc);
  if (specs === null || docProblems.length > 0) invalid('', docProblems);
  for (const [name, c] of Object.entries(specs.components)) {
    const shape = jsonSchemaShapeProblems(c, `/components/schemas/${escapePointerToken(name)}`);
    if (shape.length > 0) invalid('', shape);
  }
  let params: SchemaAjv;
  let body: SchemaAjv;
  let explain: SchemaAjv;
  try {
    params = createSchemaAjv('params', specs.components);
    body = createSchemaAjv('body', specs.components);
    explain = createSchemaAjv('explain', specs.components);
  } catch (err) {
    invalid('', [{ path: '/components/schemas', message: `do not compile: ${(err as Error).message}` }]);
  }
  let inspectsBody = false;
  const routes = specs.operations.map((spec: OperationSpec) => {
    const byIn = (where: ParamSpec['in']) => spec.params.filter((p) => p.in === where);
    const { pattern, regexNames } = templateRoute(spec.path);
    let media: MediaCheck[] | null = null;
    if (spec.body !== null && parts.has('body')) {
      media = spec.body.media.map((m) => {
        const at = `${spec.pointer}/requestBody/content/${escapePointerToken(m.type)}/schema`;
        return { type: m.type, check: m.schema === null ? null : compileSchema(body, m.schema, at), explain: m.schema === null ? null : compileSchema(explain, m.schema, at) };
      });
      inspectsBody ||= media.some((m) => m.check !== null) || spec.body.required;
    }
    const op: CompiledOperation = {
      regexNames,
      path: parts.has('path') ? paramsCheck(params, byIn('path'), `${spec.pointer}/parameters`) : null,
      query: parts.has('query') ? paramsCheck(params, byIn('query'), `${spec.pointer}/parameters`) : null,
      header: parts.has('header') ? paramsCheck(params, byIn('header'), `${spec.pointer}/parameters`) : null,
      bodyRequired: spec.body?.required === true && parts.has('body'),
      media,
      anyJson: false,
    };
    return { id: `${spec.method} ${spec.path}`, hosts: [], methods: [spec.method], paths: [pattern], priority: 0, value: op };
  });
  return {
    router: new Router(routes),
    fixed: null,
    basePath: cfg.base_path,
    rejectUnmatched: cfg.unmatched === 'reject',
    inspectsBody,
    operations: routes.length,
  };
}

/** header_schema with lower-case property and required names (header names arrive lower-case). */
function lowerCaseHeaderSchema(h: Record<string, unknown>): JsonSchema {
  const props = h.properties as Record<string, unknown>;
  const out: JsonSchema = { ...h, properties: Object.fromEntries(Object.entries(props).map(([k, v]) => [k.toLowerCase(), v])) };
  if (Array.isArray(h.required)) out.required = h.required.map((n) => (typeof n === 'string' ? n.toLowerCase() : n));
  return out;
}

// ---- per request ------------------------------------------------------------------------------------------

const PASS = null;

/** Tolerant percent-decoding (`+` as space in the query); null when an escape is malformed. */
function decodeComponent(s: string, plusIsSpace: boolean): string | null {
  if (plusIsSpace && s.includes('+')) s = s.replace(/\+/g, ' ');
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function denial(problems: RequestProblem[]): RequestValidationDenial {
  const first = problems[0]!;
  const where = first.path === '' ? first.in : `${first.in} ${first.path}`;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return { code: 'TP_ERR_REQUEST_INVALID', status: 400, message: `request does not match the API: ${where} ${first.message}${more}`, problems };
}

function addErrors(out: RequestProblem[], where: RequestProblem['in'], errors: readonly SchemaError[] | null | undefined): void {
  for (const e of errors ?? []) {
    if (out.length >= MAX_PROBLEMS) return;
    let path = e.instancePath;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      path += `/${escapePointerToken(String(e.params.missingProperty))}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      path += `/${escapePointerToken(String(e.params.additionalProperty))}`;
      message = 'is not allowed';
    } else if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) {
      const list = e.params.allowedValues.slice(0, 10).map((v: unknown) => JSON.stringify(v)).join(', ');
      message = `must be one of ${list}${e.params.allowedValues.length > 10 ? ', …' : ''}`;
    }
    out.push({ in: where, path, message });
  }
}

/** Splits a raw query string into decoded name → values. Malformed escapes are reported. */
function parseQuery(raw: string, out: RequestProblem[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  if (raw === '') return m;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq), true);
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1), true);
    if (name === null || value === null) {
      if (out.length < MAX_PROBLEMS) out.push({ in: 'query', path: '', message: 'has a malformed percent-escape' });
      continue;
    }
    const list = m.get(name);
    if (list === undefined) m.set(name, [value]);
    else list.push(value);
  }
  return m;
}

/** The value of one declared parameter from its raw text(s); undefined when absent. */
function paramValue(p: ParamSpec, values: readonly string[] | undefined, out: RequestProblem[]): unknown {
  if (values === undefined || values.length === 0) return undefined;
  if (p.json) {
    try {
      return JSON.parse(values[0]!);
    } catch {
      out.push({ in: p.in, path: `/${escapePointerToken(p.name)}`, message: 'is not valid JSON' });
      return undefined;
    }
  }
  if (p.isArray) {
    if (p.explode && p.in === 'query') return values.slice();
    if (values[0] === '') return [];
    const items = values[0]!.split(p.delimiter);
    // A header list is often written `a, b`.
    if (p.in === 'header') for (let i = 0; i < items.length; i++) items[i] = items[i]!.trim();
    return items;
  }
  return values[0];
}

/** `?limit=` must not become 0 / false / null by coercion: an empty value only passes a string-accepting schema. */
function emptyValueProblems(params: readonly ParamSpec[], data: Record<string, unknown>, out: RequestProblem[]): void {
  for (const p of params) {
    if (data[p.name] !== '' || p.schema === null) continue;
    const t = p.schema.type;
    const acceptsString = t === undefined || t === 'string' || (Array.isArray(t) && t.includes('string'));
    if (!acceptsString) {
      out.push({ in: p.in, path: `/${escapePointerToken(p.name)}`, message: 'is empty' });
      delete data[p.name];
    }
  }
}

function checkParams(check: ParamsCheck, where: 'path' | 'query' | 'header', data: Record<string, unknown>, out: RequestProblem[]): void {
  emptyValueProblems(check.params, data, out);
  if (!check.validate(data)) addErrors(out, where, check.validate.errors);
}

function headerValues(input: RequestInput, name: string): string[] | undefined {
  const v = input.header(name);
  return v === undefined ? undefined : [v];
}

function mediaTypeOf(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function pickMedia(media: readonly MediaCheck[], type: string): MediaCheck | null {
  let range: MediaCheck | null = null;
  let any: MediaCheck | null = null;
  const slash = type.indexOf('/');
  const major = slash === -1 ? type : type.slice(0, slash + 1);
  for (const m of media) {
    if (m.type === type) return m;
    if (m.type === '*/*') any = m;
    else if (m.type.endsWith('/*') && type !== '' && m.type.slice(0, -1) === major) range = m;
  }
  return range ?? any;
}

function unsupported(type: string, accepted: string): RequestValidationDenial {
  return {
    code: 'TP_ERR_UNSUPPORTED_MEDIA_TYPE',
    status: 415,
    message: `${type === '' ? 'a body without Content-Type' : `Content-Type ${type}`} is not accepted here (accepted: ${accepted})`,
    problems: [{ in: 'header', path: '/content-type', message: `must be one of: ${accepted}` }],
  };
}

/** Checks the body; returns a 415 denial, or adds problems to `out`. */
function checkBody(op: CompiledOperation, input: RequestInput, out: RequestProblem[]): RequestValidationDenial | null {
  const media = op.media!;
  const body = input.body;
  if (body === null || body.length === 0) {
    if (op.bodyRequired) out.push({ in: 'body', path: '', message: 'is required' });
    return PASS;
  }
  const type = mediaTypeOf(input.header('content-type'));
  const json = type === 'application/json' || type.endsWith('+json');
  let m: MediaCheck | null;
  if (op.anyJson) {
    if (!json) return unsupported(type, 'application/json');
    m = media[0]!;
  } else {
    m = pickMedia(media, type);
    if (m === null) return unsupported(type, media.map((x) => x.type).join(', '));
  }
  if (m.check === null || !json) return PASS;
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch (err) {
    out.push({ in: 'body', path: '', message: `is not valid JSON (${err instanceof RangeError ? 'nested too deeply' : (err as Error).message})` });
    return PASS;
  }
  try {
    if (m.check(data)) return PASS;
    if (body.length <= EXPLAIN_MAX_BODY && m.explain !== null) {
      m.explain(data);
      addErrors(out, 'body', m.explain.errors);
    } else addErrors(out, 'body', m.check.errors);
  } catch {
    // A recursive schema ($ref to itself) walks the data recursively: hostile nesting overflows the stack.
    out.push({ in: 'body', path: '', message: 'is nested too deeply' });
  }
  return PASS;
}

function unmatchedDenial(method: string, path: string): RequestValidationDenial {
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  return denial([{ in: 'path', path: '', message: `matches no operation of the API (${method} ${shown})` }]);
}

/** null to admit the request, else the denial (400 or 415). */
export function validateRequest(policy: RequestValidationPolicy, input: RequestInput): RequestValidationDenial | null {
  let op = policy.fixed;
  let params: Record<string, string> | null = null;
  if (policy.router !== null) {
    let path = input.path;
    if (policy.basePath !== '') {
      const bp = policy.basePath;
      if (!path.startsWith(bp) || (path.length > bp.length && path.charCodeAt(bp.length) !== 47)) {
        return policy.rejectUnmatched && input.method !== 'OPTIONS' ? unmatchedDenial(input.method, input.path) : PASS;
      }
      path = path.length === bp.length ? '/' : path.slice(bp.length);
    }
    let match = policy.router.match(input.method, '', path);
    if (match === null && input.method === 'HEAD') match = policy.router.match('GET', '', path);
    // The router matches prefixes on segment boundaries: an operation must cover the whole path (a trailing / aside).
    if (match !== null && match.prefixLength < path.length && !(match.prefixLength === path.length - 1 && path.endsWith('/'))) match = null;
    if (match === null) return policy.rejectUnmatched && input.method !== 'OPTIONS' ? unmatchedDenial(input.method, input.path) : PASS;
    op = match.value;
    params = match.params;
  }
  if (op === null) return PASS;
  const out: RequestProblem[] = [];

  if (op.path !== null && params !== null) {
    const data: Record<string, unknown> = {};
    const names = op.regexNames;
    for (const p of op.path.params) {
      const raw = names === null ? params[p.name] : params[`p${names.indexOf(p.name)}`];
      if (raw === undefined) continue;
      const v = decodeComponent(raw, false);
      if (v === null) out.push({ in: 'path', path: `/${escapePointerToken(p.name)}`, message: 'has a malformed percent-escape' });
      else data[p.name] = paramValue(p, [v], out);
    }
    checkParams(op.path, 'path', data, out);
  }
  if (op.query !== null) {
    const q = parseQuery(input.query, out);
    let data: Record<string, unknown>;
    if (op.query.params.length === 0) {
      // `schemas` source: the whole query; repeated names are arrays.
      data = {};
      for (const [k, v] of q) data[k] = v.length === 1 ? v[0] : v;
    } else {
      data = {};
      for (const p of op.query.params) {
        if (p.deepObject) {
          const obj: Record<string, string> = {};
          let seen = false;
          const prefix = `${p.name}[`;
          for (const [k, v] of q) {
            if (k.startsWith(prefix) && k.endsWith(']')) {
              obj[k.slice(prefix.length, -1)] = v[0]!;
              seen = true;
            }
          }
          if (seen) data[p.name] = obj;
        } else {
          const v = paramValue(p, q.get(p.name), out);
          if (v !== undefined) data[p.name] = v;
        }
      }
    }
    checkParams(op.query, 'query', data, out);
  }
  if (op.header !== null) {
    const data: Record<string, unknown> = {};
    for (const p of op.header.params) {
      const v = paramValue(p, headerValues(input, p.name), out);
      if (v !== undefined) data[p.name] = v;
    }
    checkParams(op.header, 'header', data, out);
  }
  if (op.media !== null) {
    const refused = checkBody(op, input, out);
    if (refused !== null) return refused;
  }
  return out.length === 0 ? PASS : denial(out.length > MAX_PROBLEMS ? out.slice(0, MAX_PROBLEMS) : out);
}
