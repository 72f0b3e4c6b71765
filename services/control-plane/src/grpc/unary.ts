// Wraps a service-layer call as a grpc-js unary handler: bearer auth and the tenant (`x-turnpike-tenant`,
// default: the token's home tenant) from metadata, errors mapped to
// gRPC statuses with the TP_ERR code and field errors in the message and trailing metadata.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { toTurnpikeError } from '../errors.js';
import type { Logger } from '../log.js';
import { authenticateAdminToken, bearerToken, resolveTenant, type ServiceContext } from '../service/index.js';
import { grpcStatusFor } from './status-map.js';

function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function metaString(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

export function toGrpcError(err: unknown, requestId: string, log: Logger): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('x-request-id', requestId);
  const tp = toTurnpikeError(err);
  if (tp) {
    if (tp.status >= 500) log('admin_grpc_failed', { request_id: requestId, code: tp.code, error: String(err) });
    metadata.set('tp-error-code', tp.code);
    let details = `${tp.code}: ${tp.message}`;
    if (tp.fields && tp.fields.length > 0) {
      metadata.set('tp-error-fields', asciiJson(tp.fields));
      details += ` [${tp.fields.map((f) => `${f.path} ${f.message}`).join('; ')}]`;
    }
    return { code: grpcStatusFor(tp.code), details, metadata };
  }
  log('admin_grpc_failed', { request_id: requestId, error: String(err), stack: (err as Error)?.stack });
  metadata.set('tp-error-code', 'TP_ERR_INTERNAL');
  return { code: grpc.status.INTERNAL, details: 'TP_ERR_INTERNAL: internal error', metadata };
}

/** A handler gets the request and its own service context (caller, tenant, request id). */
export type UnaryFn<Req> = (req: Req, ctx: ServiceContext) => Promise<unknown>;

export function unary<Req>(ctx: ServiceContext, log: Logger, fn: UnaryFn<Req>): grpc.handleUnaryCall<Req, unknown> {
  return (call, callback) => {
    const given = metaString(call.metadata, 'x-request-id');
    const requestId = given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
    const run = async (): Promise<unknown> => {
      const principal = await authenticateAdminToken(ctx, bearerToken(metaString(call.metadata, 'authorization')));
      const auth = await resolveTenant(ctx, principal, metaString(call.metadata, 'x-turnpike-tenant'));
      return await fn(call.request, { ...ctx, requestId, auth });
    };
    run().then(
      (res) => callback(null, res),
      (err: unknown) => callback(toGrpcError(err, requestId, log)),
    );
  };
}
