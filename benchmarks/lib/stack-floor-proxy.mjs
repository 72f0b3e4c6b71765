// The floor of the gateway's stack: uWebSockets.js in front, the gateway's own upstream client behind
// (`H1Pool` from services/gateway/dist, what the gateway uses for http targets; `STACK_CLIENT=undici`: an
// undici Pool, the client before it), with the same pool settings as the gateway, and nothing else: no
// routing, auth, header rewriting, call logs or metrics. Run as its own process by `pnpm bench --targets
// ...,stack`; what Turnpike costs above this is the cost of its own features, what this costs above nginx
// is the cost of the stack.
//
//   node benchmarks/lib/stack-floor-proxy.mjs <upstream port> <listen port>
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { H1Pool } from '../../services/gateway/dist/src/upstream/h1-client.js';

// Both packages are dependencies of the gateway, resolved from there.
const requireFromGateway = createRequire(fileURLToPath(new URL('../../services/gateway/package.json', import.meta.url)));
/** @type {typeof import('../../services/gateway/node_modules/uWebSockets.js/docs/index.js')} */
const uws = requireFromGateway('uWebSockets.js');
/** @type {typeof import('../../services/gateway/node_modules/undici/index.js')} */
const { Pool } = requireFromGateway('undici');

const [upstreamPort, listenPort] = process.argv.slice(2).map(Number);
const origin = `http://127.0.0.1:${upstreamPort}`;
const pool = process.env.STACK_CLIENT === 'undici' ? new Pool(origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 }) : new H1Pool(origin, { connections: 256, keepAliveTimeout: 30_000 });
/** Hop-by-hop and framing headers uWS writes itself. */
const SKIP = new Set(['connection', 'keep-alive', 'content-length', 'transfer-encoding', 'date']);

uws
  .App()
  .any('/*', (res, req) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    /** @type {string[]} */
    const headers = [];
    req.forEach((k, v) => {
      headers.push(k, v);
    });
    const q = req.getQuery();
    const path = q ? `${req.getUrl()}?${q}` : req.getUrl();
    let status = 0;
    /** @type {(Buffer | string)[]} */
    let raw = [];
    /** @type {Buffer[]} */
    const chunks = [];
    pool.dispatch(
      { path, method: /** @type {'GET'} */ (req.getMethod().toUpperCase()), headers },
      {
        onConnect() {},
        onHeaders(s, h) {
          status = s;
          raw = h;
          return true;
        },
        onData(c) {
          chunks.push(c);
          return true;
        },
        // Status, headers and body in one cork: one send for a small response.
        onComplete() {
          if (aborted) return;
          res.cork(() => {
            res.writeStatus(String(status));
            for (let i = 0; i < raw.length; i += 2) {
              // undici: Buffers; H1Pool: latin1 strings.
              const name = String(raw[i]).toLowerCase();
              if (!SKIP.has(name)) res.writeHeader(name, String(raw[i + 1]));
            }
            res.end(chunks.length === 1 ? /** @type {Buffer} */ (chunks[0]) : Buffer.concat(chunks));
          });
        },
        onError() {
          if (!aborted) res.cork(() => res.writeStatus('502 Bad Gateway').end());
        },
      },
    );
  })
  .listen('127.0.0.1', listenPort ?? 0, (ls) => {
    if (!ls) {
      process.stderr.write(`cannot listen on ${listenPort}\n`);
      process.exit(1);
    }
    process.stdout.write('{"event":"ready"}\n');
  });

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
