// Compare-and-set writes to the config bucket: a write names the key's revision it was computed from and
// fails when the key has moved on since. The reconciler repairs with these, so it needs no bus lock: a
// repair computed from an older reading can never overwrite a value the publisher wrote meanwhile.
import { headers, type NatsConnection } from '@nats-io/transport-node';

export interface ConditionalWrites {
  /**
   * Puts `value` only if the key's last revision (KV sequence, a delete marker's included) is still
   * `expectedRevision`; 0 = the key has never been written. False when it was not.
   */
  putIf(key: string, value: string, expectedRevision: number): Promise<boolean>;
  /** Deletes the key only if its last revision is still `expectedRevision`; false when it was not. */
  deleteIf(key: string, expectedRevision: number): Promise<boolean>;
  /** The bucket's newest KV revision (0 when empty): what a reader must have seen to be up to date. */
  lastRevision(): Promise<number>;
}

/** JetStream's "wrong last sequence" error: the expected-revision check failed. */
const WRONG_LAST_SEQUENCE = 10071;

interface PubAck {
  seq?: number;
  error?: { code?: number; err_code?: number; description?: string };
}

/**
 * For a NATS KV bucket (the one NatsKvConfigBus opens): a KV put or delete is a JetStream publish to
 * `$KV.<bucket>.<key>`, and `Nats-Expected-Last-Subject-Sequence` makes the stream reject it unless the
 * key's last message is the expected one (what the KV client's own `update()` sends).
 */
export function natsConditionalWrites(nc: NatsConnection, bucket: string, timeoutMs = 5_000): ConditionalWrites {
  const send = async (key: string, payload: string, expected: number, del: boolean): Promise<boolean> => {
    const h = headers();
    h.set('Nats-Expected-Last-Subject-Sequence', String(expected));
    if (del) h.set('KV-Operation', 'DEL');
    const msg = await nc.request(`$KV.${bucket}.${key}`, payload, { timeout: timeoutMs, headers: h });
    const ack = JSON.parse(new TextDecoder().decode(msg.data)) as PubAck;
    if (!ack.error) return true;
    if (ack.error.err_code === WRONG_LAST_SEQUENCE) return false;
    throw new Error(`conditional ${del ? 'delete' : 'put'} of ${key}: ${ack.error.description ?? JSON.stringify(ack.error)}`);
  };
  return {
    putIf: async (key, value, expected) => await send(key, value, expected, false),
    deleteIf: async (key, expected) => await send(key, '', expected, true),
    lastRevision: async () => {
      const msg = await nc.request(`$JS.API.STREAM.INFO.KV_${bucket}`, '', { timeout: timeoutMs });
      const info = JSON.parse(new TextDecoder().decode(msg.data)) as { state?: { last_seq?: number }; error?: { description?: string } };
      if (info.error || typeof info.state?.last_seq !== 'number') throw new Error(`stream info of KV_${bucket}: ${info.error?.description ?? 'no state'}`);
      return info.state.last_seq;
    },
  };
}
