// The browser side of the REST APIs: JSON in and out, the caller's bearer token, the tenant header, and the
// API's error shape `{error:{code,message,request_id,fields?}}` turned into an ApiError the forms can show.

export interface FieldError {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

export interface ApiOptions {
  /** Where the API lives: '' for the same origin. */
  base: string;
  token: () => string | null;
  /** The tenant addressed (the `X-Turnpike-Tenant` header); null: the token's home tenant. */
  tenant?: () => string | null;
  /** Called on 401 so the app can return to its sign-in page. */
  onUnauthorized?: () => void;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export class Api {
  constructor(private readonly opts: ApiOptions) {}

  url(path: string, query?: RequestOptions['query']): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
    const s = qs.toString();
    return `${this.opts.base}${path}${s ? `?${s}` : ''}`;
  }

  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
    const token = this.opts.token();
    if (token) headers.authorization = `Bearer ${token}`;
    const tenant = this.opts.tenant?.();
    if (tenant) headers['x-turnpike-tenant'] = tenant;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.url(path, o.query), {
      method,
      headers,
      body: o.body === undefined ? null : JSON.stringify(o.body),
      signal: o.signal ?? null,
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!res.ok) {
      const e = (data as { error?: { code?: string; message?: string; request_id?: string; fields?: FieldError[] } } | null)?.error;
      if (res.status === 401) this.opts.onUnauthorized?.();
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? res.statusText, e?.request_id ?? res.headers.get('x-request-id') ?? '', e?.fields ?? []);
    }
    return data as T;
  }

  get<T>(path: string, query?: RequestOptions['query'], signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { query, ...(signal ? { signal } : {}) });
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body: body ?? {} });
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }
  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }
}
