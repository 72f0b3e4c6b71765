// The plugin types this release knows. Only types the gateway enforces are listed (the gateway's
// plugins/chain.test.ts fails for a listed type without an implementation).
import { keyAuthPlugin } from './key-auth.js';
import { requestSizeLimitingPlugin } from './request-size-limiting.js';
import { jwtAuthPlugin } from './jwt-auth.js';
import { hmacAuthPlugin } from './hmac-auth.js';
import { basicAuthPlugin } from './basic-auth.js';
import { ipRestrictionPlugin } from './ip-restriction.js';
import { corsPlugin } from './cors.js';
import { aclPlugin } from './acl.js';
import { requestValidationPlugin } from './request-validation.js';
import { wafPlugin } from './waf.js';
import { oauth2IntrospectionPlugin } from './oauth2-introspection.js';
import { customAuthorizerPlugin } from './custom-authorizer.js';
import { mtlsAuthPlugin } from './mtls-auth.js';
import { requestTransformerPlugin } from './request-transformer.js';
import { responseTransformerPlugin } from './response-transformer.js';
import { mockPlugin } from './mock.js';
import { proxyCachePlugin } from './proxy-cache.js';
import { rateLimitingPlugin } from './rate-limiting.js';
import { callCapturePlugin } from './call-capture.js';
import type { PluginType } from './types.js';

export * from './types.js';
export { keyAuthPlugin } from './key-auth.js';
export { requestSizeLimitingPlugin, RequestSizeLimitingConfig } from './request-size-limiting.js';
export { jwtAuthPlugin, JwtAuthConfig } from './jwt-auth.js';
export { hmacAuthPlugin, HmacAuthConfig } from './hmac-auth.js';
export { basicAuthPlugin, BasicAuthConfig } from './basic-auth.js';
export { ipRestrictionPlugin, IpRestrictionConfig, ipRestrictionProblems } from './ip-restriction.js';
export { corsPlugin, CorsConfig, corsProblems } from './cors.js';
export { aclPlugin, AclConfig, aclProblems } from './acl.js';
export { requestValidationPlugin, RequestValidationConfig, requestValidationProblems } from './request-validation.js';
export { wafPlugin, WafConfig, wafProblems, WAF_RULES, WAF_CATEGORIES, type WafRule, type WafCategory, type WafTarget } from './waf.js';
export { oauth2IntrospectionPlugin, Oauth2IntrospectionConfig, oauth2IntrospectionProblems } from './oauth2-introspection.js';
export {
  customAuthorizerPlugin,
  CustomAuthorizerConfig,
  customAuthorizerProblems,
  parseIdentitySource,
  AUTHORIZER_CONTEXT_VARIABLES,
  type IdentitySource,
  type AuthorizerContextVariable,
} from './custom-authorizer.js';
export { mtlsAuthPlugin, MtlsAuthConfig, MtlsIdentity } from './mtls-auth.js';
export {
  requestTransformerPlugin,
  RequestTransformerConfig,
  requestTransformerProblems,
  requestTemplateOptions,
  pathCaptures,
  parseReplacement,
  type ReplacementPart,
} from './request-transformer.js';
export { responseTransformerPlugin, ResponseTransformerConfig, responseTransformerProblems, statusKeyRange, RESPONSE_TEMPLATE_OPTIONS } from './response-transformer.js';
export { mockPlugin, MockConfig, mockProblems } from './mock.js';
export { HeaderOps, QueryOps, FRAMING_HEADERS, valueTemplateOptions } from './transform-ops.js';
export { proxyCachePlugin, ProxyCacheConfig, proxyCacheProblems } from './proxy-cache.js';
export { callCapturePlugin, CallCaptureConfig } from './call-capture.js';

export {
  rateLimitingPlugin,
  RateLimitingConfig,
  RateLimit,
  RateLimitKey,
  RateLimitPer,
  RATE_LIMIT_PER_MS,
  rateLimitingProblems,
} from './rate-limiting.js';

export const PLUGIN_TYPES: readonly PluginType[] = [
  keyAuthPlugin,
  requestSizeLimitingPlugin,
  jwtAuthPlugin,
  hmacAuthPlugin,
  basicAuthPlugin,
  ipRestrictionPlugin,
  corsPlugin,
  aclPlugin,
  requestValidationPlugin,
  wafPlugin,
  oauth2IntrospectionPlugin,
  customAuthorizerPlugin,
  mtlsAuthPlugin,
  requestTransformerPlugin,
  responseTransformerPlugin,
  mockPlugin,
  rateLimitingPlugin,
  proxyCachePlugin,
  callCapturePlugin,
];
export type PluginTypeName =
  | 'key-auth'
  | 'request-size-limiting'
  | 'jwt-auth'
  | 'hmac-auth'
  | 'basic-auth'
  | 'ip-restriction'
  | 'cors'
  | 'acl'
  | 'request-validation'
  | 'waf'
  | 'oauth2-introspection'
  | 'custom-authorizer'
  | 'mtls-auth'
  | 'request-transformer'
  | 'response-transformer'
  | 'mock'
  | 'rate-limiting'
  | 'proxy-cache'
  | 'call-capture';
export const PLUGIN_TYPE_NAMES: readonly PluginTypeName[] = PLUGIN_TYPES.map((t) => t.name as PluginTypeName);

export function pluginTypeOf(name: string): PluginType | undefined {
  return PLUGIN_TYPES.find((t) => t.name === name);
}
