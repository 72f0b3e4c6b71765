import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { AclConfig, TurnpikeError, type AclConfig as Cfg } from '@turnpike/common';
import { ACL_DENIED, ACL_NOT_ALLOWED, ACL_NO_CONSUMER, checkAcl, compileAcl } from './index.js';

// Valid v4-shaped UUIDs.
const G = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const GOLD = G(1);
const SILVER = G(2);
const BANNED = G(3);

function cfg(partial: Partial<Cfg>): Cfg {
  const c = Value.Default(AclConfig, structuredClone(partial)) as Cfg;
  return c;
}

test('acl: an allow list admits members of at least one listed group only', () => {
  const p = compileAcl(cfg({ allow: [GOLD, SILVER] }));
  assert.equal(checkAcl(p, 'c1', [GOLD]), null);
  assert.equal(checkAcl(p, 'c1', [BANNED, SILVER]), null);
  assert.equal(checkAcl(p, 'c1', [BANNED]), ACL_NOT_ALLOWED);
  assert.equal(checkAcl(p, 'c1', []), ACL_NOT_ALLOWED, 'a consumer in no group');
});

test('acl: a deny list refuses its members and admits everyone else; deny wins over allow', () => {
  const d = compileAcl(cfg({ deny: [BANNED] }));
  assert.equal(checkAcl(d, 'c1', [BANNED]), ACL_DENIED);
  assert.equal(checkAcl(d, 'c1', [GOLD]), null);
  assert.equal(checkAcl(d, 'c1', []), null);
  const both = compileAcl(cfg({ allow: [GOLD], deny: [BANNED] }));
  assert.equal(checkAcl(both, 'c1', [GOLD, BANNED]), ACL_DENIED);
  assert.equal(checkAcl(both, 'c1', [BANNED, GOLD]), ACL_DENIED, 'whatever the order of the groups');
  assert.equal(checkAcl(both, 'c1', [GOLD]), null);
  assert.equal(checkAcl(both, 'c1', [SILVER]), ACL_NOT_ALLOWED);
});

test('acl: without an identified consumer every request is refused with 403 TP_ERR_ACL_FORBIDDEN saying authentication comes first', () => {
  for (const p of [compileAcl(cfg({ allow: [GOLD] })), compileAcl(cfg({ deny: [BANNED] }))]) {
    const d = checkAcl(p, '', []);
    assert.equal(d, ACL_NO_CONSUMER);
    assert.equal(d!.status, 403);
    assert.equal(d!.code, 'TP_ERR_ACL_FORBIDDEN');
    assert.match(d!.message, /authentication is required/);
  }
  for (const d of [ACL_DENIED, ACL_NOT_ALLOWED]) assert.equal(d.code, 'TP_ERR_ACL_FORBIDDEN');
});

test('acl: group ids compare lower-case; configs are validated (uuid ids, no duplicates, at least one list)', () => {
  const p = compileAcl(cfg({ allow: [GOLD.toUpperCase()] }));
  assert.equal(checkAcl(p, 'c1', [GOLD]), null);
  assert.equal(Value.Check(AclConfig, cfg({ allow: ['gold'] })), false, 'group ids, not names');
  assert.equal(Value.Check(AclConfig, cfg({ allow: [GOLD, GOLD] })), false);
  assert.equal(Value.Check(AclConfig, cfg({ allow: [GOLD], other: 1 } as Partial<Cfg>)), false);
  assert.equal(Value.Check(AclConfig, cfg({})), true, 'the schema alone accepts empty lists…');
  assert.throws(
    () => compileAcl(cfg({})),
    (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION' && e.fields?.[0]?.path === '/allow',
    '…the semantic check does not',
  );
});

test('acl: consumers in several groups are judged once per group list, afresh when their groups change', () => {
  const p = compileAcl(cfg({ allow: [GOLD], deny: [BANNED] }));
  const before = [SILVER, GOLD];
  assert.equal(checkAcl(p, 'c1', before), null);
  assert.equal(checkAcl(p, 'c1', before), null, 'the remembered answer');
  const after = [SILVER, GOLD, BANNED]; // a consumer update brings a new group_ids array
  assert.equal(checkAcl(p, 'c1', after), ACL_DENIED);
  assert.equal(checkAcl(p, 'c1', [SILVER, G(9)]), ACL_NOT_ALLOWED);
  assert.equal(checkAcl(compileAcl(cfg({ allow: [SILVER] })), 'c1', before), null, 'each policy answers for itself');
});

test('acl: a check against 256-group lists for a consumer in 64 groups stays well under a microsecond', () => {
  const p = compileAcl(cfg({ allow: Array.from({ length: 256 }, (_, i) => G(1000 + i)), deny: Array.from({ length: 256 }, (_, i) => G(5000 + i)) }));
  const groups = Array.from({ length: 64 }, (_, i) => G(9000 + i));
  groups[63] = G(1200);
  const N = 100_000;
  let ok = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) if (checkAcl(p, 'c1', groups) === null) ok++;
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`# acl check, 64 groups vs 256 allow + 256 deny: ${ns.toFixed(0)} ns`);
  assert.equal(ok, N);
  assert.ok(ns < 10000, `${ns} ns`);
});
