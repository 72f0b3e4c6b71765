// The human-readable result table of a run.

/**
 * @typedef {object} Measurement
 * @property {string} target
 * @property {string} label
 * @property {number} requests
 * @property {number} seconds
 * @property {number} rps
 * @property {number} p50_ms
 * @property {number} p99_ms
 * @property {number} errors
 * @property {number} cpu_s                CPU seconds of the measured process tree during the run
 * @property {number} cpu_sys_share        share of cpu_s spent in the kernel (syscalls, network stack)
 * @property {number} cpu_us_per_req
 * @property {number} cpu_util             cpu_s / seconds (1.0 = one core busy)
 * @property {number} foreign_cpu_util     CPU used by processes outside the benchmark during the run, in cores
 * @property {Record<string, number>} other_cpu_us_per_req  other processes' CPU per request (upstream, nats-server)
 * @property {{ sent: number, dropped: number, buffered: number }} [call_logs]  gateway call-log counters over the run
 */

/** @param {string[][]} rows */
function table(rows) {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r, ri) => {
      const line = r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
      return ri === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

/** @param {Measurement[]} ms */
export function formatTable(ms) {
  const rows = [['target', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'CPU µs/req', 'kernel', 'CPU util', 'other load', 'also (µs/req)']];
  for (const m of ms) {
    const also = Object.entries(m.other_cpu_us_per_req)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ');
    rows.push([
      m.label,
      m.rps.toFixed(0),
      m.p50_ms.toFixed(2),
      m.p99_ms.toFixed(2),
      String(m.errors),
      m.cpu_us_per_req.toFixed(1),
      `${(m.cpu_sys_share * 100).toFixed(0)}%`,
      `${(m.cpu_util * 100).toFixed(0)}%`,
      `${(m.foreign_cpu_util * 100).toFixed(0)}%`,
      also,
    ]);
  }
  return table(rows);
}
