// The last config compiled from the bus, kept on disk so a node restarted while NATS is down still serves.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
