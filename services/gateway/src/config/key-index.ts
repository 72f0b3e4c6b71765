// The API-key table, kept up to date one consumer or key at a time. At 100,000+ keys rebuilding the table
// (or copying it) on every change cost tens of milliseconds and a heap full of short-lived objects; here a
// change costs a few map operations. Memory per key is one small record and its hex digest: the table maps
// the digest to its consumer's owner object, shared by all keys of that consumer. Key expiries (expires_at)
// live in a side map of the keys that have one, so keys without pay nothing for the feature.
import type { KeyOwner, KeyTable } from '../plugins/key-auth/index.js';
import type { Rejection } from './compiler.js';

interface KeyRecord {
  /** Lower-case SHA-256 hex of the key. */
  hex: string;
  consumerId: string;
}

export class KeyIndex {
  /** SHA-256 hex → owner: the table the hot path reads (snapshots share it; see `Snapshot.keys`). */
  readonly table: Map<string, KeyOwner> & KeyTable & { readonly expiresAt: Map<string, number>; readonly keyIds: Map<string, string> } = Object.assign(
    new Map<string, KeyOwner>(),
    {
      expiresAt: new Map<string, number>(),
      // hex → key id: read once per call record (credential_id), never to authenticate.
      keyIds: new Map<string, string>(),
    },
  );
  /** Consumer id → its owner object (mutated in place on a rename, so every key follows). */
  readonly #owners = new Map<string, KeyOwner>();
  /** Username → owner (JWT/introspection/authorizer claims name consumers by username). */
  readonly #byUsername = new Map<string, KeyOwner>();
  /** KV key (`keys.<id>`) → record, for every valid key. */
  readonly #keys = new Map<string, KeyRecord>();
  /** The subset of #keys whose consumer is missing (rejected until it appears). */
  readonly #orphans = new Map<string, KeyRecord>();

  get consumerCount(): number {
    return this.#owners.size;
  }

  /** `groupIds`: lower-case consumer group ids (a new array per change: ACL memos key on it). */
  setConsumer(id: string, username: string, groupIds: readonly string[] = NO_GROUPS): void {
    const owner = this.#owners.get(id);
    if (owner) {
      if (owner.username !== username) {
        if (this.#byUsername.get(owner.username) === owner) this.#byUsername.delete(owner.username);
        owner.username = username;
      }
      this.#byUsername.set(username, owner);
      if (!sameGroups(owner.groupIds, groupIds)) owner.groupIds = groupIds;
      return;
    }
    const created: KeyOwner = { consumerId: id, username, groupIds };
    this.#owners.set(id, created);
    this.#byUsername.set(username, created);
    // Keys that arrived before their consumer (or outlived an earlier delete) become valid.
    if (this.#orphans.size > 0) {
      for (const [kvKey, rec] of this.#orphans) {
        if (rec.consumerId !== id) continue;
        this.#orphans.delete(kvKey);
        rec.consumerId = id;
        this.table.set(rec.hex, created);
      }
    }
  }

  deleteConsumer(id: string): void {
    const owner = this.#owners.get(id);
    if (!owner) return;
    this.#owners.delete(id);
    if (this.#byUsername.get(owner.username) === owner) this.#byUsername.delete(owner.username);
    // Rare next to key changes: a scan of the key records beats keeping a reverse index for every consumer.
    for (const [kvKey, rec] of this.#keys) {
      if (rec.consumerId !== id) continue;
      this.table.delete(rec.hex);
      this.#orphans.set(kvKey, rec);
    }
  }

  /** `expiresAtMs`: when the key stops working (epoch ms); null: never. */
  setKey(kvKey: string, consumerId: string, hex: string, expiresAtMs: number | null = null): void {
    if (this.#keys.has(kvKey)) this.deleteKey(kvKey);
    if (expiresAtMs !== null) this.table.expiresAt.set(hex, expiresAtMs);
    this.table.keyIds.set(hex, kvKey.startsWith('keys.') ? kvKey.slice(5) : kvKey);
    const owner = this.#owners.get(consumerId);
    // Share the consumer's id string rather than keeping one copy per key.
    const rec: KeyRecord = { hex, consumerId: owner ? owner.consumerId : consumerId };
    this.#keys.set(kvKey, rec);
    if (owner) this.table.set(hex, owner);
    else this.#orphans.set(kvKey, rec);
  }

  deleteKey(kvKey: string): void {
    const rec = this.#keys.get(kvKey);
    if (!rec) return;
    this.#keys.delete(kvKey);
    this.table.expiresAt.delete(rec.hex);
    if (this.table.keyIds.get(rec.hex) === (kvKey.startsWith('keys.') ? kvKey.slice(5) : kvKey)) this.table.keyIds.delete(rec.hex);
    if (this.#orphans.delete(kvKey)) return;
    const owner = this.table.get(rec.hex);
    if (owner && owner.consumerId === rec.consumerId) this.table.delete(rec.hex);
  }

  /** A consumer's owner record by id; undefined for an unknown consumer. */
  ownerOf(consumerId: string): KeyOwner | undefined {
    return this.#owners.get(consumerId);
  }

  /** A consumer's owner record by username; undefined for none. */
  ownerByUsername(username: string): KeyOwner | undefined {
    return this.#byUsername.get(username);
  }

  /** The consumer's username; undefined for none (for re-serializing the config: CompileCache.envelopes). */
  usernameOf(consumerId: string): string | undefined {
    return this.#owners.get(consumerId)?.username;
  }

  /** The valid key stored under the KV key `keys.<id>` (its consumer may be missing). */
  keyRecord(kvKey: string): Readonly<KeyRecord> | undefined {
    return this.#keys.get(kvKey);
  }

  /** When the key with this digest expires (epoch ms); undefined: never. */
  expiresAtOf(hex: string): number | undefined {
    return this.table.expiresAt.get(hex);
  }

  /** Keys left out because their consumer is missing or rejected. */
  rejections(): Rejection[] {
    const out: Rejection[] = [];
    for (const [key, rec] of this.#orphans) out.push({ key, reason: `consumer ${rec.consumerId} is missing or rejected` });
    return out;
  }
}

const NO_GROUPS: readonly string[] = Object.freeze([]);

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
