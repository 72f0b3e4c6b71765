// ip-restriction: admits or refuses a request by its client address (allow and deny lists of CIDR blocks).
import { Type, type Static } from '@sinclair/typebox';
import { CIDR_PATTERN, cidrListProblems } from '../ip-address.js';
import type { FieldError } from '../errors.js';
import type { PluginType } from './types.js';

const Cidr = Type.String({ pattern: CIDR_PATTERN, description: 'an IPv4/IPv6 address or CIDR block, e.g. 10.0.0.0/8 or 2001:db8::/32' });
const CidrList = (maxItems: number) => Type.Array(Cidr, { maxItems, default: [] });

export const IpRestrictionConfig = Type.Object(
  {
    /** When non-empty, only clients in these blocks are admitted. */
    allow: CidrList(10000),
    /** Clients in these blocks are refused, even when also allowed (deny wins). */
    deny: CidrList(10000),
    /**
     * Proxies (load balancers, CDNs) whose forwarding header is believed. null: the node's
     * TP_TRUSTED_PROXIES; [] trusts none (the client is the TCP peer).
     */
    trusted_proxies: Type.Union([Type.Array(Cidr, { maxItems: 1000 }), Type.Null()], { default: null }),
    /** Which header a trusted proxy writes the client into. Only one is read: the other could be client-written. */
    client_ip_header: Type.Union([Type.Literal('x-forwarded-for'), Type.Literal('forwarded')], { default: 'x-forwarded-for' }),
  },
  { additionalProperties: false },
);
export type IpRestrictionConfig = Static<typeof IpRestrictionConfig>;

/** What the schema cannot say: each entry is a valid block (host bits zero), and at least one list is set. */
export function ipRestrictionProblems(cfg: IpRestrictionConfig): FieldError[] {
  const out = [...cidrListProblems(cfg.allow, '/allow'), ...cidrListProblems(cfg.deny, '/deny'), ...cidrListProblems(cfg.trusted_proxies, '/trusted_proxies')];
  if (cfg.allow.length === 0 && cfg.deny.length === 0) out.push({ path: '/allow', message: 'allow or deny must list at least one address or block' });
  return out;
}

export const ipRestrictionPlugin: PluginType<typeof IpRestrictionConfig> = {
  name: 'ip-restriction',
  description: 'Refuses (403 TP_ERR_IP_FORBIDDEN) clients outside `allow` or inside `deny` (CIDR, IPv4 and IPv6; deny wins), the client found through trusted proxies.',
  config: IpRestrictionConfig,
  scopes: ['global', 'service', 'route'],
  phase: 'pre-auth',
  problems: ipRestrictionProblems,
};
