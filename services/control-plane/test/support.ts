// Test harness: a control plane started in-process against its own database and its own KV bucket on the
// shared NATS (both from infra/local), plus a small HTTP client for the REST API.
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import postgres, { type Sql } from 'postgres';
import { NatsCacheInvalidationChannel, NatsKvConfigBus, type ConfigBus } from '@turnpike/common';
import { createTestDatabase, testEnv } from '@turnpike/common/testing';
import { natsConditionalWrites, startControlPlane, type ConditionalWrites, type ControlPlane, type ControlPlaneOptions } from '../src/index.js';

export interface Harness {
  cp: ControlPlane;
  token: string;
  bus: ConfigBus;
  bucket: string;
  sql: Sql;
  dbUrl: string;
  logs: Array<Record<string, unknown>>;
  rest: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<RestResponse>;
  close(): Promise<void>;
}

export interface RestResponse {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
  json: any;
}

export async function openBus(natsUrl = testEnv().natsUrl): Promise<{ nc: NatsConnection; bus: NatsKvConfigBus; bucket: string }> {
  const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const bucket = `tp_test_${randomBytes(6).toString('hex')}`;
  const bus = await NatsKvConfigBus.open(nc, bucket);
  return { nc, bus, bucket };
}

export interface HarnessOptions extends Partial<ControlPlaneOptions> {
  natsUrl?: string;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const db = await createTestDatabase('tp_cp');
  let nc: NatsConnection | undefined;
  let bus = opts.bus;
  let bucket = '';
  // Its own bucket on NATS: reconciled with compare-and-set writes, as the standalone control plane does.
  let busWrites: ConditionalWrites | undefined;
  if (!bus) {
    const o = await openBus(opts.natsUrl);
    nc = o.nc;
    bus = o.bus;
    bucket = o.bucket;
    busWrites = natsConditionalWrites(o.nc, o.bucket);
  }
  const logs: Array<Record<string, unknown>> = [];
  const token = `tpa_test_${randomBytes(16).toString('hex')}`;
  const cp = await startControlPlane({
    pgUrl: db.url,
    bus,
    restPort: 0,
    grpcPort: 0,
    bootstrapToken: token,
    log: (event, fields) => logs.push({ event, ...fields }),
    busWrites,
    // As the standalone control plane: cache invalidations go out on the harness's NATS connection.
    ...(nc ? { cacheInvalidation: new NatsCacheInvalidationChannel(() => nc!, bucket) } : {}),
    ...opts,
  });
  const sql = postgres(db.url, { max: 2, onnotice: () => undefined });
  const base = `http://127.0.0.1:${cp.restPort}`;
  const rest = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RestResponse> => {
    const h: Record<string, string> = { authorization: `Bearer ${token}`, ...headers };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(base + path, { method, headers: h, body: payload });
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
  return {
    cp,
    token,
    bus,
    bucket,
    sql,
    dbUrl: db.url,
    logs,
    rest,
    close: async () => {
      await cp.close();
      await sql.end({ timeout: 5 });
      if (nc) {
        await destroyBucket(nc, bucket);
        await nc.close();
      }
      await db.drop();
    },
  };
}

/** Removes a KV bucket (its backing stream) through the JetStream API, so tests leave nothing behind. */
export async function destroyBucket(nc: NatsConnection, bucket: string): Promise<void> {
  await nc.request(`$JS.API.STREAM.DELETE.KV_${bucket}`, undefined, { timeout: 5_000 }).catch(() => undefined);
}
