// Stored AWS credentials of lambda integrations (a `lambda` service, a websocket-api's lambda routes): the
// secret access key and session token are sealed with the keyring, bound to the service id, when the service
// is written; the row and the data plane hold only sealed values, and the API shows `secret_set` instead.
// A write without `secret_access_key` keeps the stored secret (and token) unless the access key id changes.
import { seal, type FieldError, type Keyring, type LambdaCredentials } from '@turnpike/common';
import { requireKeyring, unprocessable } from '../resources/kinds/errors.js';
import type { ServiceRow } from './services.js';

type StoredIntegration = NonNullable<ServiceRow['integration']>;

/**
 * The integration as stored: every `credentials` object sealed (given secrets) or carried over from `prior`
 * (the stored integration this write replaces). 422 for a credentials object with no secret to use, or one
 * that carries `sealed` (set by the control plane only); 503 when a secret must be sealed without a keyring.
 */
export function sealIntegrationCredentials(next: StoredIntegration | null, prior: StoredIntegration | null, serviceId: string, keyring: Keyring | null | undefined): StoredIntegration | null {
  if (next === null) return null;
  const problems: FieldError[] = [];
  let out: StoredIntegration = next;
  if (next.type === 'lambda' && next.credentials) {
    const was = prior?.type === 'lambda' ? prior.credentials : undefined;
    out = { ...next, credentials: sealOne(next.credentials, was, serviceId, keyring ?? null, '/integration/credentials', problems) };
  } else if (next.type === 'websocket-api') {
    const routes = { ...next.routes };
    for (const [key, r] of Object.entries(next.routes)) {
      if (r.type !== 'lambda' || !r.credentials) continue;
      const pr = prior?.type === 'websocket-api' ? prior.routes[key] : undefined;
      const was = pr?.type === 'lambda' ? pr.credentials : undefined;
      routes[key] = { ...r, credentials: sealOne(r.credentials, was, serviceId, keyring ?? null, `/integration/routes/${key}/credentials`, problems) };
    }
    out = { ...next, routes };
  }
  if (problems.length > 0) throw unprocessable(problems);
  return out;
}

function sealOne(given: LambdaCredentials, was: LambdaCredentials | undefined, id: string, keyring: Keyring | null, path: string, problems: FieldError[]): LambdaCredentials {
  if (given.sealed !== undefined) {
    problems.push({ path: `${path}/sealed`, message: 'is set by the control plane (write secret_access_key instead)' });
    return given;
  }
  const access_key_id = given.access_key_id;
  if (given.secret_access_key !== undefined) {
    const ring = requireKeyring(keyring, 'lambda integration credentials');
    const token = given.session_token !== undefined ? seal(ring, given.session_token, id) : null;
    return { access_key_id, secret_set: true, session_token_set: token !== null, sealed: { secret_access_key: seal(ring, given.secret_access_key, id), session_token: token } };
  }
  // No new secret: the stored pair stays, unless it belonged to another key id (a secret is needed for that).
  if (!was?.sealed || was.access_key_id !== access_key_id) {
    problems.push({ path: `${path}/secret_access_key`, message: was?.sealed ? 'is required when access_key_id changes' : 'is required (no secret is stored for this integration)' });
    return given;
  }
  const token = given.session_token !== undefined ? seal(requireKeyring(keyring, 'lambda integration credentials'), given.session_token, id) : was.sealed.session_token;
  return { access_key_id, secret_set: true, session_token_set: token !== null, sealed: { secret_access_key: was.sealed.secret_access_key, session_token: token } };
}

/** The integration as the API returns it: each credentials object without its sealed secrets. */
export function publicIntegration(i: StoredIntegration | null): StoredIntegration | null {
  if (i === null) return null;
  if (i.type === 'lambda' && i.credentials) return { ...i, credentials: publicCredentials(i.credentials) };
  if (i.type === 'websocket-api' && Object.values(i.routes).some((r) => r.type === 'lambda' && r.credentials)) {
    const routes = Object.fromEntries(Object.entries(i.routes).map(([k, r]) => [k, r.type === 'lambda' && r.credentials ? { ...r, credentials: publicCredentials(r.credentials) } : r]));
    return { ...i, routes };
  }
  return i;
}

function publicCredentials(c: LambdaCredentials): LambdaCredentials {
  return { access_key_id: c.access_key_id, secret_set: c.sealed !== undefined, session_token_set: c.sealed?.session_token != null };
}
