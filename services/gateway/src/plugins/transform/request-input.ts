// What a transform template reads of a request (TransformInput over RequestContext): the request as the
// client sent it, whatever the transformers change for the upstream. Parsed parts (the query, the path
// pattern's captures) are worked out on first use, once per request.
import type { TransformInput } from '@turnpike/common';
import type { RequestContext } from '../request-context.js';
import { parseQuery, queryValue, type QueryParam } from './query-string.js';

export class RequestInput implements TransformInput {
  body: unknown = undefined;
  private params: QueryParam[] | null = null;
  private match: RegExpExecArray | null | undefined = undefined;

  constructor(
    readonly ctx: RequestContext,
    /** The request-transformer's path pattern (captures); null for none. */
    private readonly pattern: RegExp | null,
  ) {}

  header(name: string): string | undefined {
    const v = this.ctx.header(name);
    return v === '' ? undefined : v;
  }

  query(name: string): string | undefined {
    return queryValue(this.queryParams(), name);
  }

  queryParams(): QueryParam[] {
    return (this.params ??= parseQuery(this.ctx.query));
  }

  /** The path pattern's match on the received path; null when it does not match (or there is none). */
  pathMatch(): RegExpExecArray | null {
    if (this.match === undefined) this.match = this.pattern === null ? null : this.pattern.exec(this.ctx.path);
    return this.match;
  }

  path(capture: string | null): string | undefined {
    if (capture === null) return this.ctx.path;
    const m = this.pathMatch();
    if (m === null) return undefined;
    const v = /^\d+$/.test(capture) ? m[Number(capture)] : m.groups?.[capture];
    return v ?? undefined;
  }

  consumer(field: 'id' | 'username'): string | undefined {
    const id = this.ctx.consumerId;
    if (id === '') return undefined;
    if (field === 'id') return id;
    return this.ctx.tables.ownerOf(id)?.username;
  }

  method(): string {
    return this.ctx.method;
  }

  responseStatus(): number | undefined {
    return undefined;
  }

  responseHeader(_name: string): string | undefined {
    return undefined;
  }
}

/** Control characters (CR, LF, NUL, …; HTAB kept) cannot be in a header value: a rendered value loses them. */
export function headerSafe(v: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x08\x0a-\x1f\x7f]/.test(v) ? v.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '') : v;
}

/** Whether a content-type names JSON (`application/json`, `application/problem+json`, …). */
export function isJsonType(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  const t = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return t === 'application/json' || (t.startsWith('application/') && t.endsWith('+json'));
}
