// Steady closed-loop load through a load balancer while a fault happens: every answer's request id kept, so a
// test can later check that the call log holds exactly the requests that were answered.
import { Agent, request } from 'undici';

export interface LoadResult {
  /** 2xx answers. */
  ok: number;
  /** Anything else (status and body head, or the transport error). */
  failures: string[];
  /** `x-request-id` of every 2xx answer. */
  requestIds: Set<string>;
  seconds: number;
  slowestMs: number;
}

export interface LoadOptions {
  /** Base URL of the load balancer, e.g. http://127.0.0.1:18000 */
  baseUrl: string;
  /** Each request goes to `${pathPrefix}/${n}` (n counts up), so a phase's records can be told apart. */
  pathPrefix: string;
  ms: number;
  clients?: number;
  /** When the fault happens (ms after the start) and what it is. */
  atMs: number;
  during: () => void;
  /** A 2xx body must contain this (the upstream's marker), else it counts as a failure. */
  expectBody?: string;
}

export async function steadyLoad(o: LoadOptions): Promise<LoadResult> {
  const clients = o.clients ?? 8;
  const agent = new Agent({ connections: clients, keepAliveTimeout: 10_000 });
  const requestIds = new Set<string>();
  const failures: string[] = [];
  let ok = 0;
  let n = 0;
  let slowestMs = 0;
  const t0 = Date.now();
  const until = t0 + o.ms;
  const worker = async (): Promise<void> => {
    while (Date.now() < until) {
      const s = performance.now();
      const path = `${o.pathPrefix}/${n++}`;
      try {
        const r = await request(`${o.baseUrl}${path}`, { dispatcher: agent });
        const text = await r.body.text();
        if (r.statusCode === 200 && (o.expectBody === undefined || text.includes(o.expectBody))) {
          ok++;
          requestIds.add(String(r.headers['x-request-id']));
        } else failures.push(`${path}: ${r.statusCode} ${text.slice(0, 120)}`);
      } catch (e) {
        failures.push(`${path}: ${String(e)}`);
      }
      slowestMs = Math.max(slowestMs, performance.now() - s);
    }
  };
  const load = Promise.all(Array.from({ length: clients }, worker));
  const fault = new Promise<void>((resolve) =>
    setTimeout(() => {
      o.during();
      resolve();
    }, o.atMs),
  );
  await Promise.all([load, fault]);
  await agent.close();
  return { ok, failures, requestIds, seconds: (Date.now() - t0) / 1000, slowestMs };
}
