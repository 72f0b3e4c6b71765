// A function's answer turned into the HTTP response API Gateway would send: format 1.0 (statusCode, headers,
// multiValueHeaders, body, isBase64Encoded; anything else is a malformed proxy response) and 2.0 (the same
// with cookies instead of multiValueHeaders, and inference: a payload that is not an object with a statusCode
// is a 200 application/json whose body is that JSON, or the string itself).

export interface LambdaHttpResponse {
  readonly status: number;
  /** Flat [name, value, …], lower-case names; content-length last (the gateway frames the body). */
  readonly headers: string[];
  readonly body: Buffer;
}

/** A function's answer the gateway cannot turn into a response: why, for the 502's message. */
export class MalformedResponse {
  constructor(readonly reason: string) {}
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Obsolete line folding and control characters would let a function split the response (CR/LF) or be refused by uWS.
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
/** Headers the gateway frames itself or that describe a connection: a function's copies are dropped. */
const DROPPED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'date', 'x-request-id']);
const JSON_TYPE = 'application/json';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function headerValue(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/** Appends one header after checking it; a reason when it cannot be sent. */
function addHeader(out: string[], name: string, value: unknown): string | null {
  const v = headerValue(value);
  if (v === null) return `header ${JSON.stringify(name)} must be a string`;
  if (!TOKEN.test(name)) return `header name ${JSON.stringify(name)} is not a valid token`;
  if (BAD_VALUE.test(v)) return `header ${JSON.stringify(name)} has a control character in its value`;
  const lower = name.toLowerCase();
  if (!DROPPED.has(lower)) out.push(lower, v);
  return null;
}

function statusOf(v: unknown): number | MalformedResponse {
  const n = typeof v === 'string' && /^\d{3}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 100 || n > 599) return new MalformedResponse('statusCode must be an integer from 100 to 599');
  return n;
}

function bodyOf(v: unknown, base64: unknown): Buffer | MalformedResponse {
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (typeof v !== 'string') return new MalformedResponse('body must be a string');
  if (base64 !== undefined && base64 !== null && typeof base64 !== 'boolean') return new MalformedResponse('isBase64Encoded must be a boolean');
  return base64 === true ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8');
}

function framed(status: number, headers: string[], body: Buffer): LambdaHttpResponse {
  headers.push('content-length', String(body.length));
  return { status, headers, body };
}

function parse(payload: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/** Format 1.0: an object with statusCode; headers and multiValueHeaders merged (a name in both: the multi values). */
export function responseV1(payload: Buffer): LambdaHttpResponse | MalformedResponse {
  const p = parse(payload);
  if (!p.ok) return new MalformedResponse('the function did not return JSON');
  const r = p.value;
  if (!isObject(r)) return new MalformedResponse('the function must return an object with statusCode');
  const status = statusOf(r.statusCode);
  if (status instanceof MalformedResponse) return status;
  const headers: string[] = [];
  const multi = r.multiValueHeaders;
  if (multi !== undefined && multi !== null && !isObject(multi)) return new MalformedResponse('multiValueHeaders must be an object');
  const single = r.headers;
  if (single !== undefined && single !== null && !isObject(single)) return new MalformedResponse('headers must be an object');
  if (isObject(single)) {
    for (const name in single) {
      if (isObject(multi) && Object.hasOwn(multi, name)) continue;
      const bad = addHeader(headers, name, single[name]);
      if (bad !== null) return new MalformedResponse(bad);
    }
  }
  if (isObject(multi)) {
    for (const name in multi) {
      const values = multi[name];
      if (!Array.isArray(values)) return new MalformedResponse(`multiValueHeaders ${JSON.stringify(name)} must be an array`);
      for (const v of values) {
        const bad = addHeader(headers, name, v);
        if (bad !== null) return new MalformedResponse(bad);
      }
    }
  }
  const body = bodyOf(r.body, r.isBase64Encoded);
  if (body instanceof MalformedResponse) return body;
  return framed(status, headers, body);
}

/** Format 2.0: a structured answer (an object with statusCode), else inferred as 200 JSON. */
export function responseV2(payload: Buffer): LambdaHttpResponse | MalformedResponse {
  const p = parse(payload);
  if (!p.ok) return new MalformedResponse('the function did not return JSON');
  const r = p.value;
  if (!isObject(r) || r.statusCode === undefined) {
    // Inference: a string is the body as is, any other JSON value is the body as the function's JSON text.
    const body = typeof r === 'string' ? Buffer.from(r, 'utf8') : payload;
    return framed(200, ['content-type', JSON_TYPE], body);
  }
  const status = statusOf(r.statusCode);
  if (status instanceof MalformedResponse) return status;
  const headers: string[] = [];
  const single = r.headers;
  if (single !== undefined && single !== null && !isObject(single)) return new MalformedResponse('headers must be an object');
  if (isObject(single)) {
    for (const name in single) {
      const bad = addHeader(headers, name, single[name]);
      if (bad !== null) return new MalformedResponse(bad);
    }
  }
  const cookies = r.cookies;
  if (cookies !== undefined && cookies !== null) {
    if (!Array.isArray(cookies)) return new MalformedResponse('cookies must be an array of strings');
    for (const c of cookies) {
      if (typeof c !== 'string') return new MalformedResponse('cookies must be an array of strings');
      const bad = addHeader(headers, 'set-cookie', c);
      if (bad !== null) return new MalformedResponse(bad);
    }
  }
  const body = bodyOf(r.body, r.isBase64Encoded);
  if (body instanceof MalformedResponse) return body;
  return framed(status, headers, body);
}
