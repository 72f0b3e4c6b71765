// `turnpike apply | diff | export`: declarative config over the REST admin API. Exit codes: 0 success (diff:
// no differences), 1 error, 2 (diff only) differences found.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { AdminClient } from './admin-client.js';
import type { ParsedConfig } from './file-format.js';

// Loaded on use: `turnpike gateway` and friends start without parsing ajv, yaml and undici.
async function load() {
  const [client, state, render, execute, format, planner, progress] = await Promise.all([
    import('./admin-client.js'),
    import('./current-state.js'),
    import('./diff-render.js'),
    import('./execute.js'),
    import('./file-format.js'),
    import('./plan.js'),
    import('./progress.js'),
  ]);
  return { ...client, ...state, ...render, ...execute, ...format, ...planner, ...progress };
}
type Modules = Awaited<ReturnType<typeof load>>;

interface ConnectionOptions {
  url: string;
  token?: string;
  tenant?: string;
}

function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'REST admin API of the control plane (env TP_ADMIN_URL)', process.env.TP_ADMIN_URL ?? 'http://127.0.0.1:8001')
    .option('--token <token>', 'admin token (env TP_ADMIN_TOKEN; else the one `turnpike up` keeps in <data dir>/admin-token)')
    .option('--tenant <name>', "tenant to read and write (env TURNPIKE_TENANT; default: the token's home tenant)");
}

async function clientFor(m: Modules, o: ConnectionOptions): Promise<AdminClient> {
  // Read here rather than as the option's default, so `--help` never prints the token.
  const token = o.token || process.env.TP_ADMIN_TOKEN || (await upToken());
  if (!token) throw new UsageError('no admin token: pass --token or set TP_ADMIN_TOKEN (or run where `turnpike up` keeps .turnpike/admin-token)');
  // Empty means unset, so `TURNPIKE_TENANT=` in a script falls back to the token's home tenant.
  const tenant = o.tenant || process.env.TURNPIKE_TENANT || undefined;
  return new m.AdminClient({ url: o.url, token, tenant });
}

/** The token `turnpike up` keeps in its data dir, so the all-in-one needs no token handling. */
async function upToken(): Promise<string | undefined> {
  try {
    return (await readFile(join(process.env.TP_DATA_DIR || '.turnpike', 'admin-token'), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

class UsageError extends Error {}

async function readConfig(m: Modules, file: string): Promise<ParsedConfig> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return m.parseConfigFile(text, file === '-' ? 'stdin' : file);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs a command body, turning known failures into a message on stderr and exit code 1. */
async function guarded(fn: (m: Modules) => Promise<number>): Promise<void> {
  const m = await load();
  const { ConfigFileError, ApplyError, AdminApiError } = m;
  try {
    process.exitCode = await fn(m);
  } catch (err) {
    if (err instanceof ConfigFileError) console.error(`error: invalid config file ${err.message}`);
    else if (err instanceof ApplyError) {
      console.error(`error: ${err.message}`);
      console.error(`${err.completed} of ${err.total} operations were applied before the failure; run apply again after fixing the cause.`);
    }
    else if (err instanceof AdminApiError) console.error(`error: ${err.code}: ${err.message}${err.fields.map((f) => `\n  ${f.path}: ${f.message}`).join('')}`);
    else if (err instanceof UsageError) console.error(`error: ${err.message}`);
    else throw err;
    process.exitCode = 1;
  }
}

export function registerDeclarativeCommands(program: Command): void {
  addConnectionOptions(
    program
      .command('apply')
      .description('make the control plane match a declarative config file (create and update; delete with --prune)')
      .requiredOption('-f, --file <file>', 'config file (YAML or JSON; - for stdin)')
      .option('--prune', 'delete entities (and named API keys) that the file does not mention; revoke or reject subscriptions it does not mention', false)
      .option('--update-secrets', 'also re-send every secret in the file (API keys, credential secrets, passwords, certificate keys) for entities that exist', false)
      .option('--dry-run', 'show what would change, change nothing', false)
      .option('--concurrency <n>', 'requests in flight at once; entities that depend on each other still go in order (1: one at a time)', '16'),
  ).action(async (o: ConnectionOptions & { file: string; prune: boolean; updateSecrets: boolean; dryRun: boolean; concurrency: string }) => {
    await guarded(async (m) => {
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new UsageError(`--concurrency must be a whole number from 1 to 256, not ${JSON.stringify(o.concurrency)}`);
      const desired = await readConfig(m, o.file);
      const client = await clientFor(m, o);
      const current = await m.fetchCurrentState(client);
      const p = m.plan(current, desired.config, { prune: o.prune, updateSecrets: o.updateSecrets });
      console.log(m.renderPlan(p));
      if (o.dryRun || p.operations.length === 0) {
        if (o.dryRun && p.operations.length > 0) console.log('dry run: nothing was changed');
        return 0;
      }
      console.log('');
      const progress = new m.ApplyProgress({ total: p.operations.length });
      // A few operations go one at a time, as listed: concurrency would save milliseconds, and in order the
      // entities are created (and later listed and exported) in the file's order and the lines come in plan order.
      const inFlight = p.operations.length < m.DETAILED_UP_TO ? 1 : concurrency;
      try {
        await m.executePlan(client, current, p.operations, desired.locations, { done: (op, info) => progress.operationDone(op, info) }, desired.config, {
          concurrency: inFlight,
        });
      } finally {
        progress.flush();
      }
      console.log(`applied: ${m.summarize(p, 'done')}`);
      return 0;
    });
  });

  addConnectionOptions(
    program
      .command('diff')
      .description('show how the control plane differs from a config file (exit 0: equal, 2: different)')
      .requiredOption('-f, --file <file>', 'config file (YAML or JSON; - for stdin)')
      .option('--prune', 'also count entities the file does not mention (as deletions)', false),
  ).action(async (o: ConnectionOptions & { file: string; prune: boolean }) => {
    await guarded(async (m) => {
      const desired = await readConfig(m, o.file);
      const current = await m.fetchCurrentState(await clientFor(m, o));
      const p = m.plan(current, desired.config, { prune: o.prune });
      console.log(m.renderPlan(p));
      return p.operations.length === 0 ? 0 : 2;
    });
  });

  addConnectionOptions(
    program
      .command('export')
      .description('write the whole config as a declarative file (YAML; key material and other secrets are never included)')
      .option('-o, --output <file>', 'write to this file instead of stdout'),
  ).action(async (o: ConnectionOptions & { output?: string }) => {
    await guarded(async (m) => {
      const current = await m.fetchCurrentState(await clientFor(m, o));
      const yaml = m.toYaml(m.toDeclarative(current));
      if (o.output === undefined) process.stdout.write(yaml);
      else {
        await writeFile(o.output, yaml, { mode: 0o644 });
        console.error(`wrote ${o.output}`);
      }
      return 0;
    });
  });
}

