// The version RPCs of PromptTemplateService (beside its generic CRUD): list (newest first), get, restore.
// The same service functions as REST (service/prompt-template-versions.ts).
import type * as grpc from '@grpc/grpc-js';
import { PromptTemplateVersion } from '@turnpike/common';
import type { ResourceEntity } from '../resources/index.js';
import { getPromptTemplateVersion, listPromptTemplateVersions, restorePromptTemplateVersion } from '../service/prompt-template-versions.js';
import { listOptionsFrom, pageToProto, type ProtoObject } from './mappers/input-mask.js';
import { toProto } from './resource-convert.js';
import type { Handler } from './resource-service.js';

const versionToProto = (v: PromptTemplateVersion): ProtoObject => toProto(PromptTemplateVersion, v) as ProtoObject;

/** proto3's unset int32 is 0, which no version has: the service answers 400 at /version for it. */
const versionText = (req: ProtoObject): string => String(req.version ?? 0);

export function promptTemplateVersionRpcs(u: Handler, out: (e: ResourceEntity) => ProtoObject): Record<string, grpc.handleUnaryCall<ProtoObject, unknown>> {
  return {
    ListPromptTemplateVersions: u(async (req, ctx) =>
      pageToProto(await listPromptTemplateVersions(ctx, String(req.id ?? ''), listOptionsFrom(req as { limit?: number; cursor?: string })), versionToProto),
    ),
    GetPromptTemplateVersion: u(async (req, ctx) => versionToProto(await getPromptTemplateVersion(ctx, String(req.id ?? ''), versionText(req)))),
    RestorePromptTemplateVersion: u(async (req, ctx) => {
      const opts = req.expected_version === undefined || req.expected_version === null ? {} : { expectedVersions: [Number(req.expected_version)] };
      return out(await restorePromptTemplateVersion(ctx, String(req.id ?? ''), versionText(req), opts));
    }),
  };
}
