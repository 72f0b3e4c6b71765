// One RFC 7662 exchange: POST the token (form-encoded) to the introspection endpoint with the gateway's
// client credentials (HTTP Basic, RFC 6749 §2.3.1), and read the JSON answer. Every way the endpoint can fail
// to answer (connection refused, timeout, a non-200, a body too large or not a JSON object) is an
// IntrospectionUnavailable whose message is safe to log: it never contains the token or the secret.
import { request, type Dispatcher } from 'undici';

export interface IntrospectionEndpoint {
  readonly url: string;
  /** The precomputed `Basic …` header value. */
  readonly authorization: string;
  /** Sent as token_type_hint; null: not sent. */
  readonly tokenTypeHint: string | null;
  /** The whole exchange, ms. */
  readonly timeoutMs: number;
  /** undici's global dispatcher when absent. */
  readonly dispatcher?: Dispatcher | undefined;
}

/** Largest answer accepted, bytes (an introspection answer is a small JSON object). */
export const MAX_ANSWER_BYTES = 64 * 1024;

export class IntrospectionUnavailable extends Error {
  override name = 'IntrospectionUnavailable';
}

/** application/x-www-form-urlencoded (RFC 6749 Appendix B) of one value. */
function formEncode(v: string): string {
  return new URLSearchParams([['', v]]).toString().slice(1);
}

/**
 * RFC 6749 §2.3.1 (which RFC 7662 §2.1 points to): the client id and secret are each form-encoded, then
 * joined with ':' and base64-encoded as HTTP Basic credentials.
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, 'utf8').toString('base64')}`;
}

/** The endpoint's answer: a JSON object (not yet checked against RFC 7662 §2.2). Rejects with IntrospectionUnavailable only. */
export async function introspect(ep: IntrospectionEndpoint, token: string): Promise<Record<string, unknown>> {
  // One deadline for the whole exchange, cleared when it ends (a timer firing after the body was read would
  // abort a finished request).
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new IntrospectionUnavailable(`the introspection endpoint did not answer within ${ep.timeoutMs} ms`)), ep.timeoutMs);
  try {
    return await exchange(ep, token, ac.signal);
  } catch (e) {
    if (e instanceof IntrospectionUnavailable) throw e;
    if (ac.signal.aborted) throw ac.signal.reason as Error;
    // undici's errors name the failure (ECONNREFUSED, UND_ERR_SOCKET…) and the endpoint, never the body.
    const code = (e as { code?: unknown }).code;
    throw new IntrospectionUnavailable(`the introspection request failed: ${typeof code === 'string' ? code : e instanceof Error ? e.message : String(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

async function exchange(ep: IntrospectionEndpoint, token: string, signal: AbortSignal): Promise<Record<string, unknown>> {
  const form = new URLSearchParams({ token });
  if (ep.tokenTypeHint !== null) form.set('token_type_hint', ep.tokenTypeHint);
  const res = await request(ep.url, {
    method: 'POST',
    headers: { authorization: ep.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form.toString(),
    headersTimeout: ep.timeoutMs,
    bodyTimeout: ep.timeoutMs,
    signal,
    ...(ep.dispatcher ? { dispatcher: ep.dispatcher } : {}),
  });
  if (res.statusCode !== 200) {
    discard(res.body);
    throw new IntrospectionUnavailable(`the introspection endpoint answered ${res.statusCode}`);
  }
  const declared = Number(res.headers['content-length']);
  if (declared > MAX_ANSWER_BYTES) {
    discard(res.body);
    throw new IntrospectionUnavailable(`the introspection answer is ${declared} bytes, over the ${MAX_ANSWER_BYTES}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      discard(res.body);
      throw new IntrospectionUnavailable(`the introspection answer is over the ${MAX_ANSWER_BYTES}-byte limit`);
    }
    chunks.push(chunk);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new IntrospectionUnavailable('the introspection answer is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new IntrospectionUnavailable('the introspection answer is not a JSON object');
  return doc as Record<string, unknown>;
}

/** Drops a response body unread (undici's body emits an 'error' when destroyed: nobody else listens). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}
