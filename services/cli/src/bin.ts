#!/usr/bin/env node
// `turnpike`: one command for every process of the product.
import { Command } from 'commander';
import { registerDeclarativeCommands } from './declarative/commands.js';

const program = new Command();
program.name('turnpike').description('Turnpike API gateway').version('0.1.0');

program
  .command('up')
  .description('run control plane, one gateway node and analytics in one process, with embedded stores')
  .option('--data-dir <dir>', 'where embedded PostgreSQL, analytics and gateway state live', process.env.TP_DATA_DIR ?? '.turnpike')
  .option('--host <host>', 'address the proxy listens on', process.env.TP_PROXY_HOST ?? '0.0.0.0')
  .option('--admin-host <host>', 'address the admin APIs listen on', process.env.TP_ADMIN_HOST ?? '127.0.0.1')
  .option('--proxy-port <port>', 'gateway proxy port', process.env.TP_PROXY_PORT ?? '8000')
  .option('--https-port <port>', 'gateway HTTPS port, serving the configured certificates (default: no HTTPS listener)', process.env.TP_HTTPS_PORT)
  .option('--status-port <port>', 'gateway status port (/healthz, /readyz, /metrics)', process.env.TP_STATUS_PORT ?? '8100')
  .option('--admin-port <port>', 'REST admin API port', process.env.TP_ADMIN_PORT ?? '8001')
  .option('--grpc-port <port>', 'gRPC admin API port', process.env.TP_GRPC_PORT ?? '8002')
  .option('--pg-port <port>', 'embedded PostgreSQL port (loopback)', process.env.TP_EMBEDDED_PG_PORT ?? '8432')
  .action(async (o: Record<string, string>) => {
    // Imported here: the embedded stores are loaded only by `up`, never by the cluster processes.
    const { runUp } = await import('./up.js');
    await runUp({
      dataDir: o.dataDir!,
      host: o.host!,
      adminHost: o.adminHost!,
      proxyPort: port(o.proxyPort!, 'proxy-port'),
      statusPort: port(o.statusPort!, 'status-port'),
      ...(o.httpsPort !== undefined && o.httpsPort !== '-1' ? { httpsPort: port(o.httpsPort, 'https-port') } : {}),
      adminPort: port(o.adminPort!, 'admin-port'),
      grpcPort: port(o.grpcPort!, 'grpc-port'),
      pgPort: port(o.pgPort!, 'pg-port'),
    });
  });

// Cluster processes: each reads its configuration from TP_* environment variables (docs/configuration.md).
program.command('control-plane').description('run the control plane (REST + gRPC admin API, config publisher)').action(async () => {
  await import('@turnpike/control-plane/main');
});
program.command('gateway').description('run a gateway node').action(async () => {
  await import('@turnpike/gateway/main');
});
program.command('ingester').description('run the call-log ingester (NATS JetStream → ClickHouse)').action(async () => {
  await import('@turnpike/analytics/main');
});

// Declarative config over the REST admin API: apply, diff, export (docs/declarative-config.md).
registerDeclarativeCommands(program);

function port(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`--${name}: not a port: ${v}`);
    process.exit(2);
  }
  return n;
}

await program.parseAsync(process.argv);
