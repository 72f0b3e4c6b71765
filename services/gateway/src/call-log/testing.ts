// For the call-log unit tests: a minimal, valid call record numbered `i` (request id `r<i>`).
import type { CallRecord } from '@turnpike/common';

export function testRecord(i: number): CallRecord {
  return {
    request_id: `r${i}`,
    ts: 1_700_000_000_000 + i,
    node_id: 'n1',
    service_id: 's',
    route_id: 'rt',
    consumer_id: '',
    method: 'GET',
    path: '/x',
    status: 200,
    upstream_latency_ms: 1,
    total_latency_ms: 2,
    bytes_in: 0,
    bytes_out: 10,
    error_code: '',
  };
}
