// A directory copied once to a shared place, safe when several processes do it at the same time (two
// `turnpike up` starting together on a fresh machine both find the copy missing) and when an earlier copy
// was cut short.
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Written into a copy after everything else: a directory without it is not a finished copy. */
export const COPY_COMPLETE = '.turnpike-copy-complete';

/** Whether `target` holds a finished copy. */
export function copied(target: string): boolean {
  return existsSync(join(target, COPY_COMPLETE));
}

/**
 * Copies `source` to `target` unless a finished copy is there already. Each caller copies into a staging
 * directory of its own beside the target, marks it complete and renames it into place (atomic); a caller
 * that loses the rename to another one drops its copy and uses the winner's. A directory at `target`
 * without the mark (a copy cut short, or made before the mark existed) is set aside and replaced. Returns
 * true when this call put the copy in place.
 */
export function copyDirOnce(source: string, target: string): boolean {
  if (copied(target)) return false;
  const suffix = (): string => `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = `${target}.tmp-${suffix()}`;
  try {
    cpSync(source, staging, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(staging, COPY_COMPLETE), '');
    for (let attempt = 0; ; attempt++) {
      try {
        renameSync(staging, target);
        return true;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // rename(2) does not replace a non-empty directory.
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt >= 3) throw e;
        if (copied(target)) return false;
        const aside = `${target}.stale-${suffix()}`;
        try {
          renameSync(target, aside);
        } catch (e2) {
          // Another caller set it aside first.
          if ((e2 as NodeJS.ErrnoException).code !== 'ENOENT') throw e2;
        }
        rmSync(aside, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
