// A real grpc-js client for the admin API, loading the same .proto, with promise-returning calls.
import * as grpc from '@grpc/grpc-js';
import { loadAdminProto } from '../src/grpc/load-proto.js';

export type Call = (method: string, req: Record<string, unknown>, token?: string | null) => Promise<Record<string, unknown>>;

export interface AdminClients {
  upstreams: Call;
  services: Call;
  routes: Call;
  consumers: Call;
  tenants: Call;
  users: Call;
  tokens: Call;
  audit: Call;
  close(): void;
}

export interface GrpcFailure extends Error {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

/** `tenant`: sent as `x-turnpike-tenant` metadata (absent: the default tenant). */
export function adminClients(port: number, defaultToken: string, tenant?: string): AdminClients {
  const proto = loadAdminProto();
  const addr = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  const made: grpc.Client[] = [];
  const wrap = (Ctor: grpc.ServiceClientConstructor): Call => {
    const client = new Ctor(addr, creds);
    made.push(client);
    return async (method, req, token = defaultToken) => {
      const md = new grpc.Metadata();
      if (token !== null) md.set('authorization', `Bearer ${token}`);
      if (tenant !== undefined) md.set('x-turnpike-tenant', tenant);
      const fn = (client as unknown as Record<string, (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void>)[method];
      if (!fn) throw new Error(`no method ${method}`);
      return await new Promise((resolve, reject) => {
        fn.call(client, req, md, (err, res) => (err ? reject(err) : resolve(res)));
      });
    };
  };
  return {
    upstreams: wrap(proto.UpstreamService),
    services: wrap(proto.ServiceService),
    routes: wrap(proto.RouteService),
    consumers: wrap(proto.ConsumerService),
    tenants: wrap(proto.TenantService),
    users: wrap(proto.UserService),
    tokens: wrap(proto.TokenService),
    audit: wrap(proto.AuditService),
    close: () => made.forEach((c) => c.close()),
  };
}

/** Awaits a call expected to fail; returns the gRPC error. */
export async function failure(p: Promise<unknown>): Promise<GrpcFailure> {
  try {
    await p;
  } catch (e) {
    return e as GrpcFailure;
  }
  throw new Error('expected the call to fail');
}

/** A client of any admin service by its .proto name (`PlanService`), same call shape as adminClients. */
export function serviceClient(port: number, service: string, defaultToken: string, tenant?: string): { call: Call; close(): void } {
  const Ctor = (loadAdminProto() as unknown as Record<string, grpc.ServiceClientConstructor | undefined>)[service];
  if (!Ctor) throw new Error(`no service ${service} in admin.proto`);
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call: Call = async (method, req, token = defaultToken) => {
    const md = new grpc.Metadata();
    if (token !== null) md.set('authorization', `Bearer ${token}`);
    if (tenant !== undefined) md.set('x-turnpike-tenant', tenant);
    const fn = (client as unknown as Record<string, (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void>)[method];
    if (!fn) throw new Error(`no method ${method} on ${service}`);
    return await new Promise((resolve, reject) => {
      fn.call(client, req, md, (err, res) => (err ? reject(err) : resolve(res)));
    });
  };
  return { call, close: () => client.close() };
}
