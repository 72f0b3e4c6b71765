// NATS settings every process reads the same way: TP_NATS_URL (one server or a comma-separated list of a
// cluster's servers; the client connects to any one that answers and fails over to the others) and
// TP_NATS_REPLICAS (copies of each JetStream bucket and stream the processes create). A bad value stops the
// process at start-up with a message that names the variable.

export type Env = Readonly<Record<string, string | undefined>>;

/** Schemes the Node NATS transport speaks; an entry without a scheme is `host[:port]` (nats). */
const SCHEMES = new Set(['nats:', 'tls:']);

/** The entry as it may be shown in an error: credentials in it replaced. */
function shown(entry: string): string {
  return JSON.stringify(entry.replace(/\/\/[^@/]*@/, '//***@'));
}

/**
 * The servers of TP_NATS_URL, in order: `nats://a:4222,nats://b:4222` → two entries. Unset or empty: the
 * `fallback` list when given, else an error. An empty entry (`a,,b`, a trailing comma) or one that is not
 * a NATS URL throws, naming it.
 */
export function natsServers(env: Env, fallback?: string): string[] {
  const raw = env.TP_NATS_URL;
  if (raw === undefined || raw.trim() === '') {
    if (fallback !== undefined) return [fallback];
    throw new Error('TP_NATS_URL is required (a NATS URL, or a comma-separated list of a cluster\'s servers)');
  }
  return raw.split(',').map((part, i) => {
    const entry = part.trim();
    if (entry === '') throw new Error(`TP_NATS_URL: entry ${i + 1} of ${JSON.stringify(raw.replace(/\/\/[^@/,]*@/g, '//***@'))} is empty`);
    let url: URL;
    try {
      url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `nats://${entry}`);
    } catch {
      throw new Error(`TP_NATS_URL: entry ${i + 1}, ${shown(entry)}, is not a URL (nats://host:port)`);
    }
    if (!SCHEMES.has(url.protocol)) throw new Error(`TP_NATS_URL: entry ${i + 1}, ${shown(entry)}, has scheme ${url.protocol.slice(0, -1)}; use nats:// or tls://`);
    if (url.hostname === '') throw new Error(`TP_NATS_URL: entry ${i + 1}, ${shown(entry)}, names no host`);
    if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
      throw new Error(`TP_NATS_URL: entry ${i + 1}, ${shown(entry)}, has a path or query; a server is nats://host:port (separate servers with commas)`);
    }
    return entry;
  });
}

/** Most JetStream replicas a stream may have (a NATS limit). */
export const MAX_NATS_REPLICAS = 5;

/**
 * TP_NATS_REPLICAS: how many servers of a NATS cluster hold each bucket and stream that Turnpike creates
 * (default 1; 3 survives one server's loss). Applies at creation only: an existing one keeps its own.
 */
export function natsReplicas(env: Env): number {
  const raw = env.TP_NATS_REPLICAS;
  if (raw === undefined || raw.trim() === '') return 1;
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < 1 || n > MAX_NATS_REPLICAS) {
    throw new Error(`TP_NATS_REPLICAS must be a whole number from 1 to ${MAX_NATS_REPLICAS}, got ${JSON.stringify(raw)}`);
  }
  return n;
}
