// Finds files shipped beside the compiled code (migrations/, the repository's proto/) by walking up
// from this module, so the same lookup works from src/ under a loader and from dist/src/ compiled.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findUp(relative: string, from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find ${relative} above ${from}`);
    dir = parent;
  }
}

/** The control plane's SQL migrations folder. */
export function migrationsDir(): string {
  return process.env.TP_MIGRATIONS_DIR ?? findUp('migrations');
}

/** The admin API's .proto file (the repository's `proto/` folder). */
export function adminProtoFile(): { file: string; includeDir: string } {
  const rel = join('turnpike', 'admin', 'v1', 'admin.proto');
  // The include dir is `proto/` itself: four levels above .../proto/turnpike/admin/v1/admin.proto.
  const includeDir = process.env.TP_PROTO_DIR ?? dirname(dirname(dirname(dirname(findUp(join('proto', rel))))));
  return { file: rel, includeDir };
}
