// The developer's own usage: quota periods of approved subscriptions (used, limit, reset) and traffic over
// a chosen range (requests, errors, bytes, busiest routes) from the analytics store.
import { useState } from 'preact/hooks';
import { fmt } from '../shared/dom.js';
import { api } from './session.js';
import { useLoad } from '../shared/load.js';
import { DataTable } from '../shared/table.js';
import { ErrorBox, date } from './ui.js';
import type { CatalogEntry } from './catalog.js';

interface Usage {
  quotas: Array<{ service_id: string; period: string; resets_at: string; requests: { used: number; limit: number | null; remaining: number | null } }>;
  traffic: {
    from: number;
    to: number;
    requests: number;
    errors: number;
    bytes_in: number;
    bytes_out: number;
    top_routes: Array<{ key: string; requests: number }>;
  } | null;
}

const RANGES = [
  ['3600000', 'last hour'],
  ['86400000', 'last 24 hours'],
  ['604800000', 'last 7 days'],
  ['2592000000', 'last 30 days'],
] as const;

export function UsagePage() {
  const [range, setRange] = useState('86400000');
  const { data, error, reload } = useLoad(() => api.get<Usage>('/usage', { from: Date.now() - Number(range) }), [range]);
  const catalog = useLoad(() => api.get<{ data: CatalogEntry[] }>('/catalog'));
  const name = (id: string) => catalog.data?.data.find((e) => e.id === id)?.name ?? id;
  /** A route id as its API and paths (`orders GET /orders/{id}`). */
  const route = (id: string) => {
    for (const e of catalog.data?.data ?? []) {
      const r = e.routes.find((x) => x.id === id);
      if (r) return `${e.name} ${r.methods.join(',') || 'any'} ${r.paths.join(' ')}`;
    }
    return id;
  };
  const t = data?.traffic;
  return (
    <main>
      <h1 tabIndex={-1}>Usage</h1>
      <p>
        <label for="range">Range</label>{' '}
        <select id="range" value={range} onChange={(e) => setRange((e.currentTarget as HTMLSelectElement).value)}>
          {RANGES.map(([v, l]) => (
            <option value={v}>{l}</option>
          ))}
        </select>{' '}
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </p>
      <ErrorBox error={error} />
      <h2>Traffic</h2>
      {data && !t ? <p class="muted">Traffic analytics are not available on this installation.</p> : null}
      {t ? (
        <>
          <dl class="stats">
            <div>
              <dt>Requests</dt>
              <dd data-testid="requests">{fmt(t.requests)}</dd>
            </div>
            <div>
              <dt>Errors</dt>
              <dd>{fmt(t.errors)}</dd>
            </div>
            <div>
              <dt>Sent</dt>
              <dd>{fmt(t.bytes_in)} B</dd>
            </div>
            <div>
              <dt>Received</dt>
              <dd>{fmt(t.bytes_out)} B</dd>
            </div>
          </dl>
          {t.top_routes.length > 0 ? (
            <DataTable
              rows={t.top_routes}
              caption="Busiest routes"
              columns={[
                { label: 'Route', cell: (r) => <code>{route(r.key)}</code> },
                { label: 'Requests', cell: (r) => fmt(r.requests) },
              ]}
            />
          ) : null}
        </>
      ) : null}
      <h2>Quotas</h2>
      <DataTable
        rows={data?.quotas}
        empty="None of your subscriptions has a quota."
        caption="Quota usage"
        captionHidden
        columns={[
          { label: 'API', cell: (q) => name(q.service_id) },
          { label: 'Period', cell: (q) => q.period },
          {
            label: 'Used',
            cell: (q) => (
              <>
                {fmt(q.requests.used)}
                {q.requests.limit ? <meter min={0} max={q.requests.limit} value={q.requests.used} aria-label={`${name(q.service_id)} quota used`} /> : null}
              </>
            ),
          },
          { label: 'Limit', cell: (q) => (q.requests.limit === null ? '—' : fmt(q.requests.limit)) },
          { label: 'Resets', cell: (q) => date(q.resets_at) },
        ]}
      />
    </main>
  );
}
