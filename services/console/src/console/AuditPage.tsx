// The audit log (GET /v1/audit, admin role): one row per admin write, oldest first, filtered by resource
// type and id, action, actor and time range, paged by the API's cursor; a row's detail shows the object
// before and after the write, field by field and as JSON. Loaded by dynamic import when opened.
import { useState } from 'preact/hooks';
import { api } from './state.js';
import { useLoad } from '../shared/load.js';
import { DataTable } from '../shared/table.js';
import { Dialog, ErrorBox, fmtTime, localTimeMs, TimeRangeSearch } from './ui.js';

interface AuditEntry {
  id: string;
  at: string;
  tenant_id: string | null;
  actor_token_id: string | null;
  actor_user_id: string | null;
  action: 'create' | 'update' | 'delete';
  resource_type: string;
  resource_id: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  request_id: string | null;
}

// The API's resource_type values (services/control-plane/src/service/audit.ts); it refuses any other.
const RESOURCE_TYPES = [
  'upstreams', 'services', 'routes', 'consumers', 'keys', 'consumer_groups', 'credentials', 'plans', 'subscriptions',
  'plugins', 'ai_providers', 'prompt_templates', 'ai_budgets', 'certificates', 'openapi_docs', 'tenants', 'users',
  'members', 'tokens', 'portal_settings',
];
const PAGE = 50;

const json = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v, null, 2));

/** Every top-level field of before ∪ after, changed ones marked (deep equality through JSON text). */
function FieldDiff(props: { before: Record<string, unknown> | null; after: Record<string, unknown> | null }) {
  const b = props.before ?? {};
  const a = props.after ?? {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  return (
    <DataTable
      caption="fields before and after the write"
      captionHidden
      class="audit-diff"
      rows={keys}
      rowKey={(k) => k}
      rowAttrs={(k) => ({ 'data-field': k, 'data-changed': String(json(b[k]) !== json(a[k])) })}
      columns={[
        { label: 'field', cell: (k) => (json(b[k]) !== json(a[k]) ? <strong>{k} (changed)</strong> : k) },
        { label: 'before', cell: (k) => (k in b ? <code>{json(b[k])}</code> : <span class="muted">—</span>) },
        { label: 'after', cell: (k) => (k in a ? <code>{json(a[k])}</code> : <span class="muted">—</span>) },
      ]}
    />
  );
}

function AuditDetail(props: { entry: AuditEntry; onClose: () => void }) {
  const e = props.entry;
  return (
    <Dialog title={`${e.action} ${e.resource_type} ${e.resource_id}`} onClose={props.onClose} wide>
      <dl class="detail">
        <div>
          <dt>time</dt>
          <dd>{fmtTime(e.at)}</dd>
        </div>
        <div>
          <dt>actor</dt>
          <dd>{actorOf(e)}</dd>
        </div>
        <div>
          <dt>request id</dt>
          <dd>{e.request_id ?? ''}</dd>
        </div>
      </dl>
      <h3>Changes</h3>
      <FieldDiff before={e.before} after={e.after} />
      <h3>before</h3>
      <pre class="plan" data-testid="audit-before">{e.before ? json(e.before) : 'null (created)'}</pre>
      <h3>after</h3>
      <pre class="plan" data-testid="audit-after">{e.after ? json(e.after) : 'null (deleted)'}</pre>
    </Dialog>
  );
}

function actorOf(e: AuditEntry): string {
  if (e.actor_user_id) return `user ${e.actor_user_id}`;
  if (e.actor_token_id) return `token ${e.actor_token_id}`;
  return 'system';
}

export default function AuditPage() {
  const [form, setForm] = useState({ resource_type: '', resource_id: '', action: '', actor: '', from: '', to: '' });
  const [query, setQuery] = useState<Record<string, string | number | undefined>>({});
  // The cursors of the pages seen so far: the last is the page shown (undefined: the first page).
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const [open, setOpen] = useState<AuditEntry | null>(null);
  const cursor = cursors[cursors.length - 1];
  const list = useLoad(
    (signal) => api.get<{ data: AuditEntry[]; next_cursor: string | null }>('/v1/audit', { ...query, limit: PAGE, cursor }, signal),
    [query, cursor],
  );
  const set = (k: keyof typeof form) => (e: Event) => setForm((f) => ({ ...f, [k]: (e.currentTarget as HTMLInputElement).value }));
  const next = list.data?.next_cursor ?? null;
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Audit log</h1>
      <p class="muted">Every admin write in this tenant, oldest first: who changed what, and the object before and after.</p>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setCursors([undefined]);
          setQuery({
            resource_type: form.resource_type || undefined,
            resource_id: form.resource_id.trim() || undefined,
            action: form.action || undefined,
            actor: form.actor.trim() || undefined,
            from: localTimeMs(form.from),
            to: localTimeMs(form.to),
          });
        }}
      >
        <label>
          resource type
          <select name="resource_type" value={form.resource_type} onChange={set('resource_type')}>
            <option value="">any</option>
            {RESOURCE_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          resource id
          <input name="resource_id" value={form.resource_id} onInput={set('resource_id')} />
        </label>
        <label>
          action
          <select name="action" value={form.action} onChange={set('action')}>
            <option value="">any</option>
            <option value="create">create</option>
            <option value="update">update</option>
            <option value="delete">delete</option>
          </select>
        </label>
        <label>
          actor (token or user id)
          <input name="actor" value={form.actor} onInput={set('actor')} />
        </label>
        <TimeRangeSearch from={form.from} to={form.to} onInput={set} />
      </form>
      <ErrorBox error={list.error} />
      <DataTable
        rows={list.data?.data ?? null}
        empty="No audit entries match."
        caption="audit entries"
        captionHidden
        class="audit"
        rowKey={(e) => e.id}
        rowAttrs={(e) => ({ 'data-id': e.id, 'data-resource-id': e.resource_id, 'data-action': e.action })}
        columns={[
          { label: 'time', cell: (e) => fmtTime(e.at) },
          { label: 'actor', cell: (e) => actorOf(e) },
          { label: 'action', cell: (e) => e.action },
          { label: 'resource type', cell: (e) => e.resource_type },
          { label: 'resource id', cell: (e) => e.resource_id },
          { label: 'request id', cell: (e) => e.request_id ?? '' },
          {
            label: 'details',
            hiddenLabel: true,
            cell: (e) => (
              <button type="button" onClick={() => setOpen(e)} aria-label={`Details of ${e.action} ${e.resource_type} ${e.resource_id}`}>
                Details
              </button>
            ),
          },
        ]}
      />
      <nav class="pager" aria-label="pages">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Previous
        </button>
        <button type="button" disabled={next === null || list.loading} onClick={() => next && setCursors((c) => [...c, next])}>
          Next
        </button>
      </nav>
      {open ? <AuditDetail entry={open} onClose={() => setOpen(null)} /> : null}
    </section>
  );
}
