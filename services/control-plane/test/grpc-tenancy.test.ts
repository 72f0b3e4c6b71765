// Users, tenant members and tenant renames over gRPC (UserService, TenantService) through a real grpc-js
// client: the same service functions as REST, so the same results, roles and tenant isolation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { adminClients, failure, type AdminClients } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

const NIL = '00000000-0000-4000-8000-000000000000';

describe('gRPC users and tenant members', { timeout: 60_000 }, () => {
  let h: Harness;
  let su: AdminClients;
  const open: AdminClients[] = [];
  /** Clients for a token, addressing a tenant by name. */
  const clientsFor = (token: string, tenant: string): AdminClients => {
    const c = adminClients(h.cp.grpcPort, token, tenant);
    open.push(c);
    return c;
  };
  let x: { id: string };
  let y: { id: string };
  before(async () => {
    h = await startHarness();
    su = adminClients(h.cp.grpcPort, h.token);
    open.push(su);
    x = (await su.tenants('CreateTenant', { name: 'grpc-x' })) as { id: string };
    y = (await su.tenants('CreateTenant', { name: 'grpc-y' })) as { id: string };
  });
  after(async () => {
    open.forEach((c) => c.close());
    await h?.close();
  });

  it('users: create, get, list, delete; duplicates ALREADY_EXISTS; the same view as REST', async () => {
    const u = await su.users('CreateUser', { name: 'grpc-alice' });
    assert.equal(u.name, 'grpc-alice');
    assert.match(String(u.id), /^[0-9a-f-]{36}$/);
    assert.deepEqual(await su.users('GetUser', { id: u.id }), u);
    assert.deepEqual((await h.rest('GET', `/v1/users/${String(u.id)}`)).json, u);
    const listed = await su.users('ListUsers', { limit: 1000 });
    assert.ok((listed.data as Array<{ id: string }>).some((e) => e.id === u.id));
    assert.equal(listed.next, '');

    const dup = await failure(su.users('CreateUser', { name: 'grpc-alice' }));
    assert.equal(dup.code, status.ALREADY_EXISTS);
    const bad = await failure(su.users('CreateUser', {}));
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.equal(JSON.parse(String(bad.metadata.get('tp-error-fields')[0]))[0].path, '/name');

    await su.tenants('PutMember', { tenant_id: x.id, user_id: u.id, role: 'viewer' });
    await su.users('DeleteUser', { id: u.id });
    assert.equal((await failure(su.users('GetUser', { id: u.id }))).code, status.NOT_FOUND);
    assert.equal((await failure(su.users('DeleteUser', { id: u.id }))).code, status.NOT_FOUND);
    // Its memberships went with it.
    const members = (await su.tenants('ListMembers', { tenant_id: x.id })).data as Array<{ user_id: string }> | undefined;
    assert.ok(!(members ?? []).some((m) => m.user_id === u.id));
  });

  it('members: put (create, change role), list, delete; the same view as REST', async () => {
    const u = await su.users('CreateUser', { name: 'grpc-bob' });
    const m = await su.tenants('PutMember', { tenant_id: x.id, user_id: u.id, role: 'viewer' });
    assert.deepEqual({ ...m, created_at: undefined }, { user_id: u.id, user_name: 'grpc-bob', tenant_id: x.id, role: 'viewer', created_at: undefined });
    const changed = await su.tenants('PutMember', { tenant_id: x.id, user_id: u.id, role: 'editor' });
    assert.equal(changed.role, 'editor');
    assert.equal(changed.created_at, m.created_at, 'a role change keeps the membership');
    const listed = await su.tenants('ListMembers', { tenant_id: x.id, limit: 10 });
    assert.deepEqual(listed.data, [changed]);
    assert.deepEqual((await h.rest('GET', `/v1/tenants/${x.id}/members`)).json.data, [changed]);

    const noRole = await failure(su.tenants('PutMember', { tenant_id: x.id, user_id: u.id }));
    assert.equal(noRole.code, status.INVALID_ARGUMENT);
    const badRole = await failure(su.tenants('PutMember', { tenant_id: x.id, user_id: u.id, role: 'emperor' }));
    assert.equal(badRole.code, status.INVALID_ARGUMENT);
    assert.equal((await failure(su.tenants('PutMember', { tenant_id: x.id, user_id: NIL, role: 'viewer' }))).code, status.NOT_FOUND);

    await su.tenants('DeleteMember', { tenant_id: x.id, user_id: u.id });
    assert.deepEqual((await su.tenants('ListMembers', { tenant_id: x.id })).data ?? [], [], 'an empty list leaves `data` unset');
    assert.equal((await failure(su.tenants('DeleteMember', { tenant_id: x.id, user_id: u.id }))).code, status.NOT_FOUND);
    // Membership writes are audited in the tenant they change.
    const audit = (await clientsFor(h.token, 'grpc-x').audit('ListAudit', { resource_type: 'members', resource_id: u.id })).data as Array<{ action: string }>;
    assert.deepEqual(audit.map((e) => e.action), ['create', 'update', 'delete']);
  });

  it('UpdateTenant renames with expected_version; stale is FAILED_PRECONDITION; default keeps its name', async () => {
    const t = await su.tenants('CreateTenant', { name: 'grpc-rename' });
    assert.equal(t.version, 1);
    const renamed = await su.tenants('UpdateTenant', { id: t.id, tenant: { name: 'grpc-renamed' }, expected_version: 1 });
    assert.equal(renamed.name, 'grpc-renamed');
    assert.equal(renamed.version, 2);
    const stale = await failure(su.tenants('UpdateTenant', { id: t.id, tenant: { name: 'grpc-again' }, expected_version: 1 }));
    assert.equal(stale.code, status.FAILED_PRECONDITION);
    assert.deepEqual(stale.metadata.get('tp-error-code'), ['TP_ERR_PRECONDITION_FAILED']);
    const rest = await h.rest('GET', `/v1/tenants/${String(t.id)}`);
    assert.equal(rest.json.name, 'grpc-renamed');
    assert.equal(rest.headers.get('etag'), '"2"');
    const taken = await failure(su.tenants('UpdateTenant', { id: t.id, tenant: { name: 'grpc-x' } }));
    assert.equal(taken.code, status.ALREADY_EXISTS);
    const def = ((await su.tenants('ListTenants', { limit: 1000 })).data as Array<{ id: string; name: string }>).find((e) => e.name === 'default')!;
    assert.equal((await failure(su.tenants('UpdateTenant', { id: def.id, tenant: { name: 'grpc-def' } }))).code, status.FAILED_PRECONDITION);
    await su.tenants('DeleteTenant', { id: t.id, expected_version: 2 });
  });

  it('roles: a viewer may list but not put members or create users; an admin never grants above its own role', async () => {
    const inX = clientsFor(h.token, 'grpc-x');
    const viewer = clientsFor(String((await inX.tokens('CreateToken', { name: 'gx-viewer', role: 'viewer' })).token), 'grpc-x');
    const admin = clientsFor(String((await inX.tokens('CreateToken', { name: 'gx-admin', role: 'admin' })).token), 'grpc-x');
    const member = await su.users('CreateUser', { name: 'grpc-carol' });
    const outsider = await su.users('CreateUser', { name: 'grpc-dave' });
    await su.tenants('PutMember', { tenant_id: x.id, user_id: member.id, role: 'viewer' });

    const denied = await failure(viewer.tenants('PutMember', { tenant_id: x.id, user_id: outsider.id, role: 'viewer' }));
    assert.equal(denied.code, status.PERMISSION_DENIED);
    assert.deepEqual(denied.metadata.get('tp-error-code'), ['TP_ERR_FORBIDDEN']);
    assert.equal((await failure(viewer.tenants('DeleteMember', { tenant_id: x.id, user_id: member.id }))).code, status.PERMISSION_DENIED);
    assert.equal((await failure(viewer.tenants('UpdateTenant', { id: x.id, tenant: { name: 'grpc-x2' } }))).code, status.PERMISSION_DENIED);
    assert.equal((await failure(viewer.users('CreateUser', { name: 'grpc-nope' }))).code, status.PERMISSION_DENIED);
    assert.equal((await failure(admin.users('DeleteUser', { id: member.id }))).code, status.PERMISSION_DENIED);
    const seen = (await viewer.tenants('ListMembers', { tenant_id: x.id })).data as Array<{ user_id: string }>;
    assert.ok(seen.some((m) => m.user_id === member.id));
    // Non-superusers see the users of the addressed tenant only.
    const users = (await viewer.users('ListUsers', {})).data as Array<{ id: string }>;
    assert.deepEqual(users.map((u) => u.id), [member.id]);
    assert.equal((await viewer.users('GetUser', { id: member.id })).name, 'grpc-carol');
    assert.equal((await failure(viewer.users('GetUser', { id: outsider.id }))).code, status.NOT_FOUND);

    assert.equal((await failure(admin.tenants('PutMember', { tenant_id: x.id, user_id: outsider.id, role: 'owner' }))).code, status.PERMISSION_DENIED);
    const granted = await admin.tenants('PutMember', { tenant_id: x.id, user_id: outsider.id, role: 'editor' });
    assert.equal(granted.role, 'editor');
    await admin.tenants('DeleteMember', { tenant_id: x.id, user_id: outsider.id });

    // WhoAmI (REST GET /v1/me): the token, its home tenant and its role in the tenant addressed.
    const me = await viewer.tokens('WhoAmI', {});
    assert.deepEqual([me.superuser, me.scoped, me.user_id, me.home_tenant_name, me.tenant_name, me.role], [false, false, '', 'grpc-x', 'grpc-x', 'viewer']);
    const su2 = await clientsFor(h.token, 'grpc-x').tokens('WhoAmI', {});
    assert.deepEqual([su2.superuser, su2.home_tenant_name, su2.tenant_name, su2.role], [true, 'default', 'grpc-x', 'owner']);
  });

  it("another tenant's tenant, members and users are NOT_FOUND", async () => {
    const inX = clientsFor(h.token, 'grpc-x');
    const owner = clientsFor(String((await inX.tokens('CreateToken', { name: 'gx-owner', role: 'owner' })).token), 'grpc-x');
    const yUser = await su.users('CreateUser', { name: 'grpc-erin' });
    await su.tenants('PutMember', { tenant_id: y.id, user_id: yUser.id, role: 'viewer' });
    for (const call of [
      () => owner.tenants('GetTenant', { id: y.id }),
      () => owner.tenants('UpdateTenant', { id: y.id, tenant: { name: 'stolen' } }),
      () => owner.tenants('DeleteTenant', { id: y.id }),
      () => owner.tenants('ListMembers', { tenant_id: y.id }),
      () => owner.tenants('PutMember', { tenant_id: y.id, user_id: yUser.id, role: 'owner' }),
      () => owner.tenants('DeleteMember', { tenant_id: y.id, user_id: yUser.id }),
      () => owner.users('GetUser', { id: yUser.id }),
    ]) {
      const err = await failure(call());
      assert.equal(err.code, status.NOT_FOUND, err.details);
      assert.deepEqual(err.metadata.get('tp-error-code'), ['TP_ERR_NOT_FOUND']);
    }
    // Addressing tenant y at all: NOT_FOUND.
    const inY = clientsFor(String((await inX.tokens('CreateToken', { name: 'gx-owner2', role: 'owner' })).token), 'grpc-y');
    assert.equal((await failure(inY.users('ListUsers', {}))).code, status.NOT_FOUND);
    // Nothing changed in y.
    assert.deepEqual(((await su.tenants('ListMembers', { tenant_id: y.id })).data as Array<{ role: string }>).map((m) => m.role), ['viewer']);
  });
});
