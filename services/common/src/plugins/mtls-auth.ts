// mtls-auth: requires a client certificate verified by the gateway's mTLS listener (TP_MTLS_PORT; the CAs
// and CRLs are the `client_ca_pem` / `client_crl_pem` of the certificate serving the host name) and maps it to
// a consumer.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import type { PluginType } from './types.js';

/** SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` prints it (colons, any case). */
const Fingerprint = Type.String({ pattern: '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$', description: 'SHA-256 fingerprint, colon-separated hex' });
const Username = Type.String({ minLength: 1, maxLength: 128 });

/** One explicit mapping: exactly one of the match fields, and the consumer it identifies. */
export const MtlsIdentity = Type.Object(
  {
    fingerprint_sha256: Type.Optional(Fingerprint),
    /** The subject's CN, exactly. */
    subject_cn: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** A subjectAltName entry as `DNS:api.example.com`, `email:a@example.com`, `URI:spiffe://…`, `IP Address:10.0.0.1`. */
    san: Type.Optional(Type.String({ minLength: 3, maxLength: 1024, pattern: '^(DNS|email|URI|IP Address):.' })),
    /** The consumer's username. */
    consumer: Username,
  },
  { additionalProperties: false },
);
export type MtlsIdentity = Static<typeof MtlsIdentity>;

export const MtlsAuthConfig = Type.Object(
  {
    /** Explicit mappings, tried first (fingerprint, then subject CN, then SAN entries). */
    identities: Type.Array(MtlsIdentity, { maxItems: 10_000, default: [] }),
    /**
     * Without an explicit mapping: take the consumer's username from these certificate fields, in order
     * (`subject_cn`; `san_dns`, `san_email`, `san_uri`: the first such subjectAltName entry).
     */
    consumer_by: Type.Array(Type.Union([Type.Literal('subject_cn'), Type.Literal('san_dns'), Type.Literal('san_email'), Type.Literal('san_uri')]), {
      maxItems: 4,
      uniqueItems: true,
      default: [],
    }),
    /** Any verified certificate is let through without a consumer (the upstream still gets the headers). */
    skip_consumer_lookup: Type.Boolean({ default: false }),
    /** Send X-Client-Cert-Fingerprint, -Subject, -San to the upstream (client-sent ones are always dropped). */
    upstream_headers: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type MtlsAuthConfig = Static<typeof MtlsAuthConfig>;

export const mtlsAuthPlugin: PluginType<typeof MtlsAuthConfig> = {
  name: 'mtls-auth',
  description:
    "Requires a client certificate verified during the TLS handshake by the gateway's mTLS listener (CA and CRL of the certificate serving the host) and maps it to a consumer by fingerprint, subject CN or subjectAltName; 401 for a request without one (e.g. over plain HTTP) or with an unmapped certificate.",
  config: MtlsAuthConfig,
  // Not per consumer: authentication is what identifies the consumer.
  scopes: ['global', 'service', 'route'],
  phase: 'auth',
  problems(config) {
    const out: FieldError[] = [];
    config.identities.forEach((m, i) => {
      const n = (m.fingerprint_sha256 !== undefined ? 1 : 0) + (m.subject_cn !== undefined ? 1 : 0) + (m.san !== undefined ? 1 : 0);
      if (n !== 1) out.push({ path: `/identities/${i}`, message: 'needs exactly one of fingerprint_sha256, subject_cn, san' });
    });
    if (config.identities.length === 0 && config.consumer_by.length === 0 && !config.skip_consumer_lookup) {
      out.push({ path: '', message: 'maps no certificate to a consumer: give identities, consumer_by or skip_consumer_lookup' });
    }
    return out;
  },
};
