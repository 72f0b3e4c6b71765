// Optimistic concurrency: every entity row has a `version` (1 on create, +1 on every update). Services
// return the plain entity (the shape the data plane also receives), so the version travels beside it:
// each entity object a service function returns is registered here with the version it was read or
// written at, and the adapters (REST ETag, gRPC) read it with versionOf().
import { TurnpikeError } from '@turnpike/common';

const versions = new WeakMap<object, number>();

export function withVersion<T extends object>(entity: T, version: number | string): T {
  versions.set(entity, Number(version));
  return entity;
}

/** The version an entity returned by the service layer was read or written at. */
export function versionOf(entity: object): number | undefined {
  return versions.get(entity);
}

export interface WriteOptions {
  /**
   * Write only when the entity's current version is one of these (REST `If-Match`, gRPC
   * `expected_version`); undefined means unconditional. Checked under the row lock of the write.
   */
  expectedVersions?: readonly number[] | undefined;
}

/** 412 TP_ERR_PRECONDITION_FAILED unless the locked row's version is an expected one. */
export function checkVersion(current: number | string, opts: WriteOptions | undefined, what: string, id: string): void {
  const expected = opts?.expectedVersions;
  if (expected === undefined) return;
  const cur = Number(current);
  if (!expected.includes(cur)) {
    throw new TurnpikeError(
      'TP_ERR_PRECONDITION_FAILED',
      `${what} ${JSON.stringify(id)} is at version ${cur}, not ${expected.join(' or ') || 'the one given'}; re-read it and retry`,
    );
  }
}
