// Call-log search (request id, consumer, service, status, time range; offset paging, newest first) and the
// detail view of one call with every field of its record.
import { useState } from 'preact/hooks';
import { api } from './state.js';
import { useLoad } from '../shared/load.js';
import { ErrorBox, fmtTime, localTimeMs, TimeRangeSearch } from './ui.js';
import { Link } from './router.js';
import { cell, useNames } from './ResourcePage.js';
import { REFERENCES } from './SchemaForm.js';

type Call = Record<string, unknown> & { request_id: string };
const PAGE = 50;

export function CallsPage() {
  const [form, setForm] = useState({ request_id: '', consumer_id: '', service_id: '', status: '', from: '', to: '' });
  const [query, setQuery] = useState<Record<string, string | number | undefined>>({});
  const [offset, setOffset] = useState(0);
  const names = useNames(['consumer_id', 'service_id', 'route_id']);
  const list = useLoad((signal) => api.get<{ data: Call[]; next_offset: number | null }>('/v1/analytics/calls', { ...query, limit: PAGE, offset }, signal), [query, offset]);
  const set = (k: keyof typeof form) => (e: Event) => setForm((f) => ({ ...f, [k]: (e.currentTarget as HTMLInputElement).value }));
  const options = (field: string) => [...(names[field]?.entries() ?? [])];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Call log</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setQuery({
            request_id: form.request_id.trim() || undefined,
            consumer_id: form.consumer_id || undefined,
            service_id: form.service_id || undefined,
            status: form.status.trim() || undefined,
            from: localTimeMs(form.from),
            to: localTimeMs(form.to),
          });
        }}
      >
        <label>
          request id
          <input name="request_id" value={form.request_id} onInput={set('request_id')} />
        </label>
        {(['consumer_id', 'service_id'] as const).map((f) => (
          <label key={f}>
            {f.replace('_id', '')}
            <select name={f} value={form[f]} onChange={set(f)}>
              <option value="">any</option>
              {options(f).map(([id, n]) => (
                <option key={id} value={id}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        ))}
        <label>
          status
          <input name="status" inputMode="numeric" size={5} value={form.status} onInput={set('status')} />
        </label>
        <TimeRangeSearch from={form.from} to={form.to} onInput={set} />
      </form>
      <ErrorBox error={list.error} />
      <table class="calls">
        <thead>
          <tr>
            {['time', 'request id', 'method', 'path', 'status', 'latency ms', 'consumer', 'service', 'route'].map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {(list.data?.data ?? []).map((c) => (
            <tr key={c.request_id} data-request-id={c.request_id}>
              <td>{fmtTime(c.ts)}</td>
              <td>
                <Link href={`/calls/${encodeURIComponent(c.request_id)}`}>{c.request_id}</Link>
              </td>
              <td>{String(c.method)}</td>
              <td>{String(c.path)}</td>
              <td class={Number(c.status) >= 500 ? 'error' : ''}>{String(c.status)}</td>
              <td>{String(c.total_latency_ms)}</td>
              <td>{cell(c.consumer_id || null, 'consumer_id', names)}</td>
              <td>{cell(c.service_id || null, 'service_id', names)}</td>
              <td>{cell(c.route_id || null, 'route_id', names)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!list.loading && list.data?.data.length === 0 ? <p class="muted">No calls match.</p> : null}
      <nav class="pager" aria-label="pages">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          Newer
        </button>
        <button type="button" disabled={list.data?.next_offset == null} onClick={() => setOffset(list.data!.next_offset!)}>
          Older
        </button>
      </nav>
    </section>
  );
}

export function CallDetail(props: { requestId: string }) {
  const call = useLoad((signal) => api.get<{ data: Call[] }>('/v1/analytics/calls', { request_id: props.requestId, limit: 1 }, signal), [props.requestId]);
  const names = useNames(Object.keys(REFERENCES).concat(['route_id']));
  const c = call.data?.data[0];
  return (
    <section aria-labelledby="page-title">
      <p>
        <Link href="/calls">← Call log</Link>
      </p>
      <h1 id="page-title">Call {props.requestId}</h1>
      <ErrorBox error={call.error} />
      {call.data && !c ? <p class="muted">No call with this request id (call logs reach the store within seconds).</p> : null}
      {c ? (
        <dl class="detail">
          {Object.entries(c).map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{k === 'ts' ? fmtTime(v) : k === 'captured' && v ? <pre>{typeof v === 'string' ? v : JSON.stringify(v, null, 2)}</pre> : cell(v === '' ? null : v, k, names)}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </section>
  );
}
