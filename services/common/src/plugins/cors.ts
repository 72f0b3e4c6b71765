// cors: answers CORS preflight requests at the gateway and adds CORS headers to actual responses.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import type { PluginType } from './types.js';

// `*`, `null`, or scheme://host[:port] where host may start with one `*.` label wildcard (no path, no regex).
const ORIGIN_PATTERN =
  '^(\\*|null|[A-Za-z][A-Za-z0-9+.-]*://((\\*\\.)?[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?)$';
const Token = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$" });

export const CorsConfig = Type.Object(
  {
    /**
     * Allowed origins: `*` (any), exact (`https://app.example.com`, `http://localhost:3000`), or a pattern with a
     * leading label wildcard (`https://*.example.com`: one or more labels, not the bare domain). `null` matches
     * the opaque origin `null` only when listed itself.
     */
    origins: Type.Array(Type.String({ pattern: ORIGIN_PATTERN, maxLength: 512 }), { minItems: 1, maxItems: 1000, default: ['*'] }),
    /** Methods a preflight may ask for (case-sensitive, as browsers send them). */
    methods: Type.Array(Token, { minItems: 1, maxItems: 32, default: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE', 'OPTIONS'] }),
    /** Request headers a preflight may ask for; null (or a `*` entry) allows and reflects whatever is asked. */
    headers: Type.Union([Type.Array(Token, { maxItems: 128 }), Type.Null()], { default: null }),
    /** Response headers scripts may read (Access-Control-Expose-Headers). */
    exposed_headers: Type.Array(Token, { maxItems: 128, default: [] }),
    /** Allow cookies/credentials: the origin is then always echoed, never `*`. */
    credentials: Type.Boolean({ default: false }),
    /** How long (seconds) a browser may cache a preflight answer; null sends no Access-Control-Max-Age. */
    max_age: Type.Union([Type.Integer({ minimum: 0, maximum: 86400 }), Type.Null()], { default: null }),
    /** true: preflight requests go to the upstream instead of being answered by the gateway. */
    preflight_continue: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type CorsConfig = Static<typeof CorsConfig>;

export function corsProblems(cfg: CorsConfig): FieldError[] {
  const out: FieldError[] = [];
  cfg.origins.forEach((o, i) => {
    const port = /:([0-9]{1,5})$/.exec(o);
    if (port && o.includes('://') && Number(port[1]) > 65535) out.push({ path: `/origins/${i}`, message: 'has a port above 65535' });
  });
  return out;
}

export const corsPlugin: PluginType<typeof CorsConfig> = {
  name: 'cors',
  description: 'Answers CORS preflight requests (204, or 403 TP_ERR_CORS_FORBIDDEN) and adds Access-Control-* headers to responses for allowed origins.',
  config: CorsConfig,
  scopes: ['global', 'service', 'route'],
  phase: 'pre-auth',
  problems: corsProblems,
};
