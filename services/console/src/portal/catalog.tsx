// The catalog (services visible to developers) and one service's page: its OpenAPI reference with "try it"
// per operation, and the form to request a subscription under one of the offered plans.
import { useState } from 'preact/hooks';
import { api } from './session.js';
import { Link, navigate } from './router.js';
import { OperationView, operations, type Json } from './openapi.js';
import { TryIt } from './TryIt.js';
import { useLoad } from '../shared/load.js';
import { Badge, ErrorBox, FieldError, date } from './ui.js';
import type { Subscription } from './subscriptions.js';
import type { CatalogEntry as ServerCatalogEntry, CatalogPlan } from '../../../control-plane/src/portal/catalog.js';

// The catalog API's own types (erased from the bundle), with the parts the server leaves loose (a plan's
// limits, the OpenAPI document) typed as the page reads them.
export type Plan = Omit<CatalogPlan, 'rate_limit' | 'quotas'> & {
  rate_limit: { requests: number; per: string } | null;
  quotas: Array<{ period: string; requests?: number }>;
};

export type CatalogEntry = Omit<ServerCatalogEntry, 'plans' | 'openapi'> & { plans: Plan[]; openapi?: Json };

export function Deprecated(props: { entry: Pick<CatalogEntry, 'deprecated' | 'sunset_at'> }) {
  if (!props.entry.deprecated) return null;
  return <Badge kind="warn">{props.entry.sunset_at ? `deprecated, sunset ${date(props.entry.sunset_at)}` : 'deprecated'}</Badge>;
}

export function CatalogPage() {
  const { data, error } = useLoad(() => api.get<{ data: CatalogEntry[] }>('/catalog'));
  return (
    <main>
      <h1 tabIndex={-1}>API catalog</h1>
      <ErrorBox error={error} />
      {data && data.data.length === 0 ? <p class="muted">No APIs are published here yet.</p> : null}
      <ul class="cards">
        {data?.data.map((e) => (
          <li class="card">
            <h2>
              <Link href={`/catalog/${e.id}`}>{e.title ?? e.name}</Link>
            </h2>
            <p>
              <code>{e.name}</code> {e.version ? <span class="muted">version {e.version}</span> : null} <Deprecated entry={e} />
            </p>
            {e.description ? <p class="muted">{e.description}</p> : null}
            <p class="muted">
              {e.subscription_required ? 'Subscription required. ' : ''}
              {e.auth ? `API key in the ${e.auth.header} header.` : 'No API key needed.'}
            </p>
          </li>
        ))}
      </ul>
    </main>
  );
}

function planText(p: Plan): string {
  const parts = [p.approval === 'auto' ? 'approved at once' : 'needs approval'];
  if (p.rate_limit) parts.push(`${p.rate_limit.requests} requests per ${p.rate_limit.per}`);
  for (const q of p.quotas) if (q.requests) parts.push(`${q.requests} per ${q.period}`);
  return `${p.name} (${parts.join(', ')})`;
}

function Subscribe(props: { entry: CatalogEntry }) {
  const [plan, setPlan] = useState(props.entry.plans[0]?.id ?? '');
  const [note, setNote] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="subscribe"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await api.post('/subscriptions', { service_id: props.entry.id, plan_id: plan || null, ...(note ? { note } : {}) });
          navigate('/subscriptions');
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>Subscribe</h2>
      {props.entry.plans.length > 0 ? (
        <div class="field">
          <label for="plan">Plan</label>
          <select id="plan" value={plan} onChange={(e) => setPlan((e.currentTarget as HTMLSelectElement).value)} aria-describedby="plan-error">
            {props.entry.plans.map((p) => (
              <option value={p.id}>{planText(p)}</option>
            ))}
          </select>
          <FieldError id="plan-error" error={error} path="/plan_id" />
        </div>
      ) : null}
      <div class="field">
        <label for="note">What will you use it for? (optional)</label>
        <input id="note" value={note} maxLength={2048} onInput={(e) => setNote((e.currentTarget as HTMLInputElement).value)} />
      </div>
      <ErrorBox error={error} />
      <button type="submit" class="primary" disabled={busy}>
        Request access
      </button>
    </form>
  );
}

export function ServicePage(props: { id: string; gatewayUrl: string | null }) {
  const { data: e, error } = useLoad(() => api.get<CatalogEntry>(`/catalog/${encodeURIComponent(props.id)}`), [props.id]);
  const subs = useLoad(() => api.get<{ data: Subscription[] }>('/subscriptions'), [props.id]);
  const live = subs.data?.data.find((s) => s.service_id === props.id && (s.status === 'pending' || s.status === 'approved'));
  const [open, setOpen] = useState<string | null>(null);
  const ops = e?.openapi ? operations(e.openapi) : [];
  return (
    <main>
      <p>
        <Link href="/">← Catalog</Link>
      </p>
      <h1 tabIndex={-1}>{e ? (e.title ?? e.name) : 'API'}</h1>
      <ErrorBox error={error} />
      {e ? (
        <>
          <p>
            <code>{e.name}</code> {e.version ? <span class="muted">version {e.version}</span> : null} <Deprecated entry={e} />
          </p>
          {e.description ? <p>{e.description}</p> : null}
          <p class="muted">
            {e.subscription_required ? 'Calls need an approved subscription. ' : ''}
            {e.auth ? (
              <>
                Send your API key in the <code>{e.auth.header}</code> header.
              </>
            ) : (
              'Calls need no API key.'
            )}
          </p>
          {live ? (
            <p class="subscribe">
              Your subscription: <Badge kind={live.status === 'approved' ? 'ok' : 'warn'}>{live.status}</Badge> <Link href="/subscriptions">Manage subscriptions</Link>
            </p>
          ) : subs.data ? (
            <Subscribe entry={e} />
          ) : null}
          <h2>Reference</h2>
          {!e.openapi ? <p class="muted">This API has no OpenAPI document.</p> : null}
          {ops.map((op) => (
            <OperationView doc={e.openapi} op={op}>
              <button type="button" aria-expanded={open === op.id} aria-controls={`${op.id}-try`} onClick={() => setOpen(open === op.id ? null : op.id)}>
                {open === op.id ? 'Close try it' : 'Try it'}
              </button>
              <div id={`${op.id}-try`}>{open === op.id ? <TryIt doc={e.openapi} op={op} serviceId={e.id} keyHeader={e.auth?.header ?? null} gatewayUrl={props.gatewayUrl} /> : null}</div>
            </OperationView>
          ))}
        </>
      ) : null}
    </main>
  );
}
