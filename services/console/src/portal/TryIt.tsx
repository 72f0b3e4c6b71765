// "Try it" for one operation: fill in the parameters and body, pick the API key, and the control plane
// relays the request through the gateway (POST /portal/api/v1/try); the answer is shown as received.
import { useState } from 'preact/hooks';
import { api, freshKeys } from './session.js';
import { sample, type Json, type Operation } from './openapi.js';
import { ErrorBox } from './ui.js';

interface TryResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  truncated: boolean;
  duration_ms: number;
  url: string;
}

/** The path prefix of the document's first server (`https://api.example.com/v2` → `/v2`). */
function serverPrefix(doc: Json): string {
  const url = doc?.servers?.[0]?.url;
  if (typeof url !== 'string') return '';
  try {
    return new URL(url, 'http://x').pathname.replace(/\/+$/, '');
  } catch {
    return '';
  }
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

export function TryIt(props: { doc: Json; op: Operation; serviceId: string; keyHeader: string | null; gatewayUrl: string | null }) {
  const { op } = props;
  const inputs = op.params.filter((p) => p.in === 'path' || p.in === 'query' || p.in === 'header');
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(inputs.map((p) => [`${p.in}:${p.name}`, p.example !== undefined ? String(p.example) : ''])),
  );
  const media = op.body ? (op.body.content['application/json'] ?? Object.values(op.body.content)[0]) : null;
  const [body, setBody] = useState(() => (media ? JSON.stringify(media.example ?? sample(props.doc, media.schema), null, 2) : ''));
  const [key, setKey] = useState(() => freshKeys[freshKeys.length - 1]?.key ?? '');
  const [result, setResult] = useState<TryResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const fid = (s: string) => `${op.id}-${s.replace(/[^A-Za-z0-9]+/g, '-')}`;

  const send = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setResult(null);
    let path = op.path;
    const query = new URLSearchParams();
    const headers: Record<string, string> = {};
    for (const p of inputs) {
      const v = values[`${p.in}:${p.name}`] ?? '';
      if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(v));
      else if (v !== '' && p.in === 'query') query.set(p.name, v);
      else if (v !== '' && p.in === 'header') headers[p.name] = v;
    }
    if (props.keyHeader && key) headers[props.keyHeader] = key;
    if (op.body && body.trim() !== '') headers['content-type'] = media && op.body.content['application/json'] ? 'application/json' : (Object.keys(op.body.content)[0] ?? 'text/plain');
    const qs = query.toString();
    try {
      setResult(
        await api.post<TryResult>('/try', {
          service_id: props.serviceId,
          method: op.method,
          path: `${serverPrefix(props.doc)}${path}${qs ? `?${qs}` : ''}`,
          headers,
          ...(op.body && body.trim() !== '' ? { body } : {}),
        }),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="tryit" onSubmit={send} aria-label={`Try ${op.method} ${op.path}`}>
      {props.gatewayUrl ? (
        <p class="muted">
          Sent through the gateway at <code>{props.gatewayUrl}</code>.
        </p>
      ) : (
        <p class="muted">No gateway URL is configured for this portal: the request will fail.</p>
      )}
      {inputs.map((p) => (
        <div class="field">
          <label for={fid(`${p.in}-${p.name}`)}>
            {p.name} <span class="muted">({p.in}{p.required ? ', required' : ''})</span>
          </label>
          <input
            id={fid(`${p.in}-${p.name}`)}
            required={p.required}
            value={values[`${p.in}:${p.name}`] ?? ''}
            onInput={(e) => setValues({ ...values, [`${p.in}:${p.name}`]: (e.currentTarget as HTMLInputElement).value })}
          />
        </div>
      ))}
      {props.keyHeader ? (
        <div class="field">
          <label for={fid('key')}>
            API key <span class="muted">(sent as <code>{props.keyHeader}</code>)</span>
          </label>
          <input id={fid('key')} type="password" autoComplete="off" value={key} onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)} placeholder="tp_…" />
        </div>
      ) : null}
      {op.body ? (
        <div class="field">
          <label for={fid('body')}>Request body</label>
          <textarea id={fid('body')} rows={6} value={body} onInput={(e) => setBody((e.currentTarget as HTMLTextAreaElement).value)} />
        </div>
      ) : null}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Sending…' : 'Send request'}
      </button>
      <ErrorBox error={error} />
      {result ? (
        <div class="try-result" role="status">
          <p>
            <strong class={result.status < 400 ? 'ok' : 'error'}>HTTP {result.status}</strong> <span class="muted">in {result.duration_ms} ms</span>
            {result.truncated ? <span class="muted"> (body truncated)</span> : null}
          </p>
          <details>
            <summary>Response headers</summary>
            <pre>{Object.entries(result.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}</pre>
          </details>
          <pre class="try-body">{pretty(result.body)}</pre>
        </div>
      ) : null}
    </form>
  );
}
