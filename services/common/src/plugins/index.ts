// The plugin types this release knows. Only types the gateway enforces are listed (the gateway's
// plugins/chain.test.ts fails for a listed type without an implementation).
import { keyAuthPlugin } from './key-auth.js';
import { requestSizeLimitingPlugin } from './request-size-limiting.js';
import type { PluginType } from './types.js';

export * from './types.js';
export { keyAuthPlugin } from './key-auth.js';
export { requestSizeLimitingPlugin, RequestSizeLimitingConfig } from './request-size-limiting.js';
// Defined for the gateway's jwt-auth module; joins PLUGIN_TYPES once the request pipeline enforces it.
export { jwtAuthPlugin, JwtAuthConfig } from './jwt-auth.js';
// HMAC signatures and Basic auth (issue 6): defined for the gateway's modules; not in PLUGIN_TYPES until the
// request pipeline enforces them.
export { hmacAuthPlugin, HmacAuthConfig } from './hmac-auth.js';
export { basicAuthPlugin, BasicAuthConfig } from './basic-auth.js';
// Access control (issue 6): defined for the control plane and the gateway's pipeline; enforced by the gateway
// only once the request pipeline runs them, so not in PLUGIN_TYPES yet.
export { ipRestrictionPlugin, IpRestrictionConfig, ipRestrictionProblems } from './ip-restriction.js';
export { corsPlugin, CorsConfig, corsProblems } from './cors.js';
export { aclPlugin, AclConfig, aclProblems } from './acl.js';
// Request validation and WAF-lite (issue 6): defined for the control plane and the gateway's pipeline; not in
// PLUGIN_TYPES until the request pipeline enforces them.
export { requestValidationPlugin, RequestValidationConfig, requestValidationProblems } from './request-validation.js';
export { wafPlugin, WafConfig, wafProblems, WAF_RULES, WAF_CATEGORIES, type WafRule, type WafCategory, type WafTarget } from './waf.js';

export const PLUGIN_TYPES: readonly PluginType[] = [keyAuthPlugin, requestSizeLimitingPlugin];
export type PluginTypeName = 'key-auth' | 'request-size-limiting';
export const PLUGIN_TYPE_NAMES: readonly PluginTypeName[] = PLUGIN_TYPES.map((t) => t.name as PluginTypeName);

export function pluginTypeOf(name: string): PluginType | undefined {
  return PLUGIN_TYPES.find((t) => t.name === name);
}
