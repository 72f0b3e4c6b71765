// The cluster view: the gateway nodes with the config revision each serves, against the revision the
// control plane has written and published.
import type { NodeRegistry, NodeState } from '../cluster/node-registry.js';
import type { ServiceContext } from './context.js';
import { configStatus } from './status.js';

export interface ClusterNode {
  node_id: string;
  hostname: string;
  version: string;
  revision: number;
  source: NodeState['source'];
  ready: boolean;
  status: NodeState['status'];
  /** ISO 8601, when the control plane last heard from the node. */
  last_heartbeat: string;
  /** How many config revisions the node is behind the control plane (0: up to date). */
  lag_revisions: number;
  /** ISO 8601, when the node process started. */
  started_at: string;
}

export interface ClusterNodes {
  data: ClusterNode[];
  config_revision: number;
}

export interface ConfigRevision {
  /** Last revision committed to Postgres. */
  revision: number;
  /** Everything up to this revision is on the config bus. */
  published_revision: number;
}

export async function listClusterNodes(ctx: ServiceContext, nodes: NodeRegistry): Promise<ClusterNodes> {
  const { config_revision } = await configStatus(ctx);
  return {
    data: nodes.list().map((n) => ({
      node_id: n.node_id,
      hostname: n.hostname,
      version: n.version,
      revision: n.revision,
      source: n.source,
      ready: n.ready,
      status: n.status,
      last_heartbeat: new Date(n.last_heartbeat).toISOString(),
      lag_revisions: config_revision - n.revision,
      started_at: new Date(n.started_at).toISOString(),
    })),
    config_revision,
  };
}

export async function configRevision(ctx: ServiceContext): Promise<ConfigRevision> {
  const s = await configStatus(ctx);
  return { revision: s.config_revision, published_revision: s.published_revision };
}
