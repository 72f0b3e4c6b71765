// The developer's API keys: create (the clear key is shown once, with a copy button), rotate (a new key;
// the old one revoked at once or kept for a grace period), revoke (two steps, no modal dialog).
import { useRef, useState } from 'preact/hooks';
import { api, freshKeys } from './session.js';
import { ErrorBox, FieldError, copy, date, useLoad } from './ui.js';

interface ApiKey {
  id: string;
  name: string | null;
  prefix: string;
  expires_at: string | null;
  created_at: string;
}

interface Created extends ApiKey {
  key: string;
}

function Shown(props: { created: Created; onDone: () => void }) {
  const ref = useRef<HTMLElement>(null);
  const [copied, setCopied] = useState<string | null>(null);
  return (
    <div class="shown" role="status" aria-live="polite">
      <p>
        <strong>Your new key{props.created.name ? ` "${props.created.name}"` : ''}.</strong> Copy it now: it is shown only once.
      </p>
      <p>
        <code class="secret" ref={ref} data-testid="new-key">
          {props.created.key}
        </code>
      </p>
      <button
        type="button"
        class="primary"
        onClick={async () => setCopied((await copy(props.created.key, ref.current)) ? 'Copied.' : 'Selected: press Ctrl+C to copy.')}
      >
        Copy key
      </button>{' '}
      <button type="button" onClick={props.onDone}>
        Done
      </button>
      {copied ? <span class="muted"> {copied}</span> : null}
    </div>
  );
}

function KeyRow(props: { k: ApiKey; onCreated: (c: Created) => void; reload: () => void; setError: (e: unknown) => void }) {
  const { k } = props;
  const [grace, setGrace] = useState('3600');
  const [confirm, setConfirm] = useState(false);
  const expired = k.expires_at !== null && Date.parse(k.expires_at) <= Date.now();
  const act = async (fn: () => Promise<void>) => {
    props.setError(null);
    try {
      await fn();
    } catch (err) {
      props.setError(err);
    }
    props.reload();
  };
  return (
    <tr>
      <td>{k.name ?? <span class="muted">unnamed</span>}</td>
      <td>
        <code>{k.prefix}…</code>
      </td>
      <td>{date(k.created_at)}</td>
      <td>{k.expires_at ? <span class={expired ? 'error' : ''}>{expired ? 'expired ' : ''}{date(k.expires_at)}</span> : 'never'}</td>
      <td class="actions">
        <label class="visually-hidden" for={`grace-${k.id}`}>
          Old key after rotating {k.name ?? k.prefix}
        </label>
        <select id={`grace-${k.id}`} value={grace} onChange={(e) => setGrace((e.currentTarget as HTMLSelectElement).value)}>
          <option value="0">revoke old key now</option>
          <option value="3600">old key works 1 more hour</option>
          <option value="86400">old key works 1 more day</option>
        </select>{' '}
        <button
          type="button"
          onClick={() =>
            act(async () => {
              const r = await api.post<{ key: Created }>(`/keys/${k.id}/rotate`, { grace_seconds: Number(grace) });
              props.onCreated(r.key);
            })
          }
        >
          Rotate<span class="visually-hidden"> {k.name ?? k.prefix}</span>
        </button>{' '}
        {confirm ? (
          <>
            <button type="button" class="danger" onClick={() => act(async () => api.delete(`/keys/${k.id}`))}>
              Confirm revoke<span class="visually-hidden"> {k.name ?? k.prefix}</span>
            </button>{' '}
            <button type="button" onClick={() => setConfirm(false)}>
              Cancel
            </button>
          </>
        ) : (
          <button type="button" class="danger" onClick={() => setConfirm(true)}>
            Revoke<span class="visually-hidden"> {k.name ?? k.prefix}</span>
          </button>
        )}
      </td>
    </tr>
  );
}

export function KeysPage() {
  const { data, error: loadError, reload } = useLoad(() => api.get<{ data: ApiKey[] }>('/keys'));
  const [name, setName] = useState('');
  const [created, setCreated] = useState<Created | null>(null);
  const [error, setError] = useState<unknown>(null);
  const onCreated = (c: Created) => {
    freshKeys.push({ id: c.id, name: c.name, key: c.key });
    setCreated(c);
  };
  return (
    <main>
      <h1 tabIndex={-1}>API keys</h1>
      <p class="muted">Keys identify your calls through the gateway. Only a key's first characters are kept visible.</p>
      {created ? <Shown created={created} onDone={() => setCreated(null)} /> : null}
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            onCreated(await api.post<Created>('/keys', name ? { name } : {}));
            setName('');
            reload();
          } catch (err) {
            setError(err);
          }
        }}
      >
        <label for="key-name">Name of the new key</label>{' '}
        <input id="key-name" value={name} maxLength={128} placeholder="e.g. production" onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} aria-describedby="key-name-error" />{' '}
        <button type="submit" class="primary">
          Create key
        </button>
        <FieldError id="key-name-error" error={error} path="/name" />
      </form>
      <ErrorBox error={error ?? loadError} />
      {data && data.data.length === 0 ? <p class="muted">No keys yet.</p> : null}
      {data && data.data.length > 0 ? (
        <table>
          <caption class="visually-hidden">Your API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data.data.map((k) => (
              <KeyRow key={k.id} k={k} onCreated={onCreated} reload={reload} setError={setError} />
            ))}
          </tbody>
        </table>
      ) : null}
    </main>
  );
}
