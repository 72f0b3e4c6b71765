// Loads proto/turnpike/admin/v1/admin.proto (found from the compiled code's location) with grpc-js.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { adminProtoFile } from '../paths.js';

/** Plain-object conversion: snake_case kept, unset fields absent (so "unset" differs from "zero"). */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: false,
  oneofs: false,
};

export interface AdminProto {
  UpstreamService: grpc.ServiceClientConstructor;
  ServiceService: grpc.ServiceClientConstructor;
  RouteService: grpc.ServiceClientConstructor;
  ConsumerService: grpc.ServiceClientConstructor;
  ClusterService: grpc.ServiceClientConstructor;
  TenantService: grpc.ServiceClientConstructor;
  UserService: grpc.ServiceClientConstructor;
  TokenService: grpc.ServiceClientConstructor;
  AuditService: grpc.ServiceClientConstructor;
  // Generic resource kinds (grpc/resource-service.ts).
  ConsumerGroupService: grpc.ServiceClientConstructor;
  PlanService: grpc.ServiceClientConstructor;
  SubscriptionService: grpc.ServiceClientConstructor;
  PluginService: grpc.ServiceClientConstructor;
  AiProviderService: grpc.ServiceClientConstructor;
  PromptTemplateService: grpc.ServiceClientConstructor;
  AiBudgetService: grpc.ServiceClientConstructor;
  CertificateService: grpc.ServiceClientConstructor;
  CredentialService: grpc.ServiceClientConstructor;
}

/** The parsed package definition (it carries the file descriptors that server reflection serves). */
export function loadAdminPackageDefinition(): protoLoader.PackageDefinition {
  const { file, includeDir } = adminProtoFile();
  return protoLoader.loadSync(file, { ...PROTO_LOADER_OPTIONS, includeDirs: [includeDir] });
}

export function loadAdminProto(def: protoLoader.PackageDefinition = loadAdminPackageDefinition()): AdminProto {
  const pkg = grpc.loadPackageDefinition(def) as unknown as { turnpike: { admin: { v1: AdminProto } } };
  return pkg.turnpike.admin.v1;
}
