// A service's `lambda` integration, compiled off the hot path (config/routing.ts), and one call of it: the
// request as an event (event.ts), the Invoke API call (invocation.ts), the function's answer as a response
// (response.ts) written to the proxy's exchange through the IntegrationSink like an upstream's.
import { errorBody, httpStatusFor, type ErrorCode } from '@turnpike/common';
import type { IntegrationSink } from '../sink.js';
import { compileBinaryMediaTypes, eventV1, eventV2Json, type BinaryMediaTypes, type LambdaRequest } from './event.js';
import { credentialsFromEnv, type InvokeResult, type LambdaInvokeError, type LambdaTarget } from './invoke.js';
import { LambdaClient, type InvokeDispatcher } from './invocation.js';
import { MalformedResponse, responseV1, responseV2 } from './response.js';
import type { AwsCredentials } from './sigv4.js';
import { NO_ENV_CREDENTIALS } from './credentials.js';

/** The integration as stored (services/common LambdaIntegration, defaults filled in by the control plane). */
export interface LambdaIntegrationConfig {
  readonly function_name: string;
  readonly region: string;
  readonly qualifier?: string | undefined;
  readonly payload_format?: '1.0' | '2.0' | undefined;
  readonly invocation_type?: 'RequestResponse' | 'Event' | undefined;
  readonly endpoint_url?: string | undefined;
  readonly timeout_ms: number;
  readonly binary_media_types?: readonly string[] | undefined;
}

/** Lambda's limit for a synchronous request payload: a larger event is refused before it is sent. */
const MAX_EVENT_BYTES = 6 * 1024 * 1024;
/** Throttling carries no Retry-After from Lambda: clients are told to wait this long. */
const THROTTLE_RETRY_AFTER_S = '1';
const JSON_HEADERS = ['content-type', 'application/json'];
const EMPTY = Buffer.alloc(0);

export class CompiledLambda {
  readonly format: '1.0' | '2.0';
  readonly asynchronous: boolean;
  readonly binaryTypes: BinaryMediaTypes | null;
  /** null: this node has no AWS credentials (every call answers 502 TP_ERR_LAMBDA_CREDENTIALS_MISSING). */
  readonly client: LambdaClient | null;

  /** Why `client` is null: the calls' 502 message. */
  readonly missing: string;

  constructor(cfg: LambdaIntegrationConfig, dispatcher: InvokeDispatcher, credentials: AwsCredentials | null, missing: string = NO_ENV_CREDENTIALS) {
    this.missing = missing;
    this.format = cfg.payload_format ?? '2.0';
    this.asynchronous = cfg.invocation_type === 'Event';
    this.binaryTypes = compileBinaryMediaTypes(cfg.binary_media_types);
    const target = targetOf(cfg);
    this.client =
      credentials === null ? null : new LambdaClient(target, credentials, { timeoutMs: cfg.timeout_ms, invocationType: this.asynchronous ? 'Event' : 'RequestResponse' }, dispatcher);
  }

  /** Answers `req` through `sink`: exactly one of the sink's onComplete / onError, unless the sink aborts first. */
  handle(req: LambdaRequest, sink: IntegrationSink): void {
    const client = this.client;
    if (client === null) {
      return answerError(sink, req.requestId, 'TP_ERR_LAMBDA_CREDENTIALS_MISSING', this.missing, null);
    }
    // The event's JSON text goes out as it is: the signer hashes it and the client writes it (no Buffer copy).
    const payload = this.format === '1.0' ? JSON.stringify(eventV1(req, this.binaryTypes)) : eventV2Json(req);
    // A UTF-16 code unit is at most 3 UTF-8 bytes: only a long event needs its size counted here.
    if (payload.length > MAX_EVENT_BYTES / 3 && Buffer.byteLength(payload, 'utf8') > MAX_EVENT_BYTES) {
      return answerError(sink, req.requestId, 'TP_ERR_BODY_TOO_LARGE', `the function's event would exceed Lambda's ${MAX_EVENT_BYTES} byte payload limit`, null);
    }
    const call = new LambdaCall(this, req.requestId, sink);
    sink.onConnect(call.abort);
    if (call.gone) return;
    call.cancel = client.send(payload, call.done);
  }
}

/** The integration's invoke target: a function_name ARN with `:qualifier` keeps it there (the API accepts both). */
export function targetOf(cfg: LambdaIntegrationConfig): LambdaTarget {
  return { functionName: cfg.function_name, region: cfg.region, qualifier: cfg.qualifier ?? null, endpoint: cfg.endpoint_url ?? null };
}

/** The node's own credentials for lambda integrations (those without stored ones, see credentials.ts): the environment's (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN). */
export function nodeCredentials(env: NodeJS.ProcessEnv = process.env): AwsCredentials | null {
  return credentialsFromEnv(env);
}

/** One call in flight: the sink's abort cancels the invocation; the invocation's end answers the sink. */
class LambdaCall {
  gone = false;
  cancel: (() => void) | null = null;

  constructor(
    readonly lambda: CompiledLambda,
    readonly requestId: string,
    readonly sink: IntegrationSink,
  ) {}

  abort = (): void => {
    if (this.gone) return;
    this.gone = true;
    this.cancel?.();
    this.sink.onError(new Error('client closed the connection'));
  };

  done = (error: LambdaInvokeError | null, result: InvokeResult | null, retryAfter: string | null): void => {
    if (this.gone) return;
    this.gone = true;
    if (error !== null) return invokeFailed(this.sink, this.requestId, error, retryAfter);
    const r = result!;
    if (r.functionError !== null) {
      return answerError(this.sink, this.requestId, 'TP_ERR_LAMBDA_FUNCTION_ERROR', `the function failed (${r.functionError}): ${functionErrorMessage(r.payload)}`, null);
    }
    if (this.lambda.asynchronous) return answer(this.sink, 202, [], EMPTY);
    const parsed = this.lambda.format === '1.0' ? responseV1(r.payload) : responseV2(r.payload);
    if (parsed instanceof MalformedResponse) {
      return answerError(this.sink, this.requestId, 'TP_ERR_LAMBDA_BAD_RESPONSE', `malformed Lambda proxy response: ${parsed.reason}`, null);
    }
    answer(this.sink, parsed.status, parsed.headers, parsed.body);
  };
}

/** The function's own error object (`errorType`, `errorMessage`), shortened for the client's message. */
function functionErrorMessage(payload: Buffer): string {
  try {
    const e = JSON.parse(payload.toString('utf8')) as { errorType?: unknown; errorMessage?: unknown };
    const type = typeof e.errorType === 'string' ? e.errorType : 'Error';
    const msg = typeof e.errorMessage === 'string' ? e.errorMessage : '';
    return `${type}${msg ? `: ${msg}` : ''}`.slice(0, 300);
  } catch {
    return 'no error details';
  }
}

function invokeFailed(sink: IntegrationSink, requestId: string, e: LambdaInvokeError, retryAfter: string | null): void {
  switch (e.kind) {
    case 'throttled':
      return answerError(sink, requestId, 'TP_ERR_LAMBDA_THROTTLED', 'the function is throttled (TooManyRequestsException); retry later', ['retry-after', retryAfter !== null && /^\d{1,6}$/.test(retryAfter) ? retryAfter : THROTTLE_RETRY_AFTER_S]);
    case 'timeout':
      return answerError(sink, requestId, 'TP_ERR_LAMBDA_TIMEOUT', 'the function did not answer within the integration timeout', null);
    case 'network':
      return answerError(sink, requestId, 'TP_ERR_LAMBDA_UNREACHABLE', e.message, null);
    case 'too-large':
      return answerError(sink, requestId, 'TP_ERR_LAMBDA_BAD_RESPONSE', e.message, null);
    case 'aws':
      return answerError(sink, requestId, 'TP_ERR_LAMBDA_INVOKE_FAILED', e.message, null);
  }
}

function answer(sink: IntegrationSink, status: number, headers: string[], body: Buffer): void {
  if (body.length === 0 && !hasContentLength(headers)) headers.push('content-length', '0');
  sink.onHeaders(status, headers, noop, '');
  if (body.length > 0) sink.onData(body);
  sink.onComplete(null);
}

function hasContentLength(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length') return true;
  return false;
}

/** A gateway error in the usual JSON shape, answered as the response (response plugins and the call record see it). */
function answerError(sink: IntegrationSink, requestId: string, code: ErrorCode, message: string, extra: readonly string[] | null): void {
  sink.setErrorCode(code);
  const body = Buffer.from(JSON.stringify(errorBody(code, message, requestId)), 'utf8');
  const headers = [...JSON_HEADERS, 'content-length', String(body.length)];
  if (extra !== null) headers.push(...extra);
  answer(sink, httpStatusFor(code), headers, body);
}

function noop(): void {}
