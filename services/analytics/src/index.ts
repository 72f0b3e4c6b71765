export { ClickHouseStore } from './stores/clickhouse-store.js';
export { StoreLogSink } from './store-log-sink.js';
export { ChdbStore } from './stores/chdb-store.js';
export { SqlAnalyticsStore } from './stores/sql-store.js';
export { startIngester, type Ingester, type IngesterOptions, type IngesterStats } from './ingester/ingester.js';
export { startCallsReader, type CallBatch, type CallsReader, type CallsReaderOptions } from './ingester/calls-reader.js';
export { AnalyticsStoreError } from './errors.js';
export { parseCallRecord } from './call-record.js';
export { sql, ident, float, dateTime, join, literal, quoteString, Sql, SqlBindError, type SqlValue } from './clickhouse/escape.js';
export { MIGRATIONS, migrate, type Migration, type SqlRunner } from './clickhouse/schema.js';
export {
  CALL_COLUMNS,
  DEFAULT_CALLS_LIMIT,
  MAX_CALLS_LIMIT,
  insertCallsQuery,
  encodeCallRow,
  whereClause,
  callsQuery,
  trendQuery,
  parseRows,
  callFromRow,
  trendPointFromRow,
} from './queries.js';
export { jsonLog, silentLog, type Logger } from './log.js';
export {
  ROLLUPS,
  ROLLUP_1M,
  ROLLUP_1H,
  LATENCY_QUANTILES,
  rollupStatements,
  rollupViewStatement,
  rollupBackfillQuery,
  AI_ROLLUP_COLUMNS,
  rollupQuery,
  rollupPointFromRow,
  type Rollup,
  type RollupFilter,
  type RollupPoint,
} from './clickhouse/rollups.js';
export { AI_USAGE_TABLE, aiUsageStatements, aiUsageBackfillQueries } from './clickhouse/ai-usage.js';
export { dropExpiredPartitions, startRetention, type RetentionPolicy, type RetentionTask, type DroppedPartition } from './clickhouse/retention.js';
export { MAX_TIMESERIES_POINTS, timeseriesQuery, timeseriesPointFromRow, topQuery, topEntryFromRow } from './clickhouse/aggregates.js';
