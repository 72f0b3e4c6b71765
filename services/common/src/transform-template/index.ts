// The transformation template language (request-transformer, response-transformer): JSON templates whose
// string values may hold `{{ expr }}` placeholders (expression.ts), and text templates (header and query
// values, path replacements). Parsed once — by the control plane at write time to refuse a bad template with
// its field path and character position, by the gateway when it compiles config — and rendered by reading
// values, never by evaluating anything.
//
// A string that is exactly one placeholder keeps the value's type (`"{{ body.count }}"` renders the number,
// an object stays an object, a missing value renders null); placeholders inside longer text are printed
// (missing and null print nothing, objects as JSON). `\{{` writes a literal `{{`. Object keys are literal.
import { TurnpikeError, type FieldError } from '../errors.js';
import { JsonWriter, MAX_OUTPUT_CHARS, MAX_OUTPUT_DEPTH, TransformRenderError } from './bounded-json.js';
import { MAX_EXPRESSION_CHARS, parseExpression, textOf, TransformSyntaxError, type ExpressionOptions, type Resolver, type TransformInput } from './expression.js';

export { TransformRenderError } from './bounded-json.js';
export {
  FILTER_NAMES as TRANSFORM_FILTER_NAMES,
  TransformSyntaxError,
  type ExpressionOptions as TransformTemplateOptions,
  type PathCaptures,
  type TransformInput,
  type TransformKind,
} from './expression.js';

// Bounds on a template as written (checked at write time), and on a rendered text template (a header or
// query value).
const MAX_TEMPLATE_CHARS = 65_536;
const MAX_TEMPLATE_DEPTH = 32;
const MAX_PLACEHOLDERS_PER_STRING = 64;
const MAX_TEXT_CHARS = 16_384;

/** The language's bounds, for docs and tests. */
export const TRANSFORM_TEMPLATE_LIMITS = Object.freeze({
  templateChars: MAX_TEMPLATE_CHARS,
  templateDepth: MAX_TEMPLATE_DEPTH,
  placeholdersPerString: MAX_PLACEHOLDERS_PER_STRING,
  expressionChars: MAX_EXPRESSION_CHARS,
  textChars: MAX_TEXT_CHARS,
  outputChars: MAX_OUTPUT_CHARS,
  outputDepth: MAX_OUTPUT_DEPTH,
});

type Part = string | Resolver;

/** A parsed string: literal text and placeholders; `whole` when it is exactly one placeholder. */
interface ParsedText {
  parts: readonly Part[];
  whole: Resolver | null;
}

function parseText(text: string, opts: ExpressionOptions): ParsedText {
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  let placeholders = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      literal += text.slice(i);
      break;
    }
    if (open > 0 && text[open - 1] === '\\') {
      literal += text.slice(i, open - 1) + '{{';
      i = open + 2;
      continue;
    }
    literal += text.slice(i, open);
    const close = closingOf(text, open + 2);
    if (close < 0) throw new TransformSyntaxError('unterminated placeholder: "{{" without a closing "}}"', open);
    if (++placeholders > MAX_PLACEHOLDERS_PER_STRING) throw new TransformSyntaxError(`more than ${MAX_PLACEHOLDERS_PER_STRING} placeholders in one string`, open);
    const resolver = parseExpression(text.slice(open + 2, close), open + 2, opts);
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(resolver);
    i = close + 2;
  }
  if (literal !== '') parts.push(literal);
  const whole = parts.length === 1 && typeof parts[0] === 'function' && text.startsWith('{{') && text.endsWith('}}') ? parts[0] : null;
  return { parts, whole };
}

/** The index of the `}}` closing a placeholder whose expression starts at `from`, skipping "string" literals; -1 for none. */
function closingOf(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '}' && text[i + 1] === '}') return i;
    else if (c === '{' && text[i + 1] === '{') return -1;
  }
  return -1;
}

function renderParts(parts: readonly Part[], input: TransformInput, max: number): string {
  let out = '';
  for (const p of parts) {
    out += typeof p === 'string' ? p : (textOf(p(input)) ?? '');
    if (out.length > max) throw new TransformRenderError(`rendered text is longer than ${max} characters`);
  }
  return out;
}

// ---- text templates -------------------------------------------------------------------------------------

/** A compiled text template (a header value, a query value). */
export interface TextTemplate {
  /** The text when it has no placeholders (render needs no input); null otherwise. */
  readonly literal: string | null;
  /** Throws TransformRenderError past MAX_TEXT_CHARS. */
  render(input: TransformInput): string;
}

function textTemplate(parsed: ParsedText): TextTemplate {
  const { parts } = parsed;
  if (parts.length === 0) return { literal: '', render: () => '' };
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const s = parts[0];
    return { literal: s, render: () => s };
  }
  return { literal: null, render: (input) => renderParts(parts, input, MAX_TEXT_CHARS) };
}

/** Parses a text template; throws TurnpikeError (TP_ERR_UNPROCESSABLE) with `pointer` as the field path. */
export function compileTextTemplate(text: string, opts: ExpressionOptions, pointer = ''): TextTemplate {
  try {
    return textTemplate(parseText(text, opts));
  } catch (e) {
    throw asTurnpikeError(e, pointer);
  }
}

/** What is wrong with a text template: [] or one field error at `pointer`. */
export function textTemplateProblems(text: string, opts: ExpressionOptions, pointer: string): FieldError[] {
  try {
    parseText(text, opts);
    return [];
  } catch (e) {
    return [fieldError(e, pointer)];
  }
}

// ---- JSON templates -------------------------------------------------------------------------------------

type Node =
  | { t: 'lit'; json: string }
  | { t: 'ref'; r: Resolver }
  | { t: 'str'; parts: readonly Part[] }
  | { t: 'arr'; items: readonly Node[] }
  | { t: 'obj'; keys: readonly string[]; vals: readonly Node[] };

/** A compiled JSON template. */
export interface JsonTemplate {
  /** Renders JSON text; throws TransformRenderError past MAX_OUTPUT_CHARS or MAX_OUTPUT_DEPTH. */
  render(input: TransformInput): string;
}

function pointerOf(base: string, key: string | number): string {
  return `${base}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

function compileNode(v: unknown, opts: ExpressionOptions, pointer: string, depth: number, errors: FieldError[]): Node {
  if (depth > MAX_TEMPLATE_DEPTH) {
    errors.push({ path: pointer, message: `template nests deeper than ${MAX_TEMPLATE_DEPTH} levels` });
    return { t: 'lit', json: 'null' };
  }
  if (typeof v === 'string') {
    let parsed: ParsedText;
    try {
      parsed = parseText(v, opts);
    } catch (e) {
      errors.push(fieldError(e, pointer));
      return { t: 'lit', json: 'null' };
    }
    if (parsed.whole) return { t: 'ref', r: parsed.whole };
    if (parsed.parts.every((p) => typeof p === 'string')) return { t: 'lit', json: JSON.stringify(parsed.parts.join('')) };
    return { t: 'str', parts: parsed.parts };
  }
  if (Array.isArray(v)) {
    const items = v.map((item, i) => compileNode(item, opts, pointerOf(pointer, i), depth + 1, errors));
    if (items.every((n) => n.t === 'lit')) return { t: 'lit', json: `[${items.map((n) => (n as { json: string }).json).join(',')}]` };
    return { t: 'arr', items };
  }
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    const vals = keys.map((k) => compileNode((v as Record<string, unknown>)[k], opts, pointerOf(pointer, k), depth + 1, errors));
    const jsonKeys = keys.map((k) => JSON.stringify(k));
    if (vals.every((n) => n.t === 'lit')) return { t: 'lit', json: `{${jsonKeys.map((k, i) => `${k}:${(vals[i] as { json: string }).json}`).join(',')}}` };
    return { t: 'obj', keys: jsonKeys, vals };
  }
  if (typeof v === 'number') return { t: 'lit', json: Number.isFinite(v) ? String(v) : 'null' };
  if (typeof v === 'boolean' || v === null) return { t: 'lit', json: String(v) };
  errors.push({ path: pointer, message: 'is not a JSON value' });
  return { t: 'lit', json: 'null' };
}

function writeNode(n: Node, input: TransformInput, w: JsonWriter, depth: number): void {
  switch (n.t) {
    case 'lit':
      return w.raw(n.json);
    case 'ref':
      return w.value(n.r(input), depth);
    case 'str':
      return w.value(renderParts(n.parts, input, MAX_OUTPUT_CHARS), depth);
    case 'arr':
      w.raw('[');
      n.items.forEach((item, i) => {
        if (i > 0) w.raw(',');
        writeNode(item, input, w, depth + 1);
      });
      return w.raw(']');
    case 'obj':
      w.raw('{');
      n.keys.forEach((k, i) => {
        if (i > 0) w.raw(',');
        w.raw(k);
        w.raw(':');
        writeNode(n.vals[i]!, input, w, depth + 1);
      });
      return w.raw('}');
  }
}

function compileJson(value: unknown, opts: ExpressionOptions, pointer: string): { node: Node; errors: FieldError[] } {
  let size: number;
  try {
    size = JSON.stringify(value)?.length ?? 0;
  } catch {
    return { node: { t: 'lit', json: 'null' }, errors: [{ path: pointer, message: 'is not a JSON value' }] };
  }
  if (size > MAX_TEMPLATE_CHARS) return { node: { t: 'lit', json: 'null' }, errors: [{ path: pointer, message: `template is larger than ${MAX_TEMPLATE_CHARS} characters as JSON` }] };
  const errors: FieldError[] = [];
  const node = compileNode(value, opts, pointer, 0, errors);
  return { node, errors };
}

/** Compiles a JSON template; throws TurnpikeError (TP_ERR_UNPROCESSABLE) listing every problem under `pointer`. */
export function compileJsonTemplate(value: unknown, opts: ExpressionOptions, pointer = ''): JsonTemplate {
  const { node, errors } = compileJson(value, opts, pointer);
  if (errors.length > 0) throw new TurnpikeError('TP_ERR_UNPROCESSABLE', errors.map((f) => `${f.path}: ${f.message}`).join('; '), errors);
  if (node.t === 'lit') {
    const json = node.json;
    return { render: () => json };
  }
  return {
    render(input) {
      const w = new JsonWriter(MAX_OUTPUT_CHARS);
      writeNode(node, input, w, 0);
      return w.text();
    },
  };
}

/** Every problem of a JSON template, with field paths under `pointer` (`/body_template/items/0`). */
export function jsonTemplateProblems(value: unknown, opts: ExpressionOptions, pointer: string): FieldError[] {
  return compileJson(value, opts, pointer).errors;
}

function fieldError(e: unknown, pointer: string): FieldError {
  if (e instanceof TransformSyntaxError) return { path: pointer, message: e.message };
  throw e;
}

function asTurnpikeError(e: unknown, pointer: string): unknown {
  if (!(e instanceof TransformSyntaxError)) return e;
  const f = fieldError(e, pointer);
  return new TurnpikeError('TP_ERR_UNPROCESSABLE', `${f.path}: ${f.message}`, [f]);
}
