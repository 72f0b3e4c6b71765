// Consumer groups. Membership lives on the consumer (`group_ids`); deleting a group takes it out of its
// members, each member published again.
import { ConsumerGroup, ConsumerGroupCreate, ConsumerGroupUpdate } from '@turnpike/common';
import { toConsumer, type ConsumerRow } from '../../service/consumers.js';
import { jsonb } from '../../service/checks.js';
import type { ResourceDef } from '../definition.js';

export const consumerGroups: ResourceDef = {
  kind: 'consumer_groups',
  path: 'consumer-groups',
  singular: 'consumer group',
  title: 'ConsumerGroup',
  create: ConsumerGroupCreate,
  update: ConsumerGroupUpdate,
  entity: ConsumerGroup,
  nameOf: (d) => String(d.name),
  unique: (d) => [{ field: '/name', value: String(d.name), scope: 'tenant' }],
  async beforeDelete(w, id, tenantId) {
    const members = await w.tx<ConsumerRow[]>`
      UPDATE consumers SET group_ids = group_ids - ${id}::text, revision = ${w.revision}, version = version + 1, updated_at = ${w.now}
      WHERE tenant_id = ${tenantId} AND group_ids @> ${jsonb(w.tx, [id])} RETURNING *`;
    for (const m of members) w.emit({ kind: 'consumers', id: m.id, op: 'put', data: toConsumer(m) });
  },
};
