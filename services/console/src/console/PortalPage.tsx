// The developer portal's operator side: the tenant's portal settings (GET/PATCH /v1/portal/settings: self
// sign-up open or closed, the gateway URL the portal's "try it" calls) and its developer accounts
// (GET /v1/portal/developers). Loaded by dynamic import when opened.
import { useEffect, useState } from 'preact/hooks';
import { api } from './state.js';
import { ApiError } from '../shared/api.js';
import { useLoad } from '../shared/load.js';
import { DataTable } from '../shared/table.js';
import { ErrorBox, fmtTime } from './ui.js';

interface Settings {
  signup: 'open' | 'closed';
  gateway_url: string | null;
  effective_gateway_url: string | null;
  updated_at: string | null;
}

interface Developer {
  id: string;
  email: string;
  display_name: string;
  username: string;
  created_at: string;
  locked_until: string | null;
}

function SettingsForm(props: { settings: Settings; onSaved: (s: Settings) => void }) {
  const s = props.settings;
  const [signup, setSignup] = useState(s.signup);
  const [gatewayUrl, setGatewayUrl] = useState(s.gateway_url ?? '');
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setSignup(s.signup);
    setGatewayUrl(s.gateway_url ?? '');
  }, [s]);
  const fieldError = (name: string) => (error instanceof ApiError ? error.fields.filter((f) => f.path === `/${name}`).map((f) => f.message).join('; ') : '');
  const urlError = fieldError('gateway_url');
  const signupError = fieldError('signup');
  return (
    <form
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        // Only what changed is sent; an emptied URL is null (the control plane's default applies again).
        const body: Record<string, unknown> = {};
        if (signup !== s.signup) body.signup = signup;
        const url = gatewayUrl.trim() || null;
        if (url !== s.gateway_url) body.gateway_url = url;
        setError(null);
        setNotice(null);
        if (Object.keys(body).length === 0) {
          setNotice('Nothing changed.');
          return;
        }
        setBusy(true);
        try {
          const saved = await api.patch<Settings>('/v1/portal/settings', body);
          props.onSaved(saved);
          setNotice(`Saved: sign-up is ${saved.signup}.`);
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <fieldset class={`multi${signupError ? ' invalid' : ''}`} aria-describedby={signupError ? 'portal-signup-err' : 'portal-signup-hint'}>
        <legend class="label">Self sign-up</legend>
        <label class="check">
          <input type="radio" name="signup" value="open" checked={signup === 'open'} onChange={() => setSignup('open')} />
          open: developers create their own accounts
        </label>
        <label class="check">
          <input type="radio" name="signup" value="closed" checked={signup === 'closed'} onChange={() => setSignup('closed')} />
          closed
        </label>
      </fieldset>
      <small id="portal-signup-hint" class="muted">
        Developer accounts are consumers tagged <code>portal</code>; their subscription requests wait in Approvals.
      </small>
      {signupError ? (
        <div class="field-error" id="portal-signup-err">
          {signupError}
        </div>
      ) : null}
      <div class={`field${urlError ? ' invalid' : ''}`}>
        <label for="portal-gateway_url">Gateway URL for "try it"</label>
        <input
          id="portal-gateway_url"
          type="url"
          value={gatewayUrl}
          placeholder={s.effective_gateway_url ?? 'https://api.example.com'}
          onInput={(e) => setGatewayUrl((e.currentTarget as HTMLInputElement).value)}
          aria-invalid={urlError ? 'true' : undefined}
          aria-describedby={urlError ? 'portal-gateway_url-err' : 'portal-gateway_url-hint'}
        />
        <small id="portal-gateway_url-hint" class="muted">
          Empty: the control plane's default ({s.effective_gateway_url ?? 'none'}).
        </small>
        {urlError ? (
          <div class="field-error" id="portal-gateway_url-err">
            {urlError}
          </div>
        ) : null}
      </div>
      <ErrorBox error={error} />
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          Save settings
        </button>
      </div>
    </form>
  );
}

export default function PortalPage() {
  const settings = useLoad(() => api.get<Settings>('/v1/portal/settings'), []);
  const developers = useLoad(() => api.get<{ data: Developer[] }>('/v1/portal/developers'), []);
  const [saved, setSaved] = useState<Settings | null>(null);
  const s = saved ?? settings.data;
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Developer portal</h1>
      <p class="muted">
        The portal at <a href="/portal/">/portal/</a> for this tenant's developers: sign-up, "try it" and their accounts.
      </p>
      <h2>Settings</h2>
      <ErrorBox error={settings.error} />
      {s ? (
        <>
          <dl class="stats">
            <div>
              <dt>sign-up</dt>
              <dd data-testid="portal-signup">{s.signup}</dd>
            </div>
            <div>
              <dt>gateway used by "try it"</dt>
              <dd>{s.effective_gateway_url ?? 'none'}</dd>
            </div>
            <div>
              <dt>last changed</dt>
              <dd>{s.updated_at ? fmtTime(s.updated_at) : 'never'}</dd>
            </div>
          </dl>
          <SettingsForm settings={s} onSaved={setSaved} />
        </>
      ) : null}
      <h2>Developers</h2>
      <ErrorBox error={developers.error} />
      <DataTable
        rows={developers.data?.data ?? null}
        empty="No developer has signed up yet."
        caption="developer accounts (first 1,000)"
        captionHidden
        rowKey={(d) => d.id}
        rowAttrs={(d) => ({ 'data-id': d.id })}
        columns={[
          { label: 'email', cell: (d) => d.email },
          { label: 'name', cell: (d) => d.display_name },
          { label: 'consumer', cell: (d) => d.username },
          { label: 'signed up', cell: (d) => fmtTime(d.created_at) },
          { label: 'locked until', cell: (d) => (d.locked_until ? fmtTime(d.locked_until) : '') },
        ]}
      />
    </section>
  );
}
