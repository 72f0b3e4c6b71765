// mtls-auth: the caller is the client certificate the mTLS listener (tls/mtls-listener.ts) verified during the
// handshake — chain to a client CA of the certificate serving the host, not revoked, not expired. This step
// only maps that certificate to a consumer, with tables compiled from the plugin's config: explicit mappings
// (SHA-256 fingerprint, subject CN, a subjectAltName entry) first, then `consumer_by` (a certificate field
// taken as the consumer's username). A request that did not come over the mTLS listener has no certificate
// and is refused (401); so is one whose connection outlived its certificate's notAfter.
import type { ErrorCode } from '@turnpike/common';
import { deny, type Denial, type Identified, type Outcome, type Step } from '../pipeline.js';
import type { RequestContext } from '../request-context.js';
import type { ClientCertificate } from '../../tls/client-certificate.js';
import { headerSafe } from '../jwt-auth/index.js';

export type ConsumerField = 'subject_cn' | 'san_dns' | 'san_email' | 'san_uri';

/** The plugin's config as validated by the control plane (@turnpike/common MtlsAuthConfig), defaults filled or not. */
export interface MtlsAuthSettings {
  identities?: ReadonlyArray<{ fingerprint_sha256?: string; subject_cn?: string; san?: string; consumer: string }>;
  consumer_by?: readonly ConsumerField[];
  skip_consumer_lookup?: boolean;
  upstream_headers?: boolean;
}

export interface MtlsPolicy {
  /** Upper-case colon hex → consumer username. */
  readonly byFingerprint: ReadonlyMap<string, string>;
  readonly byCn: ReadonlyMap<string, string>;
  /** `DNS:x`, `URI:y`… → consumer username. */
  readonly bySan: ReadonlyMap<string, string>;
  readonly consumerBy: readonly ConsumerField[];
  readonly skipConsumerLookup: boolean;
  readonly upstreamHeaders: boolean;
}

/** Headers the upstream gets with upstream_headers; a client's own are always dropped. */
export const CLIENT_CERT_HEADERS = ['x-client-cert-fingerprint', 'x-client-cert-subject', 'x-client-cert-san'] as const;

export function normalizeFingerprint(fp: string): string {
  return fp.toUpperCase();
}

export function compileMtlsPolicy(cfg: MtlsAuthSettings): MtlsPolicy {
  const byFingerprint = new Map<string, string>();
  const byCn = new Map<string, string>();
  const bySan = new Map<string, string>();
  // The first mapping of a value wins, as listed.
  for (const m of cfg.identities ?? []) {
    if (m.fingerprint_sha256 !== undefined) {
      const k = normalizeFingerprint(m.fingerprint_sha256);
      if (!byFingerprint.has(k)) byFingerprint.set(k, m.consumer);
    } else if (m.subject_cn !== undefined) {
      if (!byCn.has(m.subject_cn)) byCn.set(m.subject_cn, m.consumer);
    } else if (m.san !== undefined) {
      if (!bySan.has(m.san)) bySan.set(m.san, m.consumer);
    }
  }
  return {
    byFingerprint,
    byCn,
    bySan,
    consumerBy: cfg.consumer_by ?? [],
    skipConsumerLookup: cfg.skip_consumer_lookup ?? false,
    upstreamHeaders: cfg.upstream_headers ?? true,
  };
}

const SAN_PREFIX: Record<Exclude<ConsumerField, 'subject_cn'>, string> = { san_dns: 'DNS:', san_email: 'email:', san_uri: 'URI:' };

/** The consumer username a certificate maps to under `policy`; null for none. */
export function usernameFor(policy: MtlsPolicy, cert: ClientCertificate): string | null {
  const byFp = policy.byFingerprint.get(cert.fingerprint256);
  if (byFp !== undefined) return byFp;
  if (cert.subjectCn !== '') {
    const byCn = policy.byCn.get(cert.subjectCn);
    if (byCn !== undefined) return byCn;
  }
  if (policy.bySan.size > 0) {
    for (const s of cert.san) {
      const u = policy.bySan.get(s);
      if (u !== undefined) return u;
    }
  }
  for (const f of policy.consumerBy) {
    if (f === 'subject_cn') {
      if (cert.subjectCn !== '') return cert.subjectCn;
      continue;
    }
    const prefix = SAN_PREFIX[f];
    const s = cert.san.find((e) => e.startsWith(prefix));
    if (s !== undefined) return s.slice(prefix.length);
  }
  return null;
}

/** The WWW-Authenticate challenge of mtls-auth's 401s (also listed when it is one of several auth schemes). */
export const MTLS_CHALLENGE = 'Mutual realm="turnpike"';
const CHALLENGE = ['www-authenticate', MTLS_CHALLENGE];
const denial = (code: ErrorCode, message: string): Denial => deny(401, code, message, CHALLENGE);
export const MTLS_DENIALS = Object.freeze({
  missing: denial('TP_ERR_AUTH_CERT_MISSING', 'a client certificate is required: connect to the mTLS port with one'),
  expired: denial('TP_ERR_AUTH_CERT_EXPIRED', 'the client certificate has expired'),
  unknown: denial('TP_ERR_AUTH_CERT_UNKNOWN', 'the client certificate is not mapped to a consumer'),
});

function certHeaders(cert: ClientCertificate): string[] {
  return [
    'x-client-cert-fingerprint',
    cert.fingerprint256,
    'x-client-cert-subject',
    headerSafe(cert.subject),
    'x-client-cert-san',
    headerSafe(cert.san.join(', ')),
  ];
}

/** The outcome for `cert` (null: no certificate) under `policy`, consumers looked up by username in `tables`. */
export function checkClientCert(policy: MtlsPolicy, cert: ClientCertificate | null, ctx: Pick<RequestContext, 'tables' | 'nowMs'>): Outcome {
  if (cert === null) return MTLS_DENIALS.missing;
  if (cert.notAfterMs <= ctx.nowMs) return MTLS_DENIALS.expired;
  const headers = policy.upstreamHeaders ? certHeaders(cert) : null;
  if (policy.skipConsumerLookup) return identified('', headers);
  const username = usernameFor(policy, cert);
  const owner = username === null ? undefined : ctx.tables.ownerByUsername(username);
  if (owner === undefined) return MTLS_DENIALS.unknown;
  return identified(owner.consumerId, headers);
}

function identified(consumerId: string, upstreamHeaders: readonly string[] | null): Identified {
  // No credential resource backs a certificate mapping: credentialId stays ''.
  return { kind: 'identity', consumerId, credentialId: '', upstreamHeaders };
}

export function mtlsAuthStep(policy: MtlsPolicy): Step<RequestContext> {
  return {
    name: 'mtls-auth',
    phase: 'auth',
    needsBody: false,
    present: (ctx) => ctx.clientCert !== null,
    run(ctx) {
      // Whatever the outcome, a client's own X-Client-Cert-* headers never reach the upstream.
      ctx.hideHeaders(CLIENT_CERT_HEADERS);
      return checkClientCert(policy, ctx.clientCert, ctx);
    },
  };
}
