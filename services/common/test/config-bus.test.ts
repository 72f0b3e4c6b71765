// One contract suite, run against both ConfigBus implementations: NATS JetStream KV (real nats-server)
// and the in-process bus used by `turnpike up`.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { InProcessConfigBus, NatsKvConfigBus, type ConfigBus, type ConfigEvent } from '../src/index.js';
import { testEnv, uniqueName, waitFor } from '../src/testing/index.js';

interface Impl {
  name: string;
  open(): Promise<ConfigBus>;
}

const conns: NatsConnection[] = [];
const impls: Impl[] = [
  { name: 'in-process', open: async () => new InProcessConfigBus() },
  {
    name: 'NATS KV',
    open: async () => {
      const nc = await connect({ servers: testEnv().natsUrl });
      conns.push(nc);
      return NatsKvConfigBus.open(nc, uniqueName('tp_test_bus'));
    },
  },
];

after(async () => {
  await Promise.all(conns.map((c) => c.close()));
});

function collector() {
  const events: ConfigEvent[] = [];
  let initialDone = false;
  let eventsAtInitialDone = -1;
  return {
    events,
    get initialDone() {
      return initialDone;
    },
    get eventsAtInitialDone() {
      return eventsAtInitialDone;
    },
    handlers: {
      onEvent: (ev: ConfigEvent) => events.push(ev),
      onInitialDone: () => {
        initialDone = true;
        eventsAtInitialDone = events.length;
      },
    },
  };
}

for (const impl of impls) {
  describe(`ConfigBus contract: ${impl.name}`, { timeout: 30_000 }, () => {
    test('put, get, keys and delete', async () => {
      const bus = await impl.open();
      await bus.put('routes.a', '{"v":1}');
      await bus.put('routes.b', '{"v":2}');
      await bus.put('routes.a', '{"v":3}');
      assert.equal(await bus.get('routes.a'), '{"v":3}');
      assert.deepEqual((await bus.keys()).sort(), ['routes.a', 'routes.b']);
      await bus.delete('routes.b');
      assert.equal(await bus.get('routes.b'), null);
      assert.deepEqual(await bus.keys(), ['routes.a']);
      await bus.close();
    });

    test('watch on an empty bucket reports the initial state as done at once', async () => {
      const bus = await impl.open();
      const c = collector();
      const w = await bus.watch(c.handlers);
      await waitFor('initial done', () => c.initialDone, 5_000);
      assert.equal(c.eventsAtInitialDone, 0);
      await bus.put('services.x', 'x');
      await waitFor('live put', () => c.events.length === 1, 5_000);
      assert.deepEqual({ op: c.events[0]!.op, key: c.events[0]!.key }, { op: 'put', key: 'services.x' });
      await w.stop();
      await bus.close();
    });

    test('watch delivers the last value of every key, then initial-done, then live changes in order', async () => {
      const bus = await impl.open();
      await bus.put('upstreams.1', 'u1-old');
      await bus.put('upstreams.1', 'u1');
      await bus.put('services.2', 's2');
      await bus.put('routes.3', 'r3');
      await bus.delete('routes.3');
      const c = collector();
      const w = await bus.watch(c.handlers);
      await waitFor('initial done', () => c.initialDone, 5_000);
      const initial = new Map<string, string | null>();
      for (const ev of c.events.slice(0, c.eventsAtInitialDone)) initial.set(ev.key, ev.op === 'put' ? ev.value : null);
      assert.equal(initial.get('upstreams.1'), 'u1');
      assert.equal(initial.get('services.2'), 's2');
      assert.ok(!initial.get('routes.3'), 'a deleted key is absent or a delete');

      const before = c.events.length;
      await bus.put('routes.4', 'r4');
      await bus.delete('services.2');
      await waitFor('two live events', () => c.events.length >= before + 2, 5_000);
      const live = c.events.slice(before).map((e) => `${e.op}:${e.key}`);
      assert.deepEqual(live, ['put:routes.4', 'del:services.2']);
      await w.stop();
      await bus.close();
    });
  });
}
