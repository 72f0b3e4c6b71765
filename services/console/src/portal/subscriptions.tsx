// The developer's subscriptions: status (pending until an operator approves, or approved at once by an
// `auto` plan), the decision's reason, and cancelling.
import { useState } from 'preact/hooks';
import { api } from './session.js';
import { Link } from './router.js';
import { Badge, ErrorBox, date, useLoad } from './ui.js';

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
      {data && data.data.length === 0 ? <p class="muted">No subscriptions yet.</p> : null}
      {data && data.data.length > 0 ? (
        <table>
          <caption class="visually-hidden">Your subscriptions</caption>
          <thead>
            <tr>
              <th scope="col">API</th>
              <th scope="col">Status</th>
              <th scope="col">Requested</th>
              <th scope="col">Decided</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data.data.map((s) => (
              <tr key={s.id} data-subscription={s.id}>
                <td>
                  <Link href={`/catalog/${s.service_id}`}>{s.service_name ?? s.service_id}</Link>
                </td>
                <td>
                  <Badge kind={KIND[s.status]}>{s.status}</Badge>
                  {s.reason ? <span class="muted"> {s.reason}</span> : null}
                </td>
                <td>{date(s.created_at)}</td>
                <td>{date(s.decided_at)}</td>
                <td>
                  {confirm === s.id ? (
                    <>
                      <button
                        type="button"
                        class="danger"
                        onClick={async () => {
                          setError(null);
                          try {
                            await api.delete(`/subscriptions/${s.id}`);
                          } catch (err) {
                            setError(err);
                          }
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
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </main>
  );
}
