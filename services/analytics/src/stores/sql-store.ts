// AnalyticsStore over any SqlRunner: the queries live here once; ClickHouseStore and ChdbStore only
// provide the transport, so both answer every question with the same SQL.
import type { AnalyticsStore, CallRecord, CallsFilter, TimeseriesFilter, TimeseriesPoint, TopEntry, TopFilter, TrendPoint } from '@turnpike/common';
import { TurnpikeError } from '@turnpike/common';
import { parseCallRecord, type StoredCallRecord } from '../call-record.js';
import { isIdentifier } from '../clickhouse/escape.js';
import { timeseriesPointFromRow, timeseriesQuery, topEntryFromRow, topQuery } from '../clickhouse/aggregates.js';
import { migrate, type SqlRunner } from '../clickhouse/schema.js';
import { rollupPointFromRow, rollupQuery, ROLLUP_1H, ROLLUP_1M, type RollupFilter, type RollupPoint } from '../clickhouse/rollups.js';
import { dropExpiredPartitions, type DroppedPartition, type RetentionPolicy } from '../clickhouse/retention.js';
import { encodeCallsRowBinary } from '../clickhouse/row-binary.js';
import { callFromRow, callsQuery, insertCallsQuery, insertCallsRowBinaryStatement, parseRows, trendPointFromRow, trendQuery } from '../queries.js';

// One INSERT per this many rows keeps each request body to a few MB.
const INSERT_CHUNK = 10_000;

export abstract class SqlAnalyticsStore implements AnalyticsStore {
  protected constructor(
    protected readonly runner: SqlRunner,
    readonly database: string,
  ) {}

  protected static checkDatabase(database: string): void {
    if (!isIdentifier(database)) throw new TurnpikeError('TP_ERR_VALIDATION', `invalid ClickHouse database name: ${database}`);
  }

  protected async migrate(): Promise<void> {
    await migrate(this.runner, this.database);
  }

  async insert(records: CallRecord[]): Promise<void> {
    const valid: StoredCallRecord[] = [];
    for (const r of records) {
      const p = parseCallRecord(r);
      if (typeof p === 'string') throw new TurnpikeError('TP_ERR_VALIDATION', `invalid call record ${JSON.stringify(r?.request_id)}: ${p}`);
      valid.push(p);
    }
    for (let i = 0; i < valid.length; i += INSERT_CHUNK) {
      const chunk = valid.slice(i, i + INSERT_CHUNK);
      // RowBinary where the transport takes binary data (the ClickHouse server); JSONEachRow otherwise (chdb).
      if (this.runner.insert) await this.runner.insert(insertCallsRowBinaryStatement(this.database), encodeCallsRowBinary(chunk));
      else await this.runner.exec(insertCallsQuery(this.database, chunk));
    }
  }

  async calls(filter: CallsFilter): Promise<CallRecord[]> {
    return parseRows(await this.runner.exec(callsQuery(this.database, filter))).map(callFromRow);
  }

  async trend(filter: CallsFilter): Promise<TrendPoint[]> {
    return parseRows(await this.runner.exec(trendQuery(this.database, filter))).map(trendPointFromRow);
  }

  async timeseries(filter: TimeseriesFilter): Promise<TimeseriesPoint[]> {
    return parseRows(await this.runner.exec(timeseriesQuery(this.database, filter))).map(timeseriesPointFromRow);
  }

  async top(filter: TopFilter): Promise<TopEntry[]> {
    return parseRows(await this.runner.exec(topQuery(this.database, filter))).map(topEntryFromRow);
  }

  /** Per-minute or per-hour aggregates from the calls_1m / calls_1h rollups. */
  async rollup(granularity: 'minute' | 'hour', filter: RollupFilter, limit?: number): Promise<RollupPoint[]> {
    const r = granularity === 'hour' ? ROLLUP_1H : ROLLUP_1M;
    return parseRows(await this.runner.exec(rollupQuery(this.database, r, filter, limit))).map(rollupPointFromRow);
  }

  /** Drops partitions past the retention policy (see clickhouse/retention.ts). */
  async dropExpired(policy: RetentionPolicy, nowMs?: number): Promise<DroppedPartition[]> {
    return await dropExpiredPartitions(this.runner, this.database, policy, nowMs);
  }

  /** The transport, for periodic jobs (startRetention) that run beside the store. */
  get sqlRunner(): SqlRunner {
    return this.runner;
  }

  abstract close(): Promise<void>;
}
