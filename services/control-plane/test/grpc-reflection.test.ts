// gRPC server reflection (what grpcurl uses) through a real grpc-js client of the reflection service,
// loading the reflection .proto that the @grpc/reflection package ships.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { loadAdminPackageDefinition } from '../src/grpc/load-proto.js';
import { startHarness, type Harness } from './support.js';

interface ReflectionResponse {
  list_services_response?: { service?: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto?: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

type ReflectionStream = grpc.ClientDuplexStream<Record<string, unknown>, ReflectionResponse>;

function reflectionClient(port: number, version: 'v1' | 'v1alpha'): grpc.Client & { ServerReflectionInfo(): ReflectionStream } {
  // The package's own protos sit in build/proto beside build/src (its "main").
  const protoDir = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '..', 'proto');
  const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { keepCase: true, includeDirs: [protoDir] });
  const reflection = (grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> } })
    .grpc.reflection[version];
  if (!reflection) throw new Error(`no reflection package ${version}`);
  return new reflection.ServerReflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { ServerReflectionInfo(): ReflectionStream };
}

/** One request on a fresh reflection stream; resolves with its one response. */
async function ask(client: ReturnType<typeof reflectionClient>, req: Record<string, unknown>): Promise<ReflectionResponse> {
  return await new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.once('data', (res: ReflectionResponse) => {
      resolve(res);
      call.end();
    });
    call.once('error', reject);
    call.write(req);
  });
}

/** Reads the string fields 1 (name) and 2 (package) of a serialized google.protobuf.FileDescriptorProto. */
function fileNameAndPackage(bytes: Buffer): { name?: string; pkg?: string } {
  const out: { name?: string; pkg?: string } = {};
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++] ?? 0;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < bytes.length && (out.name === undefined || out.pkg === undefined)) {
    const tag = varint();
    const wire = tag & 7;
    if (wire !== 2) break; // name and package come first and are length-delimited
    const len = varint();
    const text = bytes.subarray(i, i + len).toString('utf8');
    i += len;
    if (tag >>> 3 === 1) out.name = text;
    if (tag >>> 3 === 2) out.pkg = text;
  }
  return out;
}

describe('gRPC server reflection', { timeout: 60_000 }, () => {
  let h: Harness;
  const clients: grpc.Client[] = [];
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    clients.forEach((c) => c.close());
    await h?.close();
  });

  for (const version of ['v1', 'v1alpha'] as const) {
    it(`${version}: lists the admin services without a token`, async () => {
      const client = reflectionClient(h.cp.grpcPort, version);
      clients.push(client);
      const res = await ask(client, { list_services: '' });
      assert.equal(res.error_response, undefined);
      const names = (res.list_services_response?.service ?? []).map((s) => s.name);
      // Every service the .proto defines (so a new one cannot be left out of the server), and by name the ones
      // clients depend on.
      const def = loadAdminPackageDefinition();
      // Message and enum definitions carry a `format`; service definitions are maps of methods.
      const defined = Object.keys(def).filter((n) => n.startsWith('turnpike.admin.v1.') && !('format' in def[n]!));
      const wanted = ['UpstreamService', 'ServiceService', 'RouteService', 'ConsumerService', 'ClusterService', 'TenantService', 'UserService', 'TokenService', 'AuditService', 'ConsumerGroupService', 'PlanService', 'SubscriptionService'];
      for (const svc of new Set([...wanted.map((s) => `turnpike.admin.v1.${s}`), ...defined])) {
        assert.ok(names.includes(svc), `${svc} listed in ${names.join(', ')}`);
      }
    });
  }

  it('resolves the file that defines a symbol (service and message), and that file by name', async () => {
    const client = reflectionClient(h.cp.grpcPort, 'v1');
    clients.push(client);
    const fileNames = new Set<string>();
    for (const symbol of ['turnpike.admin.v1.UpstreamService', 'turnpike.admin.v1.Route']) {
      const res = await ask(client, { file_containing_symbol: symbol });
      assert.equal(res.error_response, undefined, `no error for ${symbol}`);
      const files = (res.file_descriptor_response?.file_descriptor_proto ?? []).map((b) => fileNameAndPackage(Buffer.from(b)));
      // proto-loader re-serializes descriptors per package, so the file is named for the package
      // (turnpike_admin_v1.proto), not for its path under proto/.
      const admin = files.find((f) => f.pkg === 'turnpike.admin.v1');
      const name = admin?.name;
      if (!name?.endsWith('.proto')) assert.fail(`no turnpike.admin.v1 file among ${JSON.stringify(files)}`);
      fileNames.add(name);
    }
    assert.equal(fileNames.size, 1, 'the service and the message live in the same file');
    const [name] = [...fileNames];
    const byName = await ask(client, { file_by_filename: name });
    const again = (byName.file_descriptor_response?.file_descriptor_proto ?? []).map((b) => fileNameAndPackage(Buffer.from(b)));
    assert.deepEqual(again[0], { name, pkg: 'turnpike.admin.v1' });
  });

  it('answers NOT_FOUND for an unknown symbol', async () => {
    const client = reflectionClient(h.cp.grpcPort, 'v1');
    clients.push(client);
    const res = await ask(client, { file_containing_symbol: 'turnpike.admin.v1.NoSuchThing' });
    assert.equal(res.error_response?.error_code, grpc.status.NOT_FOUND);
  });
});
