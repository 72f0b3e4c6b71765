// Input and output schemas of the tenancy/RBAC resources (tenants, users, members, admin tokens, audit).
// They live in the control plane: only its admin API speaks them (the data plane never sees them).
import { Type, type Static } from '@sinclair/typebox';
import { Id, Name } from '@turnpike/common';
import { ROLES, SCOPE_RESOURCES } from './access.js';

const literals = <T extends string>(xs: readonly T[]) => Type.Union(xs.map((x) => Type.Literal(x)));

export const RoleSchema = literals(ROLES);
export const ScopeSchema = Type.Object(
  { resource: literals(SCOPE_RESOURCES), access: Type.Union([Type.Literal('read'), Type.Literal('write')]) },
  { additionalProperties: false },
);
const Created = Type.String({ format: 'date-time' });

export const TenantCreate = Type.Object({ name: Name }, { additionalProperties: false });
export type TenantCreate = Static<typeof TenantCreate>;
export const TenantUpdate = Type.Object({ name: Type.Optional(Name) }, { additionalProperties: false });
export const Tenant = Type.Object({ id: Id, name: Name, created_at: Created, updated_at: Created });
export type Tenant = Static<typeof Tenant>;

export const UserCreate = Type.Object({ name: Name }, { additionalProperties: false });
export const User = Type.Object({ id: Id, name: Name, created_at: Created });
export type User = Static<typeof User>;

export const MemberPut = Type.Object({ role: RoleSchema }, { additionalProperties: false });
export const Member = Type.Object({ user_id: Id, user_name: Name, tenant_id: Id, role: RoleSchema, created_at: Created });
export type Member = Static<typeof Member>;

export const TokenCreate = Type.Object(
  {
    name: Name,
    role: Type.Optional(RoleSchema),
    user_id: Type.Optional(Id),
    superuser: Type.Optional(Type.Boolean()),
    scopes: Type.Optional(Type.Array(ScopeSchema, { minItems: 1, maxItems: 32 })),
    expires_at: Type.Optional(Type.String({ format: 'date-time' })),
  },
  {
    additionalProperties: false,
    description: 'exactly one of: `role` (a service token of the tenant), `user_id` (a token acting with the user\'s roles), `superuser: true`',
  },
);
export type TokenCreate = Static<typeof TokenCreate>;
export const Token = Type.Object({
  id: Id,
  name: Name,
  tenant_id: Id,
  user_id: Type.Union([Id, Type.Null()]),
  role: Type.Union([RoleSchema, Type.Null()]),
  superuser: Type.Boolean(),
  scopes: Type.Union([Type.Array(ScopeSchema), Type.Null()]),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_by: Type.Union([Id, Type.Null()]),
  prefix: Type.String({ description: 'first 8 characters of the token' }),
  created_at: Created,
});
export type Token = Static<typeof Token>;
export const TokenCreated = Type.Intersect([Token, Type.Object({ token: Type.String({ description: 'the clear token: shown only in this response' }) })]);

export const AuditEntry = Type.Object({
  id: Type.String({ description: 'ascending' }),
  at: Created,
  tenant_id: Type.Union([Id, Type.Null()]),
  actor_token_id: Type.Union([Id, Type.Null()]),
  actor_user_id: Type.Union([Id, Type.Null()]),
  action: Type.Union([Type.Literal('create'), Type.Literal('update'), Type.Literal('delete')]),
  resource_type: Type.String(),
  resource_id: Type.String(),
  before: Type.Union([Type.Object({}), Type.Null()]),
  after: Type.Union([Type.Object({}), Type.Null()]),
  request_id: Type.Union([Type.String(), Type.Null()]),
});
