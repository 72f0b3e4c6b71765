// The plugin types this release knows. Only types the gateway enforces are listed (the gateway's
// plugins/chain.test.ts fails for a listed type without an implementation).
import { keyAuthPlugin } from './key-auth.js';
import { requestSizeLimitingPlugin } from './request-size-limiting.js';
import type { PluginType } from './types.js';

export * from './types.js';
export { keyAuthPlugin } from './key-auth.js';
export { requestSizeLimitingPlugin, RequestSizeLimitingConfig } from './request-size-limiting.js';

export const PLUGIN_TYPES: readonly PluginType[] = [keyAuthPlugin, requestSizeLimitingPlugin];
export type PluginTypeName = 'key-auth' | 'request-size-limiting';
export const PLUGIN_TYPE_NAMES: readonly PluginTypeName[] = PLUGIN_TYPES.map((t) => t.name as PluginTypeName);

export function pluginTypeOf(name: string): PluginType | undefined {
  return PLUGIN_TYPES.find((t) => t.name === name);
}
