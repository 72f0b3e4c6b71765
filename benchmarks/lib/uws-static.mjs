// The floor of a cache hit in the gateway's stack: uWebSockets.js answering every request with the same
// 100-byte text/plain body nginx's static target returns, and nothing else (no routing, headers read, cache
// lookup, call log or metrics). `node benchmarks/cache.mjs --floor` measures it beside nginx and the gateway:
// what it costs above nginx is the stack's (uWS.js + V8 + one JS callback per request), what the gateway's
// cache hit costs above it is Turnpike's own work.
//
//   node benchmarks/lib/uws-static.mjs <listen port>
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { UPSTREAM_BODY } from './nginx.mjs';

const requireFromGateway = createRequire(fileURLToPath(new URL('../../services/gateway/package.json', import.meta.url)));
/** @type {typeof import('../../services/gateway/node_modules/uWebSockets.js/docs/index.js')} */
const uws = requireFromGateway('uWebSockets.js');

const port = Number(process.argv[2]);
uws
  .App()
  .any('/*', (res) => {
    res.cork(() => {
      res.writeStatus('200 OK');
      res.writeHeader('content-type', 'text/plain');
      res.end(UPSTREAM_BODY);
    });
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`uws-static: cannot listen on ${port}`);
      process.exit(1);
    }
    console.log(JSON.stringify({ event: 'ready', port }));
  });
