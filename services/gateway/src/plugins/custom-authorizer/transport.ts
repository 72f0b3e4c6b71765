// How an authorizer is called: a Lambda function through the Invoke API, or an HTTP endpoint that receives the
// event as a JSON POST. Both answer in the same words: a JSON body to parse, Unauthorized, Deny, or an error
// (never a rejected Promise).
import { request, type Dispatcher } from 'undici';
import { LambdaInvokeError, type LambdaInvoker } from '../../integrations/lambda/invoke.js';

export type TransportAnswer =
  | { readonly kind: 'body'; readonly body: unknown }
  /** A Lambda's `Unauthorized` error, or an HTTP authorizer's 401: 401 to the client, not cached. */
  | { readonly kind: 'unauthorized' }
  /** An HTTP authorizer's 403: a Deny, cached like one. */
  | { readonly kind: 'deny' }
  | { readonly kind: 'error'; readonly reason: string };

export interface AuthorizerTransport {
  call(event: object): Promise<TransportAnswer>;
}

/** Authorizer answers are small; anything larger is refused rather than buffered. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

function parseJson(data: Buffer): TransportAnswer {
  try {
    return { kind: 'body', body: JSON.parse(data.toString('utf8')) };
  } catch {
    return { kind: 'error', reason: 'the authorizer response is not JSON' };
  }
}

export function lambdaTransport(invoker: LambdaInvoker): AuthorizerTransport {
  return {
    async call(event) {
      try {
        const r = await invoker.invoke(JSON.stringify(event));
        if (r.functionError !== null) {
          // API Gateway's contract: a function failing with the message "Unauthorized" means 401.
          const err = parseJson(r.payload);
          const msg = err.kind === 'body' && typeof err.body === 'object' && err.body !== null ? (err.body as { errorMessage?: unknown }).errorMessage : undefined;
          if (msg === 'Unauthorized') return { kind: 'unauthorized' };
          return { kind: 'error', reason: `the authorizer function failed (${r.functionError})` };
        }
        return parseJson(r.payload);
      } catch (e) {
        if (e instanceof LambdaInvokeError) return { kind: 'error', reason: e.kind === 'throttled' ? 'the authorizer function is throttled (429)' : e.message };
        return { kind: 'error', reason: `the authorizer call failed: ${e instanceof Error ? e.message : String(e)}` };
      }
    },
  };
}

export interface HttpTransportOptions {
  readonly url: string;
  readonly timeoutMs: number;
  /** Extra request headers (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  readonly dispatcher?: Dispatcher;
}

export function httpTransport(opts: HttpTransportOptions): AuthorizerTransport {
  const headers = { ...opts.headers, 'content-type': 'application/json', accept: 'application/json' };
  return {
    async call(event) {
      const signal = AbortSignal.timeout(opts.timeoutMs);
      try {
        const res = await request(opts.url, {
          method: 'POST',
          headers,
          body: JSON.stringify(event),
          signal,
          ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
        });
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const c of res.body) {
          size += (c as Buffer).length;
          if (size > MAX_RESPONSE_BYTES) {
            res.body.destroy();
            return { kind: 'error', reason: 'the authorizer response is too large' };
          }
          chunks.push(c as Buffer);
        }
        if (res.statusCode === 401) return { kind: 'unauthorized' };
        if (res.statusCode === 403) return { kind: 'deny' };
        if (res.statusCode !== 200) return { kind: 'error', reason: `the authorizer answered ${res.statusCode}` };
        return parseJson(Buffer.concat(chunks));
      } catch (e) {
        if (signal.aborted) return { kind: 'error', reason: 'the authorizer did not answer in time' };
        const code = (e as { code?: unknown }).code;
        return { kind: 'error', reason: `the authorizer is unreachable${typeof code === 'string' ? ` (${code})` : ''}` };
      }
    },
  };
}
