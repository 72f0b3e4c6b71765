// Tracing settings from the environment. Plain data: startGateway puts them in the proxy limits, which every
// proxy thread receives by structured clone, and each thread builds its own tracer from them (tracer.ts).

export interface TracingConfig {
  /** The OTLP/HTTP traces URL spans are POSTed to (…/v1/traces). */
  readonly endpoint: string;
  /** Head-sampling ratio for requests without a traceparent, in (0, 1]. */
  readonly ratio: number;
  /** Extra request headers for the collector (OTEL_EXPORTER_OTLP[_TRACES]_HEADERS: `k=v,k2=v2`). */
  readonly headers: Readonly<Record<string, string>>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Null (tracing off: the proxy makes no OpenTelemetry call at all) unless TP_TRACE_SAMPLE_RATIO is above 0
 * and a collector endpoint is known. The endpoint: TP_OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full traces URL, as the OTel spec reads them), else
 * OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: `/v1/traces` is appended). OTEL_TRACES_EXPORTER=none turns it off;
 * any other value than `otlp` is refused (this gateway only speaks OTLP/HTTP).
 */
export function tracingConfigFromEnv(env: Env): TracingConfig | null {
  const ratio = sampleRatio(env.TP_TRACE_SAMPLE_RATIO);
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  if (exporter === 'none') return null;
  if (exporter !== '' && exporter !== 'otlp') throw new Error(`OTEL_TRACES_EXPORTER: only "otlp" or "none" are supported, not ${JSON.stringify(exporter)}`);
  const endpoint = tracesEndpoint(env);
  if (ratio === 0 || endpoint === '') return null;
  const headers = parseHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? env.OTEL_EXPORTER_OTLP_HEADERS ?? '');
  return { endpoint, ratio, headers };
}

function sampleRatio(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 0;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`TP_TRACE_SAMPLE_RATIO must be a number from 0 to 1, not ${JSON.stringify(raw)}`);
  return n;
}

function tracesEndpoint(env: Env): string {
  const full = (env.TP_OTEL_EXPORTER_OTLP_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '').trim();
  if (full !== '') return checkedUrl(full);
  const base = (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').trim();
  if (base === '') return '';
  return checkedUrl(base.endsWith('/') ? `${base}v1/traces` : `${base}/v1/traces`);
}

function checkedUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Error(`OTLP endpoint ${JSON.stringify(s)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`OTLP endpoint ${JSON.stringify(s)} must be http or https`);
  return u.href;
}

/** `k=v,k2=v2` (values URL-decoded, per the OTel exporter spec). */
function parseHeaders(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    out[part.slice(0, eq).trim().toLowerCase()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return out;
}
