// call-capture (plugin): puts the route's request/response headers and bodies, redacted and capped, into
// the call record's `captured` column (JSON). The request part is recorded when the step runs (so a request
// a later step refuses still has it); the response part is added by a response hook as the body streams.
import type { CallCaptureConfig } from '@turnpike/common';
import type { Step } from '../pipeline.js';
import type { RequestContext, ResponseHead } from '../request-context.js';
import { captureBody, capturedHeaders, compileJsonRedaction, headerRedactor, type JsonRedaction } from './redact.js';

export interface CallCapturePolicy {
  readonly requestHeaders: boolean;
  readonly responseHeaders: boolean;
  readonly requestBody: boolean;
  readonly responseBody: boolean;
  readonly maxBodyBytes: number;
  /** Lower-case header names redacted (built-in ones included). */
  readonly redactHeaders: ReadonlySet<string>;
  readonly json: JsonRedaction;
}

/** The CallRecord `captured` JSON (absent parts were not captured). */
export interface CapturedExchange {
  request_headers?: Record<string, string>;
  request_body?: string;
  request_body_truncated?: boolean;
  request_body_bytes?: number;
  response_status?: number;
  response_headers?: Record<string, string>;
  response_body?: string;
  response_body_truncated?: boolean;
  response_body_bytes?: number;
  /** The response body did not arrive whole (upstream failed, client left). */
  response_incomplete?: boolean;
}

export function compileCallCapture(cfg: CallCaptureConfig): CallCapturePolicy {
  return {
    requestHeaders: cfg.request_headers === true,
    responseHeaders: cfg.response_headers === true,
    requestBody: cfg.request_body === true,
    responseBody: cfg.response_body === true,
    maxBodyBytes: cfg.max_body_bytes ?? 4096,
    redactHeaders: headerRedactor(cfg.redact_headers ?? []),
    json: compileJsonRedaction(cfg.redact_json_fields ?? []),
  };
}

/** The policy with more header names redacted (the route's key-auth / jwt-auth credential headers). */
export function withRedactedHeaders(policy: CallCapturePolicy, names: readonly string[]): CallCapturePolicy {
  if (names.every((n) => policy.redactHeaders.has(n.toLowerCase()))) return policy;
  const set = new Set(policy.redactHeaders);
  for (const n of names) set.add(n.toLowerCase());
  return { ...policy, redactHeaders: set };
}

export function callCaptureStep(policy: CallCapturePolicy): Step<RequestContext> {
  return {
    name: 'call-capture',
    phase: 'pre-auth',
    // The body is buffered only when it is to be captured.
    needsBody: policy.requestBody,
    run(ctx) {
      if (ctx.recordCapture === undefined) return null;
      const c: CapturedExchange = {};
      if (policy.requestHeaders) c.request_headers = capturedHeaders(ctx.received, policy.redactHeaders);
      if (policy.requestBody) {
        const body = ctx.body;
        if (body !== null) {
          const b = captureBody(body.subarray(0, policy.maxBodyBytes), body.length, policy.maxBodyBytes, ctx.header('content-type'), policy.json);
          c.request_body = b.body;
          c.request_body_truncated = b.truncated;
          c.request_body_bytes = b.bytes;
        }
      }
      ctx.recordCapture(JSON.stringify(c));
      if (policy.responseHeaders || policy.responseBody) ctx.onResponse(new ResponseCapture(policy, ctx, c));
      return null;
    },
  };
}

/** A response hook: the head at once, the body's first max bytes as it streams, recorded at the end. */
class ResponseCapture {
  #head: ResponseHead | null = null;
  #chunks: Buffer[] = [];
  #kept = 0;
  #total = 0;
  readonly tap: { chunk(chunk: Buffer): void; end(complete: boolean): void };

  constructor(
    readonly policy: CallCapturePolicy,
    readonly ctx: RequestContext,
    readonly captured: CapturedExchange,
  ) {
    this.tap = { chunk: (b) => this.chunk(b), end: (complete) => this.end(complete) };
  }

  head(head: ResponseHead): void {
    this.#head = head;
  }

  chunk(b: Buffer): void {
    this.#total += b.length;
    if (!this.policy.responseBody || this.#kept >= this.policy.maxBodyBytes) return;
    const part = b.subarray(0, this.policy.maxBodyBytes - this.#kept);
    // The upstream client may reuse its buffer: keep a copy.
    this.#chunks.push(Buffer.from(part));
    this.#kept += part.length;
  }

  end(complete: boolean): void {
    const c = this.captured;
    const head = this.#head;
    if (head !== null) {
      c.response_status = head.status;
      if (this.policy.responseHeaders) c.response_headers = capturedHeaders(head.headers, this.policy.redactHeaders);
    }
    if (this.policy.responseBody) {
      const ct = head === null ? '' : headerOf(head.headers, 'content-type');
      const b = captureBody(Buffer.concat(this.#chunks), this.#total, this.policy.maxBodyBytes, ct, this.policy.json);
      c.response_body = b.body;
      c.response_body_truncated = b.truncated;
      c.response_body_bytes = b.bytes;
    }
    if (!complete) c.response_incomplete = true;
    this.#chunks = [];
    this.ctx.recordCapture!(JSON.stringify(c));
  }
}

function headerOf(pairs: readonly string[], name: string): string {
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === name) return pairs[i + 1]!;
  return '';
}
