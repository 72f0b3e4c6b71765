// Child processes of a benchmark run: spawned (optionally pinned to a CPU), tracked, and all stopped on
// exit, on Ctrl-C and on errors, so that no nginx, nats-server or gateway outlives the harness.
import { spawn } from 'node:child_process';

/** @type {Set<Managed>} */
const live = new Set();

/**
 * @typedef {object} Managed
 * @property {string} name
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {() => string} output  last lines of stdout+stderr, for error messages
 * @property {Promise<number | null>} exited  resolves with the exit code (null when killed by a signal)
 * @property {(signal?: NodeJS.Signals, graceMs?: number) => Promise<void>} stop
 */

/**
 * Starts `cmd args`. With `cpu` set, runs it under `taskset -c <cpu>`: taskset execs the command, so the
 * pid is the command's own and its CPU accounting in /proc is the command's.
 * @param {string} name
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ cpu?: string | null, env?: NodeJS.ProcessEnv, cwd?: string, onLine?: (line: string) => void }} [opts]
 * @returns {Managed}
 */
export function startProcess(name, cmd, args, opts = {}) {
  const argv = opts.cpu != null ? ['taskset', ['-c', opts.cpu, cmd, ...args]] : [cmd, args];
  const child = spawn(/** @type {string} */ (argv[0]), /** @type {string[]} */ (argv[1]), {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  /** @type {string[]} */
  const tail = [];
  let partial = '';
  const onData = (/** @type {Buffer} */ chunk) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      opts.onLine?.(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => {
    child.once('exit', (code) => {
      live.delete(managed);
      resolve(code);
    });
    child.once('error', (err) => {
      tail.push(String(err));
      live.delete(managed);
      resolve(-1);
    });
  });
  /** @type {Managed} */
  const managed = {
    name,
    child,
    pid: child.pid,
    output: () => [...tail, partial].filter(Boolean).join('\n'),
    exited,
    stop: async (signal = 'SIGTERM', graceMs = 5_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(managed);
  return managed;
}

/** Stops every process still running, newest first (the gateway before the nats-server it logs to). */
export async function stopAll() {
  const all = [...live].reverse();
  for (const p of all) await p.stop();
}

/** Last resort on a synchronous exit path: SIGKILL whatever is left. */
function killAllNow() {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

let installed = false;
let stopping = false;
/** True once Ctrl-C / SIGTERM started the shutdown: failures after that are its consequence, not news. */
export function stopRequested() {
  return stopping;
}

/**
 * Makes Ctrl-C, SIGTERM and crashes stop the children before the harness exits.
 * @param {() => Promise<void>} cleanup  runs after the children are stopped (e.g. removing the temp dir)
 */
export function installCleanup(cleanup) {
  if (installed) return;
  installed = true;
  const onSignal = (/** @type {NodeJS.Signals} */ sig) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${sig}: stopping benchmark processes\n`);
    void stopAll()
      .then(cleanup)
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killAllNow);
}
