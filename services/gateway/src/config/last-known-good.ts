// The last config compiled from the bus, kept on disk so a node restarted while NATS is down still serves.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface LastKnownGood {
  revision: number;
  saved_at: string;
  entries: Record<string, string>;
}

export function lkgPath(dataDir: string): string {
  return join(dataDir, 'config.json');
}

/** Written to a temp file and renamed over the old one, so a crash never leaves half a file. */
export function saveLastKnownGood(dataDir: string, revision: number, entries: ReadonlyMap<string, string>): void {
  mkdirSync(dataDir, { recursive: true });
  const file = lkgPath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const body: LastKnownGood = { revision, saved_at: new Date().toISOString(), entries: Object.fromEntries(entries) };
  writeFileSync(tmp, JSON.stringify(body));
  renameSync(tmp, file);
}

/**
 * The same file as saveLastKnownGood, built and written in slices with a yield between them: at 100,000+
 * entries one JSON.stringify of the whole config blocks the event loop (and so the proxy) for most of a
 * second. `commit` is asked before the rename; false leaves the old file (a newer save superseded this one).
 */
export async function saveLastKnownGoodInSlices(
  dataDir: string,
  revision: number,
  entries: ReadonlyArray<readonly [string, string]>,
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
    await fh.write(`{"revision":${JSON.stringify(revision)},"saved_at":${JSON.stringify(new Date().toISOString())},"entries":{`);
    for (let i = 0; i < entries.length; i += sliceSize) {
      let chunk = '';
      for (let j = i; j < Math.min(i + sliceSize, entries.length); j++) {
        const [k, v] = entries[j]!;
        chunk += `${j === 0 ? '' : ','}${JSON.stringify(k)}:${JSON.stringify(v)}`;
      }
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
