// Synthetic hourly rollups for analytics tests: ClickHouse builds them itself (system.numbers), so 30 days of
// 50 routes load in one statement instead of sending 144,000 call records through the ingester.

/**
 * SQL that fills `<database>.calls_1h` with `hours` hours from `startMs` for one service: 50 routes
 * (`route-0` … `route-49`), four 2xx calls per route and hour with latencies 0, 100, 200 and 300 ms (the
 * 300 ms one counted as an error), 10 bytes in and 100 out each, aggregated into the rollup's states
 * directly (AI states left empty).
 */
export function hourlyRollupsSql(database: string, serviceId: string, startMs: number, hours: number): string {
  return `INSERT INTO ${database}.calls_1h (bucket, service_id, route_id, consumer_id, status_class,
  requests, errors, bytes_in, bytes_out, latency_sum_ms, latency_quantiles_ms)
SELECT bucket, service_id, route_id, '' AS consumer_id, toUInt8(2) AS status_class,
  countState(), sumState(toUInt64(lat >= 300)), sumState(toUInt64(10)), sumState(toUInt64(100)),
  sumState(toFloat64(lat)), quantilesState(0.5, 0.95, 0.99)(toFloat64(lat))
FROM (SELECT toDateTime(${startMs / 1000} + intDiv(number, 200) * 3600) AS bucket, '${serviceId}' AS service_id,
  concat('route-', toString(intDiv(number % 200, 4))) AS route_id, (number % 4) * 100 AS lat
  FROM system.numbers LIMIT ${hours * 200})
GROUP BY bucket, service_id, route_id`;
}
