// A minimal ClickHouse HTTP client on undici: POST the statement (and any INSERT data after it) as the
// body, read the text back. Works with 18.16, which rejects settings newer clients send by default.
import { Pool } from 'undici';
import { AnalyticsStoreError, clickhouseCodeOf } from '../errors.js';
import type { SqlRunner } from './schema.js';

export interface ClickHouseHttpOptions {
  /** Per-statement deadline. */
  timeoutMs?: number;
  connections?: number;
}

export class ClickHouseHttpClient implements SqlRunner {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;

  constructor(url: string, opts: ClickHouseHttpOptions = {}) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`ClickHouse URL must be http(s): ${u.protocol}`);
    this.#headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (u.username) {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      this.#headers.authorization = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
    }
    // wait_end_of_query buffers the result server-side, so an error raised mid-query becomes an HTTP
    // error status instead of text appended to a 200 body.
    this.#path = `${u.pathname.replace(/\/+$/, '')}/?wait_end_of_query=1`;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#pool = new Pool(u.origin, { connections: opts.connections ?? 4, keepAliveTimeout: 10_000 });
  }

  async exec(text: string): Promise<string> {
    return await this.#post(this.#path, text);
  }

  /** The statement in the URL, the data as the body: binary data cannot follow a statement in the body. */
  async insert(statement: string, data: Buffer): Promise<void> {
    await this.#post(`${this.#path}&query=${encodeURIComponent(statement)}`, data);
  }

  async #post(path: string, data: string | Buffer): Promise<string> {
    let res;
    try {
      res = await this.#pool.request({
        method: 'POST',
        path,
        headers: this.#headers,
        body: data,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (e) {
      throw new AnalyticsStoreError(`ClickHouse unreachable: ${(e as Error).message}`, { unavailable: true, cause: e });
    }
    let body: string;
    try {
      body = await res.body.text();
    } catch (e) {
      throw new AnalyticsStoreError(`ClickHouse response interrupted: ${(e as Error).message}`, { unavailable: true, cause: e });
    }
    if (res.statusCode !== 200) {
      const chCode = clickhouseCodeOf(body);
      throw new AnalyticsStoreError(`ClickHouse query failed (HTTP ${res.statusCode}): ${body.slice(0, 500).trim()}`, {
        ...(chCode !== undefined ? { clickhouseCode: chCode } : {}),
        unavailable: res.statusCode === 503,
      });
    }
    return body;
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
