// acl: admits or refuses an identified consumer by its consumer groups. Runs after authentication.
import { Type, type Static } from '@sinclair/typebox';
import { Id } from '../schemas/common.js';
import type { FieldError } from '../errors.js';
import type { PluginType } from './types.js';

export const AclConfig = Type.Object(
  {
    /** Consumer group ids; when non-empty, only members of at least one are admitted. */
    allow: Type.Array(Id, { maxItems: 256, uniqueItems: true, default: [] }),
    /** Consumer group ids whose members are refused, even when also in an allowed group (deny wins). */
    deny: Type.Array(Id, { maxItems: 256, uniqueItems: true, default: [] }),
  },
  { additionalProperties: false },
);
export type AclConfig = Static<typeof AclConfig>;

export function aclProblems(cfg: AclConfig): FieldError[] {
  return cfg.allow.length === 0 && cfg.deny.length === 0 ? [{ path: '/allow', message: 'allow or deny must list at least one consumer group' }] : [];
}

export const aclPlugin: PluginType<typeof AclConfig> = {
  name: 'acl',
  description:
    'Refuses (403 TP_ERR_ACL_FORBIDDEN) a consumer outside the `allow` groups or in a `deny` group, and any request without an identified consumer.',
  config: AclConfig,
  // Not per consumer: it decides about consumers.
  scopes: ['global', 'service', 'route'],
  phase: 'access',
  problems: aclProblems,
};
