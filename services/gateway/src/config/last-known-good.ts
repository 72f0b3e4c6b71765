// The last config compiled from the bus, kept on disk so a node restarted while NATS is down still serves.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface LastKnownGood {
  /**
   * 2: written from what the node keeps (CompileCache.envelopes): consumer envelopes hold only
   * {id, username} and are loaded with `reduced`. Absent in files of earlier versions (every envelope as the
   * bus delivered it), which are still read.
   */
  format?: number;
  revision: number;
  saved_at: string;
  entries: Record<string, string>;
}

export const LKG_FORMAT = 2;

const header = (revision: number): string =>
  `{"format":${LKG_FORMAT},"revision":${JSON.stringify(revision)},"saved_at":${JSON.stringify(new Date().toISOString())},"entries":{`;

export function lkgPath(dataDir: string): string {
  return join(dataDir, 'config.json');
}

/**
 * Written to a temp file and renamed over the old one, so a crash never leaves half a file. Written a slice
 * at a time (never one string of the whole config).
 */
export function saveLastKnownGood(dataDir: string, revision: number, entries: Iterable<readonly [string, string]>, sliceSize = 250): void {
  mkdirSync(dataDir, { recursive: true });
  const file = lkgPath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, header(revision));
    const it = entries[Symbol.iterator]();
    for (let first = true; ; first = false) {
      const chunk = nextChunk(it, sliceSize, first);
      if (chunk === null) break;
      writeSync(fd, chunk);
    }
    writeSync(fd, '}}');
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Up to `n` entries as `"key":"envelope"` members; null when `it` is done. */
function nextChunk(it: Iterator<readonly [string, string]>, n: number, first: boolean): string | null {
  let chunk = '';
  let i = 0;
  for (; i < n; i++) {
    const r = it.next();
    if (r.done) break;
    const [k, v] = r.value;
    chunk += `${first && i === 0 ? '' : ','}${JSON.stringify(k)}:${JSON.stringify(v)}`;
  }
  return i === 0 ? null : chunk;
}

/**
 * The same file as saveLastKnownGood, built and written in slices with a yield between them: at 100,000+
 * entries one JSON.stringify of the whole config blocks the event loop (and so the proxy) for most of a
 * second. `commit` is asked before the rename; false leaves the old file (a newer save superseded this one).
 */
export async function saveLastKnownGoodInSlices(
  dataDir: string,
  revision: number,
  entries: Iterable<readonly [string, string]>,
  commit: () => boolean = () => true,
  // Small enough that each slice's JSON (~75 kB) is an ordinary young-generation string: slices of 2,000
  // (600 kB) went straight to V8's large-object space, so every write left ~60 MB of old-generation garbage.
  sliceSize = 250,
): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const file = lkgPath(dataDir);
  const tmp = `${file}.${process.pid}.async.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(header(revision));
    const it = entries[Symbol.iterator]();
    for (let first = true; ; first = false) {
      const chunk = nextChunk(it, sliceSize, first);
      if (chunk === null) break;
      await fh.write(chunk);
      await new Promise<void>((r) => setImmediate(r));
    }
    await fh.write('}}');
  } finally {
    await fh.close();
  }
  if (commit()) await rename(tmp, file);
  else await rm(tmp, { force: true });
}

export function loadLastKnownGood(dataDir: string): LastKnownGood | null {
  let raw: string;
  try {
    raw = readFileSync(lkgPath(dataDir), 'utf8');
  } catch {
    return null;
  }
  const v = JSON.parse(raw) as Partial<LastKnownGood>;
  if (typeof v.revision !== 'number' || typeof v.entries !== 'object' || v.entries === null) throw new Error('last-known-good config is malformed');
  return v as LastKnownGood;
}
