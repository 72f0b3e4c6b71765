// The operators' console: sign-in with an admin token, a tenant switcher, and the pages (resources,
// approvals, cluster, cache invalidation, analytics, call log, members, developer portal, audit log,
// declarative config). Analytics, config, cache invalidation, the developer portal and the audit log are
// loaded on demand (dynamic import) so that the first load stays small.
import { render, type ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../shared/styles.css';
import 'uplot/dist/uPlot.min.css';
import './console.css';
import { api, loadDoc, setDoc, setTenant, signIn, signOut, signOutReason, state, useSession } from './state.js';
import { Link, navigate, usePath } from './router.js';
import { RESOURCES, resourceByKey } from './resources.js';
import { ResourcePage } from './ResourcePage.js';
import { ApprovalsPage, ClusterPage, MembersPage } from './pages.js';
import { CallDetail, CallsPage } from './calls.js';
import { ErrorBox, errorText } from './ui.js';

function SignIn() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(signOutReason);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin">
      <h1>Turnpike console</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          const t = token.trim();
          try {
            // A token is checked by a call any valid token may make; the tenants listed feed the switcher.
            const res = await fetch('/v1/tenants?limit=1', { headers: { authorization: `Bearer ${t}`, accept: 'application/json' } });
            if (res.status === 401) throw new Error('This token is not valid (unknown, expired or revoked).');
            if (!res.ok && res.status !== 403) throw new Error(`The control plane answered ${res.status}.`);
            signIn(t, await loadDoc());
          } catch (err) {
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <div class="field">
          <label for="token">Admin or user token</label>
          <input id="token" name="token" type="password" autoComplete="off" required value={token} onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} aria-describedby="token-hint" />
          <small id="token-hint" class="muted">
            A <code>tpa_…</code> token (see docs/admin-api.md). It is kept in this tab's session storage only.
          </small>
        </div>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function TenantSwitcher() {
  const [tenants, setTenants] = useState<string[] | null>(null);
  const [home, setHome] = useState('');
  useEffect(() => {
    api.get<{ data: Array<{ name: string }> }>('/v1/tenants', { limit: 1000 }).then(
      (r) => setTenants(r.data.map((t) => t.name)),
      () => setTenants([]),
    );
    // Named in the "home tenant" choice (the tenant addressed when none is chosen).
    api.get<{ home_tenant: { name: string } }>('/v1/me').then(
      (r) => setHome(r.home_tenant.name),
      () => setHome(''),
    );
  }, []);
  return (
    <label class="tenant">
      Tenant
      <select value={state.tenant ?? ''} onChange={(e) => setTenant((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">{home ? `home tenant (${home})` : 'home tenant'}</option>
        {(tenants ?? []).map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A page loaded by dynamic import: its chunk (and uPlot, or the declarative-config modules) only when opened. */
function Lazy(props: { load: () => Promise<{ default: ComponentType }> }) {
  const [C, setC] = useState<ComponentType | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    props.load().then((m) => setC(() => m.default), setError);
  }, [props.load]);
  if (error) return <ErrorBox error={error} />;
  return C ? <C /> : <p class="muted">Loading…</p>;
}

const loadDashboard = () => import('./Dashboard.js');
const loadConfig = () => import('./ConfigPage.js');
const loadCache = () => import('./CacheInvalidation.js');
const loadPortal = () => import('./PortalPage.js');
const loadAudit = () => import('./AuditPage.js');

const NAV: Array<{ href: string; label: string }> = [
  { href: '/', label: 'Analytics' },
  { href: '/calls', label: 'Call log' },
  { href: '/approvals', label: 'Approvals' },
  { href: '/cluster', label: 'Cluster' },
  { href: '/cache', label: 'Cache invalidation' },
  ...RESOURCES.map((r) => ({ href: `/r/${r.key}`, label: r.label })),
  { href: '/members', label: 'Members' },
  { href: '/portal', label: 'Developer portal' },
  { href: '/audit', label: 'Audit log' },
  { href: '/config', label: 'Config import/export' },
];

function Page(props: { path: string }) {
  const p = props.path;
  if (p === '/') return <Lazy load={loadDashboard} />;
  if (p === '/calls') return <CallsPage />;
  if (p.startsWith('/calls/')) return <CallDetail requestId={decodeURIComponent(p.slice('/calls/'.length))} />;
  if (p === '/approvals') return <ApprovalsPage />;
  if (p === '/cluster') return <ClusterPage />;
  if (p === '/members') return <MembersPage />;
  if (p === '/config') return <Lazy load={loadConfig} />;
  if (p === '/cache') return <Lazy load={loadCache} />;
  if (p === '/portal') return <Lazy load={loadPortal} />;
  if (p === '/audit') return <Lazy load={loadAudit} />;
  if (p.startsWith('/r/')) {
    const def = resourceByKey(p.slice(3));
    if (def) return <ResourcePage key={def.key} def={def} />;
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        <Link href="/">Back to the dashboard</Link>
      </p>
    </section>
  );
}

function Shell() {
  const path = usePath();
  const s = useSession();
  useEffect(() => {
    const title = NAV.find((n) => n.href === path)?.label;
    document.title = `${title ? `${title} · ` : ''}Turnpike console`;
  }, [path]);
  return (
    <div class="shell">
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="top">
        <strong>Turnpike console</strong>
        <TenantSwitcher />
        <button
          type="button"
          onClick={() => {
            signOut();
            navigate('/');
          }}
        >
          Sign out
        </button>
      </header>
      <nav class="side" aria-label="console">
        <ul>
          {NAV.map((n) => (
            <li key={n.href}>
              <Link href={n.href} current={path === n.href || (n.href !== '/' && path.startsWith(`${n.href}/`))}>
                {n.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="content" tabIndex={-1} key={`${s.generation}`}>
        <Page path={path} />
      </main>
    </div>
  );
}

function App() {
  const s = useSession();
  const [docError, setDocError] = useState<unknown>(null);
  // A reload keeps the token (sessionStorage) but not the OpenAPI document: fetch it again.
  useEffect(() => {
    if (s.token && !s.doc) loadDoc().then(setDoc, setDocError);
  }, [s.token, s.doc]);
  if (!s.token) return <SignIn />;
  if (!s.doc) return docError ? <p class="error">{errorText(docError)}</p> : <p class="muted">Loading…</p>;
  return <Shell />;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
