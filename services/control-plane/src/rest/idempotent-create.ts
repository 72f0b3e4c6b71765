// POST with `Idempotency-Key`: the first successful response is stored with the entity (same transaction,
// see service/write.ts); a retry with the same key and body gets that response again, marked
// `Idempotent-Replayed: true`, without creating anything. Failed requests store nothing, so they can be
// retried with the same key.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TurnpikeError } from '@turnpike/common';
import {
  DEFAULT_TENANT_ID,
  IdempotencyKeyUsed,
  authOf,
  findStoredResponse,
  requestSha256,
  validateIdempotencyKey,
  versionOf,
  type IdempotencyRequest,
  type ServiceContext,
  type StoredResponse,
} from '../service/index.js';
import { etagOf } from './conditional.js';

export interface CreateSpec<T extends object> {
  /** Runs the create with the given context (which carries the idempotency key when there is one). */
  create(ctx: ServiceContext): Promise<T>;
  location(created: T): string;
  /** The body to store for replays: secrets removed (default: the body as is). */
  redact?(created: T): object;
}

function send(reply: FastifyReply, res: StoredResponse): FastifyReply {
  for (const [k, v] of Object.entries(res.headers)) void reply.header(k, v);
  return reply.code(res.status).send(res.body);
}

function replay(reply: FastifyReply, res: StoredResponse): FastifyReply {
  void reply.header('idempotent-replayed', 'true');
  return send(reply, res);
}

export async function replyCreated<T extends object>(ctx: ServiceContext, req: FastifyRequest, reply: FastifyReply, spec: CreateSpec<T>): Promise<FastifyReply> {
  const respond = (created: T, redacted: boolean): StoredResponse => {
    const headers: Record<string, string> = { location: spec.location(created) };
    const v = versionOf(created);
    if (v !== undefined) headers.etag = etagOf(v);
    return { status: 201, headers, body: redacted && spec.redact ? spec.redact(created) : created };
  };
  const header = req.headers['idempotency-key'];
  if (header === undefined) return send(reply, respond(await spec.create(ctx), false));

  const tenantId = authOf(ctx).tenantId;
  const request: IdempotencyRequest = {
    principal: req.adminTokenId,
    key: validateIdempotencyKey(Array.isArray(header) ? header.join(', ') : header),
    method: req.method,
    path: req.url.split('?')[0] ?? '',
    // Keys are per admin token; a token that works in several tenants must not replay one tenant's
    // response in another, so the tenant is part of the request (the default tenant hashes the body alone,
    // as before tenancy).
    requestSha256: requestSha256(tenantId === DEFAULT_TENANT_ID ? req.body : { tenant: tenantId, body: req.body }),
  };
  const stored = await findStoredResponse(ctx, request);
  if (stored) return replay(reply, stored);
  try {
    const created = await spec.create({ ...ctx, idempotency: { request, respond: (c) => respond(c as T, true) } });
    return send(reply, respond(created, false));
  } catch (err) {
    if (!(err instanceof IdempotencyKeyUsed)) throw err;
    // A concurrent request with the same key committed first: answer as its replay (or 422 on mismatch).
    const again = await findStoredResponse(ctx, request);
    if (!again) throw new TurnpikeError('TP_ERR_UNAVAILABLE', 'a concurrent request with the same Idempotency-Key interfered; retry');
    return replay(reply, again);
  }
}
