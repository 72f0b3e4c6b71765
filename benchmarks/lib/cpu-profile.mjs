// Summarises a V8 .cpuprofile (written by `node --cpu-prof`): where the gateway's main thread spent its
// samples, by function and by module, idle time excluded.
import { readFileSync } from 'node:fs';

/**
 * @typedef {{ id: number, hitCount?: number, callFrame: { functionName: string, url: string, lineNumber: number } }} ProfileNode
 * @typedef {{ name: string, where: string, share: number }} Entry
 */

/** @param {string} url  where a function lives: package-relative file for dependencies, else the path */
function fileOf(url) {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  return moduleOf(url);
}

/** @param {string} url  what a function belongs to: a package, a node: module, a file of ours */
function moduleOf(url) {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return (parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]) ?? url;
  }
  const dist = url.indexOf('/dist/src/');
  if (dist >= 0) return url.slice(url.lastIndexOf('/services/') + 1).replace('/dist/src/', '/src/');
  return url.replace(/^file:\/\//, '');
}

/**
 * The part of the gateway's hot path a function belongs to (docs/benchmarks.md, "Where the gateway's CPU
 * goes"). V8 counts a native call as self time of the JavaScript function that made it, so "proxy handler"
 * includes uWS's native writes (`cork`/`tryEnd`/`writeHeader`: the send to the client) and "node socket
 * writes" is undici's write to the upstream socket.
 * @param {string} functionName @param {string} url
 */
function areaOf(functionName, url) {
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'V8/native, unattributed';
  if (url.includes('/proxy/handler.js')) return 'proxy handler (+ uWS native calls)';
  if (url.includes('/proxy/')) return 'proxy headers/hash-key';
  if (url.includes('/router/')) return 'router';
  if (url.includes('/key-auth/') || url === 'node:internal/crypto/hash') return 'key-auth (SHA-256)';
  if (url.includes('/call-log/')) return 'call log (batcher + JetStream sink)';
  if (url.includes('/@nats-io/') || url.includes('/nats-io')) return 'nats client';
  if (url.includes('/status/')) return 'metrics';
  if (url.includes('/upstream/h1-client')) return 'upstream client (h1-client)';
  if (url.includes('/upstream/')) return 'balancer';
  if (url.includes('/undici/') || url.startsWith('wasm://')) return 'undici dispatch + llhttp (wasm)';
  if (functionName === 'writeLatin1String' || functionName === 'writeUtf8String' || functionName === 'writev' || url === 'node:internal/stream_base_commons' || url === 'node:net')
    return 'node socket writes/reads (upstream)';
  if (url.startsWith('node:internal/streams') || url === 'node:events' || url === 'node:buffer' || url === 'node:internal/timers' || url.startsWith('node:internal/process'))
    return 'node streams/events/timers/buffers';
  if (functionName.startsWith('RegExp: ')) return 'undici dispatch + llhttp (wasm)'; // header validation
  if (!url) return 'other native (buffer utf8Slice, microtasks, timers)';
  return 'other';
}

/**
 * @param {string} file
 * @param {number} top
 * @returns {{ samples: number, byFunction: Entry[], byModule: Entry[], byArea: Entry[] }}
 */
export function summariseProfile(file, top = 20) {
  /** @type {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[] }} */
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  /** @type {Map<number, ProfileNode>} */
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per node from the sample stream (each sample's delta is the time since the previous one).
  /** @type {Map<number, number>} */
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = /** @type {number} */ (profile.samples[i]);
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  /** @type {Map<string, Entry>} */
  const fns = new Map();
  /** @type {Map<string, Entry>} */
  const mods = new Map();
  /** @type {Map<string, Entry>} */
  const areas = new Map();
  let busy = 0;
  for (const [id, t] of self) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    busy += t;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${fileOf(url)}:${lineNumber + 1}` : '';
    const fkey = `${functionName}|${where}`;
    const f = fns.get(fkey) ?? { name: functionName || '(anonymous)', where, share: 0 };
    f.share += t;
    fns.set(fkey, f);
    const mod = functionName.startsWith('(') ? functionName : moduleOf(url);
    const m = mods.get(mod) ?? { name: mod, where: '', share: 0 };
    m.share += t;
    mods.set(mod, m);
    const area = areaOf(functionName, url);
    const a = areas.get(area) ?? { name: area, where: '', share: 0 };
    a.share += t;
    areas.set(area, a);
  }
  const norm = (/** @type {Map<string, Entry>} */ m) =>
    [...m.values()]
      .map((e) => ({ ...e, share: busy ? e.share / busy : 0 }))
      .sort((a, b) => b.share - a.share)
      .slice(0, top);
  return { samples: profile.samples.length, byFunction: norm(fns), byModule: norm(mods), byArea: norm(areas) };
}
