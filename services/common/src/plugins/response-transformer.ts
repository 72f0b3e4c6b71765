// response-transformer: changes the upstream's response before the client gets it — headers (remove, rename,
// replace, add), the status (exact codes, ranges, classes), and a JSON body mapped by a template (the response
// body is `body` / `$`; request data and `response.status`/`response.header.x` are readable). Answers the
// gateway makes itself (errors, mocks, preflights) are not transformed.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { jsonTemplateProblems, type TransformTemplateOptions } from '../transform-template/index.js';
import { HeaderOps, headerOpsProblems } from './transform-ops.js';
import type { PluginType } from './types.js';

/** `404`, a range `500-599`, or a class `5xx`. */
export const STATUS_KEY_PATTERN = '^(?:[1-5][0-9]{2}|[1-5]xx|[1-5][0-9]{2}-[1-5][0-9]{2})$';

export const ResponseTransformerConfig = Type.Object(
  {
    headers: HeaderOps,
    /**
     * Upstream status → the status the client gets. An exact code wins over a range, a range over a class;
     * ranges may not overlap each other.
     */
    status: Type.Record(Type.String({ pattern: STATUS_KEY_PATTERN }), Type.Integer({ minimum: 200, maximum: 599 }), { maxProperties: 64, additionalProperties: false, default: {} }),
    /** A JSON template for the body the client gets; null leaves it. A non-JSON (or compressed) body passes unchanged. */
    body_template: Type.Unknown({ default: null }),
  },
  { additionalProperties: false },
);
export type ResponseTransformerConfig = Static<typeof ResponseTransformerConfig>;

export const RESPONSE_TEMPLATE_OPTIONS: TransformTemplateOptions = Object.freeze({ kind: 'response', captures: null });

/** A status key as the inclusive range it covers. */
export function statusKeyRange(key: string): [number, number] {
  if (key.endsWith('xx')) {
    const c = Number(key[0]) * 100;
    return [c, c + 99];
  }
  const dash = key.indexOf('-');
  return dash < 0 ? [Number(key), Number(key)] : [Number(key.slice(0, dash)), Number(key.slice(dash + 1))];
}

export function responseTransformerProblems(cfg: ResponseTransformerConfig): FieldError[] {
  const out: FieldError[] = [];
  const ranges: [string, number, number][] = [];
  for (const [key, to] of Object.entries(cfg.status)) {
    // The upstream's body would be sent with a status that forbids one (RFC 9110 §15.3.5, §15.4.5).
    if (to === 204 || to === 205 || to === 304) out.push({ path: `/status/${key}`, message: `${to} cannot carry the upstream's body; map to a status that allows one` });
    if (!key.includes('-')) continue;
    const [lo, hi] = statusKeyRange(key);
    if (lo > hi) out.push({ path: `/status/${key}`, message: `range ${key} ends before it starts` });
    else {
      const clash = ranges.find(([, l, h]) => lo <= h && l <= hi);
      if (clash) out.push({ path: `/status/${key}`, message: `range ${key} overlaps ${clash[0]}` });
      ranges.push([key, lo, hi]);
    }
  }
  out.push(...headerOpsProblems(cfg.headers, RESPONSE_TEMPLATE_OPTIONS, '/headers'));
  if (cfg.body_template !== null) out.push(...jsonTemplateProblems(cfg.body_template, RESPONSE_TEMPLATE_OPTIONS, '/body_template'));
  return out;
}

export const responseTransformerPlugin: PluginType<typeof ResponseTransformerConfig> = {
  name: 'response-transformer',
  description:
    "Changes the upstream's response before the client gets it: headers (remove, rename, replace, add), the status code (exact, range or class mapping), and a JSON body mapped by a template.",
  config: ResponseTransformerConfig,
  scopes: ['global', 'service', 'route'],
  phase: 'access',
  problems: responseTransformerProblems,
};
