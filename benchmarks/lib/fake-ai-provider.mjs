// A fake LLM provider in its own process for benchmarks (the test fixture services/gateway/test/fixtures/
// ai-providers.ts, built): speaks the provider's wire format, answers at once. Prints one JSON line
// {"baseUrl": "..."} when it listens. Usage: node fake-ai-provider.mjs <kind> <apiKey>
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'services/gateway/dist/test/fixtures/ai-providers.js');

/** @type {{ startFakeAiProvider(kind: string, opts: { apiKey?: string }): Promise<{ baseUrl: string, requests: unknown[], close(): Promise<void> }> }} */
const fixture = await import(pathToFileURL(FIXTURE).href);
const kind = process.argv[2] ?? 'openai';
const apiKey = process.argv[3];
const fake = await fixture.startFakeAiProvider(kind, apiKey ? { apiKey } : {});
// The fixture records every request for tests; a benchmark would grow that list without bound.
setInterval(() => {
  fake.requests.length = 0;
}, 1_000).unref();
console.log(JSON.stringify({ baseUrl: fake.baseUrl }));
process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
