// waf: a WAF-lite rule set — request size limits and known attack signatures in path, query, selected headers
// and the first KiB of the body — run in `block` (403 TP_ERR_WAF_BLOCKED) or `log-only` mode. The rule
// catalogue lives here so the control plane can list and check rule ids; the gateway compiles it.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import type { PluginType } from './types.js';

export type WafCategory = 'size' | 'sqli' | 'xss' | 'path-traversal' | 'command-injection' | 'log4shell';
export const WAF_CATEGORIES: readonly WafCategory[] = ['size', 'sqli', 'xss', 'path-traversal', 'command-injection', 'log4shell'];
export type WafTarget = 'path' | 'query' | 'header' | 'body';

export interface WafRule {
  id: string;
  category: WafCategory;
  description: string;
  /**
   * Signature rules: a case-insensitive JS regex source with no capturing groups, tested on the URL-decoded
   * (and, when that still holds a `%`, once more decoded) text. Written so that each match attempt does a
   * bounded amount of work: every alternative starts with a literal, every quantifier is bounded, none nest
   * ambiguously. null for size rules.
   */
  pattern: string | null;
  /** Where the signature is looked for. */
  targets: readonly WafTarget[];
}

const ALL: readonly WafTarget[] = ['path', 'query', 'header', 'body'];
// Separators SQL accepts between keywords: whitespace, `+` (form-encoded space) and inline comments.
const SP = String.raw`(?:\s|\+|/\*[^*]{0,64}\*/)`;
const CMDS = String.raw`(?:cat|ls|id|whoami|uname|wget|curl|nc|ncat|netcat|bash|sh|zsh|ksh|python[23]?|perl|ruby|php|ping|nslookup|rm|chmod|echo|sleep|powershell|cmd(?:\.exe)?)`;
const EVENTS = String.raw`(?:error|load|click|dblclick|mouseover|mouseenter|mouseout|mousemove|mousedown|mouseup|focus|focusin|blur|change|submit|reset|keydown|keyup|keypress|input|select|abort|animationstart|animationend|transitionend|toggle|pointerdown|pointerover|pointerenter|begin|end|unload|beforeunload|hashchange|message|pageshow|popstate|resize|scroll|wheel|drag|dragstart|drop|copy|cut|paste|auxclick|contextmenu|loadstart|play|playing|canplay|show|wheel|start|finish)`;

/** The rule catalogue. Ids are stable: configs disable them by id and call logs record them. */
export const WAF_RULES: readonly WafRule[] = [
  { id: 'size-url', category: 'size', description: 'request target (path and query) longer than max_url_bytes', pattern: null, targets: [] },
  { id: 'size-header-count', category: 'size', description: 'more headers than max_header_count', pattern: null, targets: [] },
  { id: 'size-header-value', category: 'size', description: 'a header value longer than max_header_bytes', pattern: null, targets: [] },
  { id: 'size-body', category: 'size', description: 'body (Content-Length or received bytes) over max_body_bytes', pattern: null, targets: [] },

  {
    id: 'sqli-tautology',
    category: 'sqli',
    description: "a quote closed then an always-true comparison: ' or 1=1, \" or \"a\"=\"a, ' and 'x' like 'x",
    pattern: String.raw`['"\x60]${SP}{0,16}(?:or|and|xor|\|\||&&)${SP}{1,16}(?:'[^']{0,32}'|"[^"]{0,32}"|\d{1,16}|true|false|null)${SP}{0,16}(?:=|<>|!=|<=|>=|<|>|like\b|is\b|in${SP}{0,16}\()`,
    targets: ALL,
  },
  {
    id: 'sqli-tautology-numeric',
    category: 'sqli',
    description: 'a numeric value followed by or/and and a numeric comparison: 1 or 1=1, 0 and 2>1',
    pattern: String.raw`\d${SP}{1,16}(?:or|and)${SP}{1,16}\d{1,16}${SP}{0,16}(?:=|<>|!=|<|>)${SP}{0,16}\d`,
    targets: ALL,
  },
  {
    id: 'sqli-union-select',
    category: 'sqli',
    description: 'union [all] select followed by a select list: union select null, union all select 1,2',
    pattern: String.raw`\bunion${SP}{1,16}(?:all${SP}{1,16}|distinct${SP}{1,16})?select${SP}{1,16}(?:null\b|\d|@@|\*|'|"|\(|(?:concat|char|group_concat|version|user|database|schema|table_name|column_name|password|load_file)\b)`,
    targets: ALL,
  },
  {
    id: 'sqli-stacked-query',
    category: 'sqli',
    description: 'a statement separator then a destructive or administrative statement: ; drop table, ; shutdown',
    pattern: String.raw`;${SP}{0,16}(?:drop${SP}{1,16}(?:table|database|schema|user)|truncate${SP}{1,16}table|alter${SP}{1,16}(?:table|user)|delete${SP}{1,16}from|insert${SP}{1,16}into|update${SP}{1,16}\w{1,64}${SP}{1,16}set|exec(?:ute)?${SP}{1,16}(?:xp_|sp_)|shutdown\b|create${SP}{1,16}(?:table|user|database))\b`,
    targets: ALL,
  },
  {
    id: 'sqli-comment-truncation',
    category: 'sqli',
    description: "a quote closed then the rest of the statement commented out: admin'-- , admin'# (at the end), '/*, MySQL /*! */",
    pattern: String.raw`['"\x60]\)?${SP}{0,16}(?:--(?:\s|$)|#\s{0,16}$|/\*)|/\*!\d{0,6}`,
    targets: ['path', 'query', 'header'],
  },
  {
    id: 'sqli-functions',
    category: 'sqli',
    description: 'time and file primitives of blind SQL injection: sleep(, benchmark(, waitfor delay, load_file(, into outfile, xp_cmdshell, information_schema',
    pattern: String.raw`\b(?:(?:pg_)?sleep${SP}{0,16}\(${SP}{0,16}\d|benchmark${SP}{0,16}\(|waitfor${SP}{1,16}delay${SP}{0,16}'|load_file${SP}{0,16}\(|into${SP}{1,16}(?:out|dump)file\b|xp_cmdshell\b|information_schema\.)`,
    targets: ALL,
  },

  {
    id: 'xss-script-tag',
    category: 'xss',
    description: 'a script element: <script, </script',
    pattern: String.raw`<\s{0,16}/?\s{0,16}script\b`,
    targets: ALL,
  },
  {
    id: 'xss-js-uri',
    category: 'xss',
    description: 'a javascript:, vbscript: or data:text/html URI',
    pattern: String.raw`\b(?:java|vb)script:(?!\s)|\bdata:text/html\b`,
    targets: ALL,
  },
  {
    id: 'xss-event-handler',
    category: 'xss',
    description: 'an inline event handler attribute after whitespace, a quote or a slash: onerror=, " onload =',
    pattern: String.raw`[\s"'/]on${EVENTS}\s{0,16}=`,
    targets: ALL,
  },
  {
    id: 'xss-active-element',
    category: 'xss',
    description: 'elements that load or run active content: <iframe, <object, <embed, <applet, <frame, <base href',
    pattern: String.raw`<\s{0,16}(?:iframe|frame|object|embed|applet|base\s{1,16}href)\b`,
    targets: ALL,
  },
  {
    id: 'xss-dom-access',
    category: 'xss',
    description: 'script reaching for the DOM: document.cookie, document.write(, alert(document.domain)',
    pattern: String.raw`\bdocument\s{0,16}\.\s{0,16}(?:cookie|write\s{0,16}\(|domain)\b`,
    targets: ALL,
  },

  {
    id: 'traversal-dot-dot',
    category: 'path-traversal',
    description: 'a parent-directory step: ../ or ..\\ (after URL-decoding, so also %2e%2e%2f and %252e%252e%252f)',
    pattern: String.raw`(?<!\.)\.\.[/\\]|[/\\]\.\.(?![^/\\?#;])`,
    targets: ['path', 'query', 'header', 'body'],
  },
  {
    id: 'traversal-null-byte',
    category: 'path-traversal',
    description: 'a NUL byte (%00), used to cut a file name short',
    pattern: String.raw`\x00`,
    targets: ['path', 'query', 'header'],
  },
  {
    id: 'traversal-sensitive-file',
    category: 'path-traversal',
    description: 'well-known system files: /etc/passwd, /etc/shadow, /proc/self/, win.ini, boot.ini, \\windows\\system32',
    pattern: String.raw`/etc/(?:passwd|shadow|group|hosts)\b|/proc/self/|\b(?:win|boot|system)\.ini\b|\\windows\\system32\b`,
    targets: ALL,
  },

  {
    id: 'cmd-chained',
    category: 'command-injection',
    description: 'a shell separator then a command with a flag, path, variable or URL argument, or nothing: ;cat /etc/passwd, | id, && wget http://…',
    pattern: String.raw`(?:;|\||&&|\n)\s{0,16}${CMDS}(?:\s{1,16}(?:[-/$~.'"]|(?:https?|ftp|tcp):)|\s{0,16}(?:$|[;|&\x60#]))`,
    targets: ALL,
  },
  {
    id: 'cmd-substitution',
    category: 'command-injection',
    description: 'command substitution running a known command: $(id), `whoami`, ${IFS}',
    pattern: String.raw`\$\(\s{0,16}${CMDS}\b|\x60\s{0,16}${CMDS}(?:\s[^\x60]{0,128})?\x60|\$\{IFS\}`,
    targets: ALL,
  },

  {
    id: 'log4shell-jndi',
    category: 'log4shell',
    description: 'a Log4j JNDI lookup: ${jndi:ldap://…}',
    pattern: String.raw`\$\{\s{0,16}jndi\s{0,16}:`,
    targets: ALL,
  },
  {
    id: 'log4shell-nested-lookup',
    category: 'log4shell',
    description: 'a nested Log4j lookup used to hide jndi: ${${lower:j}ndi:…}, ${j${::-n}di:…}',
    pattern: String.raw`\$\{[^{}]{0,32}\$\{(?:lower|upper|env|sys|date|base64|java|main|::-)`,
    targets: ALL,
  },
];

const RULE_IDS = new Set(WAF_RULES.map((r) => r.id));
const Category = Type.Union(WAF_CATEGORIES.map((c) => Type.Literal(c)));
const Limit = (def: number | null, max: number) => Type.Union([Type.Integer({ minimum: 1, maximum: max }), Type.Null()], { default: def });

export const WafConfig = Type.Object(
  {
    /** `block`: refuse with 403 TP_ERR_WAF_BLOCKED. `log-only`: proxy, and record the rule in the call log. */
    mode: Type.Union([Type.Literal('block'), Type.Literal('log-only')], { default: 'block' }),
    /** Which rule categories run. */
    categories: Type.Array(Category, { uniqueItems: true, maxItems: WAF_CATEGORIES.length, default: [...WAF_CATEGORIES] }),
    /** Rule ids to skip (e.g. a false positive on this API). */
    disabled_rules: Type.Array(Type.String({ pattern: '^[a-z0-9-]{1,64}$' }), { uniqueItems: true, maxItems: 256, default: [] }),
    /** Only the first this many KiB of a body are inspected; 0 inspects no body. */
    inspect_body_kib: Type.Integer({ minimum: 0, maximum: 1024, default: 64 }),
    /** Headers (lower-case names) whose values are inspected for signatures, besides path, query and body. */
    inspect_headers: Type.Array(Type.String({ pattern: "^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$" }), { uniqueItems: true, maxItems: 32, default: ['user-agent', 'referer'] }),
    /** Size rules; null switches one off. */
    max_url_bytes: Limit(8192, 1_048_576),
    max_header_count: Limit(100, 10_000),
    max_header_bytes: Limit(8192, 1_048_576),
    max_body_bytes: Limit(null, 2 ** 40),
  },
  { additionalProperties: false },
);
export type WafConfig = Static<typeof WafConfig>;

/** Disabled rule ids the catalogue does not know; a config that turns every signature category off is allowed. */
export function wafProblems(cfg: WafConfig): FieldError[] {
  const out: FieldError[] = [];
  cfg.disabled_rules.forEach((id, i) => {
    if (!RULE_IDS.has(id)) out.push({ path: `/disabled_rules/${i}`, message: `${JSON.stringify(id)} is not a WAF rule id` });
  });
  if (cfg.categories.length === 0) out.push({ path: '/categories', message: 'must enable at least one category' });
  return out;
}

export const wafPlugin: PluginType<typeof WafConfig> = {
  name: 'waf',
  description:
    'WAF-lite: request size limits and attack signatures (SQL injection, XSS, path traversal, command injection, Log4Shell) in path, query, headers and body; 403 TP_ERR_WAF_BLOCKED, or log-only.',
  config: WafConfig,
  scopes: ['global', 'service', 'route'],
  phase: 'pre-auth',
  problems: wafProblems,
};
