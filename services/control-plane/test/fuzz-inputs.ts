// Input generation for the REST fuzz suite: a seeded PRNG, values built from the JSON schemas of the
// served OpenAPI document (valid ones, then mutated), and hostile raw bodies, ids and query strings.
import { Buffer } from 'node:buffer';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Schema = Record<string, unknown>;

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  alnum(n: number): string {
    const a = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let i = 0; i < n; i++) s += a[this.int(0, a.length - 1)];
    return s;
  }
  uuid(): string {
    const h = (n: number): string => Array.from({ length: n }, () => this.int(0, 15).toString(16)).join('');
    return `${h(8)}-${h(4)}-4${h(3)}-${this.pick(['8', '9', 'a', 'b'])}${h(3)}-${h(12)}`;
  }
}

/** Strings that tend to break things: control characters, NUL, surrogates, bidi overrides, emoji, SQL-ish. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0001\u0002\u001f',
  '\ud800',
  '\udfff\ud800',
  '\u202etxet',
  '😀👨‍👩‍👧‍👦',
  'ｆｕｌｌｗｉｄｔｈ',
  'e\u0301\u0301\u0301',
  '\ufeffbom',
  "'; DROP TABLE upstreams; --",
  '%00%ff',
  '../../etc/passwd',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '\\',
  '"',
  '\n\r\t',
  'true',
  '0',
  '-1',
  '1e309',
  '__proto__',
  'constructor',
];

const JUNK: readonly Json[] = [
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  1.5,
  -2147483649,
  2147483648,
  9007199254740993,
  1e308,
  -1e308,
  5e-324,
  '',
  'x',
  [],
  {},
  [null],
  [[[]]],
  { a: { b: [1, { c: null }] } },
  { __proto__: 1 } as unknown as Json,
];

export interface GenContext {
  rng: Rng;
  /** Ids that exist (so references resolve and deeper checks run); random uuids are mixed in. */
  ids: readonly string[];
  deref(schema: Schema): Schema;
}

function matches(pattern: unknown, s: string): boolean {
  if (typeof pattern !== 'string') return true;
  return new RegExp(pattern, 'u').test(s);
}

/** A value valid for `schema` (as far as this small generator knows JSON Schema). */
export function generate(g: GenContext, raw: Schema, depth = 0): Json {
  const s = g.deref(raw);
  const { rng } = g;
  if ('const' in s) return s.const as Json;
  const alts = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (alts) return generate(g, rng.pick(alts), depth + 1);
  switch (s.type) {
    case 'object': {
      const out: Record<string, Json> = {};
      const required = new Set((s.required as string[] | undefined) ?? []);
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const [k, ps] of Object.entries(props)) {
        if (required.has(k) || (depth < 4 && rng.chance(0.5))) out[k] = generate(g, ps, depth + 1);
      }
      return out;
    }
    case 'array': {
      const min = (s.minItems as number | undefined) ?? 0;
      const max = Math.min((s.maxItems as number | undefined) ?? min + 3, min + 3);
      const n = depth > 4 ? min : rng.int(min, max);
      return Array.from({ length: n }, () => generate(g, (s.items ?? {}) as Schema, depth + 1));
    }
    case 'integer':
    case 'number': {
      const min = (s.minimum as number | undefined) ?? -1000;
      const max = (s.maximum as number | undefined) ?? 1000;
      return rng.int(Math.max(min, -1_000_000), Math.min(max, 1_000_000));
    }
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    case 'string':
      return generateString(g, s);
    default:
      return rng.pick(JUNK);
  }
}

function generateString(g: GenContext, s: Schema): string {
  const { rng } = g;
  if (s.format === 'uuid') return rng.chance(0.8) && g.ids.length > 0 ? rng.pick(g.ids) : rng.uuid();
  if (s.format === 'date-time') return new Date(1_700_000_000_000 + rng.int(0, 1e9)).toISOString();
  const min = (s.minLength as number | undefined) ?? 0;
  const max = (s.maxLength as number | undefined) ?? 64;
  const candidates = [
    `fz-${rng.alnum(rng.int(1, 10))}`,
    rng.alnum(Math.max(min, rng.int(1, 20))),
    `/fz/${rng.alnum(4)}`,
    `/fz/{id}/${rng.alnum(3)}`,
    '/',
    `${rng.alnum(5)}.example.com`,
    '127.0.0.1',
    'x-api-key',
    `tp_${rng.alnum(24)}`,
  ].filter((c) => c.length >= min && c.length <= max && matches(s.pattern, c));
  return candidates.length > 0 ? rng.pick(candidates) : rng.alnum(Math.max(1, min));
}

/** Applies 1–3 random mutations somewhere in `value` (a value generated from `schema`). */
export function mutate(g: GenContext, schema: Schema, value: Json): Json {
  let v = value;
  const n = g.rng.int(1, 3);
  for (let i = 0; i < n; i++) v = mutateOnce(g, schema, v, 0);
  return v;
}

function mutateOnce(g: GenContext, raw: Schema, value: Json, depth: number): Json {
  const s = g.deref(raw);
  const { rng } = g;
  // Descend into a child sometimes, so mutations land at every depth.
  if (depth < 6 && rng.chance(0.6)) {
    if (Array.isArray(value) && value.length > 0) {
      const i = rng.int(0, value.length - 1);
      const copy = value.slice();
      copy[i] = mutateOnce(g, (s.items ?? {}) as Schema, copy[i]!, depth + 1);
      return copy;
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length > 0) {
        const k = rng.pick(keys);
        const props = (s.properties ?? {}) as Record<string, Schema>;
        return { ...value, [k]: mutateOnce(g, props[k] ?? {}, value[k]!, depth + 1) };
      }
    }
  }
  return mutateHere(g, s, value);
}

function mutateHere(g: GenContext, s: Schema, value: Json): Json {
  const { rng } = g;
  const strategy = rng.int(0, 9);
  if (strategy <= 1) return rng.pick(JUNK);
  if (strategy === 2) return hugeString(rng);
  if (strategy === 3) {
    const base = typeof value === 'string' ? value : '';
    const nasty = rng.pick(NASTY_STRINGS);
    return rng.pick([nasty, base + nasty, nasty + base, base.slice(0, 1) + nasty + base.slice(1)]);
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const copy: Record<string, Json> = { ...value };
    const keys = Object.keys(copy);
    if (strategy <= 6 && keys.length > 0) delete copy[rng.pick(keys)];
    else copy[rng.pick(['extra', '', '__proto__', 'constructor', 'ключ', '😀', 'id', 'revision', 'created_at', 'a'.repeat(300)])] = rng.pick(JUNK);
    return copy;
  }
  if (Array.isArray(value)) {
    const max = (s.maxItems as number | undefined) ?? 8;
    return rng.pick<Json>([[], Array.from({ length: max + 1 }, () => value[0] ?? 'x'), [...value, ...value], [...value, rng.pick(JUNK)], [value]]);
  }
  if (typeof value === 'number' || s.type === 'integer' || s.type === 'number') {
    const min = (s.minimum as number | undefined) ?? 0;
    const max = (s.maximum as number | undefined) ?? 0;
    return rng.pick<Json>([min - 1, max + 1, min, max, min - 0.5, max + 0.5, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 63), 1e308, String(min)]);
  }
  if (typeof value === 'string' || s.type === 'string') {
    const min = (s.minLength as number | undefined) ?? 0;
    const max = (s.maxLength as number | undefined) ?? 256;
    const str = typeof value === 'string' ? value : 'x';
    return rng.pick<Json>([
      'a'.repeat(Math.max(0, min - 1)),
      'a'.repeat(max),
      'a'.repeat(max + 1),
      str.toUpperCase(),
      ` ${str} `,
      `${str}\u0000`,
      Number(str) || 0,
    ]);
  }
  return rng.pick(JUNK);
}

function hugeString(rng: Rng): string {
  const unit = rng.pick(['a', 'é', '😀', '\u0000', '/', '{x}', ' ']);
  return unit.repeat(rng.int(1_000, 60_000));
}

/** Bodies that are not (valid) JSON, or not JSON at all, and the content type they are sent with. */
export function rawBody(rng: Rng): { body: string | Buffer; contentType: string | null } {
  const json = 'application/json';
  const choices: Array<() => { body: string | Buffer; contentType: string | null }> = [
    () => ({ body: '{', contentType: json }),
    () => ({ body: '{"name":}', contentType: json }),
    () => ({ body: '{"name":"a",}', contentType: json }),
    () => ({ body: "{'name':'a'}", contentType: json }),
    () => ({ body: 'nul', contentType: json }),
    () => ({ body: 'NaN', contentType: json }),
    () => ({ body: '1e99999', contentType: json }),
    () => ({ body: '"\\ud800"', contentType: json }),
    () => ({ body: '\ufeff{"name":"bom"}', contentType: json }),
    () => ({ body: '{"name":"a"}{"name":"b"}', contentType: json }),
    () => ({ body: '{"a":1,"a":2,"__proto__":{"polluted":true}}', contentType: json }),
    () => ({ body: Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0xc3, 0x28, 0xa0, 0xa1]), contentType: json }),
    () => ({ body: Buffer.from(Array.from({ length: rng.int(1, 512) }, () => rng.int(0, 255))), contentType: json }),
    () => ({ body: `{"name":"${'\\u0000'.repeat(10)}"}`, contentType: json }),
    () => ({ body: '['.repeat(200_000) + ']'.repeat(200_000), contentType: json }),
    () => ({ body: '{"a":'.repeat(60_000) + '1' + '}'.repeat(60_000), contentType: json }),
    () => ({ body: JSON.stringify({ name: 'x'.repeat(900_000) }), contentType: json }),
    () => ({ body: JSON.stringify({ name: 'x'.repeat(1_100_000) }), contentType: json }),
    () => ({ body: '   ', contentType: json }),
    () => ({ body: '{"name":"a"}', contentType: 'text/plain' }),
    () => ({ body: 'name=a&targets=1', contentType: 'application/x-www-form-urlencoded' }),
    () => ({ body: '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--', contentType: 'multipart/form-data; boundary=b' }),
    () => ({ body: '<a/>', contentType: 'application/xml' }),
    () => ({ body: '{"name":"a"}', contentType: 'application/jsonx' }),
    () => ({ body: '{"name":"a"}', contentType: 'application/json; charset=utf-16' }),
    () => ({ body: '{"name":"a"}', contentType: 'APPLICATION/JSON' }),
    () => ({ body: '{"name":"a"}', contentType: 'application/json;;;' }),
    () => ({ body: '{"name":"a"}', contentType: null }),
  ];
  return rng.pick(choices)();
}

/** Path ids: most are not uuids at all; percent-encoding junk included. */
export function badId(rng: Rng): string {
  return rng.pick([
    '',
    '0',
    '-1',
    'null',
    'not-a-uuid',
    rng.uuid().toUpperCase(),
    rng.uuid() + 'x',
    rng.uuid().slice(1),
    rng.uuid().replace(/-/g, ''),
    `{${rng.uuid()}}`,
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    '%00',
    '%ZZ',
    '%',
    '%C0%AE',
    '..',
    '%2e%2e',
    '%2F',
    encodeURIComponent('😀'),
    encodeURIComponent("'; SELECT 1; --"),
    'a'.repeat(rng.int(100, 8_000)),
    rng.uuid(),
  ]);
}

/** A query string of list/filter parameters: declared ones with junk values, repeats, unknown ones. */
export function queryString(rng: Rng, params: ReadonlyArray<{ name: string; schema: Schema }>): string {
  const parts: string[] = [];
  const n = rng.int(0, 4);
  for (let i = 0; i < n; i++) {
    const p = params.length > 0 && rng.chance(0.8) ? rng.pick(params) : { name: rng.pick(['unknown', 'limit[]', 'a.b', '', '__proto__']), schema: {} };
    const value = rng.pick<string>([
      '',
      '0',
      '1',
      '-1',
      '1000',
      '1001',
      '100',
      '999999999',
      '99999999999999999999',
      '1.5',
      '1e3',
      '0x10',
      'abc',
      '2xx',
      '5',
      '9xx',
      new Date(1_700_000_000_000).toISOString(),
      '2024-13-45T99:99:99Z',
      '1700000000000',
      rng.uuid(),
      Buffer.from(`s:${rng.int(0, 1e6)}`).toString('base64url'),
      Buffer.from('s:99999999999999999999').toString('base64url'),
      Buffer.from('x').toString('base64url'),
      '!!!',
      'a'.repeat(rng.int(100, 4_000)),
      rng.pick(NASTY_STRINGS),
    ]);
    const enc = rng.chance(0.85) ? percentEncode(value) : value.replace(/[#\s]/g, '');
    parts.push(`${percentEncode(p.name)}=${enc}`);
    if (rng.chance(0.1)) parts.push(`${percentEncode(p.name)}=${enc}`);
  }
  if (rng.chance(0.05)) parts.push(rng.pick(['%', '%ZZ', '&&&', '==', 'limit']));
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** encodeURIComponent, except that a lone surrogate becomes the bytes a lax encoder would send (invalid UTF-8). */
function percentEncode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return Array.from(s, (ch) => {
      const c = ch.charCodeAt(0);
      if (ch.length === 1 && c >= 0xd800 && c <= 0xdfff) return `%${(0xe0 | (c >> 12)).toString(16)}%${(0x80 | ((c >> 6) & 0x3f)).toString(16)}%${(0x80 | (c & 0x3f)).toString(16)}`;
      return encodeURIComponent(ch);
    }).join('');
  }
}

/** Optional request headers with junk values (conditional writes, idempotency, request ids, auth). */
export function junkHeaders(rng: Rng): Record<string, string> {
  const out: Record<string, string> = {};
  if (!rng.chance(0.25)) return out;
  const value = (): string =>
    rng.pick(['', '*', '"0"', 'W/"1"', '"-1"', '"99999999999999999999"', 'abc', '"', '0', rng.uuid(), 'x'.repeat(rng.int(200, 4_000)), 'caf\u00e9', '%00', 'null']);
  const name = rng.pick(['if-match', 'if-none-match', 'idempotency-key', 'x-request-id', 'accept', 'authorization']);
  out[name] = name === 'authorization' ? rng.pick(['Bearer', 'Bearer ', 'Basic abc', `Bearer ${value()}`, 'bearer\t']) : value();
  return out;
}
