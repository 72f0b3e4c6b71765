import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { IpRestrictionConfig, TurnpikeError, parseCidr, parseIpInto, type IpRestrictionConfig as Cfg } from '@turnpike/common';
import { IpSet, IP_FORBIDDEN, checkIp, clientIpOf, compileIpRestriction, compileTrustedProxies, ipAllowed, NO_TRUSTED_PROXIES } from './index.js';

function cfg(partial: Partial<Cfg>): Cfg {
  const c = Value.Default(IpRestrictionConfig, structuredClone(partial)) as Cfg;
  assert.ok(Value.Check(IpRestrictionConfig, c), 'config passes the schema');
  return c;
}

function fieldsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION', String(e));
    return e.fields ?? [];
  }
  assert.fail('expected TP_ERR_VALIDATION');
}

test('ip parser: IPv4 strict dotted quads, IPv6 text forms, IPv4-mapped IPv6 reported as IPv4', () => {
  const w = new Uint32Array(4);
  const fam = (s: string) => parseIpInto(s, 0, s.length, w);
  assert.equal(fam('0.0.0.0'), 4);
  assert.equal(fam('255.255.255.255'), 4);
  assert.equal(w[0], 0xffffffff);
  for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '1.2.3.', '01.2.3.4', '1.2.3.4 ', '', 'a.b.c.d', '1..2.3']) assert.equal(fam(bad), 0, bad);
  assert.equal(fam('::'), 6);
  assert.deepEqual([...w], [0, 0, 0, 0]);
  assert.equal(fam('::1'), 6);
  assert.deepEqual([...w], [0, 0, 0, 1]);
  assert.equal(fam('2001:DB8:0:0:0:0:0:1'), 6);
  assert.deepEqual([...w], [0x20010db8, 0, 0, 1]);
  assert.equal(fam('2001:db8::ff00:42:8329'), 6);
  assert.deepEqual([...w], [0x20010db8, 0, 0x0000ff00, 0x00428329]);
  assert.equal(fam('64:ff9b::192.0.2.33'), 6);
  assert.deepEqual([...w], [0x0064ff9b, 0, 0, 0xc0000221]);
  assert.equal(fam('1:2:3:4:5:6:7::'), 6);
  assert.deepEqual([...w], [0x00010002, 0x00030004, 0x00050006, 0x00070000]);
  for (const bad of [':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', '1:2:3:4:5:6:7:8::', ':1:2:3:4:5:6:7', '1:', 'fe80::1%eth0', '::1.2.3', 'g::1', '1:2:3:4:5:6:7:1.2.3.4'])
    assert.equal(fam(bad), 0, bad);
  assert.equal(fam('::ffff:10.1.2.3'), 4);
  assert.equal(w[0], 0x0a010203);
  assert.equal(fam('::ffff:a01:203'), 4, 'the hex form of a mapped address is IPv4 too');
  assert.equal(w[0], 0x0a010203);
});

test('cidr: /0, /32, /128, mapped blocks become IPv4, host bits and bad prefixes are refused', () => {
  assert.deepEqual(parseCidr('0.0.0.0/0'), { family: 4, first: 0, last: 0xffffffff });
  assert.deepEqual(parseCidr('10.1.2.3/32'), { family: 4, first: 0x0a010203, last: 0x0a010203 });
  assert.deepEqual(parseCidr('10.1.2.3'), { family: 4, first: 0x0a010203, last: 0x0a010203 });
  assert.deepEqual(parseCidr('::ffff:10.0.0.0/104'), { family: 4, first: 0x0a000000, last: 0x0affffff });
  const all6 = parseCidr('::/0');
  assert.ok(!('error' in all6) && all6.family === 6);
  assert.deepEqual([...(all6.last as Uint32Array)], [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
  const one = parseCidr('2001:db8::1/128');
  assert.ok(!('error' in one) && one.family === 6);
  assert.deepEqual([...(one.first as Uint32Array)], [...(one.last as Uint32Array)]);
  const mid = parseCidr('2001:db8:8000::/33');
  assert.ok(!('error' in mid) && mid.family === 6);
  assert.deepEqual([...(mid.last as Uint32Array)], [0x20010db8, 0xffffffff, 0xffffffff, 0xffffffff]);
  for (const bad of ['10.0.0.1/8', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/', '2001:db8::/129', '2001:db8::1/64', 'x/8', '10.0.0.0/-1', '/8'])
    assert.ok('error' in parseCidr(bad), bad);
});

test('ip-restriction: range boundaries for IPv4 and IPv6 blocks', () => {
  const p = compileIpRestriction(cfg({ allow: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7', '2001:db8:ffff::1/128'] }));
  for (const [ip, ok] of [
    ['9.255.255.255', false],
    ['10.0.0.0', true],
    ['10.255.255.255', true],
    ['11.0.0.0', false],
    ['192.0.2.6', false],
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['2001:db8::', true],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:db9::', false],
    ['::ffff:10.9.9.9', true],
    ['::ffff:11.0.0.0', false],
    ['::1', false],
  ] as const)
    assert.equal(ipAllowed(p, ip), ok, ip);
});

test('ip-restriction: 0.0.0.0/0 covers all of IPv4 and ::/0 all of IPv6, each only its own family', () => {
  const v4 = compileIpRestriction(cfg({ allow: ['0.0.0.0/0'] }));
  assert.equal(ipAllowed(v4, '0.0.0.0'), true);
  assert.equal(ipAllowed(v4, '255.255.255.255'), true);
  assert.equal(ipAllowed(v4, '::ffff:1.2.3.4'), true);
  assert.equal(ipAllowed(v4, '::2'), false);
  const v6 = compileIpRestriction(cfg({ allow: ['::/0'] }));
  assert.equal(ipAllowed(v6, '::'), true);
  assert.equal(ipAllowed(v6, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), true);
  assert.equal(ipAllowed(v6, '1.2.3.4'), false);
});

test('ip-restriction: deny wins over allow; deny-only admits the rest; unparseable addresses are refused', () => {
  const p = compileIpRestriction(cfg({ allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16'] }));
  assert.equal(ipAllowed(p, '10.0.0.1'), true);
  assert.equal(ipAllowed(p, '10.1.2.3'), false);
  assert.equal(ipAllowed(p, '10.2.0.0'), true);
  const d = compileIpRestriction(cfg({ deny: ['203.0.113.0/24', '2001:db8::/48'] }));
  assert.equal(ipAllowed(d, '203.0.112.255'), true);
  assert.equal(ipAllowed(d, '203.0.113.255'), false);
  assert.equal(ipAllowed(d, '2001:db8:0:ffff::1'), false);
  assert.equal(ipAllowed(d, '2001:db8:1::1'), true);
  assert.equal(ipAllowed(d, ''), false, 'an unknown client is refused even by a deny-only policy');
  assert.equal(ipAllowed(d, 'garbage'), false);
  assert.equal(checkIp(d, '203.0.113.9', '', ''), IP_FORBIDDEN);
  assert.equal(IP_FORBIDDEN.status, 403);
  assert.equal(IP_FORBIDDEN.code, 'TP_ERR_IP_FORBIDDEN');
});

test('ip-restriction: overlapping and adjacent blocks merge into ranges', () => {
  const s = IpSet.from(['10.0.0.0/9', '10.128.0.0/9', '10.0.0.0/16', '10.64.0.0/10', '2001:db8::/33', '2001:db8::/32', '2001:db8:1::/48']);
  assert.equal(s.v4First.length, 1);
  assert.equal(s.v6.length / 8, 1);
  assert.equal(s.has4(0x0affffff), true);
  assert.equal(s.has4(0x0b000000), false);
});

test('ip-restriction: malformed entries are refused with their field path (schema pattern, then compile)', () => {
  assert.equal(Value.Check(IpRestrictionConfig, Value.Default(IpRestrictionConfig, { allow: ['example.com'] })), false, 'the schema pattern refuses names');
  assert.equal(Value.Check(IpRestrictionConfig, Value.Default(IpRestrictionConfig, { allow: ['1.2.3.4'], extra: 1 })), false);
  assert.deepEqual(
    fieldsOf(() => compileIpRestriction(cfg({ allow: ['10.0.0.0/8', '10.0.0.1/8'], deny: ['300.1.1.1'], trusted_proxies: ['::1/129'] }))).map((f) => f.path),
    ['/allow/1', '/deny/0', '/trusted_proxies/0'],
  );
  assert.match(fieldsOf(() => compileIpRestriction(cfg({ allow: ['10.0.0.1/8'] })))[0]!.message, /host bits/);
  assert.deepEqual(fieldsOf(() => compileIpRestriction(cfg({}))), [{ path: '/allow', message: 'allow or deny must list at least one address or block' }]);
  assert.deepEqual(fieldsOf(() => compileTrustedProxies('10.0.0.0/8, nope')).map((f) => f.path), ['/1']);
});

const LB = compileTrustedProxies('10.0.0.0/8, 2001:db8:1b::/48');

test('client ip: the peer when it is not a trusted proxy, whatever the headers say', () => {
  assert.equal(clientIpOf('198.51.100.7', '1.1.1.1', 'for=1.1.1.1', LB), '198.51.100.7');
  assert.equal(clientIpOf('198.51.100.7', '1.1.1.1', '', NO_TRUSTED_PROXIES), '198.51.100.7');
  assert.equal(clientIpOf('::ffff:198.51.100.7', '', '', NO_TRUSTED_PROXIES), '198.51.100.7', 'mapped peers read as IPv4');
});

test('client ip: behind trusted proxies, the rightmost X-Forwarded-For entry that is not trusted', () => {
  assert.equal(clientIpOf('10.0.0.5', '203.0.113.9', '', LB), '203.0.113.9');
  assert.equal(clientIpOf('10.0.0.5', '6.6.6.6, 203.0.113.9', '', LB), '203.0.113.9', 'a client-written entry left of the real one is ignored');
  assert.equal(clientIpOf('10.0.0.5', '6.6.6.6,203.0.113.9, 10.0.0.4 ,10.1.1.1', '', LB), '203.0.113.9', 'chained trusted proxies are skipped');
  assert.equal(clientIpOf('2001:db8:1b::2', '2001:db8:9::1, 2001:db8:1b::7', '', LB), '2001:db8:9::1');
  assert.equal(clientIpOf('10.0.0.5', '10.0.0.9, 10.0.0.8', '', LB), '10.0.0.9', 'all trusted: the leftmost');
  assert.equal(clientIpOf('10.0.0.5', '', '', LB), '10.0.0.5', 'a trusted peer without the header is the client');
  assert.equal(clientIpOf('10.0.0.5', '203.0.113.9:51234', '', LB), '203.0.113.9', 'port stripped');
  assert.equal(clientIpOf('10.0.0.5', '[2001:db8:9::1]:443', '', LB), '2001:db8:9::1', 'brackets and port stripped');
  assert.equal(clientIpOf('10.0.0.5', '::ffff:203.0.113.9', '', LB), '203.0.113.9');
  assert.equal(clientIpOf('10.0.0.5', '203.0.113.9, ', '', LB), '203.0.113.9', 'empty members are skipped');
  assert.equal(clientIpOf('10.0.0.5', 'bogus, 10.0.0.4', '', LB), '', 'garbage reached through trusted hops: unknown');
  assert.equal(clientIpOf('10.0.0.5', 'bogus, 203.0.113.9', '', LB), '203.0.113.9', 'garbage left of the client is never read');
  assert.equal(clientIpOf('10.0.0.5', '', 'for=203.0.113.9', LB), '10.0.0.5', 'Forwarded is not read when X-Forwarded-For is the configured header');
});

test('client ip: RFC 7239 Forwarded for= when configured', () => {
  const fwd = compileTrustedProxies(['10.0.0.0/8', '2001:db8:1b::/48'], 'forwarded');
  assert.equal(clientIpOf('10.0.0.5', '', 'for=192.0.2.60;proto=http;by=203.0.113.43', fwd), '192.0.2.60');
  assert.equal(clientIpOf('10.0.0.5', '', 'for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.3', fwd), '2001:db8:cafe::17');
  assert.equal(clientIpOf('10.0.0.5', '', 'proto=https;for="192.0.2.60:8080"', fwd), '192.0.2.60');
  assert.equal(clientIpOf('10.0.0.5', '', 'for=unknown', fwd), '');
  assert.equal(clientIpOf('10.0.0.5', '', 'for=_hidden, for=10.0.0.2', fwd), '');
  assert.equal(clientIpOf('10.0.0.5', '', 'proto=https', fwd), '', 'an element without for= is unknown');
  assert.equal(clientIpOf('10.0.0.5', '', 'for="x,y", for=192.0.2.1', fwd), '192.0.2.1', 'commas inside quotes do not split elements');
  assert.equal(clientIpOf('10.0.0.5', '203.0.113.9', '', fwd), '10.0.0.5', 'X-Forwarded-For is not read when Forwarded is configured');
});

test('ip-restriction: checkIp applies the lists to the client found through trusted proxies', () => {
  const p = compileIpRestriction(cfg({ deny: ['203.0.113.0/24'], trusted_proxies: ['10.0.0.0/8'] }));
  assert.equal(checkIp(p, '10.0.0.5', '198.51.100.1, 203.0.113.9', ''), IP_FORBIDDEN);
  assert.equal(checkIp(p, '10.0.0.5', '203.0.113.9, 198.51.100.1', ''), null, 'a spoofed entry left of the client does not matter');
  assert.equal(checkIp(p, '203.0.113.9', '198.51.100.1', ''), IP_FORBIDDEN, 'an untrusted peer cannot launder itself');
  const nodeLevel = compileIpRestriction(cfg({ allow: ['198.51.100.0/24'] }), LB);
  assert.equal(checkIp(nodeLevel, '10.0.0.5', '198.51.100.1', ''), null, 'null trusted_proxies uses the node list');
  const own = compileIpRestriction(cfg({ allow: ['198.51.100.0/24'], trusted_proxies: [] }), LB);
  assert.equal(checkIp(own, '10.0.0.5', '198.51.100.1', ''), IP_FORBIDDEN, '[] trusts no proxy');
});

test('ip-restriction: lookups against 1,000 IPv4 and 1,000 IPv6 blocks stay well under a microsecond', () => {
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const v4: string[] = [];
  const v6: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const len = 8 + (rnd() % 25);
    const addr = len === 32 ? rnd() : (rnd() & ~(0xffffffff >>> len)) >>> 0;
    v4.push(`${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}/${len}`);
    v6.push(`2001:${(rnd() & 0xffff).toString(16)}:${(rnd() & 0xffff).toString(16)}::/48`);
  }
  const p = compileIpRestriction(cfg({ allow: v4, deny: v6 }));
  const probes: string[] = [];
  for (let i = 0; i < 256; i++) {
    const a = rnd();
    probes.push(i % 4 === 3 ? `2001:${(rnd() & 0xffff).toString(16)}::${(a & 0xffff).toString(16)}` : `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`);
  }
  let admitted = 0;
  const N = 200_000;
  for (let i = 0; i < 20_000; i++) if (checkIp(p, probes[i & 255]!, '', '') === null) admitted++; // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) if (checkIp(p, probes[i & 255]!, '', '') === null) admitted++;
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`# ip-restriction checkIp, 1000 v4 allow + 1000 v6 deny blocks: ${ns.toFixed(0)} ns/lookup (admitted ${admitted})`);
  assert.ok(ns < 5000, `${ns} ns per lookup`);
  // and the answers match a linear scan
  const ranges = v4.map((c) => parseCidr(c)).filter((r): r is { family: 4; first: number; last: number } => !('error' in r) && r.family === 4);
  for (const ip of probes.filter((x) => !x.includes(':'))) {
    const w = new Uint32Array(4);
    parseIpInto(ip, 0, ip.length, w);
    assert.equal(ipAllowed(p, ip), ranges.some((r) => w[0]! >= r.first && w[0]! <= r.last), ip);
  }
});
