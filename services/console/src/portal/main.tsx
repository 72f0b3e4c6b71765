// The developer portal: sign up / sign in, the API catalog with each API's reference and "try it", API
// keys, subscriptions and usage. Talks only to /portal/api/v1 (session tokens, never admin tokens).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../shared/styles.css';
import './portal.css';
import { api, setSession, useSession, type Developer } from './session.js';
import { Link, usePath } from './router.js';
import { AuthPage } from './auth.js';
import { CatalogPage, ServicePage } from './catalog.js';
import { KeysPage } from './keys.js';
import { SubscriptionsPage } from './subscriptions.js';
import { UsagePage } from './usage.js';
import { ErrorBox } from './ui.js';

interface PortalConfig {
  tenant: string;
  signup: 'open' | 'closed';
  gateway_url: string | null;
}

const NAV = [
  ['/', 'Catalog'],
  ['/subscriptions', 'Subscriptions'],
  ['/keys', 'API keys'],
  ['/usage', 'Usage'],
] as const;

function Page(props: { path: string; config: PortalConfig | null }) {
  const p = props.path;
  if (p === '/' || p === '/catalog') return <CatalogPage />;
  const m = /^\/catalog\/([^/]+)$/.exec(p);
  if (m) return <ServicePage id={decodeURIComponent(m[1]!)} gatewayUrl={props.config?.gateway_url ?? null} />;
  if (p === '/keys') return <KeysPage />;
  if (p === '/subscriptions') return <SubscriptionsPage />;
  if (p === '/usage') return <UsagePage />;
  return (
    <main>
      <h1 tabIndex={-1}>Not found</h1>
      <p>
        <Link href="/">Back to the catalog</Link>
      </p>
    </main>
  );
}

function App() {
  const s = useSession();
  const path = usePath();
  const [config, setConfig] = useState<PortalConfig | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api.get<PortalConfig>('/config').then(setConfig, setError);
  }, []);
  // A token kept from earlier in this tab: check it and learn who it is.
  useEffect(() => {
    if (s.token && !s.developer) api.get<Developer>('/me').then((d) => setSession(s.token, d), () => undefined);
  }, [s.token]);

  const signOut = async () => {
    await api.delete('/sessions/current').catch(() => undefined);
    setSession(null, null);
  };

  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">{config ? `${config.tenant} · developer portal` : 'Developer portal'}</span>
        {s.token ? (
          <nav aria-label="Portal">
            {NAV.map(([href, label]) => (
              <Link href={href} current={href === '/' ? path === '/' || path.startsWith('/catalog') : path === href}>
                {label}
              </Link>
            ))}
          </nav>
        ) : null}
        {s.token ? (
          <span class="who">
            {s.developer ? <span class="muted">{s.developer.display_name}</span> : null}{' '}
            <button type="button" onClick={signOut}>
              Sign out
            </button>
          </span>
        ) : null}
      </header>
      <div id="content">
        <ErrorBox error={error} />
        {s.token ? <Page path={path} config={config} /> : <AuthPage signup={config?.signup ?? null} />}
      </div>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
