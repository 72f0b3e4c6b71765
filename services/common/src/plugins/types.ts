// The shape of a plugin type: what it is called, what its config looks like, where it may be attached and
// when it runs. The control plane validates attachments with it; the gateway implements each type.
import type { Static, TSchema } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';

/** Where a plugin instance may be attached. `global`: every route of the tenant's cluster. */
export type PluginScopeKind = 'global' | 'service' | 'route' | 'consumer';
export const PLUGIN_SCOPE_KINDS: readonly PluginScopeKind[] = ['global', 'service', 'route', 'consumer'];

/**
 * When a type runs in a request, in this order: `auth` identifies the consumer (so consumer-scoped instances
 * of later phases can apply), `access` admits or refuses the request before it is proxied.
 */
export type PluginPhase = 'auth' | 'access';
export const PLUGIN_PHASES: readonly PluginPhase[] = ['auth', 'access'];

export interface PluginType<S extends TSchema = TSchema> {
  name: string;
  description: string;
  /** The config's schema, with defaults for every optional setting. */
  config: S;
  scopes: readonly PluginScopeKind[];
  phase: PluginPhase;
  /**
   * Rules the schema cannot state (a CIDR's host bits, "at least one list"), checked on a config that passed
   * the schema with defaults filled: field errors with paths relative to the config (`/allow/3`); [] when valid.
   */
  problems?(config: Static<S>): FieldError[];
}
