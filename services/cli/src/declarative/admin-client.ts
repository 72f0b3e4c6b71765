// A small client of the control plane's REST admin API (undici): list every page, create, patch, replace,
// delete. Failures become AdminApiError values carrying the API's code, request id and field paths.
import { request, type Dispatcher } from 'undici';

export interface ApiFieldError {
  path: string;
  message: string;
}

export class AdminApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** TP_ERR_* from the response body, or TP_ERR_UNREACHABLE when no response came. */
    readonly code: string,
    readonly fields: ApiFieldError[] = [],
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

export interface AdminClientOptions {
  /** e.g. http://127.0.0.1:8001 */
  url: string;
  token?: string | undefined;
  /** Tenant name sent as `X-Turnpike-Tenant` on every request; unset: the token's home tenant. */
  tenant?: string | undefined;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Page size of listAll (default and API maximum: 1000). */
  pageLimit?: number;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

// The largest page the API serves: fewer round trips when reading the whole config.
const PAGE_LIMIT = 1000;

export class AdminClient {
  private readonly base: string;

  constructor(private readonly opts: AdminClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
  }

  /** Every entity of a collection (`/v1/routes`), following `next` cursors to the last page. */
  async listAll<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    for (let page = 0; ; page++) {
      const qs = new URLSearchParams({ limit: String(this.opts.pageLimit ?? PAGE_LIMIT) });
      if (cursor !== undefined) qs.set('cursor', cursor);
      const body = (await this.call('GET', `${path}?${qs.toString()}`)) as { data?: T[]; next_cursor?: string | null; next?: string | null };
      out.push(...(body.data ?? []));
      // `next_cursor` (null on the last page) is the current name; `next` (absent on the last page) the older one.
      const next = typeof body.next_cursor === 'string' ? body.next_cursor : typeof body.next === 'string' ? body.next : undefined;
      if (next === undefined || next === '' || next === cursor) return out;
      cursor = next;
      // A server that never ends its pages would otherwise loop forever.
      if (page > 100_000) throw new AdminApiError(`${path}: pagination did not end`, 0, 'TP_ERR_INTERNAL');
    }
  }

  async create<T>(path: string, body: unknown): Promise<T> {
    return (await this.call('POST', path, body)) as T;
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return (await this.call('PATCH', path, body)) as T;
  }

  async replace<T>(path: string, body: unknown): Promise<T> {
    return (await this.call('PUT', path, body)) as T;
  }

  async remove(path: string): Promise<void> {
    await this.call('DELETE', path);
  }

  private async call(method: Method, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (this.opts.tenant) headers['x-turnpike-tenant'] = this.opts.tenant;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const timeout = this.opts.timeoutMs ?? 30_000;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new AdminApiError(`cannot reach the admin API at ${this.base}: ${e.code ? `${e.code} ` : ''}${e.message}`, 0, 'TP_ERR_UNREACHABLE');
    }
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return json;
    const err = toApiError(method, path, res.statusCode, json, text);
    // A top-level collection (`/v1/routes`) always exists: its 404 can only mean the tenant is not there
    // for this token (the API does not tell "no such tenant" from "no role in it").
    if (this.opts.tenant && res.statusCode === 404 && err.code === 'TP_ERR_NOT_FOUND' && /^\/v1\/[a-z-]+(\?|$)/.test(path)) {
      throw new AdminApiError(`tenant ${JSON.stringify(this.opts.tenant)} does not exist, or this admin token has no role in it`, 404, err.code, [], err.requestId);
    }
    throw err;
  }
}

function toApiError(method: Method, path: string, status: number, json: unknown, text: string): AdminApiError {
  const err = (json as { error?: { code?: unknown; message?: unknown; request_id?: unknown; fields?: unknown } } | undefined)?.error;
  if (err && typeof err.code === 'string') {
    const fields = Array.isArray(err.fields)
      ? (err.fields as unknown[]).filter((f): f is ApiFieldError => typeof (f as ApiFieldError)?.path === 'string' && typeof (f as ApiFieldError)?.message === 'string')
      : [];
    const requestId = typeof err.request_id === 'string' ? err.request_id : undefined;
    return new AdminApiError(typeof err.message === 'string' ? err.message : err.code, status, err.code, fields, requestId);
  }
  // Not the API's error shape (a proxy in between, a wrong URL): show the start of what came back.
  const snippet = text.trim().slice(0, 200);
  return new AdminApiError(`${method} ${path} answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`, status, `HTTP_${status}`);
}
