// The PostgreSQL driver (postgres@3.4.9, patched: patches/postgres@3.4.9.patch) when a connection's server
// goes away: a query written to it afterwards must fail with CONNECTION_CLOSED, not throw from a timer. The
// unpatched driver threw `TypeError: Cannot read properties of null (reading 'write')` from a setImmediate,
// which no caller can catch: the control plane died with it during a PostgreSQL outage test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { testEnv, waitFor } from './testing/index.js';

test('postgres driver: a query on a connection whose backend was terminated rejects with CONNECTION_CLOSED; the process lives on', async () => {
  const { pgUrl } = testEnv();
  const sql = postgres(pgUrl, { max: 2, onnotice: () => undefined });
  const killer = postgres(pgUrl, { max: 1, onnotice: () => undefined });
  try {
    // A reserved connection stays this one connection: the pool cannot swap in a fresh one.
    const reserved = await sql.reserve();
    const [{ pid }] = await reserved<[{ pid: number }]>`select pg_backend_pid() as pid`;
    await killer`select pg_terminate_backend(${pid})`;
    // The backend is gone once it no longer shows among the server's sessions.
    await waitFor('backend terminated', async () => ((await killer`select 1 from pg_stat_activity where pid = ${pid}`).length === 0 ? true : null), 5_000, 20);
    await new Promise((r) => setTimeout(r, 100)); // the driver sees the socket close
    const err = await reserved`select 1`.then(
      () => null,
      (e: unknown) => e as { code?: string },
    );
    assert.ok(err, 'the query fails');
    assert.equal(err.code, 'CONNECTION_CLOSED');
    reserved.release();
    // The pool goes on serving: the dead connection is reconnected, not handed out as open.
    for (let i = 0; i < 4; i++) {
      const [{ one }] = await sql<[{ one: number }]>`select 1 as one`;
      assert.equal(one, 1);
    }
  } finally {
    await sql.end({ timeout: 1 });
    await killer.end({ timeout: 1 });
  }
});
