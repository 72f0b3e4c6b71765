// TLS certificates: a PEM chain and its private key, served by the gateway's HTTPS listener for the host
// names it covers (SNI), or presented to upstreams as a client certificate. The key is input-only: the
// control plane seals it with the keyring (context = the certificate id) and the nodes open it.
import { Type, type Static } from '@sinclair/typebox';
import type { SealedSecret } from '../secrets/keyring.js';
import { Id, Name, Tags, Timestamps } from './common.js';

/** A host name or a wildcard over one label (`*.example.com`); matched case-insensitively. */
export const ServerName = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$',
  description: 'host name, or *.domain for one label of any name',
});

const CertPem = Type.String({ minLength: 1, maxLength: 262_144, pattern: '^\\s*-----BEGIN CERTIFICATE-----', description: 'PEM: the certificate, then its intermediates' });
/** Unencrypted PEM (PKCS#8, PKCS#1 or SEC1). */
const KeyPem = Type.String({ minLength: 1, maxLength: 65_536, pattern: '-----BEGIN [A-Z ]*PRIVATE KEY-----', writeOnly: true });
/** mTLS: the CAs whose client certificates the mTLS listener accepts for this certificate's names. */
const ClientCaPem = Type.Union(
  [Type.String({ minLength: 1, maxLength: 262_144, pattern: '^\\s*-----BEGIN CERTIFICATE-----', description: 'PEM: one or more CA certificates' }), Type.Null()],
  { default: null },
);
/** mTLS: revocation lists of those CAs; with one, every client CA of the node needs its CRL (OpenSSL checks them all). */
const ClientCrlPem = Type.Union(
  [Type.String({ minLength: 1, maxLength: 524_288, pattern: '^\\s*-----BEGIN X509 CRL-----', description: 'PEM: one or more X.509 CRLs' }), Type.Null()],
  { default: null },
);

const certificateFields = {
  name: Name,
  cert_pem: CertPem,
  /** Host names this certificate serves; null: the DNS names of its subjectAltName (else its CN). */
  snis: Type.Union([Type.Array(ServerName, { minItems: 1, maxItems: 256, uniqueItems: true }), Type.Null()], { default: null }),
  client_ca_pem: ClientCaPem,
  client_crl_pem: ClientCrlPem,
  tags: Tags,
};

export const CertificateCreate = Type.Object(
  {
    name: certificateFields.name,
    cert_pem: certificateFields.cert_pem,
    /** The private key (write-only). Required on create; a write without it keeps the stored key, which must match cert_pem. */
    key_pem: Type.Optional(KeyPem),
    snis: Type.Optional(certificateFields.snis),
    client_ca_pem: Type.Optional(certificateFields.client_ca_pem),
    client_crl_pem: Type.Optional(certificateFields.client_crl_pem),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type CertificateCreate = Static<typeof CertificateCreate>;
export const CertificateUpdate = Type.Partial(CertificateCreate, { additionalProperties: false });
export type CertificateUpdate = Static<typeof CertificateUpdate>;

export const Certificate = Type.Object({
  id: Id,
  ...certificateFields,
  /** The names served, lower case: `snis`, or the certificate's own names when `snis` is null. */
  server_names: Type.Array(Type.String()),
  /** The leaf certificate's subject (`CN=api.example.com, O=Example`). */
  subject: Type.String(),
  /** Expiry of the leaf certificate (ISO 8601). */
  not_after: Type.String({ format: 'date-time' }),
  /** SHA-256 of the leaf certificate (DER), colon-separated hex as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint_sha256: Type.String(),
  ...Timestamps,
});
export type Certificate = Static<typeof Certificate>;

/** What the data plane receives (KV `certificates.<id>`): the public fields and the sealed key. */
export type CertificateConfig = Certificate & { secret: { key_pem: SealedSecret | null } };
