// CPU time of a process tree from /proc/<pid>/stat (utime + stime of every live process under the root).
// Worker processes (nginx) are summed with their master; threads are included in a process's own figures.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * @param {number} pid
 * @returns {{ ppid: number, utime: number, stime: number } | null}
 */
function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]) };
}

/** @param {number} root @returns {number[]} root and all its live descendants */
export function processTree(root) {
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  const out = [];
  const queue = [root];
  while (queue.length) {
    const pid = /** @type {number} */ (queue.shift());
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * @typedef {{ user: number, sys: number }} CpuTimes  seconds in user mode and in the kernel
 */

/**
 * Per-pid CPU seconds for the given roots and their descendants, read now.
 * @param {number[]} roots
 * @returns {Map<number, CpuTimes>}
 */
export function cpuSnapshot(roots) {
  const out = new Map();
  for (const root of roots) {
    for (const pid of processTree(root)) {
      const st = readStat(pid);
      if (st) out.set(pid, { user: st.utime / CLK_TCK, sys: st.stime / CLK_TCK });
    }
  }
  return out;
}

/**
 * CPU seconds spent between two snapshots. A process that appears only in `after` counts from zero;
 * one that exited in between is lost (none of ours do during a run).
 * @param {Map<number, CpuTimes>} before
 * @param {Map<number, CpuTimes>} after
 * @returns {CpuTimes & { total: number }}
 */
export function cpuSpent(before, after) {
  let user = 0;
  let sys = 0;
  for (const [pid, t] of after) {
    const b = before.get(pid);
    user += t.user - (b?.user ?? 0);
    sys += t.sys - (b?.sys ?? 0);
  }
  return { user, sys, total: user + sys };
}

/**
 * CPU seconds the whole machine spent in processes so far (all CPUs), from /proc/stat. Interrupt and
 * softirq time is left out: the kernel charges it to no process, so it cannot be told apart by owner
 * (on loopback most of it is the benchmark's own network traffic).
 */
export function machineBusy() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu  user nice system idle iowait irq softirq steal ... (guest time is already in user)
  const [user = 0, nice = 0, system = 0] = line.trim().split(/\s+/).slice(1, 4).map(Number);
  return (user + nice + system) / CLK_TCK;
}

/**
 * Steal time in seconds from /proc/stat: while the VM's CPU (`cpu` = '1' for cpu1; null for all of them)
 * had work to run, the hypervisor ran something else. No process's CPU time shows it, yet a process whose
 * CPU it was waited meanwhile: a latency tail with no cause inside the machine.
 * @param {string | null} cpu
 */
export function stealSeconds(cpu) {
  const name = cpu === null ? 'cpu' : `cpu${cpu}`;
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
  // name user nice system idle iowait irq softirq steal ...
  return Number(line.trim().split(/\s+/)[8] ?? 0) / CLK_TCK;
}

/**
 * CPU seconds of this process's tree: live descendants plus children already reaped (wrk runs are
 * reaped before the closing snapshot; the kernel adds their time to our cutime/cstime).
 */
export function ownTreeCpu() {
  let live = 0;
  for (const [, t] of cpuSnapshot([process.pid])) live += t.user + t.sys;
  const text = readFileSync('/proc/self/stat', 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // cutime and cstime are fields 16 and 17.
  const reaped = (Number(rest[13]) + Number(rest[14])) / CLK_TCK;
  return live + reaped;
}
