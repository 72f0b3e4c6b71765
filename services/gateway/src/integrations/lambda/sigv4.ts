// AWS Signature Version 4 for header-signed requests (the Lambda Invoke API, and any other AWS JSON API):
// canonical request → string to sign → signing key → Authorization header. Pure (node:crypto only) so the
// official test-suite vectors pin it, and so a test server can verify a signature with the same steps.
import { createHash, createHmac } from 'node:crypto';

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
  return createHash('sha256').update(data).digest('hex');
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
