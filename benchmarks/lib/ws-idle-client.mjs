// One client process of benchmarks/ws-idle.mjs: opens `count` WebSocket connections to `url` from the local
// address `from` (a loopback alias, so that many processes do not share one address's ephemeral ports),
// `parallel` handshakes at a time, keeps them open and idle, and prints JSON progress lines:
// {"open": n, "failed": n, "done": bool}. Usage: node ws-idle-client.mjs <url> <count> <from> [parallel]
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// `ws` is a dependency of the gateway package (the root has none).
/** @type {typeof import('../../services/gateway/node_modules/@types/ws/index.d.ts')} */
const ws = createRequire(join(ROOT, 'services/gateway/package.json'))('ws');
const WebSocket = ws.WebSocket;

const [url = '', countArg = '0', from = '127.0.0.1', parallelArg = '200'] = process.argv.slice(2);
const count = Number(countArg);
const parallel = Number(parallelArg);
let open = 0;
let failed = 0;
let started = 0;
/** @type {InstanceType<typeof WebSocket>[]} */
const sockets = [];

const report = (/** @type {boolean} */ done) => console.log(JSON.stringify({ open, failed, done }));

function next() {
  if (started >= count) return;
  started++;
  const s = new WebSocket(url, { localAddress: from, perMessageDeflate: false, handshakeTimeout: 30_000 });
  s.on('open', () => {
    open++;
    sockets.push(s);
    settle();
  });
  s.on('error', () => undefined);
  s.on('close', () => {
    if (sockets.includes(s)) open--;
  });
  s.on('unexpected-response', () => {
    failed++;
    settle();
  });
  s.once('error', () => {
    if (s.readyState !== WebSocket.OPEN) {
      failed++;
      settle();
    }
  });
}

let settled = 0;
function settle() {
  settled++;
  if (settled % 1000 === 0) report(false);
  if (settled === count) report(true);
  next();
}

for (let i = 0; i < Math.min(parallel, count); i++) next();
setInterval(() => report(settled === count), 2_000);
process.on('SIGTERM', () => {
  for (const s of sockets) s.terminate();
  process.exit(0);
});
