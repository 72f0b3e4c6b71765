// AnalyticsStore on a ClickHouse server (cluster mode), over HTTP.
import { ClickHouseHttpClient, type ClickHouseHttpOptions } from '../clickhouse/http-client.js';
import { ident, sql } from '../clickhouse/escape.js';
import { SqlAnalyticsStore } from './sql-store.js';

export class ClickHouseStore extends SqlAnalyticsStore {
  readonly #client: ClickHouseHttpClient;

  private constructor(client: ClickHouseHttpClient, database: string) {
    super(client, database);
    this.#client = client;
  }

  /** Connects and creates the database and tables if missing (idempotent). */
  static async open(url: string, database = 'turnpike', opts?: ClickHouseHttpOptions): Promise<ClickHouseStore> {
    SqlAnalyticsStore.checkDatabase(database);
    const client = new ClickHouseHttpClient(url, opts);
    const store = new ClickHouseStore(client, database);
    try {
      await store.migrate();
    } catch (e) {
      await client.close();
      throw e;
    }
    return store;
  }

  /** Drops this store's database: for tests and `turnpike` resets, never called on the serving path. */
  async dropDatabase(): Promise<void> {
    await this.#client.exec(sql`DROP DATABASE IF EXISTS ${ident(this.database)}`.text);
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
