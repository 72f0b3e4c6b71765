// Every kind the generic resource store serves. Adding a kind: a schema in @turnpike/common, a ResourceDef
// in kinds/, one line here; REST, OpenAPI, gRPC and the reconciler pick it up from this list.
import type { EntityKind } from '@turnpike/common';
import type { ResourceDef } from './definition.js';
import { aiBudgets } from './kinds/ai-budgets.js';
import { aiProviders } from './kinds/ai-providers.js';
import { certificates } from './kinds/certificates.js';
import { consumerGroups } from './kinds/consumer-groups.js';
import { credentials } from './kinds/credentials.js';
import { plans } from './kinds/plans.js';
import { plugins } from './kinds/plugins.js';
import { promptTemplates } from './kinds/prompt-templates.js';
import { subscriptions } from './kinds/subscriptions.js';

export const RESOURCE_DEFS: readonly ResourceDef[] = [consumerGroups, credentials, plans, subscriptions, plugins, aiProviders, promptTemplates, aiBudgets, certificates];

export function defOf(kind: EntityKind | string): ResourceDef | undefined {
  return RESOURCE_DEFS.find((d) => d.kind === kind);
}
