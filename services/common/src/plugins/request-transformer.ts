// request-transformer: changes the request the upstream gets — headers and query parameters (remove, rename,
// replace, add), the path (a regex with captures), the method, and a JSON body mapped by a template. Values
// are transform templates reading the request as received (transform-template). Runs after access checks.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { MAX_ROUTE_REGEX_LENGTH, routeRegexProblem } from '../schemas/route-rules.js';
import { jsonTemplateProblems, type PathCaptures, type TransformTemplateOptions } from '../transform-template/index.js';
import { HeaderOps, QueryOps, headerOpsProblems, queryOpsProblems } from './transform-ops.js';
import type { PluginType } from './types.js';

export const RequestTransformerConfig = Type.Object(
  {
    headers: HeaderOps,
    query: QueryOps,
    /** Rewrites the path the upstream gets: the first match of `pattern` is replaced; no match leaves it. */
    path: Type.Union(
      [
        Type.Null(),
        Type.Object(
          {
            /** A JS regular expression over the path as received (percent-encoded, without the query). */
            pattern: Type.String({ minLength: 1, maxLength: MAX_ROUTE_REGEX_LENGTH }),
            /** What replaces the match: `$1`, `$<name>` insert captures, `$$` a dollar sign. */
            replacement: Type.String({ maxLength: 2048 }),
          },
          { additionalProperties: false },
        ),
      ],
      { default: null },
    ),
    /** The method the upstream gets (upper-case); null keeps the client's. */
    method: Type.Union([Type.Null(), Type.String({ pattern: '^[A-Z]{1,16}$' })], { default: null }),
    /**
     * A JSON template for the body the upstream gets (the request body is `body` / `$`); null leaves the body
     * alone. A non-JSON body is passed on unchanged.
     */
    body_template: Type.Unknown({ default: null }),
  },
  { additionalProperties: false },
);
export type RequestTransformerConfig = Static<typeof RequestTransformerConfig>;

/** The capture groups of a path pattern; null when it does not compile. */
export function pathCaptures(pattern: string): PathCaptures | null {
  try {
    // Matching the empty alternative gives an array with one slot per group, and `groups` with every name.
    const m = new RegExp(`${pattern}|`).exec('')!;
    return { count: m.length - 1, names: Object.keys(m.groups ?? {}) };
  } catch {
    return null;
  }
}

/** A piece of a path replacement: literal text, a capture by number, or a capture by name. */
export type ReplacementPart = string | number | { name: string };

/**
 * Parses a replacement (`/api/$1`, `/users/$<id>`, `$$`); a two-digit `$12` means group 12 only when the
 * pattern has that many (else group 1 then "2"), as String.prototype.replace reads it. Returns a problem
 * message instead when it names a group the pattern lacks or has a stray `$`.
 */
export function parseReplacement(text: string, captures: PathCaptures): ReplacementPart[] | string {
  const parts: ReplacementPart[] = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '$') {
      literal += c;
      continue;
    }
    const next = text[i + 1] ?? '';
    let part: ReplacementPart;
    if (next === '$') {
      literal += '$';
      i++;
      continue;
    } else if (/\d/.test(next)) {
      const two = /\d/.test(text[i + 2] ?? '') ? Number(text.slice(i + 1, i + 3)) : NaN;
      if (two >= 1 && two <= captures.count) {
        part = two;
        i += 2;
      } else {
        const one = Number(next);
        if (one < 1 || one > captures.count) return `$${next} (at character ${i + 1}): the pattern has ${captures.count} capture group(s)`;
        part = one;
        i += 1;
      }
    } else if (next === '<') {
      const close = text.indexOf('>', i + 2);
      const name = close < 0 ? '' : text.slice(i + 2, close);
      if (!captures.names.includes(name)) return `$<${name}> (at character ${i + 1}): the pattern has no capture group named ${JSON.stringify(name)}`;
      part = { name };
      i = close;
    } else return `"$" (at character ${i + 1}) must start $1, $<name> or $$`;
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(part);
  }
  if (literal !== '') parts.push(literal);
  return parts;
}

/** The template options of this config's templates: request data, with the path pattern's captures. */
export function requestTemplateOptions(cfg: RequestTransformerConfig): TransformTemplateOptions {
  return { kind: 'request', captures: cfg.path === null ? null : (pathCaptures(cfg.path.pattern) ?? { count: 0, names: [] }) };
}

export function requestTransformerProblems(cfg: RequestTransformerConfig): FieldError[] {
  const out: FieldError[] = [];
  if (cfg.path !== null) {
    const p = routeRegexProblem(cfg.path.pattern);
    if (p) out.push({ path: '/path/pattern', message: p });
    else {
      const r = parseReplacement(cfg.path.replacement, pathCaptures(cfg.path.pattern)!);
      if (typeof r === 'string') out.push({ path: '/path/replacement', message: r });
    }
  }
  const opts = requestTemplateOptions(cfg);
  out.push(...headerOpsProblems(cfg.headers, opts, '/headers'), ...queryOpsProblems(cfg.query, opts, '/query'));
  if (cfg.body_template !== null) out.push(...jsonTemplateProblems(cfg.body_template, opts, '/body_template'));
  return out;
}

export const requestTransformerPlugin: PluginType<typeof RequestTransformerConfig> = {
  name: 'request-transformer',
  description:
    'Changes the request the upstream gets: headers and query parameters (remove, rename, replace, add), a path rewrite by regex with captures, the method, and a JSON body mapped by a template.',
  config: RequestTransformerConfig,
  scopes: ['global', 'service', 'route'],
  phase: 'access',
  problems: requestTransformerProblems,
};
