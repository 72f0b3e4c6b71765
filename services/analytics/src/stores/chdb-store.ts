// AnalyticsStore on embedded ClickHouse (chdb) for `turnpike up`: same SQL as the server store, data
// persisted under a local directory. chdb allows one data directory per process.
import { Session } from 'chdb';
import { mkdirSync } from 'node:fs';
import { AnalyticsStoreError, clickhouseCodeOf } from '../errors.js';
import { ident, sql } from '../clickhouse/escape.js';
import type { SqlRunner } from '../clickhouse/schema.js';
import { SqlAnalyticsStore } from './sql-store.js';

/**
 * Opens the process's chdb session on `dir` with output settings matching the ClickHouse server's
 * defaults: 64-bit integers quoted in JSON (chdb prints them bare, which JSON.parse rounds past 2^53).
 */
export function openChdbSession(dir: string): Session {
  mkdirSync(dir, { recursive: true });
  try {
    return new Session(dir, { connectionArgs: ['--output_format_json_quote_64bit_integers=1'] });
  } catch (e) {
    throw new AnalyticsStoreError(`cannot open chdb at ${dir}: ${(e as Error).message}`, { unavailable: true, cause: e });
  }
}

class ChdbRunner implements SqlRunner {
  constructor(readonly session: Session) {}

  // queryAsync runs on a libuv thread, so the event loop (and a gateway in the same process) keeps going.
  async exec(text: string): Promise<string> {
    if (!this.session.open) throw new AnalyticsStoreError('chdb session is closed', { unavailable: true });
    try {
      return (await this.session.queryAsync(text)).text();
    } catch (e) {
      const msg = (e as Error).message;
      const chCode = clickhouseCodeOf(msg);
      throw new AnalyticsStoreError(`chdb query failed: ${msg.slice(0, 500)}`, { ...(chCode !== undefined ? { clickhouseCode: chCode } : {}), cause: e });
    }
  }
}

export class ChdbStore extends SqlAnalyticsStore {
  readonly #session: Session;

  private constructor(runner: ChdbRunner, database: string) {
    super(runner, database);
    this.#session = runner.session;
  }

  /** Opens (creating if needed) the chdb data directory `dir` and the schema in `database`. */
  static async open(dir: string, database = 'turnpike'): Promise<ChdbStore> {
    SqlAnalyticsStore.checkDatabase(database);
    const session = openChdbSession(dir);
    const store = new ChdbStore(new ChdbRunner(session), database);
    try {
      await store.migrate();
    } catch (e) {
      session.close();
      throw e;
    }
    return store;
  }

  async dropDatabase(): Promise<void> {
    await this.runner.exec(sql`DROP DATABASE IF EXISTS ${ident(this.database)}`.text);
  }

  async close(): Promise<void> {
    this.#session.close();
  }
}
