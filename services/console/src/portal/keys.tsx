// The developer's API keys: create (the clear key is shown once, with a copy button), rotate (a new key;
// the old one revoked at once or kept for a grace period), revoke (two steps, no modal dialog).
import { useRef, useState } from 'preact/hooks';
import { api, freshKeys } from './session.js';
import { useLoad } from '../shared/load.js';
import { DataTable } from '../shared/table.js';
import { attempt } from '../shared/errors.js';
import { ErrorBox, FieldError, copy, date } from './ui.js';

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

/** Rotate (with the old key's grace period) and revoke (two steps): its own state per key. */
function KeyActions(props: { k: ApiKey; onCreated: (c: Created) => void; reload: () => void; setError: (e: unknown) => void }) {
  const { k } = props;
  const [grace, setGrace] = useState('3600');
  const [confirm, setConfirm] = useState(false);
  const act = async (fn: () => Promise<void>) => {
    await attempt(props.setError, fn);
    props.reload();
  };
  return (
    <>
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
    </>
  );
}

function expires(k: ApiKey) {
  if (!k.expires_at) return 'never';
  const expired = Date.parse(k.expires_at) <= Date.now();
  return (
    <span class={expired ? 'error' : ''}>
      {expired ? 'expired ' : ''}
      {date(k.expires_at)}
    </span>
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
        onSubmit={(e) => {
          e.preventDefault();
          void attempt(setError, async () => {
            onCreated(await api.post<Created>('/keys', name ? { name } : {}));
            setName('');
            reload();
          });
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
      <DataTable
        rows={data?.data}
        empty="No keys yet."
        caption="Your API keys"
        captionHidden
        rowKey={(k) => k.id}
        columns={[
          { label: 'Name', cell: (k) => k.name ?? <span class="muted">unnamed</span> },
          { label: 'Key', cell: (k) => <code>{k.prefix}…</code> },
          { label: 'Created', cell: (k) => date(k.created_at) },
          { label: 'Expires', cell: expires },
          { label: 'Actions', class: 'actions', cell: (k) => <KeyActions k={k} onCreated={onCreated} reload={reload} setError={setError} /> },
        ]}
      />
    </main>
  );
}
