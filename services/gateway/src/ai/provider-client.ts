// Sends one provider call (adapter.ts UpstreamCall) over a keep-alive connection pool, bounded by the
// provider's timeout (the whole answer, body included) and by the client going away. Failures come back as
// values the runtime can act on (retry, fall back, answer), never as exceptions.
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { UpstreamCall } from './adapter.js';

export type SendResult =
  | { kind: 'answer'; status: number; headers: Record<string, string>; body: Readable; done: () => void }
  | { kind: 'unreachable'; message: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

/**
 * The client went away: a call's cancellation. An EventEmitter, which undici takes as a `signal` like an
 * AbortSignal: creating AbortControllers and their EventTarget listeners was ~5 % of an AI call's CPU.
 */
export class Cancellation extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}

/** A provider error body is read up to this much (the rest is dropped). */
const ERROR_BODY_MAX = 1024 * 1024;

export class ProviderClient {
  readonly #dispatcher: Dispatcher;

  constructor(dispatcher?: Dispatcher) {
    // Provider calls are few and long next to proxied ones: a pool of their own, kept alive between calls.
    this.#dispatcher = dispatcher ?? new Agent({ keepAliveTimeout: 30_000, connections: 256, headersTimeout: 0, bodyTimeout: 0 });
  }

  /**
   * Sends `call`. The timer runs until `done()` is called on an answer (its body read or abandoned), so a
   * stream that stalls past `timeoutMs` is cut too. `clientGone` aborts it at once.
   */
  async send(call: UpstreamCall, timeoutMs: number, clientGone: Cancellation): Promise<SendResult> {
    if (clientGone.aborted) return { kind: 'aborted' };
    // One cancellation for both causes: the timer and the client (undici listens to it as its signal).
    const cancel = new Cancellation();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cancel.abort();
    }, timeoutMs);
    const onGone = (): void => cancel.abort();
    clientGone.once('abort', onGone);
    const done = (): void => {
      clearTimeout(timer);
      clientGone.removeListener('abort', onGone);
    };
    try {
      const r = await request(call.url, {
        method: call.method,
        headers: call.headers,
        body: call.body,
        signal: cancel,
        dispatcher: this.#dispatcher,
      });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      // A body cut by the timer reads as an error in the stream; the runtime maps it with `timedOut()`.
      r.body.once('error', () => undefined);
      return { kind: 'answer', status: r.statusCode, headers, body: r.body, done };
    } catch (err) {
      done();
      if (timedOut) return { kind: 'timeout' };
      if (clientGone.aborted) return { kind: 'aborted' };
      return { kind: 'unreachable', message: (err as Error).message };
    }
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }
}

/** Reads a whole body as text, at most `max` bytes (null when longer: the rest is discarded). */
export async function readText(body: Readable, max: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      body.destroy();
      return null;
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** An error body: what fits in ERROR_BODY_MAX (errors are short; a long one is cut, not refused). */
export async function readErrorText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body as AsyncIterable<Buffer>) {
      if (n + c.length > ERROR_BODY_MAX) {
        chunks.push(c.subarray(0, ERROR_BODY_MAX - n));
        body.destroy();
        break;
      }
      chunks.push(c);
      n += c.length;
    }
  } catch {
    // A cut error body: what arrived is enough to map it.
  }
  return Buffer.concat(chunks).toString('utf8');
}
