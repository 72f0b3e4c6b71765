// The developer's subscriptions: status (pending until an operator approves, or approved at once by an
// `auto` plan), the decision's reason, and cancelling.
import { useState } from 'preact/hooks';
import { api } from './session.js';
import { Link } from './router.js';
import { useLoad } from '../shared/load.js';
import { DataTable } from '../shared/table.js';
import { attempt } from '../shared/errors.js';
import { Badge, ErrorBox, date } from './ui.js';

export interface Subscription {
  id: string;
  service_id: string;
  service_name: string | null;
  plan_id: string | null;
  status: 'pending' | 'approved' | 'rejected' | 'revoked';
  reason: string;
  note: string;
  decided_at: string | null;
  created_at: string;
}

const KIND: Record<Subscription['status'], string> = { pending: 'warn', approved: 'ok', rejected: 'bad', revoked: 'bad' };

export function SubscriptionsPage() {
  const { data, error: loadError, reload } = useLoad(() => api.get<{ data: Subscription[] }>('/subscriptions'));
  const [error, setError] = useState<unknown>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  return (
    <main>
      <h1 tabIndex={-1}>Subscriptions</h1>
      <p>
        <button type="button" onClick={reload}>
          Refresh
        </button>{' '}
        <span class="muted">Request access from an API's page in the <Link href="/">catalog</Link>.</span>
      </p>
      <ErrorBox error={error ?? loadError} />
      <DataTable
        rows={data?.data}
        empty="No subscriptions yet."
        caption="Your subscriptions"
        captionHidden
        rowKey={(s) => s.id}
        rowAttrs={(s) => ({ 'data-subscription': s.id })}
        columns={[
          { label: 'API', cell: (s) => <Link href={`/catalog/${s.service_id}`}>{s.service_name ?? s.service_id}</Link> },
          {
            label: 'Status',
            cell: (s) => (
              <>
                <Badge kind={KIND[s.status]}>{s.status}</Badge>
                {s.reason ? <span class="muted"> {s.reason}</span> : null}
              </>
            ),
          },
          { label: 'Requested', cell: (s) => date(s.created_at) },
          { label: 'Decided', cell: (s) => date(s.decided_at) },
          {
            label: 'Actions',
            cell: (s) =>
              confirm === s.id ? (
                <>
                  <button
                    type="button"
                    class="danger"
                    onClick={async () => {
                      await attempt(setError, () => api.delete(`/subscriptions/${s.id}`));
                      setConfirm(null);
                      reload();
                    }}
                  >
                    Confirm cancel<span class="visually-hidden"> {s.service_name}</span>
                  </button>{' '}
                  <button type="button" onClick={() => setConfirm(null)}>
                    Keep
                  </button>
                </>
              ) : (
                <button type="button" onClick={() => setConfirm(s.id)}>
                  Cancel<span class="visually-hidden"> subscription to {s.service_name}</span>
                </button>
              ),
          },
        ]}
      />
    </main>
  );
}
