// waf: the WAF-lite rule catalogue (@turnpike/common WAF_RULES) compiled once per config into size limits and
// ONE case-insensitive regex per target (path, query, header, body), each rule a capturing group of the
// alternation, so a request costs one scan per target text; the matching group names the rule.
//
// Decisions (docs/configuration.md, "waf"):
//  - Texts are scanned URL-decoded (tolerantly: a malformed escape stays as written, `+` is a space in the
//    query), and, when the decoded text still holds a `%`, once more decoded (double encoding). Body text is
//    read as latin1 (signatures are ASCII), only its first `inspect_body_kib`, with JSON `\uXXXX` escapes
//    undone. The raw text is not scanned separately: decoding only reveals.
//  - Rules are written to bound the work of each match attempt (a literal first, bounded quantifiers, no
//    ambiguous nesting), so a scan is linear in the text: a 1 MB pathological input is scanned in milliseconds.
//  - Size rules come first, then path, query, inspected headers, body; the first rule that matches decides.
//  - The answer is a frozen verdict (no allocation): `block` true in block mode (403 TP_ERR_WAF_BLOCKED),
//    false in log-only mode (the pipeline records ruleId/category in the call log and proxies). The matched
//    text is never put in the verdict (it is the attacker's, and may be large).
import { TurnpikeError, WAF_RULES, wafProblems, type WafCategory, type WafConfig, type WafRule, type WafTarget } from '@turnpike/common';

export interface WafVerdict {
  code: 'TP_ERR_WAF_BLOCKED';
  status: 403;
  /** false in log-only mode: record and proxy. */
  block: boolean;
  ruleId: string;
  category: WafCategory;
  /** Where it matched (`size` for size rules). */
  target: WafTarget | 'size';
  message: string;
}

export interface WafRequest {
  /** The request path as received (percent-encoded), without the query. */
  path: string;
  /** The raw query string without `?` ('' for none). */
  query: string;
  /** Flat [name, value, …] request headers, names lower-case. */
  headers: readonly string[];
  /** Declared Content-Length; -1 when unknown (chunked, or not yet read). */
  contentLength: number;
  /** The body or its first bytes (at least `inspectBodyBytes` of it when longer); null when not buffered. */
  body: Buffer | null;
}

interface Scanner {
  re: RegExp;
  /** Verdict by capturing-group index (index 0 unused). */
  verdicts: readonly WafVerdict[];
}

export interface WafPolicy {
  readonly maxUrl: number;
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
  readonly maxBody: number;
  readonly sizeVerdicts: Readonly<Record<'url' | 'count' | 'value' | 'body', WafVerdict | null>>;
  readonly path: Scanner | null;
  readonly query: Scanner | null;
  readonly header: Scanner | null;
  readonly body: Scanner | null;
  /** Lower-case names of headers scanned. */
  readonly inspectHeaders: ReadonlySet<string>;
  readonly inspectBodyBytes: number;
  readonly block: boolean;
}

function verdict(rule: WafRule, target: WafVerdict['target'], block: boolean): WafVerdict {
  const where = target === 'size' ? '' : ` in the ${target}`;
  return Object.freeze({
    code: 'TP_ERR_WAF_BLOCKED',
    status: 403,
    block,
    ruleId: rule.id,
    category: rule.category,
    target,
    message: `request refused by the web application firewall (rule ${rule.id}, ${rule.category}${where})`,
  });
}

function groupCount(source: string): number {
  return new RegExp(`${source}|`).exec('')!.length - 1;
}

function scanner(rules: readonly WafRule[], target: WafTarget, block: boolean): Scanner | null {
  const mine = rules.filter((r) => r.pattern !== null && r.targets.includes(target));
  if (mine.length === 0) return null;
  for (const r of mine) {
    if (groupCount(r.pattern!) !== 0) throw new TurnpikeError('TP_ERR_INTERNAL', `WAF rule ${r.id} has a capturing group`);
  }
  const re = new RegExp(mine.map((r) => `(${r.pattern})`).join('|'), 'i');
  return { re, verdicts: [verdict(mine[0]!, target, block), ...mine.map((r) => verdict(r, target, block))] };
}

/** Compiles a config (checked against WafConfig, defaults filled); throws TP_ERR_VALIDATION for unknown rule ids. */
export function compileWaf(cfg: WafConfig): WafPolicy {
  const problems = wafProblems(cfg);
  if (problems.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', `${problems[0]!.path} ${problems[0]!.message}`, problems);
  const block = cfg.mode === 'block';
  const categories = new Set(cfg.categories);
  const disabled = new Set(cfg.disabled_rules);
  const rules = WAF_RULES.filter((r) => categories.has(r.category) && !disabled.has(r.id));
  const size = (id: string, limit: number | null): WafVerdict | null => {
    const r = rules.find((x) => x.id === id);
    return r === undefined || limit === null ? null : verdict(r, 'size', block);
  };
  const sizeVerdicts = {
    url: size('size-url', cfg.max_url_bytes),
    count: size('size-header-count', cfg.max_header_count),
    value: size('size-header-value', cfg.max_header_bytes),
    body: size('size-body', cfg.max_body_bytes),
  };
  return {
    maxUrl: sizeVerdicts.url === null ? Infinity : cfg.max_url_bytes!,
    maxHeaderCount: sizeVerdicts.count === null ? Infinity : cfg.max_header_count!,
    maxHeaderBytes: sizeVerdicts.value === null ? Infinity : cfg.max_header_bytes!,
    maxBody: sizeVerdicts.body === null ? Infinity : cfg.max_body_bytes!,
    sizeVerdicts,
    path: scanner(rules, 'path', block),
    query: scanner(rules, 'query', block),
    header: cfg.inspect_headers.length === 0 ? null : scanner(rules, 'header', block),
    body: cfg.inspect_body_kib === 0 ? null : scanner(rules, 'body', block),
    inspectHeaders: new Set(cfg.inspect_headers),
    inspectBodyBytes: cfg.inspect_body_kib * 1024,
    block,
  };
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 32;
  return c >= 97 && c <= 102 ? c - 87 : -1;
}

/** Percent-decodes `%XX` to the byte's latin1 character; malformed escapes stay. Returns `s` itself when nothing changes. */
export function percentDecode(s: string, plusIsSpace: boolean): string {
  let first = s.indexOf('%');
  if (plusIsSpace) {
    const plus = s.indexOf('+');
    if (plus !== -1 && (first === -1 || plus < first)) first = plus;
  }
  if (first === -1) return s;
  let out = '';
  let last = 0;
  const n = s.length;
  for (let i = first; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < n) {
      const h = hexValue(s.charCodeAt(i + 1));
      const l = hexValue(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        out += s.slice(last, i) + String.fromCharCode(h * 16 + l);
        i += 2;
        last = i + 1;
      }
    } else if (c === 43 && plusIsSpace) {
      out += `${s.slice(last, i)} `;
      last = i + 1;
    }
  }
  return last === 0 ? s : out + s.slice(last);
}

const JSON_ESCAPE = /\\u([0-9a-fA-F]{4})/g;
const unescapeJson = (_: string, hex: string): string => String.fromCharCode(parseInt(hex, 16));

/** Scans `raw`, its decoding and (when that still holds a `%`) its double decoding. */
function scan(s: Scanner, raw: string, plusIsSpace: boolean): WafVerdict | null {
  const once = percentDecode(raw, plusIsSpace);
  let m = s.re.exec(once);
  if (m === null && once !== raw && once.includes('%')) {
    const twice = percentDecode(once, false);
    if (twice !== once) m = s.re.exec(twice);
  }
  if (m === null) return null;
  for (let i = 1; i < m.length; i++) if (m[i] !== undefined) return s.verdicts[i]!;
  return null;
}

/** null when no enabled rule matches; else the verdict of the first rule that does. */
export function checkWaf(policy: WafPolicy, req: WafRequest): WafVerdict | null {
  const sv = policy.sizeVerdicts;
  const urlBytes = req.path.length + (req.query === '' ? 0 : req.query.length + 1);
  if (urlBytes > policy.maxUrl) return sv.url;
  const h = req.headers;
  if (h.length / 2 > policy.maxHeaderCount) return sv.count;
  if (policy.maxHeaderBytes !== Infinity) {
    for (let i = 1; i < h.length; i += 2) if (h[i]!.length > policy.maxHeaderBytes) return sv.value;
  }
  const bodyLength = req.body === null ? 0 : req.body.length;
  if ((req.contentLength > bodyLength ? req.contentLength : bodyLength) > policy.maxBody) return sv.body;

  let v: WafVerdict | null;
  if (policy.path !== null && (v = scan(policy.path, req.path, false)) !== null) return v;
  if (policy.query !== null && req.query !== '' && (v = scan(policy.query, req.query, true)) !== null) return v;
  if (policy.header !== null) {
    for (let i = 0; i < h.length; i += 2) {
      if (policy.inspectHeaders.has(h[i]!) && (v = scan(policy.header, h[i + 1]!, false)) !== null) return v;
    }
  }
  if (policy.body !== null && req.body !== null && req.body.length > 0) {
    const b = req.body;
    let text = b.toString('latin1', 0, b.length < policy.inspectBodyBytes ? b.length : policy.inspectBodyBytes);
    if (text.includes('\\u')) text = text.replace(JSON_ESCAPE, unescapeJson);
    if ((v = scan(policy.body, text, false)) !== null) return v;
  }
  return null;
}
