// JSON-lines logger: one object per line on stdout (info) or stderr (warn/error).
type Level = 'info' | 'warn' | 'error';

export function log(level: Level, event: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ ts: new Date().toISOString(), level, event, ...fields });
  if (level === 'info') process.stdout.write(line + '\n');
  else process.stderr.write(line + '\n');
}

export function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
