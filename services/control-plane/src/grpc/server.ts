// The gRPC admin API: the services of proto/turnpike/admin/v1/admin.proto over the service layer.
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { whoAmI } from '../service/whoami.js';
import { NodeRegistry } from '../cluster/node-registry.js';
import type { Logger } from '../log.js';
import * as svc from '../service/index.js';
import type { ServiceContext } from '../service/index.js';
import { loadAdminPackageDefinition, loadAdminProto } from './load-proto.js';
import {
  auditQueryFromProto,
  auditToProto,
  memberPutFromProto,
  memberToProto,
  tenantToProto,
  tenantUpdateFromProto,
  tokenCreateFromProto,
  tokenToProto,
  userToProto,
} from './mappers/admin.js';
import { apiKeyCreateFromProto, apiKeyToProto, apiKeyUpdateFromProto, consumerFromProto, consumerToProto } from './mappers/consumers.js';
import { listOptionsFrom, pageToProto, type ProtoObject } from './mappers/input-mask.js';
import { routeFromProto, routeToProto } from './mappers/routes.js';
import { serviceFromProto, serviceToProto } from './mappers/services.js';
import { upstreamFromProto, upstreamToProto } from './mappers/upstreams.js';
import { addResourceServices } from './resource-service.js';
import { unary } from './unary.js';

interface IdReq {
  id?: string;
  expected_version?: number;
}
interface ListReq {
  limit?: number;
  cursor?: string;
}
interface UpdateReq {
  id?: string;
  update_mask?: string[];
  expected_version?: number;
  [input: string]: unknown;
}
interface KeyReq {
  consumer_id?: string;
  id?: string;
  name?: string;
  key?: string;
  limit?: number;
  cursor?: string;
  expected_version?: number;
}
interface MemberReq {
  tenant_id?: string;
  user_id?: string;
  role?: string;
  limit?: number;
  cursor?: string;
}

/** `optional int64 expected_version` → the service layer's condition (absent: unconditional). */
function expected(req: { expected_version?: number }): svc.WriteOptions {
  return req.expected_version === undefined ? {} : { expectedVersions: [Number(req.expected_version)] };
}

export function buildGrpcServer(ctx: ServiceContext, log: Logger, nodes: NodeRegistry = new NodeRegistry()): grpc.Server {
  const definition = loadAdminPackageDefinition();
  const proto = loadAdminProto(definition);
  const server = new grpc.Server();
  // Handlers take the per-call context (caller and tenant) as their second argument, shadowing `ctx`.
  const u = <Req>(fn: (req: Req, ctx: ServiceContext) => Promise<unknown>): grpc.handleUnaryCall<Req, unknown> => unary<Req>(ctx, log, fn);
  const deleted = {};

  server.addService(proto.UpstreamService.service, {
    CreateUpstream: u<ProtoObject>(async (req, ctx) => upstreamToProto(await svc.createUpstream(ctx, upstreamFromProto(req)))),
    GetUpstream: u<IdReq>(async (req, ctx) => upstreamToProto(await svc.getUpstream(ctx, req.id ?? ''))),
    ListUpstreams: u<ListReq>(async (req, ctx) => pageToProto(await svc.listUpstreams(ctx, listOptionsFrom(req)), upstreamToProto)),
    UpdateUpstream: u<UpdateReq>(async (req, ctx) =>
      upstreamToProto(
        await svc.updateUpstream(ctx, req.id ?? '', upstreamFromProto(req.upstream as ProtoObject | undefined, req.update_mask), 'patch', expected(req)),
      ),
    ),
    DeleteUpstream: u<IdReq>(async (req, ctx) => (await svc.deleteUpstream(ctx, req.id ?? '', expected(req)), deleted)),
  });

  server.addService(proto.ServiceService.service, {
    CreateService: u<ProtoObject>(async (req, ctx) => serviceToProto(await svc.createService(ctx, serviceFromProto(req)))),
    GetService: u<IdReq>(async (req, ctx) => serviceToProto(await svc.getService(ctx, req.id ?? ''))),
    ListServices: u<ListReq>(async (req, ctx) => pageToProto(await svc.listServices(ctx, listOptionsFrom(req)), serviceToProto)),
    UpdateService: u<UpdateReq>(async (req, ctx) =>
      serviceToProto(
        await svc.updateService(ctx, req.id ?? '', serviceFromProto(req.service as ProtoObject | undefined, req.update_mask), 'patch', expected(req)),
      ),
    ),
    DeleteService: u<IdReq>(async (req, ctx) => (await svc.deleteService(ctx, req.id ?? '', expected(req)), deleted)),
  });

  server.addService(proto.RouteService.service, {
    CreateRoute: u<ProtoObject>(async (req, ctx) => routeToProto(await svc.createRoute(ctx, routeFromProto(req)))),
    GetRoute: u<IdReq>(async (req, ctx) => routeToProto(await svc.getRoute(ctx, req.id ?? ''))),
    ListRoutes: u<ListReq>(async (req, ctx) => pageToProto(await svc.listRoutes(ctx, listOptionsFrom(req)), routeToProto)),
    UpdateRoute: u<UpdateReq>(async (req, ctx) =>
      routeToProto(await svc.updateRoute(ctx, req.id ?? '', routeFromProto(req.route as ProtoObject | undefined, req.update_mask), 'patch', expected(req))),
    ),
    DeleteRoute: u<IdReq>(async (req, ctx) => (await svc.deleteRoute(ctx, req.id ?? '', expected(req)), deleted)),
  });

  server.addService(proto.ConsumerService.service, {
    CreateConsumer: u<ProtoObject>(async (req, ctx) => consumerToProto(await svc.createConsumer(ctx, consumerFromProto(req)))),
    GetConsumer: u<IdReq>(async (req, ctx) => consumerToProto(await svc.getConsumer(ctx, req.id ?? ''))),
    ListConsumers: u<ListReq>(async (req, ctx) => pageToProto(await svc.listConsumers(ctx, listOptionsFrom(req)), consumerToProto)),
    UpdateConsumer: u<UpdateReq>(async (req, ctx) =>
      consumerToProto(
        await svc.updateConsumer(ctx, req.id ?? '', consumerFromProto(req.consumer as ProtoObject | undefined, req.update_mask), 'patch', expected(req)),
      ),
    ),
    DeleteConsumer: u<IdReq>(async (req, ctx) => (await svc.deleteConsumer(ctx, req.id ?? '', expected(req)), deleted)),
    CreateApiKey: u<KeyReq>(async (req, ctx) => apiKeyToProto(await svc.createApiKey(ctx, req.consumer_id ?? '', apiKeyCreateFromProto(req as ProtoObject)))),
    GetApiKey: u<KeyReq>(async (req, ctx) => apiKeyToProto(await svc.getApiKey(ctx, req.consumer_id ?? '', req.id ?? ''))),
    ListApiKeys: u<KeyReq>(async (req, ctx) => pageToProto(await svc.listApiKeys(ctx, req.consumer_id ?? '', listOptionsFrom(req)), apiKeyToProto)),
    UpdateApiKey: u<KeyReq>(async (req, ctx) =>
      apiKeyToProto(await svc.updateApiKey(ctx, req.consumer_id ?? '', req.id ?? '', apiKeyUpdateFromProto(req as ProtoObject), expected(req))),
    ),
    DeleteApiKey: u<KeyReq>(async (req, ctx) => (await svc.deleteApiKey(ctx, req.consumer_id ?? '', req.id ?? '', expected(req)), deleted)),
    // Null limits are left unset (proto3 optional), as the REST body's null.
    GetConsumerUsage: u<IdReq>(async (req, ctx) => ({
      data: (await svc.getConsumerUsage(ctx, req.id ?? '')).data.map((d) => ({
        ...d,
        requests: { used: d.requests.used, ...(d.requests.limit !== null ? { limit: d.requests.limit, remaining: d.requests.remaining } : {}) },
      })),
    })),
  });

  server.addService(proto.ClusterService.service, {
    ListNodes: u<object>(async (_req, ctx) => await svc.listClusterNodes(ctx, nodes)),
    GetConfigRevision: u<object>(async (_req, ctx) => await svc.configRevision(ctx)),
  });

  server.addService(proto.TenantService.service, {
    CreateTenant: u<ProtoObject>(async (req, ctx) => tenantToProto(await svc.createTenant(ctx, { name: req.name ?? '' }))),
    GetTenant: u<IdReq>(async (req, ctx) => tenantToProto(await svc.getTenant(ctx, req.id ?? ''))),
    ListTenants: u<ListReq>(async (req, ctx) => pageToProto(await svc.listTenants(ctx, listOptionsFrom(req)), tenantToProto)),
    UpdateTenant: u<UpdateReq>(async (req, ctx) =>
      tenantToProto(await svc.updateTenant(ctx, req.id ?? '', tenantUpdateFromProto(req.tenant as ProtoObject | undefined), 'patch', expected(req))),
    ),
    DeleteTenant: u<IdReq>(async (req, ctx) => (await svc.deleteTenant(ctx, req.id ?? '', expected(req)), deleted)),
    ListMembers: u<MemberReq>(async (req, ctx) => pageToProto(await svc.listMembers(ctx, req.tenant_id ?? '', listOptionsFrom(req)), memberToProto)),
    PutMember: u<MemberReq>(async (req, ctx) => memberToProto(await svc.putMember(ctx, req.tenant_id ?? '', req.user_id ?? '', memberPutFromProto(req as ProtoObject)))),
    DeleteMember: u<MemberReq>(async (req, ctx) => (await svc.deleteMember(ctx, req.tenant_id ?? '', req.user_id ?? ''), deleted)),
  });

  server.addService(proto.UserService.service, {
    CreateUser: u<ProtoObject>(async (req, ctx) => userToProto(await svc.createUser(ctx, { name: req.name ?? '' }))),
    GetUser: u<IdReq>(async (req, ctx) => userToProto(await svc.getUser(ctx, req.id ?? ''))),
    ListUsers: u<ListReq>(async (req, ctx) => pageToProto(await svc.listUsers(ctx, listOptionsFrom(req)), userToProto)),
    DeleteUser: u<IdReq>(async (req, ctx) => (await svc.deleteUser(ctx, req.id ?? ''), deleted)),
  });

  server.addService(proto.TokenService.service, {
    CreateToken: u<ProtoObject>(async (req, ctx) => tokenToProto(await svc.createAdminToken(ctx, tokenCreateFromProto(req)))),
    GetToken: u<IdReq>(async (req, ctx) => tokenToProto(await svc.getAdminToken(ctx, req.id ?? ''))),
    ListTokens: u<ListReq>(async (req, ctx) => pageToProto(await svc.listAdminTokens(ctx, listOptionsFrom(req)), tokenToProto)),
    RevokeToken: u<IdReq>(async (req, ctx) => (await svc.revokeAdminToken(ctx, req.id ?? ''), deleted)),
    WhoAmI: u<ProtoObject>(async (_req, ctx) => {
      const me = await whoAmI(ctx);
      return {
        token_id: me.token_id,
        user_id: me.user_id ?? '',
        superuser: me.superuser,
        expires_at: me.expires_at ?? '',
        scoped: me.scopes !== null,
        scopes: me.scopes ?? [],
        home_tenant_id: me.home_tenant.id,
        home_tenant_name: me.home_tenant.name,
        tenant_id: me.tenant.id,
        tenant_name: me.tenant.name,
        role: me.tenant.role ?? '',
      };
    }),
  });

  server.addService(proto.AuditService.service, {
    ListAudit: u<ProtoObject>(async (req, ctx) => pageToProto(await svc.listAudit(ctx, auditQueryFromProto(req)), auditToProto)),
  });

  // The generic resource kinds (consumer groups, plans, subscriptions, ...): one adapter, see resource-service.ts.
  addResourceServices(server, proto as unknown as Record<string, grpc.ServiceClientConstructor | undefined>, (fn) => u<ProtoObject>(fn));

  // Server reflection (v1 and v1alpha) over the same definition, so grpcurl can list and describe the
  // admin services without a copy of the .proto. It serves the schema only, so it needs no token.
  new ReflectionService(definition).addToServer(server);

  return server;
}

export async function listenGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, actual) => {
      if (err) reject(err);
      else resolve(actual);
    });
  });
}

export async function closeGrpc(server: grpc.Server, graceMs = 2_000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
