// The smaller pages: the subscription approval queue, the cluster view, and the tenant's members.
import { useEffect, useState } from 'preact/hooks';
import { api, state } from './state.js';
import { useLoad } from '../shared/load.js';
import { DataTable } from '../shared/table.js';
import { attempt } from '../shared/errors.js';
import { ErrorBox, fmtTime } from './ui.js';
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
      <DataTable
        rows={rows}
        rowKey={(s) => s.id}
        rowAttrs={(s) => ({ 'data-id': s.id })}
        columns={[
          { label: 'consumer', cell: (s) => cell(s.consumer_id, 'consumer_id', names) },
          { label: 'service', cell: (s) => cell(s.service_id, 'service_id', names) },
          { label: 'plan', cell: (s) => cell(s.plan_id, 'plan_id', names) },
          { label: 'note', cell: (s) => String(s.note ?? '') },
          { label: 'requested', cell: (s) => fmtTime(s.created_at) },
          {
            label: 'actions',
            hiddenLabel: true,
            class: 'actions',
            cell: (s) => (
              <>
                <button
                  type="button"
                  class="primary"
                  onClick={() =>
                    attempt(setError, async () => {
                      await api.post(`/v1/subscriptions/${s.id}/approve`, {});
                      setNotice(`Approved ${cell(s.consumer_id, 'consumer_id', names)} → ${cell(s.service_id, 'service_id', names)}`);
                      list.reload();
                    })
                  }
                >
                  Approve
                </button>
                <button type="button" class="danger" onClick={() => setRejecting(s)}>
                  Reject
                </button>
              </>
            ),
          },
        ]}
      />
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
          <DataTable
            rows={d.nodes.data}
            rowKey={(n) => n.node_id}
            rowAttrs={(n) => ({ 'data-node': n.node_id })}
            columns={[
              { label: 'node', cell: (n) => n.node_id },
              { label: 'host', cell: (n) => n.hostname },
              { label: 'version', cell: (n) => n.version },
              { label: 'health', cell: (n) => <span class={`badge ${n.status}`}>{n.status}</span> },
              { label: 'applied revision', cell: (n) => n.revision },
              { label: 'lag (revisions)', cell: (n) => n.lag_revisions, class: (n) => (n.lag_revisions > 0 ? 'warn' : '') },
              { label: 'config source', cell: (n) => n.source },
              {
                label: 'last heartbeat',
                cell: (n) => (
                  <>
                    {fmtTime(n.last_heartbeat)} <span class="muted">({Math.max(0, Math.round((d.at - Date.parse(n.last_heartbeat)) / 1000))} s ago)</span>
                  </>
                ),
              },
              { label: 'started', cell: (n) => fmtTime(n.started_at) },
            ]}
          />
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
  // The tenant the console addresses (the switcher's choice, else the token's home tenant), as /v1/me says.
  const me = useLoad(() => api.get<{ tenant: { id: string; name: string } }>('/v1/me'), [state.tenant]);
  const current = me.data?.tenant ?? null;
  const members = useLoad(async () => (current ? api.get<{ data: Member[] }>(`/v1/tenants/${current.id}/members`) : { data: [] }), [current?.id]);
  const users = useLoad(() => api.get<{ data: Row[] }>('/v1/users', { limit: 1000 }), []);
  const [userId, setUserId] = useState('');
  const [role, setRole] = useState('viewer');
  const [error, setError] = useState<unknown>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const put = (uid: string, r: string) =>
    attempt(setError, async () => {
      await api.put(`/v1/tenants/${current!.id}/members/${uid}`, { role: r });
      members.reload();
    });
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Members{current ? ` of ${String(current.name)}` : ''}</h1>
      <ErrorBox error={me.error ?? members.error ?? error} />
      <DataTable
        rows={members.data?.data ?? []}
        rowKey={(m) => m.user_id}
        columns={[
          { label: 'user', cell: (m) => m.user_name },
          {
            label: 'role',
            cell: (m) => (
              <>
                <label class="visually-hidden" for={`role-${m.user_id}`}>
                  role of {m.user_name}
                </label>
                <select id={`role-${m.user_id}`} value={m.role} onChange={(e) => put(m.user_id, (e.currentTarget as HTMLSelectElement).value)}>
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </>
            ),
          },
          { label: 'since', cell: (m) => fmtTime(m.created_at) },
          {
            label: 'actions',
            hiddenLabel: true,
            cell: (m) => (
              <button type="button" class="danger" onClick={() => setRemoving(m)}>
                Remove
              </button>
            ),
          },
        ]}
      />
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
