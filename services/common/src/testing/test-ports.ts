// Loopback ports for test servers and child processes, safe across the test files that run at once.
// A port taken with bind(0) and closed again sits in the kernel's ephemeral range: any outgoing connection of
// any process may get it as its local port before the child process binds it, and another test process's
// bind(0) may be handed it too (both seen: EADDRINUSE at a child's start, e.g. a control plane's gRPC port).
// So test ports come from below the ephemeral range, and each is reserved machine-wide with a file created
// exclusively (O_EXCL) that names the reserving process; reservations of processes that are gone are pruned.
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where reservations live: one file per port, holding the reserving pid. */
export const PORT_RESERVATIONS_DIR = join(tmpdir(), 'turnpike-test-ports');

const LOWEST = 20_000;
/** testPortRange(), read on the first call; undefined before it. */
let range: [number, number] | null | undefined;

/** [LOWEST, the first ephemeral port), or null when the ephemeral range leaves too little room below it. */
function testPortRange(): [number, number] | null {
  let low = 32_768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // Not Linux: the common default.
  }
  return Number.isInteger(low) && low - LOWEST >= 2_000 ? [LOWEST, low] : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reserves `port` for this process; false when a reservation exists (a live process's, or a dead one's not
 * pruned yet). Never removes one: a check-then-remove here once let two processes take the same port.
 */
function reserve(port: number): boolean {
  try {
    const fd = openSync(join(PORT_RESERVATIONS_DIR, String(port)), 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Whether a listener can bind `port` on loopback now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A loopback port below the ephemeral range, reserved for this process and free now; null when the range
 * is unusable here (the caller falls back to the kernel's choice).
 */
export async function reservedTestPort(): Promise<number | null> {
  if (range === undefined) {
    range = testPortRange();
    // Reservations of test processes that are gone would otherwise pile up across runs (this also makes the
    // directory).
    if (range !== null) pruneTestPortReservations();
  }
  if (range === null) return null;
  const [lo, hi] = range;
  for (let tries = 0; tries < 200; tries++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    // A port some other program listens on stays reserved to us, unused: it is not tried again.
    if (reserve(port) && (await bindable(port))) return port;
  }
  return null;
}

/**
 * Removes reservations whose processes are gone. One pruner at a time (a lock directory; a lock older than a
 * minute is a crashed pruner's). Each dead reservation is first renamed to a name of our own and read again,
 * so that one re-made meanwhile by a live process is put back, not deleted.
 */
export function pruneTestPortReservations(): void {
  const lock = join(PORT_RESERVATIONS_DIR, '.prune-lock');
  try {
    mkdirSync(PORT_RESERVATIONS_DIR, { recursive: true });
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() - statSync(lock).mtimeMs < 60_000) return;
      rmSync(lock, { recursive: true, force: true });
      mkdirSync(lock);
    }
  } catch {
    return;
  }
  try {
    for (const name of readdirSync(PORT_RESERVATIONS_DIR)) {
      if (!/^[0-9]+$/.test(name)) continue;
      const file = join(PORT_RESERVATIONS_DIR, name);
      if (!deadOwner(file)) continue;
      const mine = join(lock, name);
      try {
        renameSync(file, mine);
      } catch {
        continue;
      }
      if (deadOwner(mine)) rmSync(mine, { force: true });
      else {
        try {
          linkSync(mine, file);
        } catch {
          // Reserved again by someone else meanwhile: theirs stands.
        }
        rmSync(mine, { force: true });
      }
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function deadOwner(file: string): boolean {
  try {
    const owner = Number(readFileSync(file, 'utf8'));
    return owner > 0 && !alive(owner);
  } catch {
    return false;
  }
}
