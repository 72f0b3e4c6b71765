// The request pipeline's step runner: a route's compiled plugin steps run in order, each answering
// synchronously when it can (a table lookup, a cached key) and with a Promise only when it must wait (a JWKS
// fetch, an scrypt verification, an authorizer call). The runner stays synchronous until a step returns a
// Promise, so a route whose steps all answer at once pays no microtask; after a wait it resumes with the next
// step, unless the client went away meanwhile. It knows nothing of uWS: the handler gives it a sink.
import type { ErrorCode, FieldError } from '@turnpike/common';

/** When a step runs: `pre-auth` (CORS preflight, IP lists) before `auth` (who is calling) before `access`. */
export type Phase = 'pre-auth' | 'auth' | 'access';
export const PHASES: readonly Phase[] = ['pre-auth', 'auth', 'access'];

/** A refusal: the status, the error code for the JSON body and the call log, and headers to send with it. */
export interface Denial {
  readonly kind: 'deny';
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  /** Flat [name, value, …] (e.g. WWW-Authenticate); null for none. */
  readonly headers: readonly string[] | null;
  /** What failed, field by field (request validation), for the JSON error body's `fields`; null for none. */
  readonly fields: readonly FieldError[] | null;
}

/** An auth step's success: the caller, and headers to add for the upstream. */
export interface Identified {
  readonly kind: 'identity';
  readonly consumerId: string;
  readonly credentialId: string;
  /** Flat [name, value, …] for the upstream; null for none. */
  readonly upstreamHeaders: readonly string[] | null;
  /** A verified JWT's claims (jwt-auth): a lambda integration's event carries them as its authorizer context. */
  readonly claims?: Readonly<Record<string, unknown>> | null;
}

/**
 * The gateway answers the request itself, not as an error: a CORS preflight's 204, a cached response, a
 * mock. Response hooks (RequestContext.onResponse) do not run on it; response headers added with
 * addResponseHeaders (CORS, rate-limit headers) do.
 */
export interface Answer {
  readonly kind: 'answer';
  readonly status: number;
  /** Flat [name, value, …] (content-type included when there is a body). */
  readonly headers: readonly string[];
  /** The body; absent or null: none (a HEAD request never gets one either). */
  readonly body?: Buffer | string | null;
}

/** null: go on with the next step. */
export type Outcome = Denial | Identified | Answer | null;

export interface Step<C> {
  readonly name: string;
  readonly phase: Phase;
  /** The step reads the request body: the handler buffers it before this step runs. */
  readonly needsBody: boolean;
  /** Auth steps: whether the request carries this scheme's credential at all (see anyOfAuth). */
  present?(ctx: C): boolean;
  run(ctx: C): Outcome | Promise<Outcome>;
}

/** What the runner reports to; the handler implements it over its exchange. */
export interface PipelineSink<C> {
  /** The client is gone (or the exchange otherwise over): a resumed run stops without reporting. */
  gone(ctx: C): boolean;
  identify(ctx: C, who: Identified, step: string): void;
  deny(ctx: C, denial: Denial, step: string): void;
  answer(ctx: C, answer: Answer, step: string): void;
  /** Whether the request body is buffered (or there is none): a step with needsBody runs only then. */
  bodyReady(ctx: C): boolean;
  /** Buffer the body, then call `resume` (unless the exchange ended meanwhile: body too large, client gone). */
  awaitBody(ctx: C, resume: () => void): void;
  /** Every step let the request through. */
  done(ctx: C): void;
  /** A step's Promise rejected (a bug: steps report failures as outcomes): answered as an internal error. */
  failed(ctx: C, error: unknown, step: string): void;
  /** Optional (tracing): a step returned a Promise, and later it settled (`failed`: rejected). Async steps only. */
  waiting?(ctx: C, step: string): void;
  settled?(ctx: C, failed: boolean): void;
}

export function deny(status: number, code: ErrorCode, message: string, headers: readonly string[] | null = null, fields: readonly FieldError[] | null = null): Denial {
  return Object.freeze({ kind: 'deny', status, code, message, headers, fields });
}

/**
 * Runs `steps` from index `from`. Returns true when it finished synchronously (done or denied), false when
 * a step is waiting (the sink hears the rest later).
 */
export function runSteps<C>(steps: readonly Step<C>[], from: number, ctx: C, sink: PipelineSink<C>): boolean {
  for (let i = from; i < steps.length; i++) {
    const step = steps[i]!;
    if (step.needsBody && !sink.bodyReady(ctx)) {
      sink.awaitBody(ctx, () => {
        if (!sink.gone(ctx)) runSteps(steps, i, ctx, sink);
      });
      return false;
    }
    const out = step.run(ctx);
    if (out === null) continue;
    if (out instanceof Promise) {
      sink.waiting?.(ctx, step.name);
      out.then(
        (o) => {
          sink.settled?.(ctx, false);
          resume(steps, i, ctx, sink, o);
        },
        (e: unknown) => {
          sink.settled?.(ctx, true);
          if (!sink.gone(ctx)) sink.failed(ctx, e, step.name);
        },
      );
      return false;
    }
    if (out.kind === 'identity') sink.identify(ctx, out, step.name);
    else {
      if (out.kind === 'deny') sink.deny(ctx, out, step.name);
      else sink.answer(ctx, out, step.name);
      return true;
    }
  }
  sink.done(ctx);
  return true;
}

function resume<C>(steps: readonly Step<C>[], i: number, ctx: C, sink: PipelineSink<C>, out: Outcome): void {
  if (sink.gone(ctx)) return;
  const step = steps[i]!;
  if (out !== null) {
    if (out.kind === 'deny') return sink.deny(ctx, out, step.name);
    if (out.kind === 'answer') return sink.answer(ctx, out, step.name);
    sink.identify(ctx, out, step.name);
  }
  runSteps(steps, i + 1, ctx, sink);
}

/**
 * Several auth schemes on one route mean "any of them": the first scheme whose credential the request
 * carries decides alone (a bad JWT is not retried as an API key). A request carrying none is refused with
 * `missing`, which should name every scheme (e.g. one WWW-Authenticate challenge each).
 */
export function anyOfAuth<C>(steps: readonly Step<C>[], missing: Denial): Step<C> {
  if (steps.length === 1) return steps[0]!;
  for (const s of steps) {
    if (s.phase !== 'auth' || !s.present) throw new Error(`anyOfAuth: ${s.name} is not an auth step that can tell a credential is present`);
  }
  return {
    name: steps.map((s) => s.name).join('|'),
    phase: 'auth',
    needsBody: steps.some((s) => s.needsBody),
    present: (ctx) => steps.some((s) => s.present!(ctx)),
    run(ctx) {
      for (const s of steps) if (s.present!(ctx)) return s.run(ctx);
      return missing;
    },
  };
}

/** The steps in phase order (stable within a phase), and whether any needs the body. */
export function orderSteps<C>(steps: readonly Step<C>[]): { steps: readonly Step<C>[]; needsBody: boolean } {
  const ordered = [...steps].sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase));
  return { steps: ordered, needsBody: ordered.some((s) => s.needsBody) };
}
