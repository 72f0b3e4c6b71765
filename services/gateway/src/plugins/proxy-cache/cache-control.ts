// The Cache-Control rules of proxy-cache (RFC 9111, as a shared cache that does not revalidate): what a
// request's directives ask of the cache, and whether and how long a response may be stored.

/** The directives proxy-cache acts on; `maxAge`/`sMaxage` are -1 when absent. */
export interface Directives {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  maxAge: number;
  sMaxage: number;
}

const NONE: Directives = Object.freeze({ noStore: false, noCache: false, private: false, maxAge: -1, sMaxage: -1 });

/** Parses a Cache-Control value; unknown directives are ignored, a bad number counts as absent. */
export function parseCacheControl(value: string): Directives {
  if (value === '') return NONE;
  const d: Directives = { noStore: false, noCache: false, private: false, maxAge: -1, sMaxage: -1 };
  for (const raw of value.split(',')) {
    const part = raw.trim();
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    // `private="set-cookie"` and `no-cache="x"` name fields; a cache that does not strip them stores nothing.
    if (name === 'no-store') d.noStore = true;
    else if (name === 'no-cache') d.noCache = true;
    else if (name === 'private') d.private = true;
    else if (name === 'max-age' || name === 's-maxage') {
      const v = seconds(eq < 0 ? '' : part.slice(eq + 1));
      if (v >= 0) {
        if (name === 'max-age') d.maxAge = v;
        else d.sMaxage = v;
      }
    }
  }
  return d;
}

/** Delta-seconds, quoted or not; -1 when not a non-negative integer. */
function seconds(v: string): number {
  let s = v.trim();
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1);
  if (!/^[0-9]{1,10}$/.test(s)) return -1;
  return Number(s);
}

/** What a request asks of the cache. */
export type RequestMode = 'normal' | 'bypass' | 'refresh';

/**
 * `no-store`: neither answered from nor stored in the cache (bypass). `no-cache` / `max-age=0`: a refresh,
 * which the caller grants only to authorized consumers (anyone else is answered from the cache).
 */
export function requestMode(cacheControl: string): RequestMode {
  if (cacheControl === '') return 'normal';
  const d = parseCacheControl(cacheControl);
  if (d.noStore) return 'bypass';
  if (d.noCache || d.maxAge === 0) return 'refresh';
  return 'normal';
}

/**
 * How many seconds a response may be stored: `s-maxage` over `max-age` over the configured TTL; 0 when it
 * must not be stored (`no-store`, `no-cache`, `private`, or a zero lifetime).
 */
export function responseTtl(cacheControl: string, defaultTtlS: number): number {
  if (cacheControl === '') return defaultTtlS;
  const d = parseCacheControl(cacheControl);
  if (d.noStore || d.noCache || d.private) return 0;
  if (d.sMaxage >= 0) return d.sMaxage;
  if (d.maxAge >= 0) return d.maxAge;
  return defaultTtlS;
}

/**
 * The request headers a response's Vary names, lower-case, sorted, de-duplicated; null for `*` (the
 * response varies on something no key can hold: not stored).
 */
export function varyNames(vary: readonly string[]): readonly string[] | null {
  if (vary.length === 0) return EMPTY;
  const names = new Set<string>();
  for (const v of vary) {
    for (const raw of v.split(',')) {
      const n = raw.trim().toLowerCase();
      if (n === '*') return null;
      if (n !== '') names.add(n);
    }
  }
  return names.size === 0 ? EMPTY : [...names].sort();
}
const EMPTY: readonly string[] = Object.freeze([]);
