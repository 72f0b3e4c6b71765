// The operations a resource list offers on one row beyond edit and delete, each in a dialog of its own that
// is loaded by dynamic import when first opened (the first load stays the same size): a service's or a
// route's cache invalidation, a prompt template's versions, an AI budget's and a consumer's usage.
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ErrorBox } from './ui.js';

export type Entity = Record<string, unknown> & { id: string };

export interface RowDialogProps {
  /** The resource kind's key (`services`, `routes`, …). */
  kind: string;
  entity: Entity;
  /** The entity's display name (the kind's name field). */
  title: string;
  onClose: () => void;
  /** Tells the list that the entity changed (a restored template version): it reloads and shows `notice`. */
  onChanged: (notice: string) => void;
}

export interface RowAction {
  label: string;
  load: () => Promise<ComponentType<RowDialogProps>>;
}

const cacheDialog = () => import('./CacheInvalidation.js').then((m) => m.CacheInvalidationDialog);
const usage = () => import('./Usage.js');

export const ROW_ACTIONS: Record<string, RowAction[]> = {
  services: [{ label: 'Invalidate cache', load: cacheDialog }],
  routes: [{ label: 'Invalidate cache', load: cacheDialog }],
  'prompt-templates': [{ label: 'Versions', load: () => import('./PromptVersions.js').then((m) => m.PromptVersionsDialog) }],
  'ai-budgets': [{ label: 'Usage', load: () => usage().then((m) => m.BudgetUsageDialog) }],
  consumers: [{ label: 'Usage', load: () => usage().then((m) => m.ConsumerUsageDialog) }],
};

/** Loads the action's dialog module, then renders the dialog (a failed load shows its error in place). */
export function RowDialog(props: RowDialogProps & { action: RowAction }) {
  const [C, setC] = useState<ComponentType<RowDialogProps> | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    props.action.load().then((c) => setC(() => c), setError);
  }, [props.action]);
  if (error) return <ErrorBox error={error} />;
  if (!C) return null;
  const { action: _action, ...rest } = props;
  return <C {...rest} />;
}
