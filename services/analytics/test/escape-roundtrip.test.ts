// The escaping helper proved against real engines: every value bound with sql`` comes back from
// ClickHouse 18.16 (server) and current ClickHouse (chdb) exactly as it went in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Session } from 'chdb';
import { testEnv } from '@turnpike/common/testing';
import { ClickHouseHttpClient } from '../src/clickhouse/http-client.js';
import { openChdbSession } from '../src/stores/chdb-store.js';
import { dateTime, float, sql } from '../src/index.js';

type Exec = (text: string) => Promise<string>;

const strings = [
  '',
  "O'Brien",
  "''",
  "\\'",
  '\\',
  '\\\\',
  "x' OR 1=1 --",
  "\\'; DROP TABLE t; --",
  'tab\tnew\nline\rcr\0nul\bbs\ffeed',
  'é 😀 中文 \u00a0 \u2028',
  '$1 ? {x:String}',
  // every ASCII character, controls included
  Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join(''),
];

function roundTrip(name: string, exec: () => Exec): void {
  const one = async (q: string): Promise<Record<string, unknown>> => {
    const out = (await exec()(q)).trim();
    return JSON.parse(out) as Record<string, unknown>;
  };

  test(`${name}: strings come back byte for byte`, { timeout: 30_000 }, async () => {
    for (const s of strings) {
      const row = await one(sql`SELECT ${s} AS v, length(${s}) AS n FORMAT JSONEachRow`.text);
      assert.equal(row.v, s, JSON.stringify(s));
      assert.equal(Number(row.n), Buffer.byteLength(s), JSON.stringify(s));
    }
  });

  test(`${name}: integers, floats, booleans, arrays and DateTime`, { timeout: 30_000 }, async () => {
    const row = await one(
      sql`SELECT ${-42} AS i, ${Number.MAX_SAFE_INTEGER} AS big, ${18446744073709551615n} AS u64, ${float(-1.25)} AS f, ${float(1e21)} AS e,
        ${true} AS t, ${['a', "b'c"]} AS arr, toUnixTimestamp(${dateTime(1767261600999)}) AS dt FORMAT JSONEachRow`.text,
    );
    assert.equal(Number(row.i), -42);
    assert.equal(String(row.big), String(Number.MAX_SAFE_INTEGER));
    assert.equal(String(row.u64), '18446744073709551615');
    assert.equal(row.f, -1.25);
    assert.equal(row.e, 1e21);
    assert.equal(Number(row.t), 1);
    assert.deepEqual(row.arr, ['a', "b'c"]);
    assert.equal(Number(row.dt), 1767261600);
  });
}

describe('escape round trip', { timeout: 90_000 }, () => {
  let http: ClickHouseHttpClient;
  let session: Session;
  const dir = mkdtempSync(join(tmpdir(), 'tp-chdb-esc-'));
  before(() => {
    http = new ClickHouseHttpClient(testEnv().clickhouseUrl);
    session = openChdbSession(dir);
  });
  after(async () => {
    await http.close();
    session.close();
    rmSync(dir, { recursive: true, force: true });
  });
  roundTrip('ClickHouse 18.16 server', () => (q) => http.exec(q));
  roundTrip('chdb', () => async (q) => (await session.queryAsync(q)).text());
});
