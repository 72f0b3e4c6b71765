// TP_NATS_REPLICAS against the local single nats-server: buckets created with 1 replica work, and the value
// reaches the server (a single, unclustered server refuses 3). The replicated case itself needs a NATS
// cluster (infra/compose/nats has one for operators).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsBudgetLedgerStore, NatsKvConfigBus } from '../src/index.js';
import { budgetBucketName } from '../src/ai-budget/ledger-record.js';
import { testEnv, uniqueName } from '../src/testing/index.js';

describe('JetStream replicas of the buckets Turnpike creates', { timeout: 30_000 }, () => {
  let nc: NatsConnection;
  const buckets: string[] = [];
  before(async () => {
    nc = await connect({ servers: testEnv().natsUrl });
  });
  after(async () => {
    for (const b of buckets) await nc.request(`$JS.API.STREAM.DELETE.KV_${b}`, undefined, { timeout: 5_000 }).catch(() => undefined);
    await nc.close();
  });

  const replicasOf = async (bucket: string): Promise<number> => {
    const info = (await nc.request(`$JS.API.STREAM.INFO.KV_${bucket}`, undefined, { timeout: 5_000 })).json<{ config: { num_replicas: number } }>();
    return info.config.num_replicas;
  };

  test('a config bucket created with replicas 1 works and has 1 replica', async () => {
    const bucket = uniqueName('tp_test_r1');
    buckets.push(bucket);
    const bus = await NatsKvConfigBus.open(nc, bucket, { replicas: 1 });
    await bus.put('k', 'v');
    assert.equal(await bus.get('k'), 'v');
    assert.equal(await replicasOf(bucket), 1);
  });

  test('replicas 3 reaches the server: a single nats-server refuses to create the bucket', async () => {
    const bucket = uniqueName('tp_test_r3');
    buckets.push(bucket);
    await assert.rejects(NatsKvConfigBus.open(nc, bucket, { replicas: 3 }), /replicas|cluster/i);
    const cluster = uniqueName('r3');
    buckets.push(budgetBucketName(cluster, 'day'));
    await assert.rejects(new NatsBudgetLedgerStore(nc, cluster, { replicas: 3, timeoutMs: 5_000 }).get('day', 'k'), /replicas|cluster/i);
  });

  test('an existing bucket is opened as it is, whatever TP_NATS_REPLICAS says now', async () => {
    const bucket = uniqueName('tp_test_keep');
    buckets.push(bucket);
    await NatsKvConfigBus.open(nc, bucket, { replicas: 1 });
    // 3 could not be created here (see above): opening works only because the existing bucket is kept.
    const again = await NatsKvConfigBus.open(nc, bucket, { replicas: 3 });
    await again.put('k', 'v2');
    assert.equal(await replicasOf(bucket), 1);
  });
});
