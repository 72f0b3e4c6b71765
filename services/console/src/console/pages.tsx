// The smaller pages: the subscription approval queue, the cluster view, and the tenant's members.
import { useEffect, useState } from 'preact/hooks';
import { api, state } from './state.js';
import { ErrorBox, fmtTime, useLoad } from './ui.js';
import { DecideDialog, cell, useNames, ConfirmDelete } from './ResourcePage.js';

type Row = Record<string, unknown> & { id: string };

export function ApprovalsPage() {
  const list = useLoad(() => api.get<{ data: Row[] }>('/v1/subscriptions', { status: 'pending', limit: 1000 }), []);
  const names = useNames(['consumer_id', 'service_id', 'plan_id']);
  const [rejecting, setRejecting] = useState<Row | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const rows = list.data?.data ?? [];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Subscription approvals</h1>
      <p class="muted">Developers' requests for access to a service under a plan with manual approval.</p>
      {notice ? <p class="notice" role="status">{notice}</p> : null}
      <ErrorBox error={list.error ?? error} />
      <table>
        <thead>
          <tr>
            <th scope="col">consumer</th>
            <th scope="col">service</th>
            <th scope="col">plan</th>
            <th scope="col">note</th>
            <th scope="col">requested</th>
            <th scope="col"><span class="visually-hidden">actions</span></th>
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.id} data-id={s.id}>
              <td>{cell(s.consumer_id, 'consumer_id', names)}</td>
              <td>{cell(s.service_id, 'service_id', names)}</td>
              <td>{cell(s.plan_id, 'plan_id', names)}</td>
              <td>{String(s.note ?? '')}</td>
              <td>{fmtTime(s.created_at)}</td>
              <td class="actions">
                <button
                  type="button"
                  class="primary"
                  onClick={async () => {
                    setError(null);
                    try {
                      await api.post(`/v1/subscriptions/${s.id}/approve`, {});
                      setNotice(`Approved ${cell(s.consumer_id, 'consumer_id', names)} → ${cell(s.service_id, 'service_id', names)}`);
                      list.reload();
                    } catch (e) {
                      setError(e);
                    }
                  }}
                >
                  Approve
                </button>
                <button type="button" class="danger" onClick={() => setRejecting(s)}>
                  Reject
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!list.loading && rows.length === 0 && !list.error ? <p class="muted">No pending subscriptions.</p> : null}
      {rejecting ? (
        <DecideDialog
          action="reject"
          onClose={() => setRejecting(null)}
          onSubmit={async (reason) => {
            await api.post(`/v1/subscriptions/${rejecting.id}/reject`, reason ? { reason } : {});
            setRejecting(null);
            setNotice('Rejected');
            list.reload();
          }}
        />
      ) : null}
    </section>
  );
}

interface ClusterNode {
  node_id: string;
  hostname: string;
  version: string;
  revision: number;
  source: string;
  ready: boolean;
  status: string;
  last_heartbeat: string;
  lag_revisions: number;
  started_at: string;
}

export function ClusterPage() {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 5000);
    return () => clearInterval(t);
  }, []);
  const data = useLoad(
    async (signal) => {
      const [nodes, status] = await Promise.all([
        api.get<{ data: ClusterNode[]; config_revision: number }>('/v1/cluster/nodes', undefined, signal),
        api.get<{ config_revision: number; published_revision: number; unpublished_outbox_rows: number }>('/v1/status', undefined, signal),
      ]);
      return { nodes, status, at: Date.now() };
    },
    [tick],
  );
  const d = data.data;
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Cluster</h1>
      <ErrorBox error={data.error} />
      {d ? (
        <>
          <dl class="stats">
            <div>
              <dt>config revision</dt>
              <dd data-testid="config-revision">{d.status.config_revision}</dd>
            </div>
            <div>
              <dt>published revision</dt>
              <dd>{d.status.published_revision}</dd>
            </div>
            <div>
              <dt>unpublished changes</dt>
              <dd>{d.status.unpublished_outbox_rows}</dd>
            </div>
            <div>
              <dt>nodes healthy</dt>
              <dd>
                {d.nodes.data.filter((n) => n.status === 'healthy').length} / {d.nodes.data.length}
              </dd>
            </div>
          </dl>
          <table>
            <thead>
              <tr>
                <th scope="col">node</th>
                <th scope="col">host</th>
                <th scope="col">version</th>
                <th scope="col">health</th>
                <th scope="col">applied revision</th>
                <th scope="col">lag (revisions)</th>
                <th scope="col">config source</th>
                <th scope="col">last heartbeat</th>
                <th scope="col">started</th>
              </tr>
            </thead>
            <tbody>
              {d.nodes.data.map((n) => (
                <tr key={n.node_id} data-node={n.node_id}>
                  <td>{n.node_id}</td>
                  <td>{n.hostname}</td>
                  <td>{n.version}</td>
                  <td>
                    <span class={`badge ${n.status}`}>{n.status}</span>
                  </td>
                  <td>{n.revision}</td>
                  <td class={n.lag_revisions > 0 ? 'warn' : ''}>{n.lag_revisions}</td>
                  <td>{n.source}</td>
                  <td>
                    {fmtTime(n.last_heartbeat)} <span class="muted">({Math.max(0, Math.round((d.at - Date.parse(n.last_heartbeat)) / 1000))} s ago)</span>
                  </td>
                  <td>{fmtTime(n.started_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {d.nodes.data.length === 0 ? <p class="muted">No gateway node has reported yet (nodes report every 2 s).</p> : null}
        </>
      ) : null}
    </section>
  );
}

interface Member {
  user_id: string;
  user_name: string;
  tenant_id: string;
  role: string;
  created_at: string;
}

const ROLES = ['viewer', 'editor', 'admin', 'owner'];

export function MembersPage() {
  const tenants = useLoad(() => api.get<{ data: Row[] }>('/v1/tenants', { limit: 1000 }), []);
  // The tenant switcher's choice; with "home tenant" the token's only tenant, or `default` (the bootstrap
  // token's home). The API does not say which tenant is a token's home, so otherwise one must be chosen.
  const list = tenants.data?.data ?? [];
  const current = state.tenant ? list.find((t) => t.name === state.tenant) : list.length === 1 ? list[0] : list.find((t) => t.name === 'default');
  const members = useLoad(async () => (current ? api.get<{ data: Member[] }>(`/v1/tenants/${current.id}/members`) : { data: [] }), [current?.id]);
  const users = useLoad(() => api.get<{ data: Row[] }>('/v1/users', { limit: 1000 }), []);
  const [userId, setUserId] = useState('');
  const [role, setRole] = useState('viewer');
  const [error, setError] = useState<unknown>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const put = async (uid: string, r: string) => {
    setError(null);
    try {
      await api.put(`/v1/tenants/${current!.id}/members/${uid}`, { role: r });
      members.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Members{current ? ` of ${String(current.name)}` : ''}</h1>
      <ErrorBox error={tenants.error ?? members.error ?? error} />
      {tenants.data && !current ? <p class="muted">Choose a tenant in the top bar to see its members.</p> : null}
      <table>
        <thead>
          <tr>
            <th scope="col">user</th>
            <th scope="col">role</th>
            <th scope="col">since</th>
            <th scope="col"><span class="visually-hidden">actions</span></th>
          </tr>
        </thead>
        <tbody>
          {(members.data?.data ?? []).map((m) => (
            <tr key={m.user_id}>
              <td>{m.user_name}</td>
              <td>
                <label class="visually-hidden" for={`role-${m.user_id}`}>
                  role of {m.user_name}
                </label>
                <select id={`role-${m.user_id}`} value={m.role} onChange={(e) => put(m.user_id, (e.currentTarget as HTMLSelectElement).value)}>
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </td>
              <td>{fmtTime(m.created_at)}</td>
              <td>
                <button type="button" class="danger" onClick={() => setRemoving(m)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {current ? (
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            if (userId) void put(userId, role);
          }}
        >
          <label>
            user
            <select value={userId} onChange={(e) => setUserId((e.currentTarget as HTMLSelectElement).value)}>
              <option value="">— choose —</option>
              {(users.data?.data ?? []).map((u) => (
                <option key={u.id} value={u.id}>
                  {String(u.name)}
                </option>
              ))}
            </select>
          </label>
          <label>
            role
            <select value={role} onChange={(e) => setRole((e.currentTarget as HTMLSelectElement).value)}>
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          </label>
          <button type="submit">Add or change member</button>
        </form>
      ) : null}
      {removing ? (
        <ConfirmDelete
          what={`${removing.user_name} from this tenant`}
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await api.delete(`/v1/tenants/${current!.id}/members/${removing.user_id}`);
            setRemoving(null);
            members.reload();
          }}
        />
      ) : null}
    </section>
  );
}
