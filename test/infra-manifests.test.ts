// The deployment files (infra/compose, infra/k8s, infra/docker) cannot be run here (no Docker, no cluster),
// so this checks what can really be wrong in them against the code and the docs: every TP_* variable they
// set exists; ports, probes and load-balancer lines agree with the env each container gets; references
// (depends_on, selectors, ConfigMap/Secret keys, mounted files, COPY sources) resolve; the NATS bootstrap
// creates exactly the buckets and stream the code uses; the Dockerfile's entrypoint exists after the build.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { CALLS_DUPLICATE_WINDOW_MS, CALLS_MAX_AGE_MS, CALLS_STREAM, CALLS_SUBJECT_PREFIX, configBucketName, quotaBucketName } from '@turnpike/common';
import { REPO_ROOT } from './support/process.js';
import { HAPROXY_BIN } from './support/haproxy.js';

type Obj = Record<string, any>;

const repo = (...p: string[]): string => join(REPO_ROOT, ...p);
const read = (...p: string[]): string => readFileSync(repo(...p), 'utf8');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
const yamlFiles = (dir: string): string[] => walk(repo(dir)).filter((f) => /\.ya?ml$/.test(f));

/** Every document of a YAML file, parsed strictly (compose's `<<` merge keys resolved); parse errors throw. */
function docs(file: string): Obj[] {
  const all = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true, uniqueKeys: true });
  const list = Array.isArray(all) ? all : [all];
  for (const d of list) if (d.errors.length > 0) throw new Error(`${relative(REPO_ROOT, file)}: ${d.errors.map((e) => e.message).join('; ')}`);
  return list.map((d) => d.toJS({ maxAliasCount: 1000 }) as Obj).filter((d) => d !== null);
}

const compose = (): Obj => docs(repo('infra/compose/compose.yaml'))[0]!;
const k8s = (): Obj[] => yamlFiles('infra/k8s').flatMap(docs).filter((d) => typeof d.kind === 'string' && d.kind !== 'Kustomization');

/** TP_* names the services' code reads (non-test sources). */
function variablesReadByCode(): Set<string> {
  const names = new Set<string>();
  for (const pkg of readdirSync(repo('services'))) {
    const src = repo('services', pkg, 'src');
    if (!existsSync(src)) continue;
    for (const f of walk(src).filter((x) => /\.tsx?$/.test(x) && !x.endsWith('.test.ts'))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\bTP_[A-Z0-9_]+\b/g)) names.add(m[0]);
    }
  }
  return names;
}

/** The documented variables: a `TP_…` in a table cell of docs/configuration.md. */
function documentedVariables(): Set<string> {
  return new Set([...read('docs/configuration.md').matchAll(/`(TP_[A-Z0-9_]+)`/g)].map((m) => m[1]!));
}

/** env of a compose service as name → value (mapping or `KEY=value` list). */
function composeEnv(svc: Obj): Record<string, string> {
  const e = svc.environment ?? {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((s: string) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v)]));
}

/** Literal env of a k8s container (value: entries only; valueFrom ones are resolved by refs below). */
function containerEnv(c: Obj): Record<string, string> {
  return Object.fromEntries((c.env ?? []).filter((e: Obj) => e.value !== undefined).map((e: Obj) => [e.name, String(e.value)]));
}

const deployments = (): Obj[] => k8s().filter((d) => d.kind === 'Deployment');

// Defaults of the port variables (docs/configuration.md), used when a container leaves one unset.
const PORT_DEFAULTS: Record<string, Record<string, number>> = {
  gateway: { TP_PROXY_PORT: 8000, TP_STATUS_PORT: 8100 },
  'control-plane': { TP_ADMIN_PORT: 8001, TP_GRPC_PORT: 8002 },
  ingester: {},
};
/** The listen ports a `turnpike <role>` container opens, from its env. */
function listenPorts(role: string, env: Record<string, string>): Record<string, number> {
  const defaults = PORT_DEFAULTS[role];
  assert.ok(defaults, `unknown turnpike role ${role}`);
  return Object.fromEntries(Object.entries(defaults).map(([k, d]) => [k, env[k] !== undefined ? Number(env[k]) : d]));
}

describe('deployment manifests (infra/compose, infra/k8s, infra/docker) agree with the code and the docs', () => {
  test('every YAML file under infra/compose and infra/k8s parses', () => {
    const files = [...yamlFiles('infra/compose'), ...yamlFiles('infra/k8s')];
    assert.ok(files.length >= 10, `found ${files.length} YAML files`);
    for (const f of files) assert.ok(docs(f).length > 0, `${relative(REPO_ROOT, f)} has no document`);
  });

  test('every TP_* variable the manifests set is documented in docs/configuration.md and read by the code', () => {
    const set = new Map<string, string>();
    for (const [name, svc] of Object.entries(compose().services as Obj)) for (const k of Object.keys(composeEnv(svc))) set.set(k, `compose ${name}`);
    for (const d of k8s()) {
      if (d.kind === 'ConfigMap' || d.kind === 'Secret') for (const k of Object.keys({ ...d.data, ...d.stringData })) set.set(k, `${d.kind} ${d.metadata.name}`);
      for (const c of d.spec?.template?.spec?.containers ?? []) for (const e of c.env ?? []) set.set(e.name, `${d.kind} ${d.metadata.name}`);
    }
    const tp = [...set].filter(([k]) => k.startsWith('TP_'));
    assert.ok(tp.length >= 15, `${tp.length} TP_* variables set`);
    const documented = documentedVariables();
    const read = variablesReadByCode();
    assert.deepEqual(tp.filter(([k]) => !documented.has(k)), [], 'set but not documented in docs/configuration.md');
    assert.deepEqual(tp.filter(([k]) => !read.has(k)), [], 'set but read nowhere in services/*/src');
  });

  describe('compose', () => {
    const c = compose();
    const services = c.services as Obj;
    const turnpike = Object.entries(services).filter(([, s]) => s.image === services['control-plane'].image);

    test('depends_on names exist; service_healthy targets have a healthcheck, completed ones are one-shots; every long-running service has one', () => {
      for (const [name, svc] of Object.entries(services)) {
        if (svc.restart !== undefined) assert.ok(svc.healthcheck?.test, `${name} runs for good and has no healthcheck`);
        const deps = Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d: string) => [d, { condition: 'service_started' }])) : (svc.depends_on ?? {});
        for (const [dep, how] of Object.entries(deps as Obj)) {
          assert.ok(services[dep], `${name} depends on ${dep}, which is not a service`);
          assert.ok(['service_healthy', 'service_started', 'service_completed_successfully'].includes(how.condition), `${name} → ${dep}: condition ${how.condition}`);
          if (how.condition === 'service_healthy') assert.ok(services[dep].healthcheck?.test, `${name} waits for ${dep} to be healthy, which has no healthcheck`);
          if (how.condition === 'service_completed_successfully') assert.equal(services[dep].restart, undefined, `${name} waits for ${dep} to complete, but ${dep} restarts`);
        }
      }
      assert.deepEqual(
        ['postgres', 'nats-1', 'nats-2', 'nats-3', 'clickhouse', 'control-plane', 'ingester', 'gateway-1', 'gateway-2', 'gateway-3', 'haproxy', 'prometheus', 'grafana'].filter((s) => !services[s]),
        [],
        'the cluster the issue asks for',
      );
    });

    test('the turnpike services run the image built from infra/docker/Dockerfile with a role the CLI has', () => {
      const bin = read('services/cli/src/bin.ts');
      assert.ok(turnpike.length >= 5, `${turnpike.length} turnpike services`);
      for (const [name, svc] of turnpike) {
        assert.equal(svc.build?.dockerfile, 'infra/docker/Dockerfile', name);
        assert.equal(resolve(repo('infra/compose'), svc.build.context), resolve(REPO_ROOT), `${name}: build context is the repository root`);
        const role = svc.command[0] as string;
        assert.match(bin, new RegExp(`\\.command\\('${role}'\\)`), `${name}: turnpike ${role}`);
        assert.deepEqual(svc.healthcheck.test, ['CMD', 'node', '/app/infra/docker/healthcheck.mjs'], name);
      }
    });

    test('ports: haproxy servers, Prometheus targets and published ports match each container’s TP_*_PORT; store URLs name compose services', () => {
      const haproxy = read('infra/compose/haproxy/haproxy.cfg');
      const servers = [...haproxy.matchAll(/^\s*server (\S+) ([\w.-]+):(\d+) check port (\d+)/gm)];
      const gateways = turnpike.filter(([, s]) => s.command[0] === 'gateway');
      assert.equal(servers.length, gateways.length, 'one haproxy server per gateway service');
      const prom = parse(read('infra/compose/prometheus/prometheus.yml')) as Obj;
      const targets: string[] = prom.scrape_configs.find((j: Obj) => j.job_name === 'turnpike-gateway').static_configs.flatMap((s: Obj) => s.targets);
      for (const [name, svc] of gateways) {
        const p = listenPorts('gateway', composeEnv(svc));
        const line = servers.find((m) => m[2] === name);
        assert.ok(line, `haproxy has no server for ${name}`);
        assert.equal(Number(line[3]), p.TP_PROXY_PORT, `${name}: haproxy's traffic port = TP_PROXY_PORT`);
        assert.equal(Number(line[4]), p.TP_STATUS_PORT, `${name}: haproxy's health-check port = TP_STATUS_PORT`);
        assert.ok(targets.includes(`${name}:${p.TP_STATUS_PORT}`), `Prometheus scrapes ${name}:${p.TP_STATUS_PORT}`);
        assert.ok(services[composeEnv(svc).TP_NATS_URL!.replace(/^nats:\/\/([^:]+):.*/, '$1')], `${name}: its NATS is a compose service`);
      }
      assert.equal(targets.length, gateways.length, 'Prometheus scrapes the gateways, nothing else in that job');

      const cp = services['control-plane'];
      const cpPorts = listenPorts('control-plane', composeEnv(cp));
      const published = (cp.ports as string[]).map((p) => Number(p.split(':').pop()));
      assert.deepEqual(published.sort(), Object.values(cpPorts).sort(), 'the control plane publishes TP_ADMIN_PORT and TP_GRPC_PORT');

      // haproxy publishes what it binds.
      const binds = [...haproxy.matchAll(/^\s*bind :(\d+)/gm)].map((m) => Number(m[1]));
      assert.deepEqual((services.haproxy.ports as string[]).map((p) => Number(p.split(':').pop())).sort(), binds.sort());

      // Every URL a turnpike service is given points at a compose service on the port that service listens on.
      const natsListen = Number(/^listen: [\d.]+:(\d+)/m.exec(read('infra/compose/nats/nats.conf'))![1]);
      const known: Record<string, number> = { postgres: 5432, clickhouse: 8123, 'nats-1': natsListen, 'nats-2': natsListen, 'nats-3': natsListen };
      for (const [name, svc] of turnpike) {
        for (const [k, v] of Object.entries(composeEnv(svc)).filter(([k]) => k.endsWith('_URL'))) {
          for (const u of v.split(',')) {
            const url = new URL(u.replace(/\$\{[^}]*\}/g, 'x'));
            assert.ok(services[url.hostname], `${name} ${k}: ${url.hostname} is not a compose service`);
            assert.equal(Number(url.port), known[url.hostname], `${name} ${k}: port of ${url.hostname}`);
          }
        }
      }
    });

    test('haproxy: derived from infra/lb/haproxy.cfg.tmpl, with the /readyz health check and retry-on conn-failure; haproxy -c accepts it', () => {
      const cfg = read('infra/compose/haproxy/haproxy.cfg');
      assert.match(cfg, /^\s*option httpchk GET \/readyz$/m);
      assert.match(cfg, /^\s*http-check expect status 200$/m);
      assert.match(cfg, /^\s*retry-on .*\bconn-failure\b/m);
      assert.match(cfg, /^\s*option redispatch/m);
      // Every directive of the template's defaults and backend is in the compose file too (the template is
      // what the fault tests prove; the compose copy may only add).
      const template = read('infra/lb/haproxy.cfg.tmpl');
      const directives = template
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#') && !l.includes('{{') && !/^(global|defaults|frontend|backend)\b/.test(l) && !l.startsWith('default-server'));
      const lines = new Set(cfg.split('\n').map((l) => l.trim()));
      assert.deepEqual(directives.filter((d) => !lines.has(d)), [], 'template directives missing from the compose haproxy.cfg');
      const tmplDefault = /^\s*(default-server .*)$/m.exec(template)![1]!;
      const composeDefault = /^\s*(default-server .*)$/m.exec(cfg)![1]!;
      assert.ok(composeDefault.startsWith(tmplDefault), `default-server keeps the template's check timing: ${composeDefault}`);

      if (!existsSync(HAPROXY_BIN)) return; // infra/local installs it; the checks above still ran
      const dir = mkdtempSync(join(tmpdir(), 'tp-haproxy-check-'));
      try {
        writeFileSync(join(dir, 'haproxy.cfg'), cfg);
        const r = spawnSync(HAPROXY_BIN, ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
        assert.equal(r.status, 0, `haproxy -c: ${r.stdout}${r.stderr}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('bind-mounted files exist; Grafana gets the dashboards where the provisioning file looks for them', () => {
      for (const [name, svc] of Object.entries(services)) {
        for (const v of (svc.volumes ?? []) as string[]) {
          const src = v.split(':')[0]!;
          if (!src.startsWith('.')) continue; // a named volume
          assert.ok(existsSync(resolve(repo('infra/compose'), src)), `${name}: ${src} does not exist`);
        }
      }
      const provider = (parse(read('infra/grafana/provisioning/dashboards/turnpike.yml')) as Obj).providers[0];
      const mount = (services.grafana.volumes as string[]).find((v) => v.startsWith('../grafana/dashboards:'));
      assert.equal(mount?.split(':')[1], provider.options.path, 'dashboards mounted at the provider path');
      const ds = (parse(read('infra/compose/grafana/datasources.yml')) as Obj).datasources[0];
      assert.equal(new URL(ds.url).hostname, 'prometheus');
      assert.equal(ds.uid, (parse(read('infra/grafana/provisioning/datasources/prometheus.yml')) as Obj).datasources[0].uid, 'same uid as infra/grafana');
    });

    test('nats/init.sh creates the buckets and the call-log stream the code uses, with its settings', () => {
      const sh = read('infra/compose/nats/init.sh');
      assert.ok(sh.includes(`kv "${configBucketName('$C')}"`), 'config bucket');
      assert.ok(sh.includes(`kv "${quotaBucketName('$C')}"`), 'quota bucket');
      assert.match(sh, new RegExp(`stream add ${CALLS_STREAM} --subjects '${CALLS_SUBJECT_PREFIX.replace('.', '\\.')}\\.>'`));
      assert.equal(CALLS_MAX_AGE_MS, 7 * 86_400_000);
      assert.match(sh, /--max-age 7d /);
      assert.equal(CALLS_DUPLICATE_WINDOW_MS, 2 * 60_000);
      assert.match(sh, /--dupe-window 2m /);
      assert.equal(services['nats-init'].environment.TURNPIKE_NATS_REPLICAS, '3');
      // Each NATS server routes to all three.
      const routes = [...read('infra/compose/nats/nats.conf').matchAll(/nats-route:\/\/([\w-]+):6222/g)].map((m) => m[1]);
      assert.deepEqual(routes, ['nats-1', 'nats-2', 'nats-3']);
    });
  });

  describe('kubernetes', () => {
    const all = k8s();
    const byKind = (kind: string): Obj[] => all.filter((d) => d.kind === kind);

    test('kustomization lists every manifest, and only existing ones', () => {
      const kust = docs(repo('infra/k8s/base/kustomization.yaml'))[0]!;
      const listed = (kust.resources as string[]).slice().sort();
      const present = readdirSync(repo('infra/k8s/base')).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
      assert.deepEqual(listed, present);
    });

    test('each Deployment: containerPorts = the TP_*_PORT it is given; readiness and liveness probes on an exposed port (gateway: /readyz and /healthz on the status port)', () => {
      const ds = deployments();
      assert.deepEqual(ds.map((d) => d.metadata.name).sort(), ['turnpike-control-plane', 'turnpike-gateway', 'turnpike-ingester']);
      for (const d of ds) {
        for (const c of d.spec.template.spec.containers as Obj[]) {
          const role = c.args[0] as string;
          const env = containerEnv(c);
          const ports = listenPorts(role, env);
          const declared = new Map<string | number, number>((c.ports ?? []).flatMap((p: Obj) => [[p.name, p.containerPort], [p.containerPort, p.containerPort]]));
          assert.deepEqual(((c.ports ?? []) as Obj[]).map((p) => p.containerPort).sort(), Object.values(ports).sort(), `${d.metadata.name}: containerPorts are the ports its env opens`);
          const probePort = (probe: Obj): number | undefined => {
            const p = probe.httpGet?.port ?? probe.tcpSocket?.port;
            return declared.get(p);
          };
          if (Object.keys(ports).length === 0) {
            // Nothing to probe over the network: only exec probes, and no liveness that would restart it for a store's outage.
            assert.ok(c.readinessProbe?.exec, `${d.metadata.name}: a readiness check`);
            assert.equal(c.livenessProbe, undefined, `${d.metadata.name}: no liveness probe`);
            continue;
          }
          for (const kind of ['readinessProbe', 'livenessProbe']) {
            assert.ok(c[kind], `${d.metadata.name}: ${kind}`);
            assert.ok(probePort(c[kind]) !== undefined, `${d.metadata.name}: ${kind} on port ${JSON.stringify(c[kind].httpGet?.port)}, which the container does not expose`);
          }
          if (role === 'gateway') {
            assert.equal(c.readinessProbe.httpGet.path, '/readyz');
            assert.equal(c.livenessProbe.httpGet.path, '/healthz');
            assert.equal(probePort(c.readinessProbe), ports.TP_STATUS_PORT, 'readiness on the status port');
            assert.equal(probePort(c.livenessProbe), ports.TP_STATUS_PORT, 'liveness on the status port');
            const ann = d.spec.template.metadata.annotations ?? {};
            assert.equal(Number(ann['prometheus.io/port']), ports.TP_STATUS_PORT, 'metrics are on the status port');
          }
          if (role === 'control-plane') {
            assert.equal(probePort(c.readinessProbe), ports.TP_ADMIN_PORT, '/healthz is on the admin port');
            assert.equal(env.TP_ADMIN_HOST, '0.0.0.0', 'the admin API listens beyond loopback (probes, Service)');
          }
        }
      }
    });

    test('gateway termination: grace period covers preStop + TP_DRAIN_TIMEOUT_MS + the node’s 15 s close allowance; TP_WORKERS fits the CPU limit', () => {
      const gw = deployments().find((d) => d.metadata.name === 'turnpike-gateway')!;
      const c = gw.spec.template.spec.containers[0];
      const env = containerEnv(c);
      const preStop = c.lifecycle.preStop.exec.command as string[];
      assert.equal(preStop[0], 'sleep');
      const need = Number(preStop[1]) + Number(env.TP_DRAIN_TIMEOUT_MS ?? 30_000) / 1000 + 15;
      assert.ok(gw.spec.template.spec.terminationGracePeriodSeconds >= need, `terminationGracePeriodSeconds ${gw.spec.template.spec.terminationGracePeriodSeconds} < ${need}`);
      assert.ok(Number(env.TP_WORKERS) <= Number(c.resources.limits.cpu), 'TP_WORKERS ≤ limits.cpu');
      assert.equal(env.TP_PROXY_HOST, '0.0.0.0');
    });

    test('Services, the HPA and the PDB select the Deployments’ pods; HPA on CPU has CPU requests to measure against', () => {
      const ds = deployments();
      const labelsMatch = (sel: Obj, labels: Obj): boolean => Object.entries(sel).every(([k, v]) => labels[k] === v);
      for (const d of ds) assert.ok(labelsMatch(d.spec.selector.matchLabels, d.spec.template.metadata.labels), `${d.metadata.name}: selector matches its own pods`);
      for (const s of byKind('Service')) {
        const targets = ds.filter((d) => labelsMatch(s.spec.selector, d.spec.template.metadata.labels));
        assert.equal(targets.length, 1, `Service ${s.metadata.name} selects one Deployment`);
        const names = new Set(targets[0]!.spec.template.spec.containers.flatMap((c: Obj) => (c.ports ?? []).map((p: Obj) => p.name)));
        for (const p of s.spec.ports) assert.ok(names.has(p.targetPort), `Service ${s.metadata.name}: targetPort ${p.targetPort}`);
      }
      const [pdb] = byKind('PodDisruptionBudget');
      const gw = ds.find((d) => d.metadata.name === 'turnpike-gateway')!;
      assert.deepEqual(pdb!.spec.selector.matchLabels, gw.spec.selector.matchLabels, 'PDB selects the gateway pods');
      assert.ok(!labelsMatch(pdb!.spec.selector.matchLabels, ds.find((d) => d.metadata.name === 'turnpike-control-plane')!.spec.template.metadata.labels), 'and only them');
      const [hpa] = byKind('HorizontalPodAutoscaler');
      assert.equal(hpa!.spec.scaleTargetRef.kind, 'Deployment');
      assert.equal(hpa!.spec.scaleTargetRef.name, gw.metadata.name);
      assert.equal(hpa!.spec.metrics[0].resource.name, 'cpu');
      assert.ok(gw.spec.template.spec.containers[0].resources.requests.cpu, 'CPU utilization needs CPU requests');
      assert.ok(hpa!.spec.minReplicas > (pdb!.spec.maxUnavailable ?? 0), 'the HPA floor leaves the PDB something to keep');
    });

    test('every ConfigMap/Secret reference resolves to a key that exists', () => {
      const maps = new Map(byKind('ConfigMap').map((m) => [m.metadata.name, new Set(Object.keys(m.data ?? {}))]));
      const secrets = new Map(byKind('Secret').map((m) => [m.metadata.name, new Set(Object.keys({ ...m.data, ...m.stringData }))]));
      for (const d of deployments()) {
        for (const c of d.spec.template.spec.containers as Obj[]) {
          for (const from of c.envFrom ?? []) {
            if (from.configMapRef) assert.ok(maps.has(from.configMapRef.name), `${d.metadata.name}: ConfigMap ${from.configMapRef.name}`);
            if (from.secretRef) assert.ok(secrets.has(from.secretRef.name), `${d.metadata.name}: Secret ${from.secretRef.name}`);
          }
          for (const e of c.env ?? []) {
            const cm = e.valueFrom?.configMapKeyRef;
            const sk = e.valueFrom?.secretKeyRef;
            if (cm) assert.ok(maps.get(cm.name)?.has(cm.key), `${d.metadata.name} ${e.name}: ConfigMap ${cm.name} key ${cm.key}`);
            if (sk) assert.ok(secrets.get(sk.name)?.has(sk.key), `${d.metadata.name} ${e.name}: Secret ${sk.name} key ${sk.key}`);
          }
        }
      }
    });
  });

  describe('image (infra/docker/Dockerfile)', () => {
    const dockerfile = read('infra/docker/Dockerfile');
    const json = (instr: string): string[] => JSON.parse(new RegExp(`^${instr} (\\[.*\\])$`, 'm').exec(dockerfile)![1]!) as string[];

    test('node:20-bookworm-slim, pnpm from corepack, frozen lockfile, pnpm build, non-root, HEALTHCHECK', () => {
      assert.match(dockerfile, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
      assert.match(dockerfile, /^RUN corepack enable$/m);
      assert.match(dockerfile, /pnpm install --frozen-lockfile$/m);
      assert.match(dockerfile, /pnpm install --frozen-lockfile --prod /m);
      assert.match(dockerfile, /^RUN pnpm build$/m);
      const users = [...dockerfile.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
      assert.ok(users.length > 0 && users[users.length - 1] !== 'root', 'runs as non-root');
      assert.match(dockerfile, /^HEALTHCHECK .* CMD \["node", "\/app\/infra\/docker\/healthcheck.mjs"\]$/m);
    });

    test('the entrypoint and every file the runtime stage copies from the build exist after `pnpm build`', () => {
      const entry = json('ENTRYPOINT');
      assert.equal(entry[0], 'node');
      assert.match(dockerfile, /^WORKDIR \/app$/m);
      const inRepo = (p: string): string => repo(p.replace(/^\/app\//, ''));
      assert.ok(existsSync(inRepo(entry[1]!)), `${entry[1]} (run pnpm build first)`);
      for (const m of dockerfile.matchAll(/^COPY --from=build \/src\/(\S+) \S+$/gm)) assert.ok(existsSync(repo(m[1]!)), `COPY --from=build ${m[1]}`);
      for (const m of dockerfile.matchAll(/^COPY (?!--)(\S+) \S+$/gm)) if (!m[1]!.includes(' ') && m[1] !== '.') assert.ok(existsSync(repo(m[1]!)), `COPY ${m[1]}`);
      assert.ok(existsSync(inRepo('/app/infra/docker/healthcheck.mjs')));
    });

    test('both stages copy the manifest of every workspace package (else the frozen install fails)', () => {
      const ws = (parse(read('pnpm-workspace.yaml')) as Obj).packages as string[];
      const pkgs = ws.flatMap((p) => (p.endsWith('/*') ? readdirSync(repo(p.slice(0, -2))).map((d) => `${p.slice(0, -2)}/${d}`) : [p])).filter((p) => existsSync(repo(p, 'package.json')));
      for (const p of pkgs) {
        const copies = dockerfile.split('\n').filter((l) => l === `COPY ${p}/package.json ${p}/`);
        assert.equal(copies.length, 2, `COPY ${p}/package.json in both stages`);
      }
    });

    test('.dockerignore keeps build output and local state out, and nothing the Dockerfile copies', () => {
      const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
      for (const p of ['**/node_modules', '**/dist', '.git', '.work']) assert.ok(ignore.includes(p), `.dockerignore: ${p}`);
      const copied = [...dockerfile.matchAll(/^COPY (?!--)(\S+) /gm)].map((m) => m[1]!).concat(['proto', 'services/control-plane/migrations']);
      for (const c of copied) for (const i of ignore) assert.ok(!(c === i || c.startsWith(`${i}/`)), `${c} is ignored by ${i}`);
      assert.ok(existsSync(repo(dirname('.dockerignore'), '.dockerignore')));
    });
  });
});
