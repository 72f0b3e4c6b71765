// Config revision as written (Postgres) and as published to the bus (everything up to it is on the bus).
import type { ServiceContext } from './context.js';

export interface ConfigStatus {
  config_revision: number;
  published_revision: number;
  unpublished_outbox_rows: number;
}

export async function configStatus(ctx: ServiceContext): Promise<ConfigStatus> {
  const [row] = await ctx.sql<{ revision: string; min_unpublished: string | null; pending: string }[]>`
    SELECT c.revision,
           (SELECT min(revision) FROM outbox WHERE published_at IS NULL) AS min_unpublished,
           (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS pending
    FROM config_revision c`;
  const revision = Number(row!.revision);
  const published = row!.min_unpublished === null ? revision : Number(row!.min_unpublished) - 1;
  return { config_revision: revision, published_revision: published, unpublished_outbox_rows: Number(row!.pending) };
}
