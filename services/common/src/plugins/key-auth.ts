// key-auth: requires an API key of a known consumer; identifies the consumer for the rest of the chain.
import { KeyAuthConfig } from '../schemas/route.js';
import type { PluginType } from './types.js';

export const keyAuthPlugin: PluginType<typeof KeyAuthConfig> = {
  name: 'key-auth',
  description: 'Requires an API key (looked up by its SHA-256) in one of the configured headers or query parameters; answers 401 without a valid, unexpired one.',
  config: KeyAuthConfig,
  // Not per consumer: authentication is what identifies the consumer.
  scopes: ['global', 'service', 'route'],
  phase: 'auth',
};
