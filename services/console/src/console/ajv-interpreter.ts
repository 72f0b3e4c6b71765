// Stands in for `ajv` (and `ajv-formats`) when the CLI's declarative-config modules are bundled for the
// browser (build.mjs aliases the imports here). Ajv compiles schemas into code with `new Function`, which the
// console's Content-Security-Policy (`script-src 'self'`, no 'unsafe-eval') forbids; this interprets the same
// schemas instead. It reports errors as ajv does with `allErrors` (keyword, instancePath, params, message),
// because the control plane's fieldErrors() and the CLI's file parser turn those into their messages, and it
// fills `default`s like ajv's `useDefaults` (not inside anyOf/oneOf/not/if, which ajv skips too), which the
// file parser relies on to normalize a config. The CLI's own file-format, resource-config, plan and
// certificate tests pass against it (docs/console.md says how to run them so).

type Schema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  not?: Schema;
  if?: Schema;
  then?: Schema;
  else?: Schema;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  default?: unknown;
};

export interface ErrorObject {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message: string;
}

export type ValidateFunction = ((data: unknown) => boolean) & { errors: ErrorObject[] | null };

const DATE = /^(\d\d\d\d)-(\d\d)-(\d\d)$/;
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function validDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= (mo === 2 && leap ? 29 : DAYS[mo]!);
}
const TIME = /^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)$/i;
function validTime(s: string): boolean {
  const m = TIME.exec(s);
  if (!m) return false;
  const h = Number(m[1]);
  const mi = Number(m[2]);
  const sec = Number(m[3]);
  const tzh = Number(m[6] ?? 0);
  const tzm = Number(m[7] ?? 0);
  if (tzh > 23 || tzm > 59) return false;
  return (h <= 23 && mi <= 59 && sec < 60) || (mi === 59 && sec < 61); // leap second, as ajv-formats allows
}

/** ajv-formats' "full" checks for the formats the API's schemas use; unknown formats pass (strict: false). */
const FORMATS: Record<string, (s: string) => boolean> = {
  'date-time': (s) => {
    const parts = s.split(/t|\s/i);
    return parts.length === 2 && validDate(parts[0]!) && validTime(parts[1]!);
  },
  date: validDate,
  uuid: (s) => /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(s),
  uri: (s) => /^[a-z][a-z0-9+\-.]*:[^\s]*$/i.test(s) && !/[\s"<>\\^`{|}]/.test(s),
  email: (s) => /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i.test(s),
  ipv4: (s) => /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(s),
  hostname: (s) => /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*\.?$/i.test(s),
};

const regexes = new Map<string, RegExp>();
function re(p: string): RegExp {
  let r = regexes.get(p);
  if (!r) regexes.set(p, (r = new RegExp(p, 'u')));
  return r;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    default:
      return jsonType(v) === t;
  }
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
const chars = (s: string) => [...s].length;

class Run {
  constructor(private readonly useDefaults: boolean) {}

  /** Validates `v` at `path`; `composite`: inside anyOf/oneOf/not/if, where ajv assigns no defaults. */
  check(s: Schema, v: unknown, path: string, sp: string, composite: boolean): ErrorObject[] {
    const errs: ErrorObject[] = [];
    const err = (keyword: string, params: Record<string, unknown>, message: string, at = path) => errs.push({ instancePath: at, schemaPath: `${sp}/${keyword}`, keyword, params, message });

    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? s.type : [s.type];
      // Keywords of other types do not apply to the value; const, enum and the applicators still do (as in ajv).
      if (!types.some((t) => typeOk(t, v))) err('type', { type: types.join(',') }, `must be ${types.join(',')}`);
    }
    if (s.const !== undefined && !equal(v, s.const)) err('const', { allowedValue: s.const }, 'must be equal to constant');
    if (s.enum && !s.enum.some((e) => equal(e, v))) err('enum', { allowedValues: s.enum }, 'must be equal to one of the allowed values');

    if (typeof v === 'string') {
      const n = s.minLength as number | undefined;
      const x = s.maxLength as number | undefined;
      if (x !== undefined && chars(v) > x) err('maxLength', { limit: x }, `must NOT have more than ${x} characters`);
      if (n !== undefined && chars(v) < n) err('minLength', { limit: n }, `must NOT have fewer than ${n} characters`);
      if (s.pattern !== undefined && !re(s.pattern).test(v)) err('pattern', { pattern: s.pattern }, `must match pattern "${s.pattern}"`);
      if (s.format !== undefined && FORMATS[s.format] && !FORMATS[s.format]!(v)) err('format', { format: s.format }, `must match format "${s.format}"`);
    }
    if (typeof v === 'number') {
      const lim = (k: string, cmp: string, bad: (l: number) => boolean) => {
        const l = s[k] as number | undefined;
        if (l !== undefined && bad(l)) err(k, { comparison: cmp, limit: l }, `must be ${cmp} ${l}`);
      };
      lim('maximum', '<=', (l) => v > l);
      lim('minimum', '>=', (l) => v < l);
      lim('exclusiveMaximum', '<', (l) => v >= l);
      lim('exclusiveMinimum', '>', (l) => v <= l);
      const m = s.multipleOf as number | undefined;
      if (m !== undefined && Math.abs(v / m - Math.round(v / m)) > 1e-9) err('multipleOf', { multipleOf: m }, `must be multiple of ${m}`);
    }
    if (Array.isArray(v)) {
      const n = s.minItems as number | undefined;
      const x = s.maxItems as number | undefined;
      if (x !== undefined && v.length > x) err('maxItems', { limit: x }, `must NOT have more than ${x} items`);
      if (n !== undefined && v.length < n) err('minItems', { limit: n }, `must NOT have fewer than ${n} items`);
      if (s.items && typeof s.items === 'object') v.forEach((item, i) => errs.push(...this.check(s.items!, item, `${path}/${i}`, `${sp}/items`, composite)));
      if (s.uniqueItems === true) {
        outer: for (let i = v.length - 1; i > 0; i--) {
          for (let j = i - 1; j >= 0; j--) {
            if (equal(v[i], v[j])) {
              err('uniqueItems', { i, j }, `must NOT have duplicate items (items ## ${j} and ${i} are identical)`);
              break outer;
            }
          }
        }
      }
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const obj = v as Record<string, unknown>;
      if (this.useDefaults && !composite && s.properties) {
        for (const [k, p] of Object.entries(s.properties)) if (obj[k] === undefined && p.default !== undefined) obj[k] = structuredClone(p.default);
      }
      for (const r of s.required ?? []) if (obj[r] === undefined) err('required', { missingProperty: r }, `must have required property '${r}'`);
      const keys = Object.keys(obj);
      const n = s.minProperties as number | undefined;
      const x = s.maxProperties as number | undefined;
      if (x !== undefined && keys.length > x) err('maxProperties', { limit: x }, `must NOT have more than ${x} properties`);
      if (n !== undefined && keys.length < n) err('minProperties', { limit: n }, `must NOT have fewer than ${n} properties`);
      // ajv's order: additionalProperties (data keys), then properties (schema order), then patternProperties.
      const patterns = Object.entries(s.patternProperties ?? {});
      for (const k of keys) {
        if (s.properties?.[k] || patterns.some(([pat]) => re(pat).test(k))) continue;
        const p = `${path}/${esc(k)}`;
        if (s.additionalProperties === false) err('additionalProperties', { additionalProperty: k }, 'must NOT have additional properties');
        else if (s.additionalProperties && typeof s.additionalProperties === 'object') errs.push(...this.check(s.additionalProperties, obj[k], p, `${sp}/additionalProperties`, composite));
      }
      for (const [k, prop] of Object.entries(s.properties ?? {})) {
        if (obj[k] !== undefined) errs.push(...this.check(prop, obj[k], `${path}/${esc(k)}`, `${sp}/properties/${esc(k)}`, composite));
      }
      for (const [pat, ps] of patterns) {
        for (const k of keys) if (re(pat).test(k)) errs.push(...this.check(ps, obj[k], `${path}/${esc(k)}`, `${sp}/patternProperties/${esc(pat)}`, composite));
      }
    }
    for (const [i, b] of (s.allOf ?? []).entries()) errs.push(...this.check(b, v, path, `${sp}/allOf/${i}`, composite));
    if (s.anyOf) {
      const results = s.anyOf.map((b, i) => this.check(b, v, path, `${sp}/anyOf/${i}`, true));
      if (!results.some((r) => r.length === 0)) {
        for (const r of results) errs.push(...r);
        err('anyOf', {}, 'must match a schema in anyOf');
      }
    }
    if (s.oneOf) {
      const results = s.oneOf.map((b, i) => this.check(b, v, path, `${sp}/oneOf/${i}`, true));
      const passing = results.map((r, i) => (r.length === 0 ? i : -1)).filter((i) => i >= 0);
      if (passing.length === 0) {
        for (const r of results) errs.push(...r);
        err('oneOf', { passingSchemas: null }, 'must match exactly one schema in oneOf');
      } else if (passing.length > 1) err('oneOf', { passingSchemas: passing }, 'must match exactly one schema in oneOf');
    }
    if (s.not && this.check(s.not, v, path, `${sp}/not`, true).length === 0) err('not', {}, 'must NOT be valid');
    if (s.if && (s.then || s.else)) {
      const ok = this.check(s.if, v, path, `${sp}/if`, true).length === 0;
      const branch = ok ? s.then : s.else;
      if (branch) {
        const r = this.check(branch, v, path, `${sp}/${ok ? 'then' : 'else'}`, composite);
        if (r.length > 0) {
          errs.push(...r);
          err('if', { failingKeyword: ok ? 'then' : 'else' }, `must match "${ok ? 'then' : 'else'}" schema`);
        }
      }
    }
    return errs;
  }
}

export class Ajv {
  private readonly useDefaults: boolean;
  constructor(opts: { useDefaults?: boolean } = {}) {
    this.useDefaults = Boolean(opts.useDefaults);
  }
  addFormat(): this {
    return this;
  }
  addKeyword(): this {
    return this;
  }
  addSchema(): this {
    return this;
  }
  compile(schema: unknown): ValidateFunction {
    const run = new Run(this.useDefaults);
    const fn = ((data: unknown) => {
      const errs = run.check(schema as Schema, data, '', '#', false);
      fn.errors = errs.length ? errs : null;
      return errs.length === 0;
    }) as ValidateFunction;
    fn.errors = null;
    return fn;
  }
  validateSchema(): boolean {
    return true;
  }
}

export const Ajv2020 = Ajv;
export default function addFormats<T>(ajv: T): T {
  return ajv;
}
