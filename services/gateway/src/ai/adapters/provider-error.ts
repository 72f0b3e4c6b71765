// Pieces every adapter's error mapping shares: the client status for a provider status, retry hints from
// headers, OpenAI-shaped bodies, and the error for an answer that is not what the provider promised.
import { ProviderStreamError, type ProviderError } from '../adapter.js';
import type { OpenAiErrorBody } from '../wire.js';

/** 4xx the provider answers because of the request: the client gets them as they are. */
const PASSED_4XX = new Set([400, 401, 403, 404, 413, 422, 429]);

/**
 * The status the client gets for a provider's HTTP status, and whether another try may do better.
 * Overload and timeout keep their meaning (503, 504; Anthropic's 529 is 503); other 5xx and statuses
 * that only a misconfigured provider would answer (405, 415…) are 502 Bad Gateway.
 */
export function classifyStatus(status: number): { status: number; retryable: boolean } {
  if (PASSED_4XX.has(status)) return { status, retryable: status === 429 };
  if (status === 408) return { status: 504, retryable: true };
  if (status === 409) return { status: 502, retryable: true };
  if (status === 503 || status === 529) return { status: 503, retryable: true };
  if (status === 504) return { status: 504, retryable: true };
  if (status >= 500) return { status: 502, retryable: true };
  return { status: 502, retryable: false };
}

/** OpenAI's `type` for an error of this client status (what OpenAI itself answers). */
export function errorTypeFor(status: number): string {
  switch (status) {
    case 400:
    case 404:
    case 413:
    case 422:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 429:
      return 'rate_limit_error';
    default:
      return 'server_error';
  }
}

export function openAiError(message: string, type: string, param: string | null = null, code: string | null = null): OpenAiErrorBody {
  return { error: { message, type, param, code } };
}

/**
 * The wait a provider asked for: `retry-after-ms` (OpenAI), else `retry-after` in seconds or as an HTTP
 * date. null when absent or unreadable.
 */
export function retryAfterMs(headers: Readonly<Record<string, string>>): number | null {
  const ms = headers['retry-after-ms'];
  if (ms !== undefined) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.round(n);
  }
  const ra = headers['retry-after'];
  if (ra === undefined) return null;
  const secs = Number(ra);
  if (ra.trim() !== '' && Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

/** A short, single-line excerpt of a body that is not the provider's error JSON, for the client's message. */
export function bodyExcerpt(body: string): string {
  const t = body.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

/** The error for a non-JSON (or otherwise unrecognised) error answer. */
export function opaqueError(providerName: string, status: number, body: string, headers: Readonly<Record<string, string>>): ProviderError {
  const c = classifyStatus(status);
  const excerpt = bodyExcerpt(body);
  const message = `${providerName} answered HTTP ${status}${excerpt ? `: ${excerpt}` : ''}`;
  return { status: c.status, body: openAiError(message, errorTypeFor(c.status)), retryable: c.retryable, retryAfterMs: retryAfterMs(headers) };
}

/** The provider answered 2xx with something that is not a valid answer: 502, worth another provider. */
export function invalidAnswer(providerName: string, what: string): ProviderStreamError {
  return new ProviderStreamError({
    status: 502,
    body: openAiError(`${providerName} sent an invalid answer: ${what}`, 'server_error', null, 'invalid_provider_response'),
    retryable: true,
    retryAfterMs: null,
  });
}

/** JSON text parsed to a plain object, or null (not JSON, or an array or scalar). */
export function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-negative integer count from a provider's usage field (absent, null or nonsense: 0). */
export function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}
