// The Lambda Invoke API stand-in for benchmarks, in its own process (the test fixture services/gateway/test/
// fixtures/fake-lambda.ts, built, which verifies SigV4 signatures), beside a plain node:http
// upstream that answers what the function answers: the two ends `pnpm bench:lambda` compares the gateway's
// cost against. Prints one JSON line {"lambdaUrl", "upstreamUrl"} when both listen.
// Usage: node fake-lambda.mjs <region> <accessKeyId> <secretAccessKey>
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'services/gateway/dist/test/fixtures/fake-lambda.js');
/** What both ends answer: a small JSON document. */
const ANSWER = '{"message":"hello from the function"}';

/** @type {{ startFakeLambda(o: { region: string, keys: Record<string, string>, verifyOneIn?: number }): Promise<{ url: string, calls: unknown[], functions: Map<string, { handler: (event: unknown) => unknown }>, close(): Promise<void> }> }} */
const fixture = await import(pathToFileURL(FIXTURE).href);
const [region = 'us-east-1', accessKeyId = 'AKIABENCHLAMBDA00001', secret = 'bench-lambda-secret'] = process.argv.slice(2);
// One signature in 1000 is checked with the reference signer: checking each would cost the shared machine
// more CPU than the gateway spends on the request it is measuring.
const fake = await fixture.startFakeLambda({ region, keys: { [accessKeyId]: secret }, verifyOneIn: 1000 });
fake.functions.set('bench', { handler: () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: ANSWER }) });
// The fixture records every call for tests; a benchmark would grow that list without bound.
setInterval(() => {
  fake.calls.length = 0;
}, 1_000).unref();
const body = Buffer.from(ANSWER);
const upstream = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
    res.end(body);
  });
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', () => r(undefined)));
const address = upstream.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
console.log(JSON.stringify({ lambdaUrl: fake.url, upstreamUrl: `http://127.0.0.1:${port}` }));
process.on('SIGTERM', () => {
  upstream.close();
  void fake.close().then(() => process.exit(0));
});
