// The developer's session in this tab: the portal session token (sessionStorage, gone with the tab), the
// tenant the portal addresses (`?tenant=` in the URL, else `default`), and the API client for
// /portal/api/v1. A 401 on a signed-in call ends the session and returns to the sign-in page.
import { Api } from '../shared/api.js';
import { session as store } from '../shared/dom.js';
import { createChanges } from '../shared/store.js';

export interface Developer {
  id: string;
  email: string;
  display_name: string;
  tenant: string;
  username: string;
  created_at: string;
}

const changes = createChanges();

export const state: { token: string | null; developer: Developer | null; expired: boolean } = {
  token: store.get('tp.portal.token'),
  developer: null,
  expired: false,
};

export function tenant(): string {
  const q = new URLSearchParams(location.search).get('tenant');
  return q && /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/.test(q) ? q : 'default';
}

/** Re-renders the calling component whenever the session changes. */
export function useSession(): typeof state {
  changes.useChanges();
  return state;
}

function changed(): void {
  changes.notify();
}

export function setSession(token: string | null, developer: Developer | null, expired = false): void {
  state.token = token;
  state.developer = developer;
  state.expired = expired;
  store.set('tp.portal.token', token);
  changed();
}

export const api = new Api({
  base: '/portal/api/v1',
  token: () => state.token,
  tenant,
  onUnauthorized: () => {
    if (state.token) setSession(null, null, true);
  },
});

/** The clear keys created in this tab (shown once by the API): "try it" offers them; never stored. */
export const freshKeys: Array<{ id: string; name: string | null; key: string }> = [];
