// The console's session: the admin token (sessionStorage, gone with the tab), the tenant addressed, the API
// client that sends both, and the OpenAPI document whose schemas drive the forms (fetched once per sign-in).
import { Api } from '../shared/api.js';
import { session } from '../shared/dom.js';
import { createChanges } from '../shared/store.js';
import type { OpenApiDoc } from './schema.js';

const TOKEN_KEY = 'turnpike.console.token';
const TENANT_KEY = 'turnpike.console.tenant';

const changes = createChanges();

export const state = {
  token: session.get(TOKEN_KEY),
  tenant: session.get(TENANT_KEY),
  doc: null as OpenApiDoc | null,
  /** Bumped when the tenant changes so that pages reload their data. */
  generation: 0,
};

/** Re-renders the calling component whenever the session changes. */
export function useSession(): typeof state {
  changes.useChanges();
  return state;
}

function changed(): void {
  changes.notify();
}

export const api = new Api({
  base: '',
  token: () => state.token,
  tenant: () => state.tenant,
  onUnauthorized: () => {
    if (state.token) signOut('Your session ended: the token is no longer valid.');
  },
});

export let signOutReason: string | null = null;

export function signIn(token: string, doc: OpenApiDoc): void {
  state.token = token;
  state.doc = doc;
  signOutReason = null;
  session.set(TOKEN_KEY, token);
  changed();
}

export function signOut(reason: string | null = null): void {
  state.token = null;
  state.tenant = null;
  state.doc = null;
  signOutReason = reason;
  session.set(TOKEN_KEY, null);
  session.set(TENANT_KEY, null);
  changed();
}

export function setDoc(doc: OpenApiDoc): void {
  state.doc = doc;
  changed();
}

export function setTenant(name: string | null): void {
  state.tenant = name || null;
  state.generation++;
  session.set(TENANT_KEY, state.tenant);
  changed();
}

export async function loadDoc(): Promise<OpenApiDoc> {
  const res = await fetch('/v1/openapi.json', { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`GET /v1/openapi.json answered ${res.status}`);
  return (await res.json()) as OpenApiDoc;
}
