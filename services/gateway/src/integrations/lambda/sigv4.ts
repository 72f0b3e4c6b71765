// AWS Signature Version 4 for header-signed requests (the Lambda Invoke API, and any other AWS JSON API):
// canonical request → string to sign → signing key → Authorization header. Pure (node:crypto only) so the
// official test-suite vectors pin it, and so a test server can verify a signature with the same steps.
import * as crypto from 'node:crypto';
import { createHash, createHmac } from 'node:crypto';

// crypto.hash (Node 20.12+): a one-shot digest without a Hash object, about half the cost per call.
const oneShot = (crypto as { hash?: (algorithm: string, data: Buffer | string, encoding: 'hex' | 'latin1') => string }).hash;

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** STS temporary credentials: sent as X-Amz-Security-Token (and signed). */
  readonly sessionToken?: string | null;
}

export interface SignableRequest {
  readonly method: string;
  /** The path as sent on the wire (already percent-encoded where needed); '' means '/'. */
  readonly path: string;
  /** The raw query without '?' ('' for none). */
  readonly query: string;
  /** Header name → value; the host header must be among them. Every header given is signed. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | string;
}

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256Hex(data: Buffer | string): string {
  return oneShot !== undefined ? oneShot('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** `20150830T123600Z` for a time. */
export function amzDate(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes (upper-case hex). */
export function uriEncode(s: string, keepSlash: boolean): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || c === '-' || c === '_' || c === '.' || c === '~' || (keepSlash && c === '/')) out += c;
    else out += '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return out;
}

function decodeLoose(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The canonical URI: the path as sent, URI-encoded once more (slashes kept), as every service but S3 expects:
 * a path sent as `/functions/my%3Afn` is canonical as `/functions/my%253Afn`. No dot-segment normalization:
 * callers send normalized paths.
 */
export function canonicalUri(path: string): string {
  return path === '' ? '/' : uriEncode(path, true);
}

/**
 * The canonical query: parameters decoded and re-encoded, sorted by name then value (byte order); a name
 * without `=` gets an empty value.
 */
export function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([uriEncode(decodeLoose(name.replace(/\+/g, ' ')), false), uriEncode(decodeLoose(value.replace(/\+/g, ' ')), false)]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** Lower-case names, sorted; values trimmed with inner runs of spaces collapsed. */
function canonicalHeaders(headers: Readonly<Record<string, string>>): { text: string; signed: string } {
  const byName = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    const n = name.toLowerCase();
    const v = value.trim().replace(/\s+/g, ' ');
    const list = byName.get(n);
    if (list) list.push(v);
    else byName.set(n, [v]);
  }
  const names = [...byName.keys()].sort();
  return { text: names.map((n) => `${n}:${byName.get(n)!.join(',')}\n`).join(''), signed: names.join(';') };
}

export function canonicalRequest(req: SignableRequest): { text: string; signedHeaders: string } {
  const h = canonicalHeaders(req.headers);
  const payloadHash = req.headers['x-amz-content-sha256'] ?? sha256Hex(req.body);
  const text = [req.method.toUpperCase(), canonicalUri(req.path), canonicalQuery(req.query), h.text, h.signed, payloadHash].join('\n');
  return { text, signedHeaders: h.signed };
}

export function credentialScope(at: string, region: string, service: string): string {
  return `${at.slice(0, 8)}/${region}/${service}/aws4_request`;
}

export function stringToSign(amz: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amz}\n${scope}\n${sha256Hex(canonical)}`;
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
}

/** Caches the signing key: it changes once a day per credentials/region/service. */
export class SigningKeyCache {
  #key: Buffer | null = null;
  #for = '';

  get(secret: string, date: string, region: string, service: string): Buffer {
    const id = `${date}\n${region}\n${service}\n${secret}`;
    if (this.#key === null || this.#for !== id) {
      this.#key = signingKey(secret, date, region, service);
      this.#for = id;
    }
    return this.#key;
  }
}

export interface SignOptions {
  readonly region: string;
  readonly service: string;
  readonly credentials: AwsCredentials;
  readonly at: Date;
  readonly keys?: SigningKeyCache;
}

/**
 * Signs `req`: returns its headers with X-Amz-Date, X-Amz-Security-Token (with a session token) and
 * Authorization added. The caller sends exactly these headers (and the same path, query and body).
 */
export function sign(req: SignableRequest, opts: SignOptions): Record<string, string> {
  const amz = amzDate(opts.at);
  const headers: Record<string, string> = { ...req.headers, 'x-amz-date': amz };
  if (opts.credentials.sessionToken) headers['x-amz-security-token'] = opts.credentials.sessionToken;
  const { text, signedHeaders } = canonicalRequest({ ...req, headers });
  const scope = credentialScope(amz, opts.region, opts.service);
  const key = opts.keys ? opts.keys.get(opts.credentials.secretAccessKey, amz.slice(0, 8), opts.region, opts.service) : signingKey(opts.credentials.secretAccessKey, amz.slice(0, 8), opts.region, opts.service);
  const signature = createHmac('sha256', key).update(stringToSign(amz, scope, text), 'utf8').digest('hex');
  headers.authorization = `${ALGORITHM} Credential=${opts.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

/** An Authorization header's parts; null when it is not a SigV4 header. */
export function parseAuthorization(value: string): { accessKeyId: string; scope: string; signedHeaders: string[]; signature: string } | null {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/([^,\s]+), ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(value);
  if (!m) return null;
  return { accessKeyId: m[1]!, scope: m[2]!, signedHeaders: m[3]!.split(';'), signature: m[4]! };
}

/**
 * HMAC-SHA256 with one key (RFC 2104) from one-shot digests: H((K ^ opad) || H((K ^ ipad) || m)) with both
 * padded key blocks prepared once. The signing key changes once a day, and createHmac's per-call key setup
 * was the largest part of signing a request.
 */
class HmacSha256 {
  /** K ^ ipad, then room for the message. */
  #inner: Buffer;
  /** K ^ opad, then the inner digest. */
  readonly #outer = Buffer.alloc(64 + 32);
  readonly key: Buffer;

  constructor(key: Buffer) {
    this.key = key;
    const k = key.length > 64 ? createHash('sha256').update(key).digest() : key;
    this.#inner = Buffer.alloc(64 + 512);
    for (let i = 0; i < 64; i++) {
      const b = i < k.length ? k[i]! : 0;
      this.#inner[i] = b ^ 0x36;
      this.#outer[i] = b ^ 0x5c;
    }
  }

  hex(message: string): string {
    if (oneShot === undefined) return createHmac('sha256', this.key).update(message, 'utf8').digest('hex');
    const n = Buffer.byteLength(message, 'utf8');
    if (64 + n > this.#inner.length) {
      const grown = Buffer.alloc(64 + n * 2);
      this.#inner.copy(grown, 0, 0, 64);
      this.#inner = grown;
    }
    this.#inner.write(message, 64, 'utf8');
    // The inner digest as a latin1 string (one char per byte) written into the outer block: a 'buffer' digest
    // costs a Buffer allocation and was most of this function.
    this.#outer.write(oneShot('sha256', this.#inner.subarray(0, 64 + n), 'latin1'), 64, 'latin1');
    return oneShot('sha256', this.#outer, 'hex');
  }
}

/**
 * Signs one fixed request shape again and again (the same method, path, query and headers; only the body and
 * the time change): the canonical request's constant parts, the credential scope and the X-Amz-Date string
 * (per second) are computed once, so a call costs two SHA-256 digests and one HMAC. Produces exactly what
 * `sign` produces for the same request (sigv4.test.ts checks both against each other).
 */
export class FixedRequestSigner {
  readonly #credentials: AwsCredentials;
  readonly #region: string;
  readonly #service: string;
  /** Canonical request text before the X-Amz-Date line, and after it up to the payload hash. */
  readonly #head: string;
  readonly #tail: string;
  readonly #signedHeaders: string;
  /** The request's own headers (flat [name, value, …]), then x-amz-date, a session token, authorization. */
  readonly #headers: readonly string[];
  readonly #keys = new SigningKeyCache();
  #hmac: HmacSha256 | null = null;
  #second = -1;
  #amz = '';
  #scope = '';
  #credentialPrefix = '';

  constructor(req: Omit<SignableRequest, 'body'>, opts: Omit<SignOptions, 'at' | 'keys'>) {
    this.#credentials = opts.credentials;
    this.#region = opts.region;
    this.#service = opts.service;
    const headers: Record<string, string> = { ...req.headers, 'x-amz-date': '\u0000' };
    if (opts.credentials.sessionToken) headers['x-amz-security-token'] = opts.credentials.sessionToken;
    // The canonical headers with a placeholder date: everything before it and after it is fixed.
    const { text, signed } = canonicalHeaders(headers);
    const at = text.indexOf('x-amz-date:\u0000\n');
    const prefix = [req.method.toUpperCase(), canonicalUri(req.path), canonicalQuery(req.query), ''].join('\n');
    this.#head = prefix + text.slice(0, at) + 'x-amz-date:';
    this.#tail = '\n' + text.slice(at + 'x-amz-date:\u0000\n'.length) + '\n' + signed + '\n';
    this.#signedHeaders = signed;
    const flat: string[] = [];
    for (const [name, value] of Object.entries(req.headers)) flat.push(name, value);
    this.#headers = flat;
  }

  /** The headers to send with `body` (text: its UTF-8 bytes) at `nowMs`: the request's own, X-Amz-Date, the token when any, Authorization. */
  sign(body: Buffer | string, nowMs: number): string[] {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#amz = amzDate(new Date(second * 1000));
      this.#scope = credentialScope(this.#amz, this.#region, this.#service);
      this.#credentialPrefix = `${ALGORITHM} Credential=${this.#credentials.accessKeyId}/${this.#scope}, SignedHeaders=${this.#signedHeaders}, Signature=`;
      // The signing key follows the date: looked up once a second, not per call.
      const key = this.#keys.get(this.#credentials.secretAccessKey, this.#amz.slice(0, 8), this.#region, this.#service);
      if (this.#hmac === null || this.#hmac.key !== key) this.#hmac = new HmacSha256(key);
    }
    const amz = this.#amz;
    const canonical = this.#head + amz + this.#tail + sha256Hex(body);
    const signature = this.#hmac!.hex(`${ALGORITHM}\n${amz}\n${this.#scope}\n${sha256Hex(canonical)}`);
    const out = this.#headers.slice();
    out.push('x-amz-date', amz);
    if (this.#credentials.sessionToken) out.push('x-amz-security-token', this.#credentials.sessionToken);
    out.push('authorization', this.#credentialPrefix + signature);
    return out;
  }
}
