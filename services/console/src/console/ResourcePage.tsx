// One page per resource kind: the list (server filters, a quick search over the loaded rows, cursor paging),
// create / edit / delete through schema-driven forms, and the kind's own actions: a service's lifecycle,
// a subscription's approval, a consumer's API keys and credentials.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, state } from './state.js';
import { Dialog, ErrorBox, Secret, errorText, fmtTime } from './ui.js';
import { SchemaForm, REFERENCES } from './SchemaForm.js';
import { listFilters, requestSchema } from './schema.js';
import { LIFECYCLE_ACTIONS, type ResourceDef } from './resources.js';
import { ConsumerAccess } from './ConsumerAccess.js';
import { ROW_ACTIONS, RowDialog, type RowAction } from './row-actions.js';

type Entity = Record<string, unknown> & { id: string };
interface Page {
  data: Entity[];
  next_cursor: string | null;
}

/** id → display name of the entities of the referenced collections, for list cells. */
export function useNames(fields: string[]): Record<string, Map<string, string>> {
  const [names, setNames] = useState<Record<string, Map<string, string>>>({});
  useEffect(() => {
    for (const f of fields) {
      const ref = REFERENCES[f];
      if (!ref) continue;
      api.get<Page>(ref.path, { limit: 1000 }).then(
        (r) => setNames((m) => ({ ...m, [f]: new Map(r.data.map((e) => [e.id, String(e[ref.label] ?? e.id)])) })),
        () => undefined,
      );
    }
  }, [fields.join(','), state.generation]);
  return names;
}

export function cell(v: unknown, field: string, names: Record<string, Map<string, string>>): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string' && names[field]?.has(v)) return names[field]!.get(v)!;
  if (field.endsWith('_at') && typeof v === 'string') return fmtTime(v);
  if (field === 'targets' && Array.isArray(v)) return v.map((t: { host?: string; port?: number }) => `${t.host}:${t.port}`).join(', ');
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A column or filter name as a heading: `service_id` → `service`, `default_model` → `default model`. */
export function heading(field: string): string {
  return field.replace(/_id$/, '').replace(/_/g, ' ');
}

const FILTER_ENUMS: Record<string, string[]> = {
  'subscriptions.status': ['pending', 'approved', 'rejected', 'revoked'],
};

type Modal =
  | { kind: 'create' }
  | { kind: 'edit'; entity: Entity }
  | { kind: 'delete'; entity: Entity }
  | { kind: 'secret'; label: string; value: string }
  | { kind: 'decide'; entity: Entity; action: 'reject' | 'revoke' }
  | { kind: 'access'; entity: Entity }
  | { kind: 'row'; entity: Entity; action: RowAction };

export function ResourcePage(props: { def: ResourceDef }) {
  const def = props.def;
  const doc = state.doc!;
  const createSchema = requestSchema(doc, def.path, 'post');
  const updateSchema = def.noEdit ? null : requestSchema(doc, `${def.path}/{id}`, 'patch');
  const filters = useMemo(() => listFilters(doc, def.path), [def.path]);
  const [filterValues, setFilterValues] = useState<Record<string, string>>({});
  const [applied, setApplied] = useState<Record<string, string>>({});
  const [search, setSearch] = useState('');
  const [rows, setRows] = useState<Entity[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [modal, setModal] = useState<Modal | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const names = useNames([...new Set([...def.columns, ...filters])].filter((c) => REFERENCES[c]));

  useEffect(() => {
    setFilterValues({});
    setApplied({});
    setSearch('');
    setNotice(null);
  }, [def.key]);

  useEffect(() => {
    let live = true;
    setLoading(true);
    api.get<Page>(def.path, { limit: 100, ...applied }).then(
      (p) => {
        if (!live) return;
        setRows(p.data);
        setCursor(p.next_cursor ?? null);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (!live) return;
        setRows([]);
        setCursor(null);
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [def.path, applied, tick, state.generation]);

  const more = async () => {
    try {
      const p = await api.get<Page>(def.path, { limit: 100, ...applied, cursor });
      setRows((r) => [...r, ...p.data]);
      setCursor(p.next_cursor ?? null);
    } catch (e) {
      setError(e);
    }
  };
  const refresh = () => setTick((t) => t + 1);
  const q = search.trim().toLowerCase();
  const shown = q ? rows.filter((r) => JSON.stringify(r).toLowerCase().includes(q)) : rows;
  const title = (e: Entity) => String(e[def.nameField] ?? e.id);

  const act = async (fn: () => Promise<unknown>, done: string) => {
    setError(null);
    try {
      await fn();
      setNotice(done);
      refresh();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">{def.label}</h1>
        {createSchema ? (
          <button type="button" class="primary" onClick={() => setModal({ kind: 'create' })}>
            Create {def.singular}
          </button>
        ) : null}
      </div>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(Object.fromEntries(Object.entries(filterValues).filter(([, v]) => v.trim() !== '')));
        }}
      >
        <label>
          Search loaded rows
          <input type="search" value={search} onInput={(e) => setSearch((e.currentTarget as HTMLInputElement).value)} placeholder="any text" />
        </label>
        {filters.map((f) => {
          const set = (e: Event) => setFilterValues((m) => ({ ...m, [f]: (e.currentTarget as HTMLInputElement | HTMLSelectElement).value }));
          // References and known enums are chosen, not typed: an id is no one's idea of a search term.
          const choices = REFERENCES[f] ? [...(names[f]?.entries() ?? [])] : FILTER_ENUMS[`${def.key}.${f}`]?.map((v) => [v, v] as [string, string]);
          return (
            <label key={f}>
              {heading(f)}
              {choices ? (
                <select name={f} value={filterValues[f] ?? ''} onChange={set}>
                  <option value="">any</option>
                  {choices.map(([id, n]) => (
                    <option key={id} value={id}>
                      {n}
                    </option>
                  ))}
                </select>
              ) : (
                <input name={f} value={filterValues[f] ?? ''} onInput={set} />
              )}
            </label>
          );
        })}
        {filters.length > 0 ? <button type="submit">Filter</button> : null}
      </form>
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <ErrorBox error={error} />
      <table>
        <thead>
          <tr>
            {def.columns.map((c) => (
              <th key={c} scope="col">
                {heading(c)}
              </th>
            ))}
            <th scope="col">
              <span class="visually-hidden">actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {shown.map((e) => (
            <tr key={e.id} data-id={e.id}>
              {def.columns.map((c) => (
                <td key={c}>{cell(e[c], c, names)}</td>
              ))}
              <td class="actions">
                {def.key === 'services'
                  ? (LIFECYCLE_ACTIONS[String(e.lifecycle ?? 'published')] ?? []).map((a) => (
                      <button key={a.to} type="button" onClick={() => act(() => api.patch(`${def.path}/${e.id}`, { lifecycle: a.to }), `${title(e)}: ${a.to}`)}>
                        {a.label}
                      </button>
                    ))
                  : null}
                {def.key === 'subscriptions' && e.status === 'pending' ? (
                  <>
                    <button type="button" onClick={() => act(() => api.post(`${def.path}/${e.id}/approve`, {}), 'subscription approved')}>
                      Approve
                    </button>
                    <button type="button" onClick={() => setModal({ kind: 'decide', entity: e, action: 'reject' })}>
                      Reject
                    </button>
                  </>
                ) : null}
                {def.key === 'subscriptions' && e.status === 'approved' ? (
                  <button type="button" onClick={() => setModal({ kind: 'decide', entity: e, action: 'revoke' })}>
                    Revoke
                  </button>
                ) : null}
                {def.key === 'consumers' ? (
                  <button type="button" onClick={() => setModal({ kind: 'access', entity: e })}>
                    Keys &amp; credentials
                  </button>
                ) : null}
                {(ROW_ACTIONS[def.key] ?? []).map((a) => (
                  <button key={a.label} type="button" aria-label={`${a.label}: ${title(e)}`} onClick={() => setModal({ kind: 'row', entity: e, action: a })}>
                    {a.label}
                  </button>
                ))}
                {updateSchema ? (
                  <button type="button" aria-label={`Edit ${title(e)}`} onClick={() => setModal({ kind: 'edit', entity: e })}>
                    Edit
                  </button>
                ) : null}
                <button type="button" class="danger" aria-label={`Delete ${title(e)}`} onClick={() => setModal({ kind: 'delete', entity: e })}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!loading && shown.length === 0 && !error ? <p class="muted">No {def.label.toLowerCase()}{q || Object.keys(applied).length ? ' match' : ' yet'}.</p> : null}
      {cursor ? (
        <button type="button" onClick={more}>
          Load more
        </button>
      ) : null}

      {modal?.kind === 'create' && createSchema ? (
        <Dialog title={`Create ${def.singular}`} onClose={() => setModal(null)} wide>
          <SchemaForm
            schema={createSchema}
            mode="create"
            onCancel={() => setModal(null)}
            onSubmit={async (body) => {
              const created = await api.post<Entity>(def.path, body);
              refresh();
              const secret = def.secretField ? created[def.secretField] : undefined;
              if (typeof secret === 'string') setModal({ kind: 'secret', label: `The new ${def.singular}`, value: secret });
              else {
                setModal(null);
                setNotice(`Created ${def.singular} ${title(created)}`);
              }
            }}
          />
        </Dialog>
      ) : null}
      {modal?.kind === 'edit' && updateSchema ? <EditDialog def={def} entity={modal.entity} onClose={() => setModal(null)} onSaved={(e) => { setModal(null); setNotice(`Saved ${def.singular} ${title(e)}`); refresh(); }} /> : null}
      {modal?.kind === 'delete' ? (
        <ConfirmDelete
          what={`${def.singular} ${title(modal.entity)}`}
          onClose={() => setModal(null)}
          onConfirm={async () => {
            await api.delete(`${def.path}/${modal.entity.id}`);
            setModal(null);
            setNotice(`Deleted ${def.singular} ${title(modal.entity)}`);
            refresh();
          }}
        />
      ) : null}
      {modal?.kind === 'secret' ? (
        <Dialog title="Created" onClose={() => setModal(null)}>
          <Secret label={modal.label} value={modal.value} />
          <div class="form-actions">
            <button type="button" onClick={() => setModal(null)}>
              Done
            </button>
          </div>
        </Dialog>
      ) : null}
      {modal?.kind === 'decide' ? (
        <DecideDialog
          action={modal.action}
          onClose={() => setModal(null)}
          onSubmit={async (reason) => {
            await api.post(`/v1/subscriptions/${modal.entity.id}/${modal.action}`, reason ? { reason } : {});
            setModal(null);
            setNotice(`subscription ${modal.action === 'reject' ? 'rejected' : 'revoked'}`);
            refresh();
          }}
        />
      ) : null}
      {modal?.kind === 'access' ? <ConsumerAccess consumer={modal.entity} onClose={() => setModal(null)} /> : null}
      {modal?.kind === 'row' ? (
        <RowDialog
          action={modal.action}
          kind={def.key}
          entity={modal.entity}
          title={title(modal.entity)}
          onClose={() => setModal(null)}
          onChanged={(done) => {
            setNotice(done);
            refresh();
          }}
        />
      ) : null}
    </section>
  );
}

function EditDialog(props: { def: ResourceDef; entity: Entity; onClose: () => void; onSaved: (e: Entity) => void }) {
  const { def } = props;
  const schema = requestSchema(state.doc!, `${def.path}/{id}`, 'patch')!;
  const [fresh, setFresh] = useState<Entity | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.get<Entity>(`${def.path}/${props.entity.id}`).then(setFresh, setError);
  }, []);
  return (
    <Dialog title={`Edit ${def.singular} ${String(props.entity[def.nameField] ?? props.entity.id)}`} onClose={props.onClose} wide>
      <ErrorBox error={error} />
      {fresh ? (
        <SchemaForm
          schema={schema}
          mode="update"
          initial={fresh}
          onCancel={props.onClose}
          onSubmit={async (body) => {
            props.onSaved(await api.patch<Entity>(`${def.path}/${props.entity.id}`, body));
          }}
        />
      ) : error ? null : (
        <p class="muted">Loading…</p>
      )}
    </Dialog>
  );
}

export function ConfirmDelete(props: { what: string; onClose: () => void; onConfirm: () => Promise<void> }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title="Delete" onClose={props.onClose}>
      <p>Delete {props.what}? This cannot be undone.</p>
      <ErrorBox error={error} />
      <div class="form-actions">
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await props.onConfirm();
            } catch (e) {
              setError(e);
              setBusy(false);
            }
          }}
        >
          Delete
        </button>
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

export function DecideDialog(props: { action: 'reject' | 'revoke'; onClose: () => void; onSubmit: (reason: string) => Promise<void> }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<unknown>(null);
  const verb = props.action === 'reject' ? 'Reject' : 'Revoke';
  return (
    <Dialog title={`${verb} subscription`} onClose={props.onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await props.onSubmit(reason.trim());
          } catch (err) {
            setError(err);
          }
        }}
      >
        <div class="field">
          <label for="decide-reason">Reason (optional, shown to the developer)</label>
          <textarea id="decide-reason" rows={3} value={reason} onInput={(e) => setReason((e.currentTarget as HTMLTextAreaElement).value)} />
        </div>
        {error ? <p class="error" role="alert">{errorText(error)}</p> : null}
        <div class="form-actions">
          <button type="submit" class="danger">
            {verb}
          </button>
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
