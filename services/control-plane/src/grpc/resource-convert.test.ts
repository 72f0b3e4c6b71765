// The schema walk of resource-convert.ts, through real protobuf encoding (proto-loader with the admin
// API's options) for Struct, Value, maps and nested messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { Type } from '@sinclair/typebox';
import { PROTO_LOADER_OPTIONS } from './load-proto.js';
import { fromProto, patchFromProto, toProto } from './resource-convert.js';

const Thing = Type.Object(
  {
    name: Type.String(),
    config: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
    headers: Type.Record(Type.String(), Type.String(), { default: {} }),
    extra: Type.Unknown(),
    limit: Type.Union([Type.Object({ requests: Type.Integer(), burst: Type.Optional(Type.Integer()) }), Type.Null()], { default: null }),
    ids: Type.Array(Type.String()),
    tags: Type.Optional(Type.Array(Type.String(), { default: [] })),
    big: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

const PROTO = `syntax = "proto3";
package t;
import "google/protobuf/struct.proto";
message Limit { int32 requests = 1; optional int32 burst = 2; }
message Thing {
  optional string name = 1;
  google.protobuf.Struct config = 2;
  map<string, string> headers = 3;
  google.protobuf.Value extra = 4;
  Limit limit = 5;
  repeated string ids = 6;
  repeated string tags = 7;
  optional int64 big = 8;
  int64 version = 9;
}`;

function roundTrip(msg: unknown): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-proto-'));
  try {
    writeFileSync(join(dir, 't.proto'), PROTO);
    const def = protoLoader.loadSync('t.proto', { ...PROTO_LOADER_OPTIONS, includeDirs: [dir] });
    const T = def['t.Thing'] as { serialize(v: unknown): Buffer; deserialize(b: Buffer): Record<string, unknown> };
    return T.deserialize(T.serialize(msg));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('resource-convert', () => {
  const json = {
    name: 'x',
    config: { a: 1, b: [true, null, 's'], c: { d: 2.5 } },
    headers: { 'x-a': '1' },
    extra: ['any', 2],
    limit: { requests: 5 },
    ids: ['i'],
    tags: [],
    big: 5_000_000_000,
    version: 3,
  };

  it('JSON → wire → JSON keeps the entity (nulls and empty lists become unset)', () => {
    const wire = roundTrip(toProto(Thing, json));
    assert.equal(wire.version, 3);
    const { version: _v, ...back } = wire;
    const { version: _w, tags: _t, ...expected } = json;
    assert.deepEqual(fromProto(Thing, back), expected);
    assert.deepEqual(roundTrip(toProto(Thing, { ...json, limit: null })).limit, undefined);
  });

  it('a create with unset fields: absent (defaults apply), a required list []', () => {
    assert.deepEqual(fromProto(Thing, roundTrip({ name: 'y' })), { name: 'y', ids: [] });
  });

  it('update masks clear to null, [] or the default, and reject unknown names', () => {
    assert.deepEqual(patchFromProto(Type.Partial(Thing), { name: 'z' }, []), { name: 'z' });
    assert.deepEqual(patchFromProto(Type.Partial(Thing), {}, ['limit', 'tags', 'config']), { limit: null, tags: [], config: {} });
    assert.throws(() => patchFromProto(Type.Partial(Thing), {}, ['nope']), /update_mask/);
  });
});
