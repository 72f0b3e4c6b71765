// A consumer's API keys (the clear key is shown once, right after creation) and credentials (JWT, HMAC,
// basic auth), in one dialog opened from the consumers list.
import { useState } from 'preact/hooks';
import { api, state } from './state.js';
import { useLoad } from '../shared/load.js';
import { DataTable, type Column } from '../shared/table.js';
import { attempt } from '../shared/errors.js';
import { Dialog, ErrorBox, Secret, fmtTime } from './ui.js';
import { SchemaForm } from './SchemaForm.js';
import { requestSchema } from './schema.js';

type Row = Record<string, unknown> & { id: string };

type ShownSecret = { label: string; value: string };

/** One kind of access (API keys or credentials): the list with a delete button per row, and the
 * schema-driven form for a new one (one form open at a time in the dialog: `open`). */
function AccessList(props: {
  title: string;
  path: string;
  schema: ReturnType<typeof requestSchema>;
  columns: Array<Column<Row>>;
  labels: { remove: string; create: string; add: string };
  open: boolean;
  setOpen: (open: boolean) => void;
  setError: (e: unknown) => void;
  /** The secret the API shows once in its answer to a create, if any. */
  secretOf: (created: Record<string, unknown>, body: Record<string, unknown>) => ShownSecret | null;
  setSecret: (s: ShownSecret) => void;
}) {
  const list = useLoad(() => api.get<{ data: Row[] }>(props.path, { limit: 1000 }), [props.path]);
  const remove = (row: Row) =>
    attempt(props.setError, async () => {
      await api.delete(`${props.path}/${row.id}`);
      list.reload();
    });
  const actions: Column<Row> = {
    label: 'actions',
    hiddenLabel: true,
    cell: (row) => (
      <button type="button" class="danger" onClick={() => remove(row)}>
        {props.labels.remove}
      </button>
    ),
  };
  return (
    <>
      <h3>{props.title}</h3>
      <ErrorBox error={list.error} />
      <DataTable rows={list.data?.data ?? []} rowKey={(r) => r.id} columns={[...props.columns, actions]} />
      {props.open && props.schema ? (
        <SchemaForm
          schema={props.schema}
          mode="create"
          submitLabel={props.labels.create}
          onCancel={() => props.setOpen(false)}
          onSubmit={async (body) => {
            const created = await api.post<Record<string, unknown>>(props.path, body);
            props.setOpen(false);
            const secret = props.secretOf(created, body);
            if (secret) props.setSecret(secret);
            list.reload();
          }}
        />
      ) : (
        <button type="button" onClick={() => props.setOpen(true)}>
          {props.labels.add}
        </button>
      )}
    </>
  );
}

export function ConsumerAccess(props: { consumer: Row; onClose: () => void }) {
  const c = props.consumer;
  const base = `/v1/consumers/${c.id}`;
  const [adding, setAdding] = useState<'key' | 'credential' | null>(null);
  const [secret, setSecret] = useState<ShownSecret | null>(null);
  const [error, setError] = useState<unknown>(null);
  const doc = state.doc!;
  return (
    <Dialog title={`Keys and credentials of ${String(c.username)}`} onClose={props.onClose} wide>
      {secret ? <Secret label={secret.label} value={secret.value} /> : null}
      <ErrorBox error={error} />
      <AccessList
        title="API keys"
        path={`${base}/keys`}
        schema={requestSchema(doc, '/v1/consumers/{id}/keys', 'post')}
        columns={[
          { label: 'name', cell: (k) => String(k.name ?? '') },
          { label: 'prefix', cell: (k) => <code>{String(k.prefix ?? '')}</code> },
          { label: 'expires', cell: (k) => fmtTime(k.expires_at) },
          { label: 'created', cell: (k) => fmtTime(k.created_at) },
        ]}
        labels={{ remove: 'Delete key', create: 'Create key', add: 'New API key' }}
        open={adding === 'key'}
        setOpen={(open) => setAdding(open ? 'key' : null)}
        setError={setError}
        secretOf={(k) => (typeof k.key === 'string' && k.key ? { label: 'The new API key', value: k.key } : null)}
        setSecret={setSecret}
      />
      <AccessList
        title="Credentials"
        path={`${base}/credentials`}
        schema={requestSchema(doc, '/v1/consumers/{consumer_id}/credentials', 'post')}
        columns={[
          { label: 'type', cell: (k) => String(k.type) },
          { label: 'identifier', cell: (k) => String(k.issuer ?? k.key_id ?? k.username ?? '') },
          { label: 'created', cell: (k) => fmtTime(k.created_at) },
        ]}
        labels={{ remove: 'Delete credential', create: 'Create credential', add: 'New credential' }}
        open={adding === 'credential'}
        setOpen={(open) => setAdding(open ? 'credential' : null)}
        setError={setError}
        // A secret the API generated (none was given) is shown once; one the operator typed is not echoed.
        secretOf={(cr, body) => (typeof cr.secret === 'string' && body.secret === undefined ? { label: 'The generated secret', value: cr.secret } : null)}
        setSecret={setSecret}
      />
    </Dialog>
  );
}
