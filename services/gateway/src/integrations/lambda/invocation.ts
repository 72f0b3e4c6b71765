// One Lambda Invoke API call on the request path: the same wire exchange as invoke.ts (SigV4-signed POST to
// /2015-03-31/functions/{name}/invocations), but dispatched with callbacks on a pooled Dispatcher (the node's
// h1 client for http endpoints, undici for https) instead of undici.request's promise and stream machinery,
// and timed by the dispatcher's own deadlines rather than a timer per call.
import type { Dispatcher } from 'undici';
import { FixedRequestSigner, type AwsCredentials } from './sigv4.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, endpointOf, invocationPath, LambdaInvokeError, type InvokeResult, type LambdaTarget } from './invoke.js';

export type InvocationType = 'RequestResponse' | 'Event';

/** What one call ends with: exactly one of `result` (an answer of the API, a function error included) or `error`. */
export type InvocationDone = (error: LambdaInvokeError | null, result: InvokeResult | null, retryAfter: string | null) => void;

export interface LambdaClientOptions {
  readonly timeoutMs: number;
  readonly invocationType: InvocationType;
  readonly maxPayloadBytes?: number;
  /** Signing time (tests); default now. */
  readonly now?: () => Date;
}

/** A dispatcher-shaped pool (undici Pool, upstream/h1-client.ts H1Pool): dispatch(options, handler). */
export interface InvokeDispatcher {
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
}

/** Invokes one function with one set of credentials; the signing key is cached across calls. */
export class LambdaClient {
  readonly #options: LambdaClientOptions;
  readonly #dispatcher: InvokeDispatcher;
  readonly #requestPath: string;
  readonly #signer: FixedRequestSigner;

  constructor(target: LambdaTarget, credentials: AwsCredentials, options: LambdaClientOptions, dispatcher: InvokeDispatcher) {
    this.#options = options;
    this.#dispatcher = dispatcher;
    const base = endpointOf(target);
    const { path, query } = invocationPath(target, base);
    this.#requestPath = query === '' ? path : `${path}?${query}`;
    // Every call of this client is the same request but for its body and time: signed from a prepared form.
    this.#signer = new FixedRequestSigner(
      { method: 'POST', path, query, headers: { host: base.host, 'content-type': 'application/json', 'x-amz-invocation-type': options.invocationType } },
      { region: target.region, service: 'lambda', credentials },
    );
  }

  /** The Dispatcher origin this client sends to (`https://lambda.<region>.amazonaws.com` or endpoint_url's). */
  static originOf(target: LambdaTarget): string {
    return endpointOf(target).origin;
  }

  /**
   * Sends `payload` (the event's JSON: text is sent as UTF-8) and calls `done` once. Returns a function that
   * abandons the call (the client went away); `done` is then not called.
   */
  send(payload: Buffer | string, done: InvocationDone): () => void {
    // Content-Length is not signed: both dispatchers frame the body themselves.
    const headers = this.#signer.sign(payload, this.#options.now?.().getTime() ?? Date.now());
    const call = new Invocation(done, this.#options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
    const timeoutMs = this.#options.timeoutMs;
    try {
      this.#dispatcher.dispatch({ path: this.#requestPath, method: 'POST', headers, body: payload, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, call);
    } catch (e) {
      call.onError(e as Error);
    }
    return call.cancel;
  }
}

/** The call's DispatchHandler: collects the (bounded) answer and reports it once. */
class Invocation implements Dispatcher.DispatchHandler {
  #done: InvocationDone | null;
  readonly #limit: number;
  #abort: ((err?: Error) => void) | null = null;
  #status = 0;
  #functionError: string | null = null;
  #executedVersion: string | null = null;
  #errorType = '';
  #retryAfter: string | null = null;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(done: InvocationDone, limit: number) {
    this.#done = done;
    this.#limit = limit;
  }

  cancel = (): void => {
    if (this.#done === null) return;
    this.#done = null;
    this.#abort?.(new Error('client closed the connection'));
  };

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
  }

  // rawHeaders: Buffers from undici, latin1 strings from the h1 client.
  onHeaders(statusCode: number, rawHeaders: (Buffer | string)[] | string[] | Buffer[] | null): boolean {
    if (statusCode < 200) return true;
    this.#status = statusCode;
    const raw = rawHeaders ?? [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const rawName = raw[i]!;
      // Only x-… names and Retry-After matter: the first byte decides before any name is lower-cased.
      const first = (typeof rawName === 'string' ? rawName.charCodeAt(0) : rawName[0]!) | 0x20;
      if (first !== 120 && first !== 114) continue;
      const name = rawName.toString().toLowerCase();
      if (name.charCodeAt(0) !== 120 && name !== 'retry-after') continue;
      const value = raw[i + 1]!.toString();
      if (name === 'x-amz-function-error') this.#functionError = value;
      else if (name === 'x-amz-executed-version') this.#executedVersion = value;
      else if (name === 'x-amzn-errortype') this.#errorType = value.split(':')[0]!;
      else if (name === 'retry-after') this.#retryAfter = value;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#size > this.#limit) {
      this.#abort?.(new LambdaInvokeError('too-large', 0, '', `the Lambda response is larger than ${this.#limit} bytes`));
      return true;
    }
    // The dispatcher may reuse its buffer.
    this.#chunks.push(Buffer.from(chunk));
    return true;
  }

  onComplete(): void {
    const done = this.#done;
    if (done === null) return;
    this.#done = null;
    const chunks = this.#chunks;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const status = this.#status;
    if (status >= 200 && status < 300) {
      done(null, { status, functionError: this.#functionError, payload: data, executedVersion: this.#executedVersion }, null);
      return;
    }
    const { type, message } = awsError(this.#errorType, data);
    const text = `Lambda Invoke answered ${status}${type ? ` ${type}` : ''}${message ? `: ${message}` : ''}`;
    done(new LambdaInvokeError(status === 429 ? 'throttled' : 'aws', status, type, text), null, this.#retryAfter);
  }

  onError(err: Error): void {
    const done = this.#done;
    if (done === null) return;
    this.#done = null;
    if (err instanceof LambdaInvokeError) return done(err, null, null);
    const code = (err as { code?: unknown }).code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return done(new LambdaInvokeError('timeout', 0, '', 'the Lambda Invoke API did not answer in time'), null, null);
    }
    done(new LambdaInvokeError('network', 0, '', `the Lambda Invoke API is unreachable${typeof code === 'string' ? ` (${code})` : ''}`), null, null);
  }
}

/** AWS's JSON error: the X-Amzn-ErrorType header, else `__type`/`Type` of the body; and `message`/`Message`. */
function awsError(headerType: string, data: Buffer): { type: string; message: string } {
  let type = headerType;
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
