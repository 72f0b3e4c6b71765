// A consumer's API keys (the clear key is shown once, right after creation) and credentials (JWT, HMAC,
// basic auth), in one dialog opened from the consumers list.
import { useState } from 'preact/hooks';
import { api, state } from './state.js';
import { Dialog, ErrorBox, Secret, fmtTime, useLoad } from './ui.js';
import { SchemaForm } from './SchemaForm.js';
import { requestSchema } from './schema.js';

type Row = Record<string, unknown> & { id: string };

export function ConsumerAccess(props: { consumer: Row; onClose: () => void }) {
  const c = props.consumer;
  const base = `/v1/consumers/${c.id}`;
  const keys = useLoad(() => api.get<{ data: Row[] }>(`${base}/keys`, { limit: 1000 }), [c.id]);
  const creds = useLoad(() => api.get<{ data: Row[] }>(`${base}/credentials`, { limit: 1000 }), [c.id]);
  const [adding, setAdding] = useState<'key' | 'credential' | null>(null);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const doc = state.doc!;
  const keySchema = requestSchema(doc, '/v1/consumers/{id}/keys', 'post');
  const credSchema = requestSchema(doc, '/v1/consumers/{consumer_id}/credentials', 'post');
  const remove = async (path: string, reload: () => void) => {
    setError(null);
    try {
      await api.delete(path);
      reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Dialog title={`Keys and credentials of ${String(c.username)}`} onClose={props.onClose} wide>
      {secret ? <Secret label={secret.label} value={secret.value} /> : null}
      <ErrorBox error={error} />
      <h3>API keys</h3>
      <ErrorBox error={keys.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">name</th>
            <th scope="col">prefix</th>
            <th scope="col">expires</th>
            <th scope="col">created</th>
            <th scope="col"><span class="visually-hidden">actions</span></th>
          </tr>
        </thead>
        <tbody>
          {(keys.data?.data ?? []).map((k) => (
            <tr key={k.id}>
              <td>{String(k.name ?? '')}</td>
              <td><code>{String(k.prefix ?? '')}</code></td>
              <td>{fmtTime(k.expires_at)}</td>
              <td>{fmtTime(k.created_at)}</td>
              <td>
                <button type="button" class="danger" onClick={() => remove(`${base}/keys/${k.id}`, keys.reload)}>
                  Delete key
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {adding === 'key' && keySchema ? (
        <SchemaForm
          schema={keySchema}
          mode="create"
          submitLabel="Create key"
          onCancel={() => setAdding(null)}
          onSubmit={async (body) => {
            const k = await api.post<{ key?: string }>(`${base}/keys`, body);
            setAdding(null);
            if (k.key) setSecret({ label: 'The new API key', value: k.key });
            keys.reload();
          }}
        />
      ) : (
        <button type="button" onClick={() => setAdding('key')}>
          New API key
        </button>
      )}
      <h3>Credentials</h3>
      <ErrorBox error={creds.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">type</th>
            <th scope="col">identifier</th>
            <th scope="col">created</th>
            <th scope="col"><span class="visually-hidden">actions</span></th>
          </tr>
        </thead>
        <tbody>
          {(creds.data?.data ?? []).map((k) => (
            <tr key={k.id}>
              <td>{String(k.type)}</td>
              <td>{String(k.issuer ?? k.key_id ?? k.username ?? '')}</td>
              <td>{fmtTime(k.created_at)}</td>
              <td>
                <button type="button" class="danger" onClick={() => remove(`${base}/credentials/${k.id}`, creds.reload)}>
                  Delete credential
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {adding === 'credential' && credSchema ? (
        <SchemaForm
          schema={credSchema}
          mode="create"
          submitLabel="Create credential"
          onCancel={() => setAdding(null)}
          onSubmit={async (body) => {
            const cr = await api.post<{ secret?: string }>(`${base}/credentials`, body);
            setAdding(null);
            if (typeof cr.secret === 'string' && body.secret === undefined) setSecret({ label: 'The generated secret', value: cr.secret });
            creds.reload();
          }}
        />
      ) : (
        <button type="button" onClick={() => setAdding('credential')}>
          New credential
        </button>
      )}
    </Dialog>
  );
}
