// Carries out one operation on a generic kind: names resolved to ids, secrets from the file added on
// create (and on update with --update-secrets), subscription status changed by its actions.
import { AdminApiError, type AdminClient } from './admin-client.js';
import type { ResourceOperation } from './plan.js';
import { RESOURCE_COLLECTION, mergeSecrets, toApiBody, type IdOf, type ResourceSpec, type SecretValues } from './resource-kinds.js';

export interface ResourceExecution {
  client: AdminClient;
  idOf: IdOf;
  /** The file's secrets of the entity the operation acts on, if any. */
  secrets: SecretValues | undefined;
  /** Records the id of a created named entity (plans and providers are referenced by later operations). */
  created(id: string): void;
}

function collectionOf(op: ResourceOperation, idOf: IdOf): string {
  if (op.kind === 'credential') return `/v1/consumers/${idOf('consumer', String(op.spec.consumer))}/credentials`;
  return RESOURCE_COLLECTION[op.kind];
}

/** Returns a secret the control plane generated (an HMAC credential created without one): shown once. */
export async function executeResourceOperation(op: ResourceOperation, x: ResourceExecution): Promise<{ generatedSecret?: string }> {
  const base = collectionOf(op, x.idOf);
  if (op.action === 'create') {
    let body = toApiBody(op.kind, op.spec, x.idOf);
    if (x.secrets) body = mergeSecrets(body, x.secrets);
    const created = await x.client.create<{ id: string; status?: string; secret?: string }>(base, body);
    x.created(created.id);
    // A plan with `approval: auto` approves on creation; otherwise the file's `approved` needs the action.
    if (op.kind === 'subscription' && op.spec.status === 'approved' && created.status === 'pending') await subscriptionAction(x.client, created.id, 'approve');
    return typeof created.secret === 'string' ? { generatedSecret: created.secret } : {};
  }
  if (op.action === 'update') {
    const path = `${base}/${op.id}`;
    const fields = op.changes.filter((c) => !c.secret && !(op.kind === 'subscription' && c.field === 'status'));
    const resend = op.changes.some((c) => c.secret) ? x.secrets : undefined;
    if (op.mode === 'replace') {
      await x.client.replace(path, mergeSecrets(toApiBody(op.kind, op.spec, x.idOf), resend ?? {}));
    } else if (fields.length > 0 || resend) {
      let body = toApiBody(op.kind, Object.fromEntries(fields.map((c) => [c.field, c.to])) as ResourceSpec, x.idOf);
      // A secret inside an object (aws.secret_access_key) goes with the whole object, which a patch replaces.
      if (resend) body = mergeSecrets({ ...body, ...pickObjects(toApiBody(op.kind, op.spec, x.idOf), resend) }, resend);
      await x.client.patch(path, body);
    }
    if (op.kind === 'subscription' && op.changes.some((c) => c.field === 'status' && c.to === 'approved')) await subscriptionAction(x.client, op.id, 'approve');
    return {};
  }
  if (op.kind === 'subscription') await subscriptionAction(x.client, op.id, op.transition ?? 'revoke');
  else await x.client.remove(`${base}/${op.id}`);
  return {};
}

/** The body's fields that the secrets extend as objects (so a patch sends them whole). */
function pickObjects(body: Record<string, unknown>, secrets: SecretValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(secrets)) if (v !== null && typeof v === 'object' && body[k] !== null && typeof body[k] === 'object') out[k] = body[k];
  return out;
}

async function subscriptionAction(client: AdminClient, id: string, action: 'approve' | 'reject' | 'revoke'): Promise<void> {
  try {
    await client.create(`/v1/subscriptions/${id}/${action}`, {});
  } catch (err) {
    // Decisions need the admin role, which a token that may write config can lack: say what to do.
    if (err instanceof AdminApiError && err.status === 403) {
      throw new AdminApiError(`${err.message} (to ${action} a subscription the admin token needs the admin role in the tenant)`, err.status, err.code, err.fields, err.requestId);
    }
    throw err;
  }
}
