// The OpenAPI parts of tenancy and RBAC: tenants, users, members, admin tokens, the audit log, and the
// `X-Turnpike-Tenant` header every authenticated operation accepts.
import type { TSchema } from '@sinclair/typebox';
import { AuditEntry, MemberPut, Member, Tenant, TenantCreate, TenantUpdate, Token, TokenCreate, TokenCreated, User, UserCreate } from '../service/admin-schemas.js';
import { PortalSettingsUpdate } from '../portal/schemas.js';
import { createParameters, createdHeaders, etagHeaders, listParameters, notModified, pageSchema, preconditionFailed, readParameters, writeParameters } from './openapi-http.js';

type Json = Record<string, unknown>;

const plain = (s: TSchema): Json => JSON.parse(JSON.stringify(s)) as Json;
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json): Json => ({ content: { 'application/json': { schema } } });
const err = (name: string): Json => ({ $ref: `#/components/responses/${name}` });
const idParam = (name: string, what: string): Json => ({ name, in: 'path', required: true, description: `${what} id`, schema: { type: 'string', format: 'uuid' } });

export const tenantHeader: Json = {
  name: 'X-Turnpike-Tenant',
  in: 'header',
  description: "the tenant (by name) the request addresses; default: the token's home tenant (the one it was created in; `default` for the bootstrap token). A tenant the token has no role in is 404.",
  schema: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$' },
};

export function adminSchemas(): Json {
  return {
    Tenant: plain(Tenant),
    TenantCreate: plain(TenantCreate),
    TenantUpdate: plain(TenantUpdate),
    User: plain(User),
    UserCreate: plain(UserCreate),
    Member: plain(Member),
    MemberPut: plain(MemberPut),
    Token: plain(Token),
    TokenCreate: plain(TokenCreate),
    TokenCreated: plain(TokenCreated),
    AuditEntry: plain(AuditEntry),
    PortalSettingsUpdate: plain(PortalSettingsUpdate),
    PortalSettings: {
      type: 'object',
      required: ['signup', 'gateway_url', 'effective_gateway_url', 'updated_at'],
      properties: {
        signup: { type: 'string', enum: ['open', 'closed'], description: 'whether developers may sign up themselves (default closed)' },
        gateway_url: { type: ['string', 'null'], description: "the tenant's gateway base URL for the portal's try-it; null: the control plane's default" },
        effective_gateway_url: { type: ['string', 'null'], description: 'what try-it uses (gateway_url, else TP_PORTAL_GATEWAY_URL); null: try-it is unavailable' },
        updated_at: { type: ['string', 'null'], format: 'date-time' },
      },
    },
    Developer: {
      type: 'object',
      required: ['id', 'email', 'display_name', 'tenant', 'username', 'created_at', 'locked_until'],
      properties: {
        id: { type: 'string', format: 'uuid', description: "the developer's consumer id" },
        email: { type: 'string' },
        display_name: { type: 'string' },
        tenant: { type: 'string' },
        username: { type: 'string', description: "the consumer's username" },
        created_at: { type: 'string', format: 'date-time' },
        locked_until: { type: ['string', 'null'], format: 'date-time', description: 'set while failed sign-ins keep the account locked' },
      },
    },
  };
}

export const ADMIN_TAGS = ['tenants', 'users', 'tokens', 'audit', 'portal'];

export function adminPaths(): Json {
  const std = { '400': err('BadRequest'), '401': err('Unauthorized'), '403': err('Forbidden') };
  const nf = { '404': err('NotFound') };
  const write = { ...std, '409': err('Conflict'), '422': err('Unprocessable') };
  const page = (name: string): Json => json(pageSchema(ref(name)));
  return {
    '/v1/me': {
      get: {
        tags: ['tokens'],
        operationId: 'whoAmI',
        summary: "The caller's token: user, superuser, scopes, home tenant, and its role in the tenant addressed",
        responses: {
          '200': {
            description: 'the caller',
            ...json({
              type: 'object',
              required: ['token_id', 'user_id', 'superuser', 'expires_at', 'scopes', 'home_tenant', 'tenant'],
              properties: {
                token_id: { type: 'string', format: 'uuid' },
                user_id: { type: ['string', 'null'], format: 'uuid' },
                superuser: { type: 'boolean' },
                expires_at: { type: ['string', 'null'], format: 'date-time' },
                scopes: { type: ['array', 'null'], items: { type: 'object', required: ['resource', 'access'], properties: { resource: { type: 'string' }, access: { type: 'string', enum: ['read', 'write'] } } } },
                home_tenant: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string', format: 'uuid' }, name: { type: 'string' } } },
                tenant: {
                  type: 'object',
                  required: ['id', 'name', 'role'],
                  properties: { id: { type: 'string', format: 'uuid' }, name: { type: 'string' }, role: { type: ['string', 'null'], enum: ['viewer', 'editor', 'admin', 'owner', null] } },
                },
              },
            }),
          },
          ...std,
        },
      },
    },
    // The developer portal's operator side (the portal's own API is /portal/api/v1, docs/portal.md).
    '/v1/portal/settings': {
      get: { tags: ['portal'], operationId: 'getPortalSettings', summary: "The tenant's developer portal settings", responses: { '200': { description: 'settings', ...json(ref('PortalSettings')) }, ...std } },
      patch: {
        tags: ['portal'],
        operationId: 'updatePortalSettings',
        summary: 'Open or close self sign-up, set the try-it gateway (admin)',
        requestBody: { required: true, ...json(ref('PortalSettingsUpdate')) },
        responses: { '200': { description: 'settings', ...json(ref('PortalSettings')) }, ...write },
      },
    },
    '/v1/portal/developers': {
      get: { tags: ['portal'], operationId: 'listPortalDevelopers', summary: "The tenant's developer accounts (first 1,000)", responses: { '200': { description: 'developers', ...json({ type: 'object', required: ['data'], properties: { data: { type: 'array', items: ref('Developer') } } }) }, ...std } },
    },
    '/v1/tenants': {
      get: { tags: ['tenants'], operationId: 'listTenants', summary: 'Tenants the token has a role in (a superuser: all)', parameters: listParameters(['name']), responses: { '200': { description: 'a page', ...page('Tenant') }, ...std } },
      post: {
        tags: ['tenants'],
        operationId: 'createTenant',
        summary: 'Create a tenant (superuser)',
        parameters: createParameters,
        requestBody: { required: true, ...json(ref('TenantCreate')) },
        responses: { '201': { description: 'created', headers: createdHeaders, ...json(ref('Tenant')) }, ...write },
      },
    },
    '/v1/tenants/{id}': {
      parameters: [idParam('id', 'tenant')],
      get: { tags: ['tenants'], operationId: 'getTenant', parameters: readParameters, responses: { '200': { description: 'Tenant', headers: etagHeaders, ...json(ref('Tenant')) }, ...notModified, ...std, ...nf } },
      patch: {
        tags: ['tenants'],
        operationId: 'updateTenant',
        summary: 'Rename a tenant (owner; never the default tenant)',
        parameters: writeParameters,
        requestBody: { required: true, ...json(ref('TenantUpdate')) },
        responses: { '200': { description: 'updated', headers: etagHeaders, ...json(ref('Tenant')) }, ...write, ...nf, ...preconditionFailed },
      },
      delete: {
        tags: ['tenants'],
        operationId: 'deleteTenant',
        summary: 'Delete an empty tenant with its members and tokens (owner; never the default tenant)',
        parameters: writeParameters,
        responses: { '204': { description: 'deleted' }, ...std, ...nf, '409': err('Conflict'), '422': err('Unprocessable'), ...preconditionFailed },
      },
    },
    '/v1/tenants/{id}/members': {
      parameters: [idParam('id', 'tenant')],
      get: { tags: ['tenants'], operationId: 'listMembers', parameters: listParameters([]), responses: { '200': { description: 'a page', ...page('Member') }, ...std, ...nf } },
    },
    '/v1/tenants/{id}/members/{userId}': {
      parameters: [idParam('id', 'tenant'), idParam('userId', 'user')],
      put: {
        tags: ['tenants'],
        operationId: 'putMember',
        summary: "Give a user a role in the tenant (admin; never above the caller's own role)",
        requestBody: { required: true, ...json(ref('MemberPut')) },
        responses: { '200': { description: 'the membership', ...json(ref('Member')) }, ...write, ...nf },
      },
      delete: { tags: ['tenants'], operationId: 'deleteMember', responses: { '204': { description: 'removed' }, ...std, ...nf } },
    },
    '/v1/users': {
      get: { tags: ['users'], operationId: 'listUsers', summary: "Members of the request's tenant (a superuser: all users)", parameters: listParameters(['name']), responses: { '200': { description: 'a page', ...page('User') }, ...std } },
      post: {
        tags: ['users'],
        operationId: 'createUser',
        summary: 'Create a user (superuser)',
        parameters: createParameters,
        requestBody: { required: true, ...json(ref('UserCreate')) },
        responses: { '201': { description: 'created', headers: createdHeaders, ...json(ref('User')) }, ...write },
      },
    },
    '/v1/users/{id}': {
      parameters: [idParam('id', 'user')],
      get: { tags: ['users'], operationId: 'getUser', responses: { '200': { description: 'User', ...json(ref('User')) }, ...std, ...nf } },
      delete: { tags: ['users'], operationId: 'deleteUser', summary: 'Delete a user with its memberships and tokens (superuser)', responses: { '204': { description: 'deleted' }, ...std, ...nf } },
    },
    '/v1/tokens': {
      get: { tags: ['tokens'], operationId: 'listTokens', summary: "Admin tokens of the request's tenant (never their value)", parameters: listParameters(['name']), responses: { '200': { description: 'a page', ...page('Token') }, ...std } },
      post: {
        tags: ['tokens'],
        operationId: 'createToken',
        summary: 'Create an admin token (at most the rights of the calling token); the response is the only time the clear token is shown',
        parameters: createParameters,
        requestBody: { required: true, ...json(ref('TokenCreate')) },
        responses: {
          '201': { description: '`TokenCreated` with the clear token; an Idempotency-Key replay answers the `Token` without it', headers: createdHeaders, ...json({ oneOf: [ref('TokenCreated'), ref('Token')] }) },
          ...write,
        },
      },
    },
    '/v1/tokens/{id}': {
      parameters: [idParam('id', 'admin token')],
      get: { tags: ['tokens'], operationId: 'getToken', responses: { '200': { description: 'Token', ...json(ref('Token')) }, ...std, ...nf } },
      delete: { tags: ['tokens'], operationId: 'revokeToken', summary: 'Revoke a token (not one with more rights than the caller)', responses: { '204': { description: 'revoked' }, ...std, ...nf } },
    },
    '/v1/audit': {
      get: {
        tags: ['audit'],
        operationId: 'listAudit',
        summary: "Audit log of the request's tenant, oldest first (admin)",
        parameters: [
          { name: 'from', in: 'query', description: 'inclusive start: ms since epoch or ISO 8601', schema: { type: 'string' } },
          { name: 'to', in: 'query', description: 'exclusive end: ms since epoch or ISO 8601', schema: { type: 'string' } },
          { name: 'actor', in: 'query', description: 'admin token id or user id', schema: { type: 'string', format: 'uuid' } },
          { name: 'resource_type', in: 'query', schema: { type: 'string', enum: ['upstreams', 'services', 'routes', 'consumers', 'keys', 'tenants', 'users', 'members', 'tokens'] } },
          { name: 'resource_id', in: 'query', schema: { type: 'string', minLength: 1 } },
          { name: 'action', in: 'query', schema: { type: 'string', enum: ['create', 'update', 'delete'] } },
          { $ref: '#/components/parameters/Limit' },
          { $ref: '#/components/parameters/Cursor' },
        ],
        responses: { '200': { description: 'a page', ...page('AuditEntry') }, ...std },
      },
    },
  };
}
