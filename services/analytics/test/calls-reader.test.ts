// The calls stream's second reader (the control plane's quota aggregation): batches are handed over with their
// msgID and acknowledged after the handler; a batch in a call batch format newer than this reader knows (a
// gateway node upgraded first) is left in the stream for an upgraded reader instead of being acknowledged with
// nothing counted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { CALL_BATCH_FORMAT, callsSubject, encodeCallBatch } from '@turnpike/common';
import { startPrivateNats, waitFor, type PrivateNats } from '@turnpike/common/testing';
import { startCallsReader, type CallBatch } from '../src/index.js';
import { BASE, call } from './store-contract.js';

let nats: PrivateNats;
let nc: NatsConnection;

before(async () => {
  nats = await startPrivateNats();
  nc = await connect({ servers: nats.url });
});
after(async () => {
  await nc.close();
  await nats.stop();
});

test('a batch in a newer format is redelivered, never handed over or acknowledged; the batches around it are', { timeout: 30_000 }, async () => {
  const handed: CallBatch[] = [];
  const newer: number[] = [];
  const reader = await startCallsReader({
    nc,
    durableName: 'reader-test',
    handle: async (batches) => {
      handed.push(...batches);
    },
    newerFormatDelayMs: 200,
    log: (_level, event, fields) => {
      if (event === 'calls_reader.newer_format') newer.push(fields?.seq as number);
    },
  });
  try {
    const js = jetstream(nc);
    const before = [call({ ts: BASE + 1 }), call({ ts: BASE + 2 })];
    const afterwards = [call({ ts: BASE + 3 })];
    await js.publish(callsSubject('n1'), encodeCallBatch(before), { msgID: 'b-1' });
    await js.publish(callsSubject('n2'), JSON.stringify({ v: CALL_BATCH_FORMAT + 1, f: ['request_id'], r: [['x']] }), { msgID: 'future-1' });
    await js.publish(callsSubject('n1'), encodeCallBatch(afterwards), { msgID: 'b-2' });
    await waitFor('both readable batches acknowledged', () => reader.acked() === 2, 10_000, 20);
    await waitFor('the newer batch delivered again', () => newer.length >= 2, 10_000, 20);
    assert.deepEqual(
      handed.map((b) => [b.id, b.records.map((r) => r.request_id)]),
      [
        ['b-1', before.map((r) => r.request_id)],
        ['b-2', afterwards.map((r) => r.request_id)],
      ],
    );
    assert.equal(newer[0], newer[1], 'the same message, redelivered');
    assert.equal(reader.acked(), 2);
  } finally {
    await reader.close();
  }
});
