// A client for the Lambda Invoke API (synchronous, RequestResponse): POST
// /2015-03-31/functions/{name}/invocations, signed with SigV4, against AWS or a Lambda-compatible endpoint.
// Shared by the custom authorizer and the Lambda integration. A function that ran and failed is a result
// (functionError set, like the SDK's FunctionError); the API refusing or not answering is a LambdaInvokeError
// whose kind tells throttling (429) from the rest.
import { request, type Dispatcher } from 'undici';
import { sign, SigningKeyCache, type AwsCredentials } from './sigv4.js';

export interface LambdaTarget {
  /** Name, partial ARN or full ARN. */
  readonly functionName: string;
  readonly region: string;
  /** Version or alias; null: none sent. */
  readonly qualifier: string | null;
  /** null: https://lambda.<region>.amazonaws.com. */
  readonly endpoint: string | null;
}

export interface InvokeOptions {
  readonly timeoutMs: number;
  /** Longest response payload read (Lambda's own limit for synchronous responses is 6 MB). */
  readonly maxPayloadBytes?: number;
  readonly dispatcher?: Dispatcher;
  /** Signing time (tests); default now. */
  readonly now?: () => Date;
}

export interface InvokeResult {
  readonly status: number;
  /** X-Amz-Function-Error (`Unhandled`, `Handled`): the function threw; the payload is its error object. */
  readonly functionError: string | null;
  readonly payload: Buffer;
  /** X-Amz-Executed-Version, when sent. */
  readonly executedVersion: string | null;
}

/**
 * `throttled`: 429 (TooManyRequestsException, concurrency limits); `aws`: another error answer of the API
 * (unknown function, access denied, service errors); `timeout`: no complete answer within timeoutMs;
 * `network`: the endpoint could not be reached; `too-large`: the response exceeded maxPayloadBytes.
 */
export type LambdaInvokeErrorKind = 'throttled' | 'aws' | 'timeout' | 'network' | 'too-large';

export class LambdaInvokeError extends Error {
  readonly kind: LambdaInvokeErrorKind;
  /** The API's HTTP status; 0 when there was none. */
  readonly status: number;
  /** AWS's error type (`ResourceNotFoundException`…), '' when unknown. */
  readonly awsType: string;

  constructor(kind: LambdaInvokeErrorKind, status: number, awsType: string, message: string) {
    super(message);
    this.name = 'LambdaInvokeError';
    this.kind = kind;
    this.status = status;
    this.awsType = awsType;
  }
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** The gateway node's credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; null when unset. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsCredentials | null {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return null;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || null };
}

export function endpointOf(target: LambdaTarget): URL {
  return new URL(target.endpoint ?? `https://lambda.${target.region}.amazonaws.com`);
}

/** The Invoke API path and query for a target, as sent on the wire. */
export function invocationPath(target: LambdaTarget, base: URL): { path: string; query: string } {
  const prefix = base.pathname.replace(/\/+$/, '');
  return {
    path: `${prefix}/2015-03-31/functions/${encodeURIComponent(target.functionName)}/invocations`,
    query: target.qualifier !== null ? `Qualifier=${encodeURIComponent(target.qualifier)}` : '',
  };
}

/** An invoker bound to one function and one set of credentials (signing keys cached across calls). */
export class LambdaInvoker {
  readonly #target: LambdaTarget;
  readonly #credentials: AwsCredentials;
  readonly #options: InvokeOptions;
  readonly #base: URL;
  readonly #path: string;
  readonly #query: string;
  readonly #keys = new SigningKeyCache();

  constructor(target: LambdaTarget, credentials: AwsCredentials, options: InvokeOptions) {
    this.#target = target;
    this.#credentials = credentials;
    this.#options = options;
    this.#base = endpointOf(target);
    const { path, query } = invocationPath(target, this.#base);
    this.#path = path;
    this.#query = query;
  }

  /** Invokes the function with `payload` (JSON text or bytes). Rejects with LambdaInvokeError only. */
  async invoke(payload: Buffer | string): Promise<InvokeResult> {
    const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    const headers = sign(
      {
        method: 'POST',
        path: this.#path,
        query: this.#query,
        headers: {
          host: this.#base.host,
          'content-type': 'application/json',
          'x-amz-invocation-type': 'RequestResponse',
          'x-amz-log-type': 'None',
        },
        body,
      },
      { region: this.#target.region, service: 'lambda', credentials: this.#credentials, at: this.#options.now?.() ?? new Date(), keys: this.#keys },
    );
    // undici sets Host itself from the origin (the same value); sending it twice would be an error.
    delete headers.host;
    const limit = this.#options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const signal = AbortSignal.timeout(this.#options.timeoutMs);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(new URL(this.#path + (this.#query ? `?${this.#query}` : ''), this.#base.origin), {
        method: 'POST',
        headers,
        body,
        signal,
        ...(this.#options.dispatcher ? { dispatcher: this.#options.dispatcher } : {}),
      });
    } catch (e) {
      throw transportError(e, signal);
    }
    let data: Buffer;
    try {
      data = await readLimited(res.body, limit);
    } catch (e) {
      if (e instanceof LambdaInvokeError) throw e;
      throw transportError(e, signal);
    }
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      return { status, functionError: headerOf(res.headers, 'x-amz-function-error'), payload: data, executedVersion: headerOf(res.headers, 'x-amz-executed-version') };
    }
    const { type, message } = awsErrorOf(res.headers, data);
    throw new LambdaInvokeError(status === 429 ? 'throttled' : 'aws', status, type, `Lambda Invoke answered ${status}${type ? ` ${type}` : ''}${message ? `: ${message}` : ''}`);
  }
}

function headerOf(headers: Dispatcher.ResponseData['headers'], name: string): string | null {
  const v = headers[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new LambdaInvokeError('too-large', 0, '', `the Lambda response is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function transportError(e: unknown, signal: AbortSignal): LambdaInvokeError {
  if (signal.aborted) return new LambdaInvokeError('timeout', 0, '', 'the Lambda Invoke API did not answer in time');
  const code = (e as { code?: unknown }).code;
  return new LambdaInvokeError('network', 0, '', `the Lambda Invoke API is unreachable${typeof code === 'string' ? ` (${code})` : ''}`);
}

/** AWS's JSON error: X-Amzn-ErrorType (`Type:http://…` trimmed) or `__type`/`Type`, and `message`/`Message`. */
function awsErrorOf(headers: Dispatcher.ResponseData['headers'], data: Buffer): { type: string; message: string } {
  let type = (headerOf(headers, 'x-amzn-errortype') ?? '').split(':')[0]!;
  let message = '';
  try {
    const j = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    if (type === '') type = String(j.__type ?? j.Type ?? '').split('#').pop()!;
    message = String(j.message ?? j.Message ?? '');
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  return { type: type.slice(0, 128), message: message.slice(0, 256) };
}
