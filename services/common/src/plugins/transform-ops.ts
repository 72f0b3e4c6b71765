// The header and query operations request-transformer and response-transformer share (named as in Kong):
// remove, then rename, then replace (only when present), then add (only when absent). Values are text
// templates (transform-template) checked here, at write time.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { textTemplateProblems, type TransformTemplateOptions } from '../transform-template/index.js';

const HEADER_NAME = "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$";
const HeaderName = Type.String({ pattern: HEADER_NAME });
// A decoded query parameter name: anything but the separators a raw query gives meaning to.
const QUERY_NAME = '^[^&=#]{1,256}$';
const QueryName = Type.String({ pattern: QUERY_NAME });
const Value = Type.String({ maxLength: 4096 });
const MAX_OPS = 64;

function ops(name: ReturnType<typeof Type.String>, pattern: string, what: string) {
  return Type.Object(
    {
      /** Dropped. */
      remove: Type.Array(name, { maxItems: MAX_OPS, uniqueItems: true, default: [], description: `${what} names to drop` }),
      /** old name → new name (the value kept). */
      rename: Type.Record(Type.String({ pattern }), name, { maxProperties: MAX_OPS, additionalProperties: false, default: {}, description: `old ${what} name → new name` }),
      /** name → value template, applied only when the name is present. */
      replace: Type.Record(Type.String({ pattern }), Value, { maxProperties: MAX_OPS, additionalProperties: false, default: {}, description: `${what} name → new value (template), when present` }),
      /** name → value template, applied only when the name is absent. */
      add: Type.Record(Type.String({ pattern }), Value, { maxProperties: MAX_OPS, additionalProperties: false, default: {}, description: `${what} name → value (template), when absent` }),
    },
    { additionalProperties: false, default: {} },
  );
}

export const HeaderOps = ops(HeaderName, HEADER_NAME, 'header');
export type HeaderOps = Static<typeof HeaderOps>;
export const QueryOps = ops(QueryName, QUERY_NAME, 'query parameter');
export type QueryOps = Static<typeof QueryOps>;

/**
 * Headers a transformer may not touch: they frame the message or the connection (RFC 9110 §7.6.1), and the
 * proxy sets them itself.
 */
export const FRAMING_HEADERS: readonly string[] = ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection'];

/** Header and query values do not read the body: a response's head is changed before its body arrives. */
export function valueTemplateOptions(opts: TransformTemplateOptions): TransformTemplateOptions {
  return { ...opts, body: false };
}

function esc(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Framing headers named anywhere, and bad value templates; paths under `base` (`/headers`). */
export function headerOpsProblems(h: HeaderOps, templateOpts: TransformTemplateOptions, base: string): FieldError[] {
  const out: FieldError[] = [];
  const opts = valueTemplateOptions(templateOpts);
  const framing = (name: string, path: string) => {
    if (FRAMING_HEADERS.includes(name.toLowerCase())) out.push({ path, message: `${name.toLowerCase()} frames the message and is set by the gateway; it cannot be transformed` });
  };
  h.remove.forEach((n, i) => framing(n, `${base}/remove/${i}`));
  for (const [from, to] of Object.entries(h.rename)) {
    framing(from, `${base}/rename/${esc(from)}`);
    framing(to, `${base}/rename/${esc(from)}`);
  }
  for (const op of ['replace', 'add'] as const) {
    for (const [name, value] of Object.entries(h[op])) {
      const path = `${base}/${op}/${esc(name)}`;
      framing(name, path);
      out.push(...textTemplateProblems(value, opts, path));
    }
  }
  return out;
}

/** Bad value templates; paths under `base` (`/query`). */
export function queryOpsProblems(q: QueryOps, templateOpts: TransformTemplateOptions, base: string): FieldError[] {
  const out: FieldError[] = [];
  const opts = valueTemplateOptions(templateOpts);
  for (const op of ['replace', 'add'] as const) {
    for (const [name, value] of Object.entries(q[op])) out.push(...textTemplateProblems(value, opts, `${base}/${op}/${esc(name)}`));
  }
  return out;
}
