// The shape of a plugin type: what it is called, what its config looks like, where it may be attached and
// when it runs. The control plane validates attachments with it; the gateway implements each type.
import type { Static, TSchema } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';

/** Where a plugin instance may be attached. `global`: every route of the tenant's cluster. */
export type PluginScopeKind = 'global' | 'service' | 'route' | 'consumer';
export const PLUGIN_SCOPE_KINDS: readonly PluginScopeKind[] = ['global', 'service', 'route', 'consumer'];

/**
 * When a type runs in a request, in this order: `pre-auth` before any credential is checked (CORS answers
 * preflights, IP lists and the WAF refuse without spending a credential check), `auth` identifies the
 * consumer (so consumer-scoped instances of later phases can apply), `access` admits or refuses the
 * identified request before it is proxied.
 */
export type PluginPhase = 'pre-auth' | 'auth' | 'access';
export const PLUGIN_PHASES: readonly PluginPhase[] = ['pre-auth', 'auth', 'access'];

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
  /**
   * JSON pointers into the config of settings that are secrets (`/client_secret`). The control plane seals each
   * into the instance's secret material (bound to its id), removes it from the stored and returned config, keeps
   * the stored one on a write without it, and sends nodes the sealed values as `secret: { <pointer>: sealed }`.
   */
  secretFields?: readonly string[];
}
