// The key a consistent-hash upstream hashes a request on: a header, a cookie, the client address or the path.
// Undefined when the request does not carry it (the balancer then falls back to round-robin).
import type { CompiledHashOn } from '../config/compiler.js';

export interface HashKeySource {
  /** A request header by lowercase name, '' when absent (uWS's getHeader). */
  header(name: string): string;
  clientIp(): string;
  path: string;
}

export function requestHashKey(on: CompiledHashOn, src: HashKeySource): string | undefined {
  switch (on.source) {
    case 'header': {
      const v = src.header(on.name);
      return v === '' ? undefined : v;
    }
    case 'cookie':
      return cookieValue(src.header('cookie'), on.name);
    case 'client-ip':
      return src.clientIp();
    case 'path':
      return src.path;
  }
}

/** The value of cookie `name` in a Cookie header (`a=1; b=2`), or undefined. Names compare case-insensitively. */
export function cookieValue(header: string, name: string): string | undefined {
  if (header === '') return undefined;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim().toLowerCase() === name) {
      const v = header.slice(eq + 1, end).trim();
      return v === '' ? undefined : v;
    }
    start = end + 1;
  }
  return undefined;
}
