// Analytics dashboards (loaded on demand: uPlot lives in this chunk): requests and errors, latency
// percentiles, bytes, AI tokens and cost from /v1/analytics/timeseries; top consumers, routes and AI models
// from /v1/analytics/top. A time range (1h, 24h, 7d, 30d or custom), filters by service, route and consumer,
// and an optional live refresh. The section records how long fetching and drawing took (data-render-ms).
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from './state.js';
import { ErrorBox, localTimeMs } from './ui.js';
import { fmt } from '../shared/dom.js';
import { Chart, type Series } from './Chart.js';
import { cell, useNames } from './ResourcePage.js';
import type { TimeseriesPoint, TopEntry } from '../../../common/src/analytics.js';

// The analytics API's shapes, from the analytics store's own types (erased from the bundle).
type Point = Omit<TimeseriesPoint, 'key'>;
type Top = TopEntry;

const RANGES: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };
const LIVE = [10, 30, 60];

export default function Dashboard() {
  const [range, setRange] = useState('24h');
  const [custom, setCustom] = useState({ from: '', to: '' });
  const [filters, setFilters] = useState({ service_id: '', route_id: '', consumer_id: '' });
  const [live, setLive] = useState(false);
  const [every, setEvery] = useState(30);
  const [tick, setTick] = useState(0);
  const [data, setData] = useState<{ points: Point[]; consumers: Top[]; routes: Top[]; models: Top[]; interval: string; range: string; from: number; to: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [renderMs, setRenderMs] = useState<number | null>(null);
  const [started, setStarted] = useState(0);
  const names = useNames(['service_id', 'route_id', 'consumer_id']);

  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setTick((x) => x + 1), every * 1000);
    return () => clearInterval(t);
  }, [live, every]);

  useEffect(() => {
    const ctl = new AbortController();
    const to = range === 'custom' ? localTimeMs(custom.to) ?? Date.now() : Date.now();
    const from = range === 'custom' ? localTimeMs(custom.from) ?? to - RANGES['24h']! : to - RANGES[range]!;
    const q = { from, to, ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v)) };
    const t0 = performance.now();
    setStarted(t0);
    Promise.all([
      api.get<{ points: Point[]; interval: string }>('/v1/analytics/timeseries', q, ctl.signal),
      api.get<{ data: Top[] }>('/v1/analytics/top', { ...q, dimension: 'consumer' }, ctl.signal),
      api.get<{ data: Top[] }>('/v1/analytics/top', { ...q, dimension: 'route' }, ctl.signal),
      api.get<{ data: Top[] }>('/v1/analytics/top', { ...q, dimension: 'ai_model', order_by: 'cost_usd' }, ctl.signal),
    ]).then(
      ([ts, consumers, routes, models]) => {
        setData({ points: ts.points, interval: ts.interval, consumers: consumers.data, routes: routes.data, models: models.data, range, from, to });
        setError(null);
      },
      (e) => {
        if (!ctl.signal.aborted) setError(e);
      },
    );
    return () => ctl.abort();
  }, [range, custom, filters, tick]);

  // Measured after the charts have been drawn (the effect of the render that shows the new data).
  useEffect(() => {
    setRenderMs(null);
    if (data) requestAnimationFrame(() => setRenderMs(Math.round(performance.now() - started)));
  }, [data]);

  const charts = useMemo(() => {
    if (!data) return null;
    const p = data.points;
    const xs = p.map((x) => x.bucket / 1000);
    const s = (label: string, key: keyof Point, color: string, right = false): Series => ({ label, values: p.map((x) => x[key]), color, right });
    return {
      xs,
      // The x axis spans the whole range asked for, whatever buckets have data (one bucket alone would
      // otherwise stretch the axis over years).
      window: [data.from / 1000, data.to / 1000] as [number, number],
      requests: [s('requests', 'requests', '#1f5fbf'), s('errors', 'errors', '#b42318')],
      latency: [s('p50', 'latency_p50_ms', '#067647'), s('p95', 'latency_p95_ms', '#a15c07'), s('p99', 'latency_p99_ms', '#b42318')],
      bytes: [s('bytes in', 'bytes_in', '#5b6470'), s('bytes out', 'bytes_out', '#1f5fbf')],
      ai: [s('prompt tokens', 'prompt_tokens', '#1f5fbf'), s('completion tokens', 'completion_tokens', '#067647'), s('cost (USD)', 'cost_usd', '#a15c07', true)],
    };
  }, [data]);

  const sum = (k: keyof Point) => (data ? data.points.reduce((a, x) => a + x[k], 0) : 0);
  const requests = sum('requests');
  const errors = sum('errors');
  const setFilter = (k: keyof typeof filters) => (e: Event) => setFilters((f) => ({ ...f, [k]: (e.currentTarget as HTMLSelectElement).value }));

  return (
    <section aria-labelledby="page-title" class="dashboard" data-render-ms={renderMs ?? undefined} data-loaded-range={data && renderMs !== null ? data.range : undefined}>
      <h1 id="page-title">Analytics</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          time range
          <select name="range" value={range} onChange={(e) => setRange((e.currentTarget as HTMLSelectElement).value)}>
            <option value="1h">last hour</option>
            <option value="24h">last 24 hours</option>
            <option value="7d">last 7 days</option>
            <option value="30d">last 30 days</option>
            <option value="custom">custom…</option>
          </select>
        </label>
        {range === 'custom' ? (
          <>
            <label>
              from
              <input type="datetime-local" value={custom.from} onChange={(e) => setCustom((c) => ({ ...c, from: (e.currentTarget as HTMLInputElement).value }))} />
            </label>
            <label>
              to
              <input type="datetime-local" value={custom.to} onChange={(e) => setCustom((c) => ({ ...c, to: (e.currentTarget as HTMLInputElement).value }))} />
            </label>
          </>
        ) : null}
        {(['service_id', 'route_id', 'consumer_id'] as const).map((f) => (
          <label key={f}>
            {f.replace('_id', '')}
            <select name={f} value={filters[f]} onChange={setFilter(f)}>
              <option value="">all</option>
              {[...(names[f]?.entries() ?? [])].map(([id, n]) => (
                <option key={id} value={id}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        ))}
        <label class="check">
          <input type="checkbox" checked={live} onChange={(e) => setLive((e.currentTarget as HTMLInputElement).checked)} /> live refresh
        </label>
        <label>
          every
          <select value={every} onChange={(e) => setEvery(Number((e.currentTarget as HTMLSelectElement).value))}>
            {LIVE.map((s) => (
              <option key={s} value={s}>
                {s} s
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </form>
      <ErrorBox error={error} />
      {data ? (
        <>
          <dl class="stats">
            <div>
              <dt>requests</dt>
              <dd data-testid="total-requests">{fmt(requests)}</dd>
            </div>
            <div>
              <dt>errors</dt>
              <dd data-testid="total-errors">
                {fmt(errors)} <span class="muted">({requests ? fmt((100 * errors) / requests, 1) : '0'}%)</span>
              </dd>
            </div>
            <div>
              <dt>bytes in / out</dt>
              <dd>
                {fmt(sum('bytes_in'))} / {fmt(sum('bytes_out'))}
              </dd>
            </div>
            <div>
              <dt>AI tokens</dt>
              <dd>{fmt(sum('prompt_tokens') + sum('completion_tokens'))}</dd>
            </div>
            <div>
              <dt>AI cost</dt>
              <dd>${fmt(sum('cost_usd'), 2)}</dd>
            </div>
          </dl>
          <p class="muted">
            {data.points.length} {data.interval} buckets{renderMs !== null ? `; loaded and drawn in ${renderMs} ms` : ''}
          </p>
          <div class="charts">
            <Chart id="requests" window={charts!.window} title="Requests and errors" xs={charts!.xs} series={charts!.requests} unit="calls" />
            <Chart id="latency" window={charts!.window} title="Latency percentiles" xs={charts!.xs} series={charts!.latency} unit="ms" />
            <Chart id="bytes" window={charts!.window} title="Bytes" xs={charts!.xs} series={charts!.bytes} unit="bytes" />
            <Chart id="ai" window={charts!.window} title="AI tokens and cost" xs={charts!.xs} series={charts!.ai} unit="tokens" rightUnit="USD" />
          </div>
          <div class="tops">
            <TopTable title="Top consumers" field="consumer_id" rows={data.consumers} names={names} />
            <TopTable title="Top routes" field="route_id" rows={data.routes} names={names} />
            <TopTable title="Top AI models by cost" field="ai_model" rows={data.models} names={names} />
          </div>
        </>
      ) : error ? null : (
        <p class="muted">Loading…</p>
      )}
    </section>
  );
}

function TopTable(props: { title: string; field: string; rows: Top[]; names: Record<string, Map<string, string>> }) {
  return (
    <div>
      <h2>{props.title}</h2>
      <table data-top={props.field}>
        <thead>
          <tr>
            <th scope="col">{props.field.replace('_id', '')}</th>
            <th scope="col">requests</th>
            <th scope="col">errors</th>
            <th scope="col">tokens</th>
            <th scope="col">cost (USD)</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={r.key}>
              <td>{r.key === '' ? <span class="muted">(none)</span> : cell(r.key, props.field, props.names)}</td>
              <td>{fmt(r.requests)}</td>
              <td>{fmt(r.errors)}</td>
              <td>{fmt(r.prompt_tokens + r.completion_tokens)}</td>
              <td>{fmt(r.cost_usd, 4)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.rows.length === 0 ? <p class="muted">No data in this range.</p> : null}
    </div>
  );
}
