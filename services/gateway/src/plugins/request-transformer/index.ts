// request-transformer: the request the upstream gets — body (a JSON template), path (regex rewrite), method,
// query and headers — changed through RequestContext's request-change methods. Templates read the request as
// the client sent it (transform/request-input.ts); they are compiled here, once per config.
import {
  compileJsonTemplate,
  parseReplacement,
  requestTemplateOptions,
  TransformRenderError,
  TurnpikeError,
  type JsonTemplate,
  type ReplacementPart,
  type RequestTransformerConfig,
} from '@turnpike/common';
import { deny, type Outcome, type Step } from '../pipeline.js';
import type { RequestContext } from '../request-context.js';
import { applyQueryOps, applyRequestHeaderOps, compileOps, PendingHeaders, type CompiledOps } from '../transform/header-ops.js';
import { isJsonType, RequestInput } from '../transform/request-input.js';
import { serializeQuery } from '../transform/query-string.js';

export interface RequestTransformerPolicy {
  readonly headers: CompiledOps;
  readonly query: CompiledOps;
  readonly path: { readonly re: RegExp; readonly replacement: readonly ReplacementPart[] } | null;
  readonly method: string | null;
  readonly body: JsonTemplate | null;
}

/** Throws TurnpikeError (field paths relative to the config) for what the control plane would refuse. */
export function compileRequestTransformer(cfg: RequestTransformerConfig): RequestTransformerPolicy {
  const opts = requestTemplateOptions(cfg);
  let path: RequestTransformerPolicy['path'] = null;
  if (cfg.path !== null) {
    const re = new RegExp(cfg.path.pattern);
    const replacement = parseReplacement(cfg.path.replacement, opts.captures!);
    if (typeof replacement === 'string') throw new TurnpikeError('TP_ERR_UNPROCESSABLE', replacement, [{ path: '/path/replacement', message: replacement }]);
    path = { re, replacement };
  }
  return {
    headers: compileOps(cfg.headers, opts, '/headers', true),
    query: compileOps(cfg.query, opts, '/query', false),
    path,
    method: cfg.method,
    body: cfg.body_template === null ? null : compileJsonTemplate(cfg.body_template, opts, '/body_template'),
  };
}

/** The received path with the pattern's first match replaced; null when the pattern does not match. */
export function rewrittenPath(path: string, m: RegExpExecArray | null, replacement: readonly ReplacementPart[]): string | null {
  if (m === null) return null;
  let out = path.slice(0, m.index);
  for (const part of replacement) {
    if (typeof part === 'string') out += part;
    else if (typeof part === 'number') out += m[part] ?? '';
    else out += m.groups?.[part.name] ?? '';
  }
  return out + path.slice(m.index + m[0].length);
}

/**
 * The body as a JSON document for the template: undefined when there is none (the template still renders), a
 * marker when it is not JSON (declared otherwise, or does not parse): the body is then left alone.
 */
const NOT_JSON = Symbol('not json');
function documentOf(body: Buffer | null, contentType: string): unknown {
  if (body === null || body.length === 0) return undefined;
  if (contentType !== '' && !isJsonType(contentType)) return NOT_JSON;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return NOT_JSON;
  }
}

function transform(policy: RequestTransformerPolicy, ctx: RequestContext): Outcome {
  const input = new RequestInput(ctx, policy.path === null ? null : policy.path.re);
  const headers = new PendingHeaders(ctx);
  if (policy.body !== null) {
    const contentType = ctx.header('content-type');
    const doc = documentOf(ctx.body, contentType);
    if (doc !== NOT_JSON) {
      input.body = doc;
      ctx.setRequestBody(Buffer.from(policy.body.render(input), 'utf8'));
      if (!isJsonType(contentType)) headers.set('content-type', 'application/json');
    }
  }
  if (policy.path !== null) {
    const p = rewrittenPath(ctx.path, input.pathMatch(), policy.path.replacement);
    if (p !== null) ctx.rewritePath(p);
  }
  if (policy.method !== null) ctx.setMethod(policy.method);
  if (!policy.query.empty) {
    const q = applyQueryOps(policy.query, input.queryParams(), input);
    if (q !== null) ctx.setQuery(serializeQuery(q));
  }
  if (!policy.headers.empty) applyRequestHeaderOps(policy.headers, headers, input);
  headers.flush();
  return null;
}

export function requestTransformerStep(policy: RequestTransformerPolicy): Step<RequestContext> {
  return {
    name: 'request-transformer',
    phase: 'access',
    needsBody: policy.body !== null,
    run(ctx) {
      try {
        return transform(policy, ctx);
      } catch (e) {
        if (!(e instanceof TransformRenderError)) throw e;
        return deny(500, 'TP_ERR_TRANSFORM_FAILED', `request-transformer: ${e.message}`);
      }
    },
  };
}
