// Readiness checks: poll a URL until it answers as expected, failing fast (with the process's last
// output) when the process behind it has exited.

/**
 * @param {string} what
 * @param {import('./processes.mjs').Managed} proc
 * @param {string} url
 * @param {Record<string, string>} headers
 * @param {{ timeoutMs?: number, body?: string, status?: number }} [opts]  `body`: the exact body the answer must carry; `status`: the status it must have (200)
 */
export async function waitForHttp(what, proc, url, headers, opts = {}) {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`${what} exited before it was ready (${last})\n--- ${proc.name} output ---\n${proc.output()}`);
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(2_000) });
      const text = await res.text();
      if (res.status === (opts.status ?? 200) && (opts.body === undefined || text === opts.body)) return;
      last = `${res.status} ${text.slice(0, 200)}`;
    } catch (e) {
      last = String(e instanceof Error && e.cause ? e.cause : e);
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: ${url} not ready after ${timeoutMs} ms (last: ${last})\n--- ${proc.name} output ---\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
