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
 * @param {string} file
 * @param {number} top
 * @returns {{ samples: number, byFunction: Entry[], byModule: Entry[] }}
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
  }
  const norm = (/** @type {Map<string, Entry>} */ m) =>
    [...m.values()]
      .map((e) => ({ ...e, share: busy ? e.share / busy : 0 }))
      .sort((a, b) => b.share - a.share)
      .slice(0, top);
  return { samples: profile.samples.length, byFunction: norm(fns), byModule: norm(mods) };
}
