// A PostgreSQL server of the test's own (Debian's initdb/pg_ctl, as infra/local/postgres.sh runs them), for
// fault tests that stop and restart PostgreSQL without touching the shared server other suites use.
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { canConnect, freePort, waitFor } from '@turnpike/common/testing';

const run = promisify(execFile);

export interface PrivatePostgres {
  /** Superuser URL of database `postgres`. */
  url: string;
  port: number;
  /** Fast shutdown (`pg_ctl stop -m fast`): open connections are cut, new ones refused. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** PG_BIN as infra/local/lib.sh finds it: the newest /usr/lib/postgresql/<v>/bin. */
function pgBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
  if (versions.length === 0) throw new Error('no PostgreSQL under /usr/lib/postgresql: run infra/local/install.sh');
  return `/usr/lib/postgresql/${versions[versions.length - 1]}/bin`;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const root = process.getuid?.() === 0;
  // initdb refuses root: as root the server runs as `postgres`, which must own the data dir and reach its
  // parents (a 0700 tmp dir would not do), hence /var/tmp.
  const dir = mkdtempSync(join('/var/tmp', 'tp-pg-'));
  if (root) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const asPg = (bin: string, args: string[]): Promise<unknown> =>
    root ? run('runuser', ['-u', 'postgres', '--', join(pgBin(), bin), ...args]) : run(join(pgBin(), bin), args);
  const data = join(dir, 'data');
  await asPg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const start = async (): Promise<void> => {
    await asPg('pg_ctl', ['-D', data, '-l', join(dir, 'postgres.log'), '-w', '-t', '60', '-o', opts, 'start']);
    await waitFor(`postgres on ${port}`, () => canConnect(port), 10_000, 50);
  };
  const stop = async (): Promise<void> => {
    await asPg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
