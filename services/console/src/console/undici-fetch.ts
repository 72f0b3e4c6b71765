// Stands in for `undici` when the CLI's declarative-config modules are bundled for the browser (build.mjs
// aliases the import here): the CLI's AdminClient calls `request(url, {method, headers, body})` and reads
// `statusCode` and `body.text()`; fetch does the same in the browser.
export async function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | undefined }) {
  const res = await fetch(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, body: opts.body ?? null });
  const text = await res.text();
  return {
    statusCode: res.status,
    headers: Object.fromEntries(res.headers.entries()),
    body: { text: async () => text, json: async () => JSON.parse(text) as unknown },
  };
}
