// response-transformer: registers a response hook (RequestContext.onResponse) that changes the upstream's
// head — headers, then the status mapping — and, with a body template, maps a JSON body before the client
// gets it. Templates see the response as the upstream sent it and the request as the client sent it.
import {
  compileJsonTemplate,
  errorBody,
  RESPONSE_TEMPLATE_OPTIONS,
  statusKeyRange,
  TransformRenderError,
  type JsonTemplate,
  type ResponseTransformerConfig,
} from '@turnpike/common';
import type { Step } from '../pipeline.js';
import type { RequestContext, ResponseHead, ResponseHook } from '../request-context.js';
import { applyResponseHeaderOps, compileOps, type CompiledOps } from '../transform/header-ops.js';
import { isJsonType, RequestInput } from '../transform/request-input.js';

export interface ResponseTransformerPolicy {
  readonly headers: CompiledOps;
  /** Upstream status → client status; null: no mapping. */
  readonly status: ((status: number) => number) | null;
  readonly body: JsonTemplate | null;
}

/** Exact codes first, then ranges, then classes (`5xx`). */
export function compileStatusMap(map: Readonly<Record<string, number>>): ((status: number) => number) | null {
  const exact = new Map<number, number>();
  const ranges: [number, number, number][] = [];
  const classes = new Map<number, number>();
  for (const [key, to] of Object.entries(map)) {
    if (key.endsWith('xx')) classes.set(Number(key[0]), to);
    else if (key.includes('-')) ranges.push([...statusKeyRange(key), to]);
    else exact.set(Number(key), to);
  }
  if (exact.size + ranges.length + classes.size === 0) return null;
  return (status) => {
    const e = exact.get(status);
    if (e !== undefined) return e;
    for (const [lo, hi, to] of ranges) if (status >= lo && status <= hi) return to;
    return classes.get(Math.floor(status / 100)) ?? status;
  };
}

export function compileResponseTransformer(cfg: ResponseTransformerConfig): ResponseTransformerPolicy {
  return {
    headers: compileOps(cfg.headers, RESPONSE_TEMPLATE_OPTIONS, '/headers', true),
    status: compileStatusMap(cfg.status),
    body: cfg.body_template === null ? null : compileJsonTemplate(cfg.body_template, RESPONSE_TEMPLATE_OPTIONS, '/body_template'),
  };
}

function headerOf(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** One request's hook: the upstream's head as received is kept for the templates and the body check. */
class ResponseInput extends RequestInput {
  status = 0;
  received: readonly string[] = [];
  override responseStatus(): number {
    return this.status;
  }
  override responseHeader(name: string): string | undefined {
    return headerOf(this.received, name);
  }
}

function mapHead(policy: ResponseTransformerPolicy, input: ResponseInput, head: ResponseHead): void {
  input.status = head.status;
  input.received = head.headers.slice();
  if (!policy.headers.empty) {
    try {
      head.headers = applyResponseHeaderOps(policy.headers, head.headers.slice(), input);
    } catch (e) {
      // A value past its bound (request data only, so hardly reachable): the headers stay as they came,
      // and the call log says why.
      if (!(e instanceof TransformRenderError)) throw e;
      input.ctx.note('TP_ERR_TRANSFORM_FAILED', `response-transformer headers: ${e.message}`);
    }
  }
  if (policy.status !== null) head.status = policy.status(head.status);
}

/** Replaces a header's value (or adds it) in a flat list. */
function setHeader(headers: string[], name: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== name) out.push(headers[i]!, headers[i + 1]!);
  out.push(name, value);
  return out;
}

function mapBody(template: JsonTemplate, input: ResponseInput, body: Buffer, head: ResponseHead): Buffer {
  // A body the template cannot read passes unchanged: not JSON, or still encoded (gzip …).
  const encoding = headerOf(input.received, 'content-encoding');
  if (body.length === 0 || !isJsonType(headerOf(input.received, 'content-type') ?? '') || (encoding !== undefined && encoding !== 'identity')) return body;
  try {
    input.body = JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return body;
  }
  try {
    return Buffer.from(template.render(input), 'utf8');
  } catch (e) {
    if (!(e instanceof TransformRenderError)) throw e;
    head.status = 502;
    head.headers = setHeader(head.headers, 'content-type', 'application/json');
    // The request id is in the X-Request-Id header the gateway adds to every answer.
    return Buffer.from(JSON.stringify(errorBody('TP_ERR_TRANSFORM_FAILED', `response-transformer: ${e.message}`, input.ctx.requestId)), 'utf8');
  }
}

export function responseTransformerStep(policy: ResponseTransformerPolicy): Step<RequestContext> {
  const template = policy.body;
  return {
    name: 'response-transformer',
    phase: 'access',
    needsBody: false,
    run(ctx) {
      const input = new ResponseInput(ctx, null);
      const hook: ResponseHook = { head: (head) => mapHead(policy, input, head) };
      // A HEAD response has no body to map: buffering one would only lose the upstream's Content-Length.
      if (template !== null && ctx.method !== 'HEAD') {
        hook.body = (body, head) => mapBody(template, input, body, head);
        // An encoded body could not be mapped: ask the upstream for the identity encoding.
        ctx.setRequestHeader('accept-encoding', '');
      }
      ctx.onResponse(hook);
      return null;
    },
  };
}
