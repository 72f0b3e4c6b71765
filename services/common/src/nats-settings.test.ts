import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_NATS_REPLICAS, natsReplicas, natsServers } from './nats-settings.js';
import { kvBucketOptions } from './config-bus/nats-kv.js';
import { callsStreamConfig } from './calls-stream.js';

describe('natsServers (TP_NATS_URL)', () => {
  test('one server, or a comma-separated list in order, entries trimmed', () => {
    assert.deepEqual(natsServers({ TP_NATS_URL: 'nats://127.0.0.1:4222' }), ['nats://127.0.0.1:4222']);
    assert.deepEqual(natsServers({ TP_NATS_URL: 'nats://a:4222, nats://b:4222 ,tls://c:4443' }), ['nats://a:4222', 'nats://b:4222', 'tls://c:4443']);
    assert.deepEqual(natsServers({ TP_NATS_URL: 'a:4222,b' }), ['a:4222', 'b'], 'host[:port] without a scheme is nats');
    assert.deepEqual(natsServers({ TP_NATS_URL: 'nats://user:pw@a:4222,nats://[::1]:4222' }), ['nats://user:pw@a:4222', 'nats://[::1]:4222']);
  });

  test('unset or blank: required, unless the caller has a default', () => {
    assert.throws(() => natsServers({}), /TP_NATS_URL is required/);
    assert.throws(() => natsServers({ TP_NATS_URL: '  ' }), /TP_NATS_URL is required/);
    assert.deepEqual(natsServers({}, 'nats://127.0.0.1:4222'), ['nats://127.0.0.1:4222']);
  });

  test('an empty or invalid entry is a start-up error naming it', () => {
    assert.throws(() => natsServers({ TP_NATS_URL: 'nats://a:4222,,nats://b:4222' }), /TP_NATS_URL: entry 2 of .* is empty/);
    assert.throws(() => natsServers({ TP_NATS_URL: 'nats://a:4222,' }), /entry 2 .* is empty/);
    assert.throws(() => natsServers({ TP_NATS_URL: 'http://a:4222' }), /entry 1, "http:\/\/a:4222", has scheme http; use nats:\/\/ or tls:\/\//);
    assert.throws(() => natsServers({ TP_NATS_URL: 'nats://a:4222,nats://b:99999' }), /entry 2, "nats:\/\/b:99999", is not a URL/);
    assert.throws(() => natsServers({ TP_NATS_URL: 'nats://a:4222;nats://b:4222' }), /TP_NATS_URL: entry 1/);
    assert.throws(() => natsServers({ TP_NATS_URL: 'nats://a:4222/x' }), /has a path or query/);
    assert.throws(() => natsServers({ TP_NATS_URL: 'nats://:4222' }), /TP_NATS_URL: entry 1/);
  });

  test('credentials in an entry are not repeated in the error', () => {
    assert.throws(
      () => natsServers({ TP_NATS_URL: 'http://user:secret@a:4222' }),
      (e: Error) => !e.message.includes('secret') && e.message.includes('***@a:4222'),
    );
    assert.throws(() => natsServers({ TP_NATS_URL: 'nats://user:secret@a:4222,,b' }), (e: Error) => !e.message.includes('secret') && /entry 2/.test(e.message));
  });
});

describe('natsReplicas (TP_NATS_REPLICAS)', () => {
  test('default 1; 1 to 5 accepted', () => {
    assert.equal(natsReplicas({}), 1);
    assert.equal(natsReplicas({ TP_NATS_REPLICAS: '' }), 1);
    assert.equal(natsReplicas({ TP_NATS_REPLICAS: '3' }), 3);
    assert.equal(natsReplicas({ TP_NATS_REPLICAS: ' 5 ' }), MAX_NATS_REPLICAS);
  });

  test('anything else stops the process', () => {
    for (const bad of ['0', '6', '2.5', 'three', '-1']) assert.throws(() => natsReplicas({ TP_NATS_REPLICAS: bad }), /TP_NATS_REPLICAS must be a whole number from 1 to 5/, bad);
  });

  test('the value reaches the bucket and stream create options', () => {
    assert.deepEqual(kvBucketOptions(), { history: 1, replicas: 1 });
    assert.deepEqual(kvBucketOptions(natsReplicas({ TP_NATS_REPLICAS: '3' })), { history: 1, replicas: 3 });
    assert.equal(callsStreamConfig().num_replicas, 1);
    assert.equal(callsStreamConfig(natsReplicas({ TP_NATS_REPLICAS: '3' })).num_replicas, 3);
  });
});
