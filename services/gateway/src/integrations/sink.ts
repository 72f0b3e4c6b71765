// Where an integration (AI runtime, Lambda) writes a client's response: the proxy's exchange (proxy/handler.ts)
// implements this, the same undici-style handler an HTTP upstream drives, so response hooks, metrics, tracing
// and the call record treat an integration's answer like any proxied one. Exactly one of onComplete / onError
// ends the exchange.
import type { AiUsage } from '../plugins/request-context.js';

export interface IntegrationSink {
  /** Called once, first: `abort` stops the integration's call (the client went away). */
  onConnect(abort: (err?: Error) => void): void;
  /** The response head: flat [name, value, …] pairs (lower-case names). `resume` restarts a paused body. */
  onHeaders(status: number, rawHeaders: string[], resume: () => void, statusText: string): boolean;
  /** A body chunk; false: the client is slow, wait for `resume` before the next. */
  onData(chunk: Buffer): boolean;
  onComplete(trailers: null): void;
  /** Before the head: an error answer; after it: the connection is cut. */
  onError(err: Error): void;
  /** AI calls only: tokens and cost for the call record. */
  recordAiUsage(usage: AiUsage): void;
  /** The call record's error code for an answer that is not a success (written by the integration itself). */
  setErrorCode(code: string): void;
}
