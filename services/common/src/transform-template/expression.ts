// One `{{ … }}` expression of the transformation template language: a reference (a path into the document
// being mapped, or a piece of request/response data) followed by pure filters. Parsed once into a resolver;
// resolving reads own properties of parsed JSON only (never a prototype, never a getter), and nothing in the
// grammar can call, loop, define or evaluate anything.
//
//   expr    := ref ( '|' filter )*
//   ref     := '$' seg* | root seg*            root: body header query path consumer method response
//   seg     := '.' name | '[' integer ']' | '[' "string" ']'        name: [A-Za-z0-9_-]+
//   filter  := default '(' literal ')' | upper | lower | number | string | json
//   literal := "string" | number | true | false | null
import { boundedJson } from './bounded-json.js';

/** Where a template is used: request data only, or the upstream's response as well. */
export type TransformKind = 'request' | 'response';

/** The capture groups of a request-transformer's path pattern (`path.1`, `path.name`); null: no pattern. */
export interface PathCaptures {
  count: number;
  names: readonly string[];
}

export interface ExpressionOptions {
  kind: TransformKind;
  captures: PathCaptures | null;
  /** false: `body` / `$` are refused (header and query values: only body templates read the body). */
  body?: boolean;
}

/** What a rendered template reads. `undefined` is "missing" throughout. */
export interface TransformInput {
  /** The document being mapped (request body for request templates, response body for response ones). */
  readonly body: unknown;
  /** A request header (lower-case name) as received. */
  header(name: string): string | undefined;
  /** A request query parameter (decoded name) as received: the first value, decoded. */
  query(name: string): string | undefined;
  /** null: the request path as received; otherwise a capture of the path pattern by number or name. */
  path(capture: string | null): string | undefined;
  consumer(field: 'id' | 'username'): string | undefined;
  method(): string;
  /** Response templates: the upstream's status and response headers (lower-case names). */
  responseStatus(): number | undefined;
  responseHeader(name: string): string | undefined;
}

/** A syntax or reference error at `offset` (0-based) in the string that holds the expression. */
export class TransformSyntaxError extends Error {
  readonly offset: number;
  readonly detail: string;
  constructor(detail: string, offset: number) {
    super(`${detail} (at character ${offset + 1})`);
    this.name = 'TransformSyntaxError';
    this.detail = detail;
    this.offset = offset;
  }
}

export const MAX_EXPRESSION_CHARS = 512;
const MAX_SEGMENTS = 32;
const MAX_FILTERS = 8;

export type Resolver = (input: TransformInput) => unknown;
type Filter = (v: unknown) => unknown;

export const FILTER_NAMES = ['default', 'upper', 'lower', 'number', 'string', 'json'] as const;
const ROOTS = ['$', 'body', 'header', 'query', 'path', 'consumer', 'method', 'response'] as const;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;

/**
 * Parses the text of one expression (between `{{` and `}}`); `base` is its offset in the whole string, so
 * error offsets point into that string. Throws TransformSyntaxError.
 */
export function parseExpression(text: string, base: number, opts: ExpressionOptions): Resolver {
  if (text.length > MAX_EXPRESSION_CHARS) throw new TransformSyntaxError(`expression longer than ${MAX_EXPRESSION_CHARS} characters`, base);
  const p = new Parser(text, base);
  p.space();
  if (p.done()) throw new TransformSyntaxError('empty expression "{{ }}"', base);
  const ref = parseRef(p, opts);
  const filters: Filter[] = [];
  p.space();
  while (!p.done()) {
    if (p.peek() !== '|') throw p.error(`unexpected ${JSON.stringify(p.peek())}: expected "|" and a filter, or "}}"`);
    p.pos++;
    p.space();
    if (filters.length === MAX_FILTERS) throw p.error(`more than ${MAX_FILTERS} filters`);
    filters.push(parseFilter(p));
    p.space();
  }
  if (filters.length === 0) return ref;
  return (input) => {
    let v = ref(input);
    for (const f of filters) v = f(v);
    return v;
  };
}

class Parser {
  pos = 0;
  constructor(
    readonly text: string,
    readonly base: number,
  ) {}
  done(): boolean {
    return this.pos >= this.text.length;
  }
  peek(): string {
    return this.text[this.pos] ?? '';
  }
  space(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  error(detail: string, at = this.pos): TransformSyntaxError {
    return new TransformSyntaxError(detail, this.base + at);
  }
  /** Characters matching `re` (a one-character class) from here; '' for none. */
  take(re: RegExp): string {
    const start = this.pos;
    while (this.pos < this.text.length && re.test(this.text[this.pos]!)) this.pos++;
    return this.text.slice(start, this.pos);
  }
  expect(ch: string, what: string): void {
    if (this.peek() !== ch) throw this.error(this.done() ? `${what}: the expression ends early` : `${what}: found ${JSON.stringify(this.peek())}`);
    this.pos++;
  }
}

/** A path segment: a name (object key, or an array index when all digits) or an integer index. */
interface Segment {
  key: string;
  /** The array index this segment selects (negative counts from the end); NaN when it selects none. */
  index: number;
  at: number;
}

function parseSegments(p: Parser): Segment[] {
  const segs: Segment[] = [];
  for (;;) {
    const at = p.pos;
    const c = p.peek();
    if (c === '.') {
      p.pos++;
      const name = p.take(/[A-Za-z0-9_-]/);
      if (name === '') throw p.error('expected a name after "."');
      segs.push({ key: name, index: /^\d+$/.test(name) ? Number(name) : NaN, at });
    } else if (c === '[') {
      p.pos++;
      p.space();
      if (p.peek() === '"') {
        const key = parseString(p);
        segs.push({ key, index: NaN, at });
      } else {
        const digits = p.take(/[-0-9]/);
        if (!/^-?\d{1,9}$/.test(digits)) throw p.error('expected an integer index or a "quoted" key inside [ ]', at + 1);
        segs.push({ key: String(Number(digits)), index: Number(digits), at });
      }
      p.space();
      p.expect(']', 'expected "]"');
    } else return segs;
    if (segs.length > MAX_SEGMENTS) throw p.error(`more than ${MAX_SEGMENTS} path segments`, at);
  }
}

function parseRef(p: Parser, opts: ExpressionOptions): Resolver {
  const at = p.pos;
  const root = p.peek() === '$' ? (p.pos++, '$') : p.take(/[A-Za-z0-9_]/);
  if (root === '') throw p.error(`expected a reference (${ROOTS.join(', ')}), found ${JSON.stringify(p.peek())}`);
  if (!(ROOTS as readonly string[]).includes(root)) throw p.error(`unknown name ${JSON.stringify(root)}: a reference starts with ${ROOTS.join(', ')}`, at);
  const segs = parseSegments(p);
  const only = (n: number, form: string): void => {
    if (segs.length !== n) throw p.error(`${form}`, segs[n]?.at ?? at);
  };
  switch (root) {
    case '$':
    case 'body':
      if (opts.body === false) throw p.error('the body is readable only in body_template, not in header or query values', at);
      return documentPath(segs);
    case 'header': {
      only(1, 'a header reference is header.<name> (e.g. header.x-user)');
      const name = segs[0]!.key.toLowerCase();
      if (!HEADER_NAME.test(name)) throw p.error(`${JSON.stringify(segs[0]!.key)} is not a header name`, segs[0]!.at);
      return (input) => input.header(name);
    }
    case 'query': {
      only(1, 'a query reference is query.<name> (e.g. query.id)');
      const name = segs[0]!.key;
      return (input) => input.query(name);
    }
    case 'path': {
      if (segs.length === 0) return (input) => input.path(null);
      only(1, 'a path reference is path (the request path) or path.<capture> (e.g. path.1, path.id)');
      const cap = segs[0]!;
      if (opts.kind === 'response' || opts.captures === null) {
        throw p.error('path captures (path.1, path.<name>) exist only in a request-transformer with a path pattern', cap.at);
      }
      if (Number.isInteger(cap.index) && cap.index >= 0) {
        if (cap.index > opts.captures.count) throw p.error(`the path pattern has ${opts.captures.count} capture group(s), not ${cap.index}`, cap.at);
      } else if (!opts.captures.names.includes(cap.key)) {
        throw p.error(`the path pattern has no capture group named ${JSON.stringify(cap.key)}`, cap.at);
      }
      const key = Number.isInteger(cap.index) ? String(cap.index) : cap.key;
      return (input) => input.path(key);
    }
    case 'consumer': {
      only(1, 'a consumer reference is consumer.id or consumer.username');
      const f = segs[0]!.key;
      if (f !== 'id' && f !== 'username') throw p.error(`consumer has id and username, not ${JSON.stringify(f)}`, segs[0]!.at);
      return (input) => input.consumer(f);
    }
    case 'method':
      only(0, 'method has no fields');
      return (input) => input.method();
    default: {
      // response
      if (opts.kind !== 'response') throw p.error('response.status and response.header.<name> exist only in response templates', at);
      const first = segs[0]?.key;
      if (first === 'status' && segs.length === 1) return (input) => input.responseStatus();
      if (first === 'header' && segs.length === 2) {
        const name = segs[1]!.key.toLowerCase();
        if (!HEADER_NAME.test(name)) throw p.error(`${JSON.stringify(segs[1]!.key)} is not a header name`, segs[1]!.at);
        return (input) => input.responseHeader(name);
      }
      throw p.error('a response reference is response.status or response.header.<name>', segs[0]?.at ?? at);
    }
  }
}

/** A path into the parsed JSON document: own properties of plain objects, indexes of arrays, nothing else. */
function documentPath(segs: readonly Segment[]): Resolver {
  if (segs.length === 0) return (input) => input.body;
  return (input) => {
    let v: unknown = input.body;
    for (const s of segs) {
      if (Array.isArray(v)) {
        let i = s.index;
        if (i < 0) i += v.length;
        v = Number.isInteger(i) && i >= 0 && i < v.length ? v[i] : undefined;
      } else if (typeof v === 'object' && v !== null) {
        // Own data only: `constructor`, `__proto__`, `toString` of a parsed object resolve to nothing.
        v = Object.hasOwn(v, s.key) ? (v as Record<string, unknown>)[s.key] : undefined;
      } else return undefined;
      if (v === undefined) return undefined;
    }
    return v;
  };
}

function parseString(p: Parser): string {
  const start = p.pos;
  p.pos++;
  while (!p.done() && p.peek() !== '"') p.pos += p.peek() === '\\' ? 2 : 1;
  if (p.done()) throw p.error('unterminated string', start);
  p.pos++;
  try {
    return JSON.parse(p.text.slice(start, p.pos)) as string;
  } catch {
    throw p.error('bad string (JSON escapes only)', start);
  }
}

function parseLiteral(p: Parser): unknown {
  const at = p.pos;
  if (p.peek() === '"') return parseString(p);
  const word = p.take(/[-+.0-9A-Za-z]/);
  if (word === 'true') return true;
  if (word === 'false') return false;
  if (word === 'null') return null;
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(word) && Number.isFinite(Number(word))) return Number(word);
  throw p.error('expected a literal: "string", number, true, false or null', at);
}

function parseFilter(p: Parser): Filter {
  const at = p.pos;
  const name = p.take(/[A-Za-z_]/);
  if (name === '') throw p.error('expected a filter name after "|"');
  p.space();
  const hasArg = p.peek() === '(';
  switch (name) {
    case 'default': {
      if (!hasArg) throw p.error('default needs a value: default("x")', at);
      p.pos++;
      p.space();
      const fallback = parseLiteral(p);
      p.space();
      p.expect(')', 'expected ")" after the default value');
      return (v) => (v === undefined || v === null ? fallback : v);
    }
    case 'upper':
    case 'lower':
    case 'number':
    case 'string':
    case 'json':
      if (hasArg) throw p.error(`${name} takes no arguments`);
      return FILTERS[name];
    default:
      throw p.error(`unknown filter ${JSON.stringify(name)}: use ${FILTER_NAMES.join(', ')}`, at);
  }
}

/** A value as text: strings as they are, numbers and booleans printed, objects and arrays as (bounded) JSON; missing and null stay missing. */
export function textOf(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return boundedJson(v);
}

const FILTERS: Record<'upper' | 'lower' | 'number' | 'string' | 'json', Filter> = {
  upper: (v) => textOf(v)?.toUpperCase(),
  lower: (v) => textOf(v)?.toLowerCase(),
  number(v) {
    if (typeof v === 'number') return v;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'string' && v.trim() !== '') {
      const n = Number(v);
      return Number.isFinite(n) ? n : undefined;
    }
    return undefined;
  },
  string: textOf,
  json: (v) => (v === undefined ? undefined : boundedJson(v)),
};
