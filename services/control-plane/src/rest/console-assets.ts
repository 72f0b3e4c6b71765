// Serves the browser apps built by @turnpike/console: the operators' console at /console and the developer
// portal at /portal. Both are single-page apps: a path naming a built file gets that file, any other path
// under the prefix gets the app's index.html so that deep links work. Files are precompressed at build time;
// the smallest encoding the browser accepts is sent. Hashed asset names are cached as immutable, index.html
// is revalidated each time so a new build is picked up on reload.
import { createRequire } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TurnpikeError } from '@turnpike/common';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

// uPlot and preact set element styles from script: inline styles are allowed, inline scripts are not.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

interface Asset {
  type: string;
  identity: Buffer;
  gzip: Buffer | null;
  br: Buffer | null;
  immutable: boolean;
}

/** The directory the console package built into, or null when it is not installed or not built. */
export function consoleDistDir(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('@turnpike/console/package.json');
    const dir = join(dirname(pkg), 'dist');
    return existsSync(join(dir, 'manifest.json')) ? dir : null;
  } catch {
    return null;
  }
}

function loadApp(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.gz') || name.endsWith('.br')) continue;
    const ext = name.slice(name.lastIndexOf('.'));
    const read = (suffix: string): Buffer | null => (existsSync(join(dir, name + suffix)) ? readFileSync(join(dir, name + suffix)) : null);
    assets.set(name, {
      type: TYPES[ext] ?? 'application/octet-stream',
      identity: readFileSync(join(dir, name)),
      gzip: read('.gz'),
      br: read('.br'),
      immutable: name !== 'index.html',
    });
  }
  return assets;
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  const accept = String(req.headers['accept-encoding'] ?? '');
  let body = asset.identity;
  if (asset.br && /\bbr\b/.test(accept)) {
    body = asset.br;
    void reply.header('content-encoding', 'br');
  } else if (asset.gzip && /\bgzip\b/.test(accept)) {
    body = asset.gzip;
    void reply.header('content-encoding', 'gzip');
  }
  return reply
    .header('content-type', asset.type)
    .header('vary', 'accept-encoding')
    .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', CSP)
    .header('referrer-policy', 'no-referrer')
    .send(body);
}

/** Installs GET /console[/…] and GET /portal[/…]. `dist` defaults to the installed @turnpike/console build. */
export function installConsoleAssets(app: FastifyInstance, dist: string | null = consoleDistDir()): void {
  for (const name of ['console', 'portal']) {
    const assets = dist ? loadApp(join(dist, name)) : new Map<string, Asset>();
    const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const index = assets.get('index.html');
      if (!index) throw new TurnpikeError('TP_ERR_UNAVAILABLE', `the ${name} is not built: run \`pnpm build\``);
      const rest = (req.params as { '*'?: string })['*'] ?? '';
      const file = assets.get(rest);
      return send(req, reply, file ?? index);
    };
    app.get(`/${name}`, (_req, reply) => reply.redirect(`/${name}/`, 301));
    app.get(`/${name}/*`, handler);
  }
}
